"""A checked extract as member-by-year arrays: the shape the latent-band fit works on."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Panel:
    """Members (rows) by calendar years (columns) of one extract.

    ``cost`` is the annualised cost (NaN where the member is absent); ``cost_observed``
    marks the cells whose cost the fit uses (present, in a year not flagged as incomplete);
    ``start`` and ``end`` index a member's first and last year present.
    """

    member_ids: np.ndarray
    years: np.ndarray
    cost: np.ndarray
    present: np.ndarray
    cost_observed: np.ndarray
    died: np.ndarray | None
    weight: np.ndarray
    start: np.ndarray
    end: np.ndarray

    def in_span(self, t: int) -> np.ndarray:
        """Members whose history covers year index ``t`` (present or in a gap)."""
        return (self.start <= t) & (t <= self.end)

    @classmethod
    def from_frame(cls, frame: pd.DataFrame) -> Panel:
        """From the output of :func:`simulator.calibration.checks.run_checks`."""
        ids, row = np.unique(frame.member_id.to_numpy(), return_inverse=True)
        years = np.arange(frame.year.min(), frame.year.max() + 1)
        col = frame.year.to_numpy() - years[0]
        shape = (len(ids), len(years))
        cost = np.full(shape, np.nan)
        cost[row, col] = frame.annual_usd.to_numpy()
        present = np.zeros(shape, bool)
        present[row, col] = True
        observed = np.zeros(shape, bool)
        observed[row, col] = frame.cost_ok.to_numpy()
        died = None
        if "died" in frame:
            died = np.zeros(shape, np.int8)
            died[row, col] = frame.died.to_numpy()
        weight = np.ones(len(ids))
        if "weight" in frame:
            weight[row] = frame.weight.to_numpy()
        first = np.where(present, np.arange(len(years)), len(years)).min(axis=1)
        last = np.where(present, np.arange(len(years)), -1).max(axis=1)
        return cls(ids, years, cost, present, observed, died, weight, first, last)

"""Simulated member-years of a cost model, in the extract format (``vbcsim members``).

The export draws the member engine's model member by member (:func:`simulator.experience.
member_paths.member_paths`), so the member-years follow the model a run simulates: the band
dynamics, zero-cost years, severities (the engine's own samplers), deaths (exposure ends in
the month of death) and, if asked, churn with entrants in the leavers' places. No trend and no systemic shock: every year is at the
segment's base-year cost level (``cost_factor`` times the band means).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..experience.costs import CostTables
from ..experience.member_paths import member_paths
from ..experience.population import CostModel
from .extract import ExtractError


def simulate_members(model: CostModel, members: int, years: int, seed: int, *,
                     cost_factor: float = 1.0, churn: float = 0.0, first_year: int = 1,
                     segment: str = "segment") -> pd.DataFrame:
    """Member-years of ``members`` member slots over ``years`` years, reproducible by seed.

    A slot's member leaves by death or churn at a year end and the next member in the slot
    is a new ``member_id`` (an entrant); ``months`` is 12 except in a year of death.
    """
    paths = member_paths(CostTables.from_model(model), members, np.full(years, cost_factor),
                         churn, seed)
    left_before = np.vstack([np.zeros((1, members), int), np.cumsum(paths.leaves, axis=0)[:-1]])
    slot = np.broadcast_to(np.arange(members), (years, members))
    ids = np.char.add(np.char.add(np.char.zfill(slot.ravel().astype(str), len(str(members))), "-"),
                      left_before.ravel().astype(str))
    died = paths.death_month.ravel() > 0
    return pd.DataFrame({
        "member_id": ids,
        "year": np.repeat(first_year + np.arange(years), members),
        "allowed_usd": np.round(paths.cost_usd.ravel(), 2),
        "months": np.where(died, paths.death_month.ravel(), 12).astype(int),
        "died": died.astype(int),
        "segment": segment,
    })


def write_members(frame: pd.DataFrame, out: Path) -> Path:
    """Write the export as CSV; an existing path is never replaced (it may be the user's data)."""
    out = Path(out)
    if out.exists():
        raise ExtractError(f"{out}: already exists; vbcsim does not overwrite a file it did "
                           "not create: choose a new path")
    try:
        with open(out, "x") as handle:
            frame.to_csv(handle, index=False)
    except OSError as err:
        raise ExtractError(f"{out}: cannot write: {err.strerror}") from None
    return out

"""From a checked extract to a calibrated cost model with what it rests on.

Bands are latent states fitted by EM (:mod:`.latent`), started from band edges on the
annualised cost (quantiles, or given). Sparse transition rows are shrunk toward a prior,
the shipped cost model for that kind of segment re-banded to the fitted bands, with the
limited-fluctuation credibility weight ``Z = min(1, sqrt(n / 1082))`` of a row's ``n``
expected moves: 1,082 observations give a frequency within 5% of its true value with 90%
probability (the classical full-credibility standard; Longley-Cook 1962, Mayerson 1964).
The segment's churn, cost trend and group mix come from the same extract.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..experience.costs import CostTables
from ..experience.population import CostModel
from . import latent
from .checks import Finding, year_costs
from .errors import StandardErrors, standard_errors
from .extract import ExtractError
from .panel import Panel

FULL_CREDIBILITY = 1082
REFERENCE_SCENARIO = Path(__file__).resolve().parents[2] / "scenarios" / "reference_global_budget.toml"
MEDICARE_DEATH_RATE = 0.01
"""A book with more than 1% deaths a year (or a mean age of 65 or more) gets the Medicare
prior: commercial populations' mortality is a few per thousand (illustrative cut)."""


def default_edges(panel: Panel, bands: int) -> np.ndarray:
    """Quantiles of positive annualised cost whose upper tails fall geometrically from 50%
    to 1% (for five bands: 50%, 14%, 3.7%, 1% of positive member-years above each edge)."""
    positive = panel.cost[panel.cost_observed & (panel.cost > 0)]
    tails = np.geomspace(0.5, 0.01, bands - 1) if bands > 2 else np.array([0.5])
    return np.quantile(positive, 1 - tails)


@dataclass
class Calibration:
    """A fitted cost model and everything its comments report."""

    params: latent.Params
    se: StandardErrors
    posterior: latent.Posterior
    panel: Panel
    iterations: int
    edges_usd: np.ndarray
    prior_name: str
    prior_transition: np.ndarray
    credibility: np.ndarray
    row_moves: np.ndarray
    transition: np.ndarray
    segment: dict = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)

    def band_member_years(self, cells: np.ndarray) -> np.ndarray:
        """Expected member-years in each band among the (member, year) ``cells`` (posterior sums)."""
        return np.einsum("n,ntk->k", self.panel.weight, self.posterior.band * cells[..., None])

    @property
    def band_counts(self) -> dict[str, np.ndarray]:
        """What each band's estimates rest on: non-zero member-years with a usable cost
        (severity), member-years with a usable cost (zero share), member-years (deaths)."""
        panel = self.panel
        return {"severity": self.band_member_years(panel.cost_observed & (panel.cost > 0)),
                "zero": self.band_member_years(panel.cost_observed),
                "death": self.band_member_years(panel.present)}


def rebanded(prior: CostModel, shares: np.ndarray) -> np.ndarray:
    """The prior's transition matrix on bands of the given shares: both sets of bands are
    read as consecutive slices of members ranked by cost (the prior's by its stationary
    mix), members uniform within a slice; overlaps map one onto the other."""
    tables = CostTables.from_model(prior)
    prior_cut = np.concatenate([[0], np.cumsum(tables.start_mix(0.0))])
    cut = np.concatenate([[0], np.cumsum(shares)])

    def overlap(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        lo = np.maximum(a[:-1, None], b[None, :-1])
        hi = np.minimum(a[1:, None], b[None, 1:])
        width = np.clip(hi - lo, 0, None)
        return width / np.maximum(width.sum(axis=1, keepdims=True), 1e-300)

    return overlap(cut, prior_cut) @ tables.transition @ overlap(prior_cut, cut)


def load_prior(panel: Panel, frame: pd.DataFrame, prior: tuple[str, CostModel] | None
               ) -> tuple[str, CostModel]:
    """The given prior, or the shipped model for the kind of segment (Medicare or commercial)."""
    if prior is not None:
        return prior
    from ..scenario import load_scenario

    if not REFERENCE_SCENARIO.is_file():
        raise ExtractError(f"{REFERENCE_SCENARIO}: not found (an installed copy without the "
                           "shipped scenarios): give --prior FILE.toml:MODEL")
    deaths = 0.0 if panel.died is None else panel.died[panel.present].mean()
    old = "age" in frame and frame.age.mean() >= 65
    kind = "medicare" if deaths > MEDICARE_DEATH_RATE or old else "commercial"
    return f"{REFERENCE_SCENARIO.name}:{kind}", load_scenario(REFERENCE_SCENARIO).cost_models[kind]


def segment_statistics(frame: pd.DataFrame, panel: Panel) -> dict:
    """Churn, cost trend and group mix of the book, each with its standard error and count."""
    out: dict = {}
    last = panel.present[:, :-1] & panel.present[:, 1:]
    survivors = panel.present[:, :-1] & (panel.died[:, :-1] == 0 if panel.died is not None else True)
    n = float(panel.weight @ survivors.sum(axis=1))
    if n > 0:
        stay = float(panel.weight @ (survivors & last).sum(axis=1))
        rate = 1 - stay / n
        out["churn"] = (rate, np.sqrt(rate * (1 - rate) / n), int(survivors.sum()))
    costs = year_costs(frame[frame.cost_ok])
    if len(costs) >= 2:
        t = costs.index.to_numpy(float)
        y = np.log(costs.cost_per_member_year_usd.to_numpy())
        w = (costs.cost_per_member_year_usd / costs.se_usd).to_numpy() ** 2
        tc = t - np.average(t, weights=w)
        slope = float(np.sum(w * tc * y) / np.sum(w * tc**2))
        se = float(np.sqrt(1 / np.sum(w * tc**2)))
        out["trend"] = (np.expm1(slope), np.exp(slope) * se, [int(x) for x in t],
                        int(costs.member_years.sum()))
    out["year_costs"] = costs
    if "group" in frame:
        members = frame.sort_values("year").groupby("member_id").last()
        w = members["weight"] if "weight" in members else pd.Series(1.0, index=members.index)
        mix = w.groupby(members.group).sum()
        out["group_mix"] = ((mix / mix.sum()).to_dict(), len(members))
    return out


def calibrate(frame: pd.DataFrame, bands: int = 5, edges_usd: list[float] | None = None,
              prior: tuple[str, CostModel] | None = None, family: str | None = None) -> Calibration:
    """Fit a cost model to a checked extract (:func:`simulator.calibration.checks.run_checks`)."""
    panel = Panel.from_frame(frame)
    if not panel.cost_observed.any():
        raise ExtractError(f"{frame.attrs.get('source', '<extract>')}: no member-year with a usable cost")
    edges = np.sort(np.asarray(edges_usd, float)) if edges_usd else default_edges(panel, bands)
    if np.any(np.diff(edges) <= 0) or np.any(edges <= 0):
        raise ExtractError(f"band edges must be positive and distinct, got {list(edges)}")
    params, post, iterations = latent.fit(panel, edges, family)
    se = standard_errors(panel, post, params)
    prior_name, prior_model = load_prior(panel, frame, prior)
    prior_matrix = rebanded(prior_model, params.initial)
    moves = np.einsum("n,nij->i", panel.weight, post.pairs)
    z = np.minimum(1.0, np.sqrt(moves / FULL_CREDIBILITY))
    transition = z[:, None] * params.transition + (1 - z[:, None]) * prior_matrix
    return Calibration(params, se, post, panel, iterations, edges, prior_name, prior_matrix, z,
                       moves, transition, segment_statistics(frame, panel),
                       list(frame.attrs.get("findings", [])))

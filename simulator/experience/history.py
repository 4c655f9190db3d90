"""Base years: the provider's own history, simulated on the same population before the term.

A historical benchmark (MSSP: base years weighted 10/30/60, trended; domain notes section 3)
is set from the provider's measured cost in the years before the term. Those years are
measured on the same finite population, so their noise enters the budget, and a member who is
costly in the last base year tends to stay costly in year 1. With ``term.base_years = B`` the
engines therefore simulate ``B + years`` years in one run (the population carried across the
base-year ends like any other) and the experience keeps the base years apart:
``base_member_months``, ``base_allowed_usd`` and ``base_risk_score_member_months`` with a
``base_year`` dimension; every term variable keeps its shape.

The base years are trended at year 1's cost trend, and the run's cost level is deflated by
that trend over the base years, so the expected cost of every term year is what it is
without base years. No program runs in a base year; quality is measured over the term only.
A scenario with ``base_years = 0`` does not pass through here: its numbers do not change.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .dataset import HISTORY_VARIABLES, VARIABLES, ExperienceBlock
from .quality import fill_measures, quality_scores
from .risk_scores import adjust_scores
from ..core.inputs import per_year_fraction

if TYPE_CHECKING:
    from .inputs import ExperienceInputs


def extended(scenario: ExperienceInputs) -> ExperienceInputs:
    """The scenario over its base years and term together (unvalidated copy)."""
    b, years = scenario.term.base_years, scenario.term.years
    segments = {}
    for name, seg in scenario.segments.items():
        trend = per_year_fraction(seg.cost_trend_pct, years)
        pct = [100 * float(t) for t in np.concatenate([np.full(b, trend[0]), trend])]
        segments[name] = seg.model_copy(update={
            "cost_trend_pct": pct, "cost_factor": seg.cost_factor / (1 + trend[0]) ** b})
    term = scenario.term.model_copy(update={"years": b + years, "first_year": scenario.term.first_year - b})
    out = scenario.model_copy(update={"term": term, "segments": segments})
    out._history_of = scenario
    return out


def split_history(scenario: ExperienceInputs, trials: range, full: ExperienceBlock) -> ExperienceBlock:
    """The block of ``scenario`` from ``full``, simulated on :func:`extended` (``scenario``):
    risk scores adjusted over base years and term, the base years kept apart."""
    b = scenario.term.base_years
    adjust_scores(scenario, trials, full["risk_score_member_months"], full["member_months"], b)
    block = {name: (a[:, b:] if VARIABLES[name].dims[1:2] == ("year",) else a).copy()
             for name, a in full.items()}
    for name, (term_name, _) in HISTORY_VARIABLES.items():
        block[name] = full[term_name][:, :b].copy()
    # the level relative to the year before year 1, as without base years (the engines saw it
    # relative to the first base year, with the cost factor deflated by the same growth)
    first = np.array([per_year_fraction(seg.cost_trend_pct, scenario.term.years)[0]
                      for seg in scenario.segments.values()])
    block["trend_index"] /= (1 + first) ** b
    if scenario.quality is not None:  # measured over the term, as without base years
        for name in VARIABLES:
            if name.startswith("measure_"):
                block[name][:] = 0
    for i, trial in enumerate(trials):
        block["quality_score_pct"][i] = quality_scores(scenario, trial)
        fill_measures(scenario, trial, block, i)
    return block

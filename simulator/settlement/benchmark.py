"""Benchmarks that follow history, and the REACH benchmark adjustments.

*Historical benchmark* (MSSP, 42 CFR 425.601; domain notes section 3): the budget of a
performance year is the provider's own cost per member-month in the base years, each
restated at a risk score of 1 when the budget is risk-adjusted, weighted (MSSP: 10/30/60,
oldest first), trended to the performance year at the budget trend, and optionally blended
with a regional rate (the contract's budget_pmpm schedule). At the start of each agreement
period within the term the benchmark is rebased on the years just before it, so savings
achieved lower later budgets (the ratchet). The first period's base years are simulated before the term (``term.base_years``), on the
same population, so their noise enters the budget. Risk adjustment then applies the growth of
the score from the period's last base year (the reference year) to the performance year,
within the caps.

*Coding intensity factor* (REACH, section 4): the payer scales the score down before the cap.
*HEBA* (REACH, section 4): +$30 per beneficiary per month for those in the top decile of the
ADI/dual composite, -$6 for those in the bottom half, by the shares the contract states.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from pydantic import Field, model_validator

from ..core.inputs import Percent, StrictModel, check_sums_to_100, per_year_fraction

if TYPE_CHECKING:
    from .contract import SegmentTerms
    from .rules import SegmentExperience


class HistoricalBenchmark(StrictModel):
    """The budget from the provider's own base years (replaces budget_pmpm's schedule)."""

    base_year_weights_pct: list[Percent] = Field(
        [10.0, 30.0, 60.0], min_length=1, max_length=10, description="Weights of the base "
        "years, oldest first, summing to 100 (MSSP: 10/30/60, 42 CFR 425.601).")
    agreement_years: int | None = Field(
        None, ge=1, le=30, description="Length of an agreement period (MSSP: 5): the benchmark is "
        "rebased on the years just before each new period; omit for one period over the term.")
    regional_weight_pct: Percent = Field(
        0.0, description="Weight of the regional rate in the blend: the segment's budget_pmpm "
        "(at a risk score of 1 in the year before year 1), trended with the budget.")

    @model_validator(mode="after")
    def _consistent(self) -> HistoricalBenchmark:
        check_sums_to_100(self.base_year_weights_pct, "base_year_weights_pct")
        return self


class HealthEquityAdjustment(StrictModel):
    """REACH HEBA: a per-beneficiary-month addition to the benchmark (after the discount)."""

    top_decile_share_pct: Percent = Field(10.0, description="Share of beneficiaries in the top "
                                          "decile of the ADI / dual-LIS composite.")
    bottom_half_share_pct: Percent = Field(50.0, description="Share in the bottom half.")
    top_decile_pbpm: float = Field(30.0, ge=0, le=1000, description="Added per beneficiary-month "
                                   "in the top decile (REACH: $30).")
    bottom_half_pbpm: float = Field(6.0, ge=0, le=1000, description="Subtracted per beneficiary-"
                                    "month in the bottom half (REACH: $6).")

    @model_validator(mode="after")
    def _shares_fit(self) -> HealthEquityAdjustment:
        if self.top_decile_share_pct + self.bottom_half_share_pct > 100:
            raise ValueError("bottom_half_share_pct: the two shares sum to more than 100")
        return self

    @property
    def pmpm(self) -> float:
        """Net adjustment per member-month."""
        return (self.top_decile_share_pct * self.top_decile_pbpm
                - self.bottom_half_share_pct * self.bottom_half_pbpm) / 100


def period_starts(terms: SegmentTerms, years: int) -> list[int]:
    """Index (0 = year 1) of the first year of each agreement period within the term."""
    n = terms.historical_benchmark.agreement_years or years
    return list(range(0, years, n))


def history(exp: SegmentExperience, risk_adjusted: bool) -> tuple[np.ndarray, np.ndarray]:
    """Cost PMPM (restated at score 1 when risk-adjusted) and score of base years then term
    years, shape (trial, base years + years)."""
    if exp.base_member_months is None:
        raise ValueError("historical_benchmark: the experience has no base years (set "
                         "term.base_years in the scenario and run it again)")
    mm = np.concatenate([exp.base_member_months, exp.member_months], axis=1)
    cost = np.concatenate([exp.base_allowed_usd, exp.allowed_usd], axis=1) / mm
    score = np.concatenate([exp.base_risk_score, exp.risk_score], axis=1)
    return (cost / score if risk_adjusted else cost), score


def growth_index(terms: SegmentTerms, base_years: int, years: int) -> np.ndarray:
    """Budget trend index over base years and term (year 0 = 1): the base years move at
    year 1's trend."""
    trend = terms.trend_by_year(years)
    steps = np.concatenate([np.full(base_years, trend[0]), trend])
    index = np.cumprod(1 + steps)
    return index / index[base_years - 1] if base_years else index


def historical_budget(terms: SegmentTerms, exp: SegmentExperience) -> tuple[np.ndarray, np.ndarray]:
    """Budget PMPM at a risk score of 1 (or unadjusted) and the reference score (the period's
    last base year; 1 when not risk-adjusted), both (trial, year)."""
    hb = terms.historical_benchmark
    risk_adjusted = terms.risk_adjustment is not None
    cost, score = history(exp, risk_adjusted)
    b, years = exp.base_member_months.shape[1], exp.member_months.shape[1]
    weights = np.asarray(hb.base_year_weights_pct) / 100
    if b < weights.size:
        raise ValueError(f"historical_benchmark.base_year_weights_pct: {weights.size} base years "
                         f"weighted but the run simulated {b} (term.base_years)")
    index = growth_index(terms, b, years)                 # index[b + y] = year y + 1
    pmpm, reference = np.zeros_like(exp.member_months), np.ones_like(exp.member_months)
    starts = period_starts(terms, years) + [years]
    for start, end in zip(starts[:-1], starts[1:]):
        base = np.arange(b + start - weights.size, b + start)   # years just before the period
        at_base = (weights * cost[:, base] / index[base]).sum(axis=1)  # year-0 dollars
        for y in range(start, end):
            pmpm[:, y] = at_base * index[b + y]
            if risk_adjusted:
                reference[:, y] = score[:, base[-1]]
    if hb.regional_weight_pct:
        w = hb.regional_weight_pct / 100
        pmpm = (1 - w) * pmpm + w * terms.budget_pmpm * index[b:]
    return pmpm, reference


def capped_growth(terms: SegmentTerms, score: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Risk factor applied to the budget: the score after the coding intensity factor, its
    growth over ``reference`` capped as agreed (the growth cap and the decline floor)."""
    ra = terms.risk_adjustment
    years = score.shape[-1]
    applied = score * (1 - coding_factor(terms, years))
    low = 1 - ra.decline_floor_pct / 100 if ra.decline_floor_pct is not None else 0.0
    high = 1 + ra.growth_cap_pct / 100 if ra.growth_cap_pct is not None else np.inf
    return reference * np.clip(applied / reference, low, high)


def coding_factor(terms: SegmentTerms, years: int) -> np.ndarray:
    """Coding intensity factor of each year, as a fraction (0 when none)."""
    return per_year_fraction(terms.risk_adjustment.coding_intensity_factor_pct, years)

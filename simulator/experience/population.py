"""Population and cost inputs: segments, cost bands with their Markov matrix, systemic risk.

Input models only (validated data); the cost model's behaviour lives in
:mod:`simulator.costs` and the engines. Conventions as in :mod:`simulator.scenario`:
``_pct`` in percent, mixes and matrix rows as probabilities summing to 1.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from ..core.inputs import Name, Percent, StrictModel, TrendPct
from .uncertainty import SAMPLING_DESCRIPTION, Pricing, SystemicEvent, TrendShocks

ROW_SUM_TOLERANCE = 1e-6
NORMALISE_ABOVE = 1e-12
"""A distribution whose sum is off 1 by more than rounding (but within the tolerance) is
divided by its sum once, here, so that every engine gets probabilities summing to 1 (numpy's
multinomial refuses first k-1 probabilities summing above 1 + 1e-12). Sums within rounding
are left as written, so the numbers of existing scenarios do not move."""
MIN_CV = 1e-3
"""Smallest coefficient of variation of a band's cost: below it the gamma sampler's shape
(1 / cv^2) overflows and the distribution is a constant in all but name."""

Probability = Annotated[float, Field(ge=0.0, le=1.0)]


def _check_distribution(values: list[float], what: str) -> list[float]:
    if not values:
        raise ValueError(f"{what} must not be empty")
    total = sum(values)
    if abs(total - 1.0) > ROW_SUM_TOLERANCE:
        raise ValueError(f"{what} must sum to 1, sums to {total:.6g}")
    if abs(total - 1.0) > NORMALISE_ABOVE:
        return [v / total for v in values]
    return values


class Band(StrictModel):
    """A cost band: members in it share a severity distribution and mortality."""

    name: Name = Field(description="Band name, e.g. 'low' or 'catastrophic'.")
    mean_annual_usd: float = Field(
        gt=0, le=1e8,
        description="Mean allowed cost of a member-year with non-zero cost, base-year dollars.")
    cv: float = Field(ge=MIN_CV, le=50, description="Coefficient of variation of that cost "
                      "(at least 0.001: a smaller one is a fixed cost in all but name).")
    severity: Literal["lognormal", "gamma"] = Field(
        "lognormal", description="Distribution family of the non-zero cost.")
    zero_cost_pct: Percent = Field(0.0, lt=100, description="Share of member-years with no cost at all.")
    death_pct: Percent = Field(0.0, lt=100, description="Annual probability of death, in percent.")


class CostModel(StrictModel):
    """Cost bands with an annual Markov transition matrix (persistence of high cost)."""

    description: str = ""
    bands: list[Band] = Field(min_length=1, max_length=32)
    transition: list[list[Probability]] = Field(
        description="Row b gives next year's band probabilities for a member staying in band b; "
                    "rows sum to 1.")
    entrant_mix: list[Probability] = Field(description="Band probabilities of a new entrant; sums to 1.")
    initial_mix: list[Probability] | None = Field(
        None, description="Band probabilities in the base year (the year before year 1); "
                          "default: the stationary mix of the population's dynamics.")

    @field_validator("transition")
    @classmethod
    def _rows_sum_to_one(cls, rows: list[list[float]]) -> list[list[float]]:
        for i, row in enumerate(rows):
            rows[i] = _check_distribution(row, f"row {i + 1}")
        return rows

    @field_validator("entrant_mix", "initial_mix")
    @classmethod
    def _mix_sums_to_one(cls, mix: list[float] | None) -> list[float] | None:
        return None if mix is None else _check_distribution(mix, "the mix")

    @model_validator(mode="after")
    def _shapes_agree(self) -> CostModel:
        k = len(self.bands)
        names = [b.name for b in self.bands]
        if len(set(names)) != k:
            raise ValueError(f"bands: band names must be unique, got {names}")
        if len(self.transition) != k or any(len(r) != k for r in self.transition):
            shape = f"{len(self.transition)} rows of lengths {[len(r) for r in self.transition]}"
            raise ValueError(f"transition: expected a {k}x{k} matrix (one row and column per band), "
                             f"got {shape}")
        for field in ("entrant_mix", "initial_mix"):
            mix = getattr(self, field)
            if mix is not None and len(mix) != k:
                raise ValueError(f"{field}: expected {k} probabilities (one per band), got {len(mix)}")
        return self

    @property
    def band_names(self) -> list[str]:
        return [b.name for b in self.bands]


class QualityScore(StrictModel):
    """Composite quality score of a segment, as a distribution (until measures are modelled)."""

    mean_pct: Percent = Field(description="Expected composite score in year 1, 0-100.")
    change_pct_points: float = Field(0.0, ge=-20, le=20, description="Expected change per year, points.")
    sd_pct_points: float = Field(0.0, ge=0, le=50, description="Standard deviation of a year's score "
                                 "around its expectation, points (systemic: one draw per trial-year).")
    year_correlation: float = Field(0.5, ge=0, lt=1, description="Correlation of the deviations of "
                                    "consecutive years (AR(1)).")


class RiskScoring(StrictModel):
    """How well the segment's prospective risk scores predict, and how they drift
    (applied in :mod:`simulator.experience.risk_scores`, which derives the noise)."""

    prospective_r2: float | None = Field(
        None, gt=0, le=1, description="Member-level R-squared of the score against the year's "
        "cost (CMS-HCC about 0.12-0.13, commercial 0.15-0.20, approx.); omit for the cost "
        "model's own (perfect given the band) prediction.")
    coding_intensity_pct: float = Field(
        0.0, ge=-10, le=20, description="Yearly drift of the scores that comes with no cost "
        "(documentation, coding), % a year, compounding from term year 1.")


class Segment(StrictModel):
    """A product line (PPO, HMO, Medicare ...) of attributed members."""

    members: int = Field(ge=1, le=50_000_000, description="Attributed members; kept constant "
                         "over the term, leavers and decedents being replaced by entrants.")
    cost_model: Name = Field(description="Name of a table under [cost_models].")
    cost_factor: float = Field(1.0, gt=0, le=100, description="Multiplier on the cost model's "
                               "band means (e.g. 0.93 for an HMO running 7% below PPO).")
    cost_trend_pct: TrendPct = Field(
        description="Expected annual cost trend in percent: one number, or one per year of the term "
                    "(year 1's entry trends year 1 from the base year).")
    trend_shock_sd_pct: float = Field(
        0.0, ge=0, le=50, description="Standard deviation, in percentage points, of the systemic "
                                      "trend shock of a year; shocks compound over the term.")
    trend_sd_pct: float = Field(
        0.0, ge=0, le=20, description="Standard deviation, in percentage points, of the expected "
        "trend itself (parameter risk): one draw per trial added to every year's trend.")
    pricing: Pricing | None = Field(None, description="Pricing (entity-level) uncertainty: how far "
                                    "the true expected cost sits from what the budget assumes.")
    churn_pct: Percent = Field(description="Share of surviving members who leave at each year end.")
    quality_score: QualityScore | None = Field(None, description="Composite quality score as a "
                                               "distribution; or let [quality] measures with cut "
                                               "points make it.")
    group_mix: dict[Name, Probability] | None = Field(
        None, description="Members' shares by race/ethnicity group (the groups of [quality]); "
                          "entrants follow the same mix.")
    risk_scoring: RiskScoring | None = Field(
        None, description="Realistic risk scores: a target member-level R-squared and coding "
        "intensity; omit for the cost model's own scores (perfect given the band).")

    @field_validator("group_mix")
    @classmethod
    def _group_mix_sums_to_one(cls, mix: dict[str, float] | None) -> dict[str, float] | None:
        if mix is not None:
            return dict(zip(mix, _check_distribution(list(mix.values()), "the group mix")))
        return mix


class Systemic(StrictModel):
    """Risk that does not diversify with population size."""

    trend_shock_correlation: float = Field(
        0.0, ge=-1, le=1, description="Correlation of the yearly trend shocks between any two segments "
        "(also of the per-trial trend errors).")
    trend_shocks: TrendShocks = Field(TrendShocks(), description="Process of the yearly trend shocks.")
    pricing_correlation: float = Field(0.0, ge=-1, le=1, description="Correlation of the pricing "
                                       "errors between any two segments.")
    event: SystemicEvent | None = Field(None, description="A rare systemic event (e.g. a 2020-like "
                                        "utilisation drop and rebound).")
    sampling: Literal["random", "sobol"] = Field("random", description=SAMPLING_DESCRIPTION)
    sobol_points: int = Field(256, ge=2, le=2**16, description="Trials per randomised Sobol "
                              "replicate: a power of 2 (the trials should be a multiple of it).")

    @field_validator("sobol_points")
    @classmethod
    def _power_of_two(cls, value: int) -> int:
        if value & (value - 1):
            raise ValueError(f"expected a power of 2, got {value}")
        return value

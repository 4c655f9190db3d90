"""Contract terms: the global budget and how its surplus or deficit is shared.

The terms are data (pydantic models, one field per term); the rules that
apply them live in :mod:`simulator.settlement`, in the order a payer applies
them: budget (trend, risk adjustment, rebasing, discount) -> stop-loss ->
minimum savings/loss rate -> sharing rates or corridors (with the quality
gate or sliding scale) -> caps -> quality bonus -> withhold -> program costs
and fees. Every term has a neutral default, so a contract states only what
it uses.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal

import numpy as np
from pydantic import Field, ValidationError, model_validator

from .benchmark import HealthEquityAdjustment, HistoricalBenchmark
from .equity import EquityTerms
from ..core.inputs import (Name, Percent, StrictModel, TrendPct, check_per_year, check_sums_to_100,
                           deep_merge, per_year_fraction, validation_problems)

CMS_TABLE = "cms_table"


class Corridor(StrictModel):
    """A band of the gross result, as % of budget, and the provider's share within it."""

    up_to_pct: float | None = Field(
        None, gt=0, le=1000, description="Upper edge of the band, % of budget; omit on the last band.")
    share_pct: Percent = Field(description="Provider's share of the result within the band.")


class StopLoss(StrictModel):
    """Specific stop-loss: each member's annual cost above the attachment is
    excluded from the provider's actual cost (less coinsurance), for a premium."""

    attachment_usd: float = Field(gt=0, le=1e9, description="Per member per year, nominal dollars.")
    coinsurance_pct: Percent = Field(
        0.0, description="Share of the cost above the attachment that the provider still bears.")
    premium_pmpm: float = Field(0.0, ge=0, le=1e5, description="Premium per member-month in "
                                "year 1 (trended by premium_trend_pct), added to the provider's "
                                "actual cost; or give loading_pct for a priced premium.")
    premium_trend_pct: TrendPct = Field(0.0, description="Annual increase of premium_pmpm after "
                                        "year 1: one number or one per year of the term.")
    loading_pct: float | None = Field(
        None, ge=-50, le=500, description="Priced premium: each year's premium is the expected "
        "recovery at this attachment in that year (the mean over the run's trials) x (1 + loading); "
        "it then follows the attachment and the trend. Instead of premium_pmpm.")

    @model_validator(mode="after")
    def _one_premium(self) -> StopLoss:
        if self.loading_pct is not None and (self.premium_pmpm or self.premium_trend_pct):
            raise ValueError("loading_pct: give either loading_pct (a priced premium) or "
                             "premium_pmpm with premium_trend_pct (a fixed one), not both")
        return self

    def premium_pmpm_by_year(self, years: int) -> np.ndarray:
        """Fixed premium PMPM of years 1..``years``: year 1's, trended from year 2 on."""
        trend = per_year_fraction(self.premium_trend_pct, years)
        return self.premium_pmpm * np.cumprod(np.concatenate([[1.0], 1.0 + trend[1:]]))


class AggregateStopLoss(StrictModel):
    """Aggregate stop-loss: the segment's actual cost above a percent of budget is covered."""

    attachment_pct: float = Field(gt=0, le=1000, description="Attachment as % of budget (e.g. 115).")
    coinsurance_pct: Percent = Field(0.0, description="Share above the attachment the provider bears.")
    premium_pmpm: float = Field(0.0, ge=0, le=1e5, description="Premium per member-month.")


class RiskAdjustment(StrictModel):
    """The budget follows the population's normalised prospective risk score."""

    growth_cap_pct: float | None = Field(
        None, ge=0, le=100, description="Cap on the score's growth above the base year, % (MSSP: 3).")
    decline_floor_pct: float | None = Field(
        None, ge=0, le=100, description="Floor on its decline below the base year, % (REACH: 3).")
    coding_intensity_factor_pct: TrendPct = Field(
        0.0, description="Coding intensity factor: the score is cut by this percent before the "
        "cap (REACH); one number or one per year of the term.")


class Rebasing(StrictModel):
    """In one year of the term the budget resets toward recent experience."""

    year: int = Field(ge=2, le=30, description="Year of the term (2 = second year) that is rebased.")
    weight_pct: Percent = Field(description="Weight of the prior years' cost (risk-adjusted when "
                                "the budget is), trended to the rebased year, in the rebased budget PMPM.")
    prior_year_weights_pct: list[Percent] = Field(
        [100.0], min_length=1, max_length=10, description="Weights of the prior years, oldest "
        "first, summing to 100 (MSSP base years: [10, 30, 60]); default: the prior year alone.")

    @model_validator(mode="after")
    def _weights_sum_to_100(self) -> Rebasing:
        check_sums_to_100(self.prior_year_weights_pct, "prior_year_weights_pct")
        return self


class DeficitFromQuality(StrictModel):
    """Deficit share = 1 - quality-adjusted surplus share, within bounds (MSSP ENHANCED)."""

    floor_pct: Percent = Field(40.0, description="Lowest deficit share.")
    cap_pct: Percent = Field(75.0, description="Highest deficit share.")


class BonusBand(StrictModel):
    min_score_pct: Percent = Field(description="Quality score from which this bonus applies.")
    bonus_pct: Percent = Field(description="Bonus as % of budget.")


class QualityTerms(StrictModel):
    """How the composite quality score moves money (all off by default)."""

    gate_pct: Percent | list[Percent] | None = Field(
        None, description="Below this score no surplus is shared; one number or one per year of "
        "the term (a gate that rises year by year).")
    sliding_scale_below_pct: Percent | None = Field(
        None, description="Below this score surplus shares are multiplied by score / 100 (MSSP "
                          "from 2024, below the quality performance standard); 100: always.")
    deficit_share_from_quality: DeficitFromQuality | None = None
    bonus: list[BonusBand] = Field(default_factory=list, description="AQC-style quality bonus: "
                                   "the band with the highest min_score_pct reached applies.")
    withhold_pct: Percent = Field(0.0, description="Share of budget withheld (REACH: 2-5).")
    withhold_zero_score_pct: Percent = Field(0.0, description="Score at or below which none of the "
                                             "withhold is earned back.")
    withhold_full_score_pct: Percent = Field(100.0, description="Score from which all of it is.")

    @property
    def uses_score(self) -> bool:
        return bool(self.gate_pct is not None or self.sliding_scale_below_pct is not None or self.bonus
                    or self.withhold_pct or self.deficit_share_from_quality)


MinRate = Percent | Literal["cms_table"]


class SegmentTerms(StrictModel):
    """Budget and risk-sharing terms of one segment."""

    budget_pmpm: float = Field(gt=0, le=1e6, description="Budget per member-month in the base year "
                               "(the year before year 1); year y's is this trended y times.")
    budget_trend_pct: TrendPct = Field(
        description="Annual budget increase in percent: one number or one per year of the term.")
    budget_trend_adjustment_pct: float = Field(
        0.0, ge=-50, le=50, description="Negotiated adjustment added to every year's budget trend.")
    risk_adjustment: RiskAdjustment | None = Field(None, description="Omit for no risk adjustment.")
    rebasing: Rebasing | None = None
    historical_benchmark: HistoricalBenchmark | None = Field(
        None, description="Budget from the provider's own simulated base years (needs "
        "term.base_years), rebased each agreement period; budget_pmpm is then not used.")
    heba: HealthEquityAdjustment | None = Field(None, description="REACH health equity "
                                                "benchmark adjustment.")
    discount_pct: Percent = Field(0.0, description="Discount off the benchmark (REACH Global).")

    surplus_share_pct: Percent | None = Field(None, description="Provider's share of a surplus "
                                              "(or give surplus_corridors).")
    deficit_share_pct: Percent | None = Field(None, description="Provider's share of a deficit "
                                              "(or give deficit_corridors).")
    surplus_corridors: list[Corridor] | None = Field(
        None, min_length=1, description="Bands of the surplus (% of budget) with the provider's "
                                        "share in each; the last band has no upper edge.")
    deficit_corridors: list[Corridor] | None = Field(None, min_length=1, description="As above, "
                                                     "for a deficit.")
    min_savings_rate_pct: MinRate = Field(
        0.0, description="Surplus, % of budget, below which nothing is shared; 'cms_table' for the "
                         "MSSP one-sided table by assigned beneficiaries (42 CFR 425.604).")
    min_loss_rate_pct: MinRate = Field(
        0.0, description="Deficit, % of budget, below which nothing is shared ('cms_table' as above).")
    assigned_beneficiaries: int | None = Field(
        None, ge=1, le=50_000_000, description="Assigned beneficiaries (persons) for the 'cms_table' "
        "MSR/MLR lookup; default: the segment's members (never member-months / 12: decedents and "
        "leavers are persons of the year too).")
    sharing: Literal["first_dollar", "above_threshold"] = Field(
        "first_dollar", description="Once the MSR/MLR is met, share the whole result "
                                    "(first_dollar, as MSSP) or only the part beyond the threshold.")
    gain_cap_pct: Percent | None = Field(None, description="Cap on the provider's gain, % of budget.")
    loss_cap_pct: Percent | None = Field(None, description="Cap on the provider's loss, % of budget.")
    revenue_pmpm: float | None = Field(None, gt=0, le=1e6, description="Provider revenue per "
                                       "member-month in the base year (trended with the budget), "
                                       "for caps stated as % of revenue.")
    gain_cap_revenue_pct: Percent | None = None
    loss_cap_revenue_pct: Percent | None = Field(None, description="Loss cap as % of revenue "
                                                 "(MSSP BASIC); the lower of the two caps binds.")
    stop_loss: StopLoss | None = None
    aggregate_stop_loss: AggregateStopLoss | None = None
    quality: QualityTerms = QualityTerms()
    equity: EquityTerms | None = Field(None, description="Health-equity incentive (needs [quality] "
                                       "groups and measures).")
    program_cost_pmpm: float = Field(0.0, ge=0, le=1e5, description="Care-management and program "
                                     "costs borne by the provider, per member-month.")
    admin_fee_pmpm: float = Field(0.0, ge=0, le=1e5, description="Administrative fees per member-month.")

    @model_validator(mode="after")
    def _consistent(self) -> SegmentTerms:
        for side in ("surplus", "deficit"):
            share, corridors = getattr(self, f"{side}_share_pct"), getattr(self, f"{side}_corridors")
            if (share is None) == (corridors is None):
                raise ValueError(f"{side}_share_pct: give exactly one of {side}_share_pct and "
                                 f"{side}_corridors")
            if corridors is not None:
                _check_corridors(corridors, f"{side}_corridors")
        if (self.gain_cap_revenue_pct is not None or self.loss_cap_revenue_pct is not None) \
                and self.revenue_pmpm is None:
            raise ValueError("revenue_pmpm: required when a cap is stated as % of revenue")
        if self.historical_benchmark is not None and self.rebasing is not None:
            raise ValueError("rebasing: give either rebasing or historical_benchmark (which rebases "
                             "each agreement period), not both")
        if self.quality.deficit_share_from_quality is not None and self.deficit_corridors is not None:
            raise ValueError("quality.deficit_share_from_quality: cannot be combined with deficit_corridors")
        q = self.quality
        if q.withhold_full_score_pct <= q.withhold_zero_score_pct:
            raise ValueError("quality.withhold_full_score_pct: must be above withhold_zero_score_pct")
        return self

    def corridors(self, side: Literal["surplus", "deficit"]) -> tuple[np.ndarray, np.ndarray]:
        """Band edges (fractions of budget, last one infinite) and shares (fractions)."""
        corridors = getattr(self, f"{side}_corridors")
        if corridors is None:
            return np.array([np.inf]), np.array([getattr(self, f"{side}_share_pct") / 100])
        edges = [np.inf if c.up_to_pct is None else c.up_to_pct / 100 for c in corridors]
        return np.array(edges), np.array([c.share_pct / 100 for c in corridors])

    def budget_pmpm_by_year(self, years: int) -> np.ndarray:
        """Scheduled budget PMPM for years 1..``years`` of the term (before rebasing)."""
        return self.budget_pmpm * np.cumprod(1.0 + self.trend_by_year(years))

    def trend_by_year(self, years: int) -> np.ndarray:
        return per_year_fraction(self.budget_trend_pct, years) + self.budget_trend_adjustment_pct / 100


def _check_corridors(corridors: list[Corridor], where: str) -> None:
    edges = [c.up_to_pct for c in corridors]
    if edges[-1] is not None:
        raise ValueError(f"{where}: the last corridor must have no up_to_pct (it is open-ended)")
    if any(e is None for e in edges[:-1]):
        raise ValueError(f"{where}: only the last corridor may omit up_to_pct")
    if any(b <= a for a, b in zip(edges[:-2], edges[1:-1])):
        raise ValueError(f"{where}: up_to_pct must increase from one corridor to the next")


class Contract(StrictModel):
    """The terms of one contract variant."""

    description: str = ""
    payment_lag_months: int = Field(6, ge=0, le=60, description="Months from a performance "
                                    "year's end to its settlement payment (for present values).")
    segments: dict[Name, SegmentTerms] = Field(min_length=1)

    def check_against(self, segment_names: list[str], years: int, label: str) -> None:
        """Raise ``ValueError`` if the terms do not fit the population and the term."""
        where = "contract" if label == "base" else f"variants.{label}"
        missing = sorted(set(segment_names) - set(self.segments))
        extra = sorted(set(self.segments) - set(segment_names))
        if missing:
            raise ValueError(f"{where}.segments: no terms for segment(s) {missing}")
        if extra:
            raise ValueError(f"{where}.segments: terms for unknown segment(s) {extra} "
                             f"(segments are {sorted(segment_names)})")
        for name, terms in self.segments.items():
            check_per_year(terms.budget_trend_pct, years, f"{where}.segments.{name}.budget_trend_pct")
            if terms.rebasing is not None and terms.rebasing.year > years:
                raise ValueError(f"{where}.segments.{name}.rebasing.year: the term has only {years} years")
            if terms.rebasing is not None and terms.rebasing.year <= len(terms.rebasing.prior_year_weights_pct):
                raise ValueError(f"{where}.segments.{name}.rebasing.prior_year_weights_pct: "
                                 f"{len(terms.rebasing.prior_year_weights_pct)} prior years need "
                                 f"rebasing.year above {len(terms.rebasing.prior_year_weights_pct)}")
            if isinstance(terms.quality.gate_pct, list):
                check_per_year(terms.quality.gate_pct, years, f"{where}.segments.{name}.quality.gate_pct")
            if terms.risk_adjustment is not None:
                check_per_year(terms.risk_adjustment.coding_intensity_factor_pct, years,
                               f"{where}.segments.{name}.risk_adjustment.coding_intensity_factor_pct")
            if terms.stop_loss is not None:
                check_per_year(terms.stop_loss.premium_trend_pct, years,
                               f"{where}.segments.{name}.stop_loss.premium_trend_pct")

    def uses_quality(self) -> list[str]:
        """Segments whose terms depend on the quality score."""
        return [name for name, t in self.segments.items() if t.quality.uses_score]


def resolve_variants(base: Contract, variants: dict[str, dict[str, Any]]) -> dict[str, Contract]:
    """The base contract and each variant (its overrides deep-merged onto the base), by name.

    Raises ``ValueError`` naming the variant and field of the first invalid one.
    """
    out = {"base": base}
    for name, overrides in variants.items():
        if name == "base":
            raise ValueError("variants.base: 'base' is reserved for [contract]")
        merged = deep_merge(base.model_dump(exclude_unset=True), overrides)
        try:
            out[name] = Contract.model_validate(merged)
        except ValidationError as err:
            detail = "; ".join(f"{p}: {m}" for p, m in validation_problems(err))
            raise ValueError(f"variants.{name}: {detail}") from None
    return out


def fixed_premium_notes(base: Contract, contracts: Iterable[Contract]) -> list[str]:
    """One line per segment whose stop-loss attachment differs from ``base``'s in some of
    ``contracts`` while its premium is a fixed dollar amount (it does not follow the
    attachment: a lower attachment recovers more for the same premium)."""
    moved: dict[str, set[float]] = {}
    fixed: dict[str, StopLoss] = {}
    for contract in contracts:
        for name, terms in contract.segments.items():
            sl, was = terms.stop_loss, base.segments.get(name)
            was_at = was.stop_loss.attachment_usd if was is not None and was.stop_loss else None
            if sl is not None and sl.loading_pct is None and sl.attachment_usd != was_at:
                moved.setdefault(name, set()).add(sl.attachment_usd)
                fixed[name] = sl
    lines = []
    for name, attachments in moved.items():
        was = base.segments.get(name)
        start = f"{was.stop_loss.attachment_usd:,.0f}" if was is not None and was.stop_loss else "none"
        to = ", ".join(f"{a:,.0f}" for a in sorted(attachments))
        lines.append(f"note: segments.{name}.stop_loss: the attachment moves ({start} -> {to}) with a "
                     f"fixed premium of ${fixed[name].premium_pmpm:,.2f} PMPM; give stop_loss.loading_pct "
                     "to price the premium from the run's expected recovery at each attachment")
    return lines


class ContractFile(StrictModel):
    """Contract terms to settle on a stored run (``vbcsim settle``).

    Each segment under ``[contract.segments]`` replaces that segment's terms in the
    run's base contract; segments not given keep the run's terms. Variants are
    overrides of the resulting base, as in a scenario.
    """

    description: str = ""
    contract: dict[str, Any] = Field(description="Contract fields; segments given replace the run's.")
    variants: dict[Name, dict[str, Any]] = Field(default_factory=dict)

    def contracts(self, run_base: Contract) -> dict[str, Contract]:
        data = run_base.model_dump(exclude_unset=True)
        own = dict(self.contract)
        segments = {**data.pop("segments"), **own.pop("segments", {})}
        try:
            base = Contract.model_validate({**data, **own, "segments": segments})
        except ValidationError as err:
            detail = "; ".join(f"contract.{p}: {m}" for p, m in validation_problems(err))
            raise ValueError(detail) from None
        return resolve_variants(base, self.variants)


# MSSP minimum savings rate for one-sided models by assigned beneficiaries,
# 42 CFR 425.604: (low, high, MSR at low end %, MSR at high end %), linear within a range.
# From 5,000 up: the regulation's table. Below 5,000 (up to 499: 12.2%; 500-999: 12.2/8.7;
# 1,000-2,999: 8.7/5.0; 3,000-4,999: 5.0/3.9): the seed table of tuva-health/cms_mssp_connector,
# which reproduces the MinSavPerc column of the MSSP results files for all 506 one-sided
# ACO-years of PY2022-2024 when interpolated linearly (domain notes, section 3).
_CMS_MSR_TABLE = [
    (500, 999, 12.2, 8.7), (1_000, 2_999, 8.7, 5.0), (3_000, 4_999, 5.0, 3.9),
    (5_000, 5_999, 3.9, 3.6), (6_000, 6_999, 3.6, 3.4), (7_000, 7_999, 3.4, 3.2),
    (8_000, 8_999, 3.2, 3.1), (9_000, 9_999, 3.1, 3.0), (10_000, 14_999, 3.0, 2.7),
    (15_000, 19_999, 2.7, 2.5), (20_000, 49_999, 2.5, 2.2), (50_000, 59_999, 2.2, 2.0),
]
CMS_MSR_SMALLEST_PCT = 12.2
"""MSR up to 499 assigned beneficiaries."""
CMS_MSR_LARGEST_PCT = 2.0
"""MSR from 60,000 assigned beneficiaries."""


def cms_min_savings_rate_pct(beneficiaries: np.ndarray | float) -> np.ndarray:
    """MSSP one-sided MSR (percent) for a number of assigned beneficiaries (persons).

    Linear from the low to the high end of each range of :data:`_CMS_MSR_TABLE`;
    12.2% below 500, 2.0% from 60,000.
    """
    n = np.asarray(beneficiaries, float)
    out = np.full(n.shape, CMS_MSR_LARGEST_PCT)
    out[n < _CMS_MSR_TABLE[0][0]] = CMS_MSR_SMALLEST_PCT
    for low, high, at_low, at_high in _CMS_MSR_TABLE:
        inside = (n >= low) & (n < high + 1)
        out[inside] = at_low + (at_high - at_low) * (n[inside] - low) / (high - low)
    return out

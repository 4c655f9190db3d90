"""Stage 2: settle simulated experience against contract terms.

A pure, vectorised function of the experience dataset and the contract
variants; every variant is settled on the same simulated paths (common
random numbers). Per segment, year and trial, in the order a payer applies
the rules:

1. budget: the scheduled PMPM (base trended, optionally rebased toward the
   prior year's risk-adjusted cost), times the normalised risk score (growth
   capped) when risk-adjusted, times member-months, less the discount;
2. actual cost: allowed cost less specific stop-loss recoveries (cost above
   the attachment, less coinsurance), plus its premium; then aggregate
   stop-loss above a percent of budget, plus its premium;
3. gross result = budget - actual cost (positive: surplus);
4. nothing is shared below the minimum savings (loss) rate; above it the
   result (first dollar) or the part beyond the threshold is shared by the
   corridors; the quality gate and sliding scale act on the surplus share;
5. caps on gain and loss, as % of budget and/or of revenue (the lower binds);
6. quality bonus (by score band), quality withhold not earned back, program
   costs and fees.

Present values discount each year's settlement from its payment date (year
end plus the payment lag) to the start of the term.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import xarray as xr

from ..core import arrays as large
from .benchmark import capped_growth, historical_budget
from .contract import CMS_TABLE, Contract, SegmentTerms, cms_min_savings_rate_pct
from .equity import MeasureExperience, equity_payment

OUTPUTS = {
    "budget_usd": "Budget after risk adjustment and discount",
    "risk_score": "Normalised risk score applied to the budget (1 if not risk-adjusted)",
    "stop_loss_recovery_usd": "Cost excluded by specific and aggregate stop-loss",
    "stop_loss_premium_usd": "Stop-loss premiums added to actual cost",
    "actual_cost_usd": "Cost settled against the budget",
    "gross_result_usd": "Budget minus actual cost (positive: surplus)",
    "shared_result_usd": "Provider's share of the gross result after MSR/MLR, corridors, "
                         "quality gate and caps",
    "quality_bonus_usd": "Quality bonus",
    "withhold_lost_usd": "Quality withhold not earned back",
    "program_and_fees_usd": "Program costs (the simulated care-management program and any "
                            "contract PMPM) and administrative fees",
    "equity_payment_usd": "Health-equity incentive paid on the measured rates",
    "equity_payment_true_rates_usd": "The equity incentive had the rates been measured without "
                                      "sampling noise (not paid; for attribution)",
    "equity_payment_no_change_usd": "The equity incentive had no group's true rate changed from "
                                    "baseline, measured with the same sampling noise: what noise "
                                    "alone pays (not paid; NaN if not recorded)",
    "provider_gain_usd": "Provider's settlement: gain (positive) or loss (negative)",
}
UNITS = {"risk_score": "1"}


@dataclass(frozen=True)
class SegmentExperience:
    """One segment's experience as (trial, year) arrays; measures (trial, year, measure, group)."""

    member_months: np.ndarray
    allowed_usd: np.ndarray
    excess_usd: dict[float, np.ndarray]
    risk_score: np.ndarray
    quality_score_pct: np.ndarray
    measures: MeasureExperience | None = None
    program_cost_usd: np.ndarray | float = 0.0
    members: float | None = None
    """The segment's members (persons, constant over the term): assigned beneficiaries by default."""
    base_member_months: np.ndarray | None = None
    """(trial, base year): the years simulated before year 1, for a historical benchmark."""
    base_allowed_usd: np.ndarray | None = None
    base_risk_score: np.ndarray | None = None

    @cached_property
    def mean_member_months(self) -> np.ndarray:
        """Member-months of each year, the mean over the trials (priced stop-loss premiums)."""
        return self.member_months.mean(axis=0)

    @classmethod
    def from_dataset(cls, exp: xr.Dataset) -> SegmentExperience:
        """One segment of an experience dataset (``exp.sel(segment=...)``), its arrays copied
        out contiguous (held while it settles): every variant's arithmetic then reads them in
        order, not strided across segments and attachments."""
        def values(name: str, **at: float) -> np.ndarray:
            return np.ascontiguousarray(exp[name].sel(at).values)

        mm = values("member_months")
        measures = None
        if "measure_numerator" in exp and exp.sizes.get("measure", 0):
            measures = MeasureExperience(
                list(exp["measure"].values), list(exp["group"].values),
                values("measure_numerator"), values("measure_denominator"),
                values("measure_rate_true_pct"), values("measure_baseline_rate_pct"),
                values("measure_baseline_denominator"),
                *(values(k) if k in exp else None for k in (
                    "measure_baseline_measured_numerator", "measure_baseline_measured_denominator",
                    "measure_numerator_no_change")))
        return cls(member_months=mm, allowed_usd=values("allowed_usd"),
                   excess_usd={float(a): values("excess_usd", attachment=a)
                               for a in exp["attachment"].values},
                   risk_score=values("risk_score_member_months") / mm,
                   quality_score_pct=values("quality_score_pct"), measures=measures,
                   program_cost_usd=values("program_cost_usd") if "program_cost_usd" in exp else 0.0,
                   members=float(exp["segment_members"]) if "segment_members" in exp else None,
                   **base_years_of(exp))


def base_years_of(exp: xr.Dataset) -> dict[str, np.ndarray]:
    """The base-year arrays of one segment's experience, if it has them."""
    if "base_member_months" not in exp:
        return {}
    mm = exp["base_member_months"].values
    return {"base_member_months": mm, "base_allowed_usd": exp["base_allowed_usd"].values,
            "base_risk_score": exp["base_risk_score_member_months"].values / mm}


# -- 1. budget -----------------------------------------------------------------------
def budget_pmpm(terms: SegmentTerms, exp: SegmentExperience) -> np.ndarray:
    """Budget PMPM per (trial, year) before risk adjustment and discount, with rebasing."""
    if terms.historical_benchmark is not None:
        return historical_budget(terms, exp)[0]
    years = exp.member_months.shape[-1]
    scheduled = np.broadcast_to(terms.budget_pmpm_by_year(years), exp.member_months.shape).copy()
    if terms.rebasing is None:
        return scheduled
    r = terms.rebasing.year - 1  # index of the rebased year
    trend = terms.trend_by_year(years)
    growth = np.cumprod(1 + trend)  # growth[r] / growth[j]: budget trend from year j to year r
    w = terms.rebasing.weight_pct / 100
    weights = np.asarray(terms.rebasing.prior_year_weights_pct) / 100
    prior = np.zeros(exp.member_months.shape[0])
    for j, weight in zip(range(r - weights.size, r), weights):
        cost_pmpm = exp.allowed_usd[:, j] / exp.member_months[:, j]
        if terms.risk_adjustment is not None:  # only a risk-adjusted budget restates cost at score 1
            cost_pmpm = cost_pmpm / exp.risk_score[:, j]
        prior += weight * cost_pmpm * growth[r] / growth[j]
    out = scheduled
    out[:, r] = w * prior + (1 - w) * scheduled[:, r]
    for y in range(r + 1, years):
        out[:, y] = out[:, y - 1] * (1 + trend[y])
    return out


def risk_factor(terms: SegmentTerms, exp: SegmentExperience) -> np.ndarray:
    """Normalised risk score applied to the budget (base year = 1), capped as agreed."""
    ra = terms.risk_adjustment
    if ra is None:
        return np.ones_like(exp.risk_score)
    if terms.historical_benchmark is not None:  # growth over the period's reference year
        return capped_growth(terms, exp.risk_score, historical_budget(terms, exp)[1])
    if ra.coding_intensity_factor_pct:
        return capped_growth(terms, exp.risk_score, np.ones_like(exp.risk_score))
    low = 1 - ra.decline_floor_pct / 100 if ra.decline_floor_pct is not None else 0.0
    high = 1 + ra.growth_cap_pct / 100 if ra.growth_cap_pct is not None else np.inf
    return np.clip(exp.risk_score, low, high)


# -- 2. stop-loss --------------------------------------------------------------------
def specific_stop_loss(terms: SegmentTerms, exp: SegmentExperience) -> tuple[np.ndarray, np.ndarray]:
    """Recovery and premium of the specific stop-loss."""
    sl = terms.stop_loss
    if sl is None:
        return np.zeros_like(exp.allowed_usd), np.zeros_like(exp.allowed_usd)
    if sl.attachment_usd not in exp.excess_usd:
        raise KeyError(f"stop-loss attachment {sl.attachment_usd:,.0f} was not simulated; "
                       f"available: {sorted(exp.excess_usd)}")
    recovery = exp.excess_usd[sl.attachment_usd]  # the experience's own: never changed in place
    if sl.coinsurance_pct:
        recovery = (1 - sl.coinsurance_pct / 100) * recovery
    mm = exp.member_months
    if sl.loading_pct is None:
        return recovery, sl.premium_pmpm_by_year(mm.shape[-1]) * mm
    # priced: the expected recovery PMPM of each year, estimated by the mean over the trials
    expected_pmpm = recovery.mean(axis=0) / exp.mean_member_months
    return recovery, (1 + sl.loading_pct / 100) * expected_pmpm * mm


def aggregate_stop_loss(terms: SegmentTerms, actual: np.ndarray, budget: np.ndarray,
                        member_months: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Recovery and premium of the aggregate stop-loss on the segment."""
    agg = terms.aggregate_stop_loss
    if agg is None:
        return np.zeros_like(actual), np.zeros_like(actual)
    above = np.maximum(actual - agg.attachment_pct / 100 * budget, 0.0)
    return (1 - agg.coinsurance_pct / 100) * above, agg.premium_pmpm * member_months


# -- 4. sharing ----------------------------------------------------------------------
def corridor_amount(magnitude: np.ndarray, budget: np.ndarray, edges: np.ndarray,
                    shares: np.ndarray) -> np.ndarray:
    """Sum over corridors of share x the part of ``magnitude`` inside the corridor.

    ``edges`` are upper edges as fractions of budget (last infinite)."""
    if edges.size == 1 and np.isinf(edges[0]):  # one open corridor: the same numbers, simpler
        return shares[0] * np.maximum(magnitude, 0.0)
    out = np.zeros_like(magnitude)
    lower = np.zeros_like(magnitude)
    for edge, share in zip(edges, shares):
        upper = np.inf if np.isinf(edge) else edge * budget  # inf x a zero budget is not NaN
        out += share * np.clip(magnitude - lower, 0.0, upper - lower)
        lower = upper
    return out


def min_rate(value: float | str, beneficiaries: float | None) -> float:
    """MSR or MLR as a fraction; the CMS table is looked up by assigned beneficiaries (persons)."""
    if value != CMS_TABLE:
        return float(value) / 100
    if beneficiaries is None:
        raise ValueError("assigned_beneficiaries: needed for the 'cms_table' MSR (this experience "
                         "does not record the segment's members)")
    return float(cms_min_savings_rate_pct(beneficiaries) / 100)


def surplus_factor(terms: SegmentTerms, score_pct: np.ndarray) -> np.ndarray | float:
    """Multiplier of the surplus shares from quality: the sliding scale (score / 100 below the
    standard), and 0 where the quality gate is failed (including a missing score); 1 without
    either."""
    q = terms.quality
    factor = 1.0
    if q.sliding_scale_below_pct is not None:
        factor = np.where(score_pct < q.sliding_scale_below_pct, score_pct / 100, 1.0)
    if q.gate_pct is not None:  # one gate, or one per year (the last axis)
        factor = np.where(score_pct >= np.asarray(q.gate_pct, float), factor, 0.0)
    return factor


def shared_result(terms: SegmentTerms, gross: np.ndarray, budget: np.ndarray,
                  beneficiaries: float | None, score_pct: np.ndarray, revenue: np.ndarray | None
                  ) -> np.ndarray:
    """Provider's share of a gross result: MSR/MLR, corridors, quality gate/scale, caps.

    With ``deficit_share_from_quality`` (MSSP ENHANCED) the deficit share is 1 - the final,
    quality-adjusted surplus share, within its floor and cap: a failed gate makes the final
    surplus share 0 and so the deficit share its cap (75%).
    """
    q = terms.quality
    surplus = gross >= 0
    msr = min_rate(terms.min_savings_rate_pct, beneficiaries)
    mlr = min_rate(terms.min_loss_rate_pct, beneficiaries)
    threshold = (msr if msr == mlr else np.where(surplus, msr, mlr)) * budget
    magnitude = np.abs(gross)
    reached = magnitude >= threshold
    if terms.sharing == "above_threshold":
        magnitude = magnitude - threshold
    factor = surplus_factor(terms, np.broadcast_to(score_pct, gross.shape))
    gain = factor * corridor_amount(magnitude, budget, *terms.corridors("surplus"))
    if q.deficit_share_from_quality is not None:
        bounds = q.deficit_share_from_quality
        rate = np.clip(1 - factor * terms.corridors("surplus")[1][0],
                       bounds.floor_pct / 100, bounds.cap_pct / 100)
        loss = rate * magnitude
    else:
        loss = corridor_amount(magnitude, budget, *terms.corridors("deficit"))
    result = np.where(reached, np.where(surplus, gain, -loss), 0.0)
    return apply_caps(terms, result, budget, revenue)


def apply_caps(terms: SegmentTerms, result: np.ndarray, budget: np.ndarray,
               revenue: np.ndarray | None) -> np.ndarray:
    """Cut a gain or loss to the lowest applicable cap."""
    for sign, of_budget, of_revenue in ((1, terms.gain_cap_pct, terms.gain_cap_revenue_pct),
                                        (-1, terms.loss_cap_pct, terms.loss_cap_revenue_pct)):
        caps = [pct / 100 * base for pct, base in ((of_budget, budget), (of_revenue, revenue))
                if pct is not None]
        if not caps:
            continue
        cap = caps[0] if len(caps) == 1 else np.minimum(*caps)
        result = np.minimum(result, cap) if sign > 0 else np.maximum(result, -cap)
    return result


# -- 6. quality money ----------------------------------------------------------------
def quality_money(terms: SegmentTerms, budget: np.ndarray, score_pct: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Quality bonus paid and withhold lost."""
    q = terms.quality
    bonus = np.zeros_like(budget)
    for band in sorted(q.bonus, key=lambda b: b.min_score_pct):
        bonus = np.where(score_pct >= band.min_score_pct, band.bonus_pct / 100 * budget, bonus)
    lost = np.zeros_like(budget)
    if q.withhold_pct:
        earned = np.clip((score_pct - q.withhold_zero_score_pct)
                         / (q.withhold_full_score_pct - q.withhold_zero_score_pct), 0.0, 1.0)
        lost = (1 - earned) * q.withhold_pct / 100 * budget
    return bonus, lost


def settle_segment(terms: SegmentTerms, exp: SegmentExperience) -> dict[str, np.ndarray]:
    """Settle one segment; every array is (trial, year)."""
    mm = exp.member_months
    risk = risk_factor(terms, exp)
    budget = budget_pmpm(terms, exp) * risk * mm * (1 - terms.discount_pct / 100)
    if terms.heba is not None:  # REACH HEBA, added after the discount (approx.)
        budget = budget + terms.heba.pmpm * mm
    recovery, premium = specific_stop_loss(terms, exp)
    actual = exp.allowed_usd - recovery + premium
    agg_recovery, agg_premium = aggregate_stop_loss(terms, actual, budget, mm)
    actual = actual - agg_recovery + agg_premium
    gross = budget - actual
    revenue = None
    if terms.revenue_pmpm is not None:
        years = mm.shape[-1]
        revenue = terms.revenue_pmpm * np.cumprod(1 + terms.trend_by_year(years)) * mm
    beneficiaries = terms.assigned_beneficiaries or exp.members
    shared = shared_result(terms, gross, budget, beneficiaries, exp.quality_score_pct, revenue)
    bonus, lost = quality_money(terms, budget, exp.quality_score_pct)
    costs = (terms.program_cost_pmpm + terms.admin_fee_pmpm) * mm + exp.program_cost_usd
    equity = equity_payment(terms.equity, exp.measures, budget, mm)
    return {"budget_usd": budget, "risk_score": risk,
            "stop_loss_recovery_usd": recovery + agg_recovery,
            "stop_loss_premium_usd": premium + agg_premium, "actual_cost_usd": actual,
            "gross_result_usd": gross, "shared_result_usd": shared, "quality_bonus_usd": bonus,
            "withhold_lost_usd": lost, "program_and_fees_usd": costs,
            "equity_payment_usd": equity.measured, "equity_payment_true_rates_usd": equity.true_rates,
            "equity_payment_no_change_usd": equity.no_change, "disparity": equity.disparities,
            "provider_gain_usd": shared + bonus - lost - costs + equity.measured}


def present_value_factors(n_years: int, discount_rate_pct: float, payment_lag_months: int) -> np.ndarray:
    """Discount factor of each year's settlement, paid at year end plus the lag."""
    t = np.arange(1, n_years + 1) + payment_lag_months / 12
    return (1 + discount_rate_pct / 100) ** -t


def variants_by_terms(contracts: list[Contract], segment: str) -> list[tuple[SegmentTerms, list[int]]]:
    """The distinct terms of one segment, each with the indices of the variants that have
    them: a segment a sweep does not vary is settled once, not once per variant."""
    groups: dict[str, tuple[SegmentTerms, list[int]]] = {}
    for v, contract in enumerate(contracts):
        terms = contract.segments[segment]
        key = repr(terms)
        if key in groups and groups[key][0] != terms:
            key = f"{key}#{v}"  # same text, unequal terms (a NaN): settled on its own
        groups.setdefault(key, (terms, []))[1].append(v)
    return list(groups.values())


def settle(experience: xr.Dataset, contracts: dict[str, Contract], discount_rate_pct: float,
           outputs: tuple[str, ...] = tuple(OUTPUTS)) -> xr.Dataset:
    """Settle every contract variant on the same experience.

    Parameters
    ----------
    outputs
        Which of :data:`OUTPUTS` to keep (``provider_gain_usd`` is always kept); fewer
        outputs keep many-variant settlements small.

    Returns
    -------
    xarray.Dataset
        The ``outputs`` with dims (variant, trial, year, segment) and ``pv_gain_usd``
        with dims (variant, trial, segment).
    """
    outputs = tuple(dict.fromkeys([*outputs, "provider_gain_usd"]))
    segments = list(experience["segment"].values)
    columns = [SegmentExperience.from_dataset(experience.sel(segment=s)) for s in segments]
    n_trials, n_years = columns[0].member_months.shape
    # filled segment by segment, so (variant, segment, trial, year) is the contiguous layout;
    # zeros until written, and an all-zero result is not written (from 16 MB: no memory taken)
    arrays = {k: large.zeros((len(contracts), len(segments), n_trials, n_years)) for k in outputs}
    pv = large.empty((len(contracts), len(segments), n_trials))
    measures = list(experience["measure"].values) if "measure" in experience.dims else []
    disparity = np.full((len(contracts), len(segments), n_trials, n_years, len(measures)), np.nan)
    factors = [present_value_factors(n_years, discount_rate_pct, c.payment_lag_months)
               for c in contracts.values()]
    for s, name in enumerate(segments):
        for terms, members in variants_by_terms(list(contracts.values()), name):
            settled = settle_segment(terms, columns[s])
            for k in outputs:
                if settled[k].any():
                    for v in members:
                        large.prepare_write(arrays[k][v, s])
                        arrays[k][v, s] = settled[k]
            for v in members:
                pv[v, s] = settled["provider_gain_usd"] @ factors[v]
            for m, values in settled["disparity"].items():
                disparity[members, s, ..., measures.index(m)] = values
    dims = ("variant", "segment", "trial", "year")
    data = {k: (dims, arrays[k], {"units": UNITS.get(k, "USD"), "description": OUTPUTS[k]})
            for k in outputs}
    data["pv_gain_usd"] = (("variant", "segment", "trial"), pv,
                           {"units": "USD", "description": "Present value of the provider's "
                            f"settlements at {discount_rate_pct}% a year, at the start of the term"})
    data["disparity"] = (dims + ("measure",), disparity, {
        "units": "percentage points (squared for between_group_variance)",
        "description": "Disparity metric of the equity incentive, on measured rates"})
    ds = xr.Dataset(data, coords={"variant": list(contracts), "trial": experience["trial"].values,
                                  "year": experience["year"].values, "segment": segments,
                                  "measure": measures})
    ds.attrs["discount_rate_pct"] = discount_rate_pct
    return ds.transpose("variant", "trial", "year", "segment", "measure")

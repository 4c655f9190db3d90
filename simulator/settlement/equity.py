"""Health-equity incentive: disparity metrics between groups and the payment they earn.

The provider earns more as measured gaps between racial/ethnic groups get
smaller (BCBS Massachusetts equity contracts, 2022). Per measure, a
disparity metric of the year is compared with its baseline; the narrowing
(in % of the baseline disparity) earns a share of a payment pool, linearly
between a floor and a target. Metrics, all weighted by the groups'
denominators and in percentage points (points squared for the variance):

- ``gap_to_reference``: mean gap of the other groups below a reference group;
- ``gap_to_best``: mean gap below the best-performing group;
- ``mean_abs_deviation``: mean absolute deviation from the overall rate
  (the "index of disparity");
- ``between_group_variance``: variance of group rates around the overall rate.

Groups whose denominator is below the minimum (30 by default, NCQA's
reliability threshold) are excluded, or pooled into one group that is kept
if the pool reaches the minimum.
"""

from __future__ import annotations

from dataclasses import dataclass
from collections.abc import Collection, Sequence
from typing import Literal, NamedTuple

import numpy as np
from pydantic import Field

from ..core.inputs import Name, Percent, StrictModel

Metric = Literal["gap_to_reference", "gap_to_best", "mean_abs_deviation", "between_group_variance"]


class EquityMeasureTerms(StrictModel):
    weight: float = Field(1.0, gt=0, le=100, description="Weight of the measure in the pool.")
    floor_pct: float = Field(0.0, ge=-100, lt=100, description="Narrowing of the disparity, % of "
                             "baseline, at which payment starts.")
    target_pct: float = Field(50.0, gt=-100, le=100, description="Narrowing at which the measure's "
                              "share of the pool is paid in full.")


class LowestGroupBonus(StrictModel):
    pool_pct: Percent = Field(description="Bonus pool, % of budget.")
    full_at_pct_points: float = Field(gt=0, le=100, description="Improvement of the lowest group's "
                                      "rate over its baseline, points, that earns the whole bonus.")


class EquityTerms(StrictModel):
    """Equity incentive of one segment."""

    pool_pct: Percent = Field(0.0, description="Payment pool as % of budget.")
    pool_pmpm: float = Field(0.0, ge=0, le=1e4, description="Payment pool per member-month.")
    metric: Metric = "gap_to_reference"
    reference_group: Name | None = Field(None, description="Required for gap_to_reference.")
    min_denominator: int = Field(30, ge=1, le=100_000)
    small_groups: Literal["exclude", "pool"] = "exclude"
    measures: dict[Name, EquityMeasureTerms] = Field(min_length=1)
    lowest_group_bonus: LowestGroupBonus | None = None

    def check_against(self, measures: Collection[str], groups: Sequence[str], where: str) -> None:
        """Refuse terms naming measures or a reference group the quality model lacks."""
        unknown = sorted(set(self.measures) - set(measures))
        if unknown:
            raise ValueError(f"{where}.measures: unknown measure(s) {unknown} (have {sorted(measures)})")
        if self.metric == "gap_to_reference" and self.reference_group not in groups:
            raise ValueError(f"{where}.reference_group: gap_to_reference needs one of {list(groups)}")
        for name, m in self.measures.items():
            if m.target_pct <= m.floor_pct:
                raise ValueError(f"{where}.measures.{name}.target_pct: must be above floor_pct")


def apply_min_denominator(numerators: np.ndarray, denominators: np.ndarray, minimum: int,
                          small_groups: str) -> tuple[np.ndarray, np.ndarray]:
    """Groups (last axis) below ``minimum`` get a zero denominator (excluded); with
    ``pool`` they are summed into one extra group, kept if the pool reaches it."""
    small = denominators < minimum
    num = np.where(small, 0, numerators)
    den = np.where(small, 0, denominators)
    if small_groups == "pool":
        pooled_den = np.where(small, denominators, 0).sum(-1, keepdims=True)
        pooled_num = np.where(small, numerators, 0).sum(-1, keepdims=True)
        keep = pooled_den >= minimum
        num = np.concatenate([num, np.where(keep, pooled_num, 0)], -1)
        den = np.concatenate([den, np.where(keep, pooled_den, 0)], -1)
    return num, den


def disparity(rates: np.ndarray, weights: np.ndarray, metric: str, reference: int | None = None
              ) -> np.ndarray:
    """Disparity among groups (last axis); groups with zero weight are left out.

    ``rates`` in percent; the result is NaN where it cannot be computed (no
    groups left, or the reference group left out).
    """
    w = np.where(weights > 0, weights, 0.0).astype(float)
    r = np.where(w > 0, rates, 0.0)
    total = w.sum(-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        overall = (w * r).sum(-1) / total
        if metric == "gap_to_reference":
            ref = r[..., reference]
            others = w.copy()
            others[..., reference] = 0.0
            out = (others * (ref[..., None] - r)).sum(-1) / others.sum(-1)
            return np.where(w[..., reference] > 0, out, np.nan)
        if metric == "gap_to_best":
            best = np.where(w > 0, r, -np.inf).max(-1)
            return (w * (best[..., None] - r)).sum(-1) / total
        deviation = r - overall[..., None]
        if metric == "mean_abs_deviation":
            return (w * np.abs(deviation)).sum(-1) / total
        if metric == "between_group_variance":
            return (w * deviation**2).sum(-1) / total
    raise ValueError(f"unknown disparity metric {metric!r}")


def narrowing_share(baseline: np.ndarray, current: np.ndarray, floor_pct: float, target_pct: float
                    ) -> np.ndarray:
    """Share of a measure's pool earned: linear in the narrowing between floor and target."""
    with np.errstate(invalid="ignore", divide="ignore"):
        narrowing = 100 * (baseline - current) / baseline
        share = np.clip((narrowing - floor_pct) / (target_pct - floor_pct), 0.0, 1.0)
    return np.where(np.isfinite(share), share, 0.0)


@dataclass(frozen=True)
class MeasureExperience:
    """A segment's measures: measured counts and true rates (trial, year, measure, group),
    baseline rates (measure, group) and expected baseline denominators (measure, group).

    The baseline as the payer measured it, per trial (trial, measure, group): sampled
    numerators and denominators; and the numerators the years would have shown had no
    true rate moved from baseline (trial, year, measure, group). Without them (a run
    stored before they were recorded) the baseline is taken as measured without noise and
    no noise payment is computed.
    """

    names: list[str]
    groups: list[str]
    numerators: np.ndarray
    denominators: np.ndarray
    true_rates_pct: np.ndarray
    baseline_rates_pct: np.ndarray
    baseline_denominators: np.ndarray
    baseline_measured_numerators: np.ndarray | None = None
    baseline_measured_denominators: np.ndarray | None = None
    no_change_numerators: np.ndarray | None = None


class EquityPayments(NamedTuple):
    """Per (trial, year): the payment on the measured rates; had the rates been measured
    without noise (for attribution); had no true rate changed from baseline, measured with
    the same noise (the noise payment; NaN when not recorded); and the disparity by measure."""

    measured: np.ndarray
    true_rates: np.ndarray
    no_change: np.ndarray
    disparities: dict[str, np.ndarray]


def _measured_baseline(terms: EquityTerms, exp: MeasureExperience, m: int, ref: int | None
                       ) -> tuple[np.ndarray, np.ndarray]:
    """Baseline disparity (trial, 1) and rates (trial, 1, groups) as the payer measured them."""
    if exp.baseline_measured_numerators is None:  # no noise recorded: the true baseline
        rates = exp.baseline_rates_pct[m]
        den = np.where(exp.baseline_denominators[m] >= terms.min_denominator,
                       exp.baseline_denominators[m], 0.0)
        return np.atleast_2d(disparity(rates, den, terms.metric, ref)), rates[None, None, :]
    num, den = apply_min_denominator(exp.baseline_measured_numerators[:, m],
                                     exp.baseline_measured_denominators[:, m],
                                     terms.min_denominator, terms.small_groups)
    with np.errstate(invalid="ignore", divide="ignore"):
        rates = np.where(den > 0, 100 * num / den, 0.0)
    return disparity(rates, den, terms.metric, ref)[:, None], rates[:, None, :]


def _paid_share(terms: EquityTerms, mt: EquityMeasureTerms, numerators: np.ndarray,
                denominators: np.ndarray, baseline: np.ndarray, baseline_rates: np.ndarray,
                ref: int | None, low: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Share of the measure's pool and of the lowest-group bonus earned on measured counts
    (trial, year, groups), and the year's disparity."""
    num, den = apply_min_denominator(numerators, denominators, terms.min_denominator,
                                     terms.small_groups)
    with np.errstate(invalid="ignore", divide="ignore"):
        rates = np.where(den > 0, 100 * num / den, 0.0)
    current = disparity(rates, den, terms.metric, ref)
    share = narrowing_share(baseline, current, mt.floor_pct, mt.target_pct)
    bonus = np.zeros_like(share)
    if terms.lowest_group_bonus is not None:
        seen = np.where(den[..., low] > 0, rates[..., low] - baseline_rates[..., low], 0.0)
        bonus = np.clip(seen / terms.lowest_group_bonus.full_at_pct_points, 0.0, 1.0)
    return share, bonus, current


def equity_payment(terms: EquityTerms | None, exp: MeasureExperience | None, budget: np.ndarray,
                   member_months: np.ndarray) -> EquityPayments:
    """Equity incentive on measured rates, on true rates, with no true change, and the disparity.

    The measured payment compares the year's measured disparity with the baseline's
    measured disparity (both sampled). The true-rate payment takes the underlying rates
    as if denominators were infinite (no minimum-denominator rule, weights from expected
    denominators). The no-change payment is the measured one had every true rate stayed
    at baseline: what noise alone pays.
    """
    zero = np.zeros_like(budget)
    if terms is None:
        return EquityPayments(zero, zero, zero, {})
    pool = terms.pool_pct / 100 * budget + terms.pool_pmpm * member_months
    bonus_pool = 0.0 if terms.lowest_group_bonus is None else terms.lowest_group_bonus.pool_pct / 100 * budget
    ref = exp.groups.index(terms.reference_group) if terms.reference_group in exp.groups else None
    weights = sum(m.weight for m in terms.measures.values())
    measured, true, no_change, disparities = zero.copy(), zero.copy(), zero.copy(), {}
    for name, mt in terms.measures.items():
        m = exp.names.index(name)
        w = mt.weight / weights
        base_rate = exp.baseline_rates_pct[m]
        low = int(np.argmin(base_rate))
        baseline, baseline_rates = _measured_baseline(terms, exp, m, ref)
        share, bonus, disparities[name] = _paid_share(
            terms, mt, exp.numerators[..., m, :], exp.denominators[..., m, :], baseline,
            baseline_rates, ref, low)
        measured += w * (pool * share + bonus_pool * bonus)
        if exp.no_change_numerators is not None:
            share, bonus, _ = _paid_share(terms, mt, exp.no_change_numerators[..., m, :],
                                          exp.denominators[..., m, :], baseline, baseline_rates, ref, low)
            no_change += w * (pool * share + bonus_pool * bonus)
        base_den = exp.baseline_denominators[m]
        true_share = narrowing_share(
            disparity(base_rate, base_den, terms.metric, ref),
            disparity(exp.true_rates_pct[..., m, :], base_den, terms.metric, ref), mt.floor_pct, mt.target_pct)
        true_bonus = 0.0
        if terms.lowest_group_bonus is not None:
            true_bonus = np.clip((exp.true_rates_pct[..., m, low] - base_rate[low])
                                 / terms.lowest_group_bonus.full_at_pct_points, 0.0, 1.0)
        true += w * (pool * true_share + bonus_pool * true_bonus)
    if exp.no_change_numerators is None:
        no_change = np.full_like(budget, np.nan)
    return EquityPayments(measured, true, no_change, disparities)

"""Quality measures by race/ethnicity group: true rates, sampled rates, composite score.

Each measure (e.g. HEDIS Controlling High Blood Pressure) has an eligible
share of each segment's members, a baseline rate per group and an expected
improvement per year per group with a systemic uncertainty (one draw per
trial, year, measure and group, compounding). The measured rate is what a
payer sees: the denominator is a binomial draw of eligible members among
the group's simulated members (so it follows the population and its churn)
and the numerator a binomial draw at the true rate, so small groups are
noisy as in real reporting. Keeping the true rates beside the measured
ones lets the equity payment be split into real improvement and noise.

Measure rates become points by benchmark cut points and points a composite
score (0-100) that feeds the contract's quality terms. Not modelled:
correlation between measures within a person, differences in cost by group.
"""

from __future__ import annotations

import numpy as np
from pydantic import Field, model_validator

from ..core.inputs import Name, Percent, StrictModel
from .streams import Purpose, standard_normals, stream


class Measure(StrictModel):
    """One quality measure, reported by group."""

    description: str = ""
    eligible_pct: dict[Name, Percent] = Field(description="Share of each segment's members in the "
                                              "measure's denominator; segments not named have none.")
    baseline_rate_pct: dict[Name, Percent] = Field(description="Rate by group before year 1.")
    improvement_pct_points: dict[Name, float] = Field(
        default_factory=dict, description="Expected change of the rate per year, by group (default 0).")
    improvement_sd_pct_points: float = Field(
        0.0, ge=0, le=20, description="Systemic uncertainty of each year's change per group, points.")
    cut_points_pct: list[Percent] = Field(
        default_factory=list, description="Benchmark rates (e.g. national percentiles), increasing: "
                                          "a rate earns one point per cut point reached.")

    @model_validator(mode="after")
    def _cuts_increase(self) -> Measure:
        if any(b <= a for a, b in zip(self.cut_points_pct, self.cut_points_pct[1:])):
            raise ValueError("cut_points_pct: must increase")
        return self


class QualityModel(StrictModel):
    """Groups and the measures reported by group."""

    groups: list[Name] = Field(min_length=1, max_length=20, description="Race/ethnicity groups.")
    measures: dict[Name, Measure] = Field(min_length=1, max_length=20)

    @model_validator(mode="after")
    def _groups_agree(self) -> QualityModel:
        if len(set(self.groups)) != len(self.groups):
            raise ValueError(f"groups: names must be unique, got {self.groups}")
        for name, m in self.measures.items():
            if set(m.baseline_rate_pct) != set(self.groups):
                raise ValueError(f"measures.{name}.baseline_rate_pct: expected one rate for each group "
                                 f"{self.groups}, got {sorted(m.baseline_rate_pct)}")
            unknown = sorted(set(m.improvement_pct_points) - set(self.groups))
            if unknown:
                raise ValueError(f"measures.{name}.improvement_pct_points: unknown group(s) {unknown}")
        return self

    def table(self, field: str, default: float = 0.0) -> np.ndarray:
        """A per-group field of every measure as a (measures, groups) array."""
        return np.array([[getattr(m, field).get(g, default) for g in self.groups]
                         for m in self.measures.values()], float)

    def eligible(self, segments: list[str]) -> np.ndarray:
        """Eligible fractions, shape (segments, measures)."""
        return np.array([[m.eligible_pct.get(s, 0.0) / 100 for m in self.measures.values()]
                         for s in segments])


def true_rates(model: QualityModel, seed: int, trial: int, years: int) -> np.ndarray:
    """Underlying rates (percent) of one trial, shape (years, measures, groups)."""
    base = model.table("baseline_rate_pct")
    step = model.table("improvement_pct_points")
    sd = np.array([m.improvement_sd_pct_points for m in model.measures.values()])[:, None]
    z = standard_normals(seed, trial, Purpose.MEASURE_PATH, (years,) + base.shape)
    return np.clip(base + np.cumsum(step + sd * z, axis=0), 0.0, 100.0)


def sample_measures(model: QualityModel, seed: int, trial: int, segment: int, eligible: np.ndarray,
                    group_members: np.ndarray, rates: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Denominators and numerators of one trial and segment, shape (years, measures, groups).

    ``eligible`` is the segment's eligible fraction by measure; ``group_members``
    (years, groups) its members by group; ``rates`` the true rates.
    """
    rng = stream(seed, trial, Purpose.MEASURE_SAMPLE, segment)
    n = np.broadcast_to(group_members[:, None, :], rates.shape)
    denominators = rng.binomial(n, np.broadcast_to(eligible[None, :, None], rates.shape))
    numerators = rng.binomial(denominators, rates / 100)
    return denominators, numerators


def sample_baseline(model: QualityModel, seed: int, trial: int, segment: int, eligible: np.ndarray,
                    members: int, group_mix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The baseline as the payer measured it for one trial and segment: denominators and
    numerators, shape (measures, groups). The base year's members by group are a multinomial
    draw, denominators binomial on them, numerators binomial at the baseline rate."""
    rng = stream(seed, trial, Purpose.MEASURE_BASELINE, segment)
    groups = rng.multinomial(members, group_mix)
    base = model.table("baseline_rate_pct")
    denominators = rng.binomial(np.broadcast_to(groups, base.shape),
                                np.broadcast_to(eligible[:, None], base.shape))
    return denominators, rng.binomial(denominators, base / 100)


def sample_no_change(model: QualityModel, seed: int, trial: int, segment: int,
                     denominators: np.ndarray) -> np.ndarray:
    """Numerators (years, measures, groups) had every true rate stayed at baseline, on the
    year's sampled denominators: the counterfactual of no real change, for the noise payment."""
    rng = stream(seed, trial, Purpose.MEASURE_NO_CHANGE, segment)
    base = model.table("baseline_rate_pct")
    return rng.binomial(denominators, np.broadcast_to(base / 100, denominators.shape))


def composite_score(model: QualityModel, numerators: np.ndarray, denominators: np.ndarray) -> np.ndarray:
    """Composite score (0-100) from measured rates, all groups pooled.

    Arrays are (..., measures, groups). Each measure with cut points earns the
    share of its cut points reached; the composite is their mean. NaN where
    no measure with cut points has a denominator.
    """
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = 100 * numerators.sum(-1) / denominators.sum(-1)
    points = []
    for m, measure in enumerate(model.measures.values()):
        if measure.cut_points_pct:
            cuts = np.array(measure.cut_points_pct)
            reached = (rate[..., m, None] >= cuts).sum(-1) / len(cuts)
            points.append(np.where(np.isnan(rate[..., m]), np.nan, reached))
    if not points:
        return np.full(rate.shape[:-1], np.nan)
    stacked = np.stack(points, -1)
    counted = (~np.isnan(stacked)).sum(-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counted > 0, 100 * np.nansum(stacked, -1) / counted, np.nan)

"""Composite quality score per (trial, year, segment), and the measures behind it.

A segment's composite score either comes from the quality measures by group
(:mod:`simulator.measures`, when they have benchmark cut points) or is an
input distribution: an expected path (year-1 mean plus a yearly change) with
a systemic AR(1) deviation, clipped to 0-100. Either way it is drawn from its
own streams per trial, common to every contract variant and independent of
the member draws. Both engines call these functions after simulating a
trial's members, so the quality model does not depend on the engine.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .dataset import ExperienceBlock
from .measures import composite_score, sample_baseline, sample_measures, sample_no_change, true_rates
from .streams import Purpose, standard_normals

if TYPE_CHECKING:
    from .inputs import ExperienceInputs


def measured_later(scenario: ExperienceInputs) -> bool:
    """Whether ``scenario`` is a term extended over its base years, whose quality is measured
    over the term only, after the engine (:func:`simulator.experience.history.split_history`)."""
    return getattr(scenario, "_history_of", None) is not None


def quality_scores(scenario: ExperienceInputs, trial: int) -> np.ndarray:
    """Scores of one trial, shape (years, segments); NaN where a segment has none (and
    everywhere when the quality is :func:`measured_later`)."""
    years = scenario.term.years
    out = np.full((years, len(scenario.segments)), np.nan)
    if measured_later(scenario):
        return out
    for s, seg in enumerate(scenario.segments.values()):
        q = seg.quality_score
        if q is None:
            continue
        z = standard_normals(scenario.run.seed, trial, Purpose.QUALITY, years, s)
        deviation = np.empty(years)
        deviation[0] = z[0]
        rho = q.year_correlation
        for y in range(1, years):
            deviation[y] = rho * deviation[y - 1] + np.sqrt(1 - rho**2) * z[y]
        path = q.mean_pct + q.change_pct_points * np.arange(years)
        out[:, s] = np.clip(path + q.sd_pct_points * deviation, 0.0, 100.0)
    return out


def fill_measures(scenario: ExperienceInputs, trial: int, block: ExperienceBlock, i: int) -> None:
    """Sample the measures of trial ``trial`` (row ``i`` of ``block``) on its simulated group
    counts, and set the composite score of the segments scored by measures (nothing when the
    quality is :func:`measured_later`)."""
    q = scenario.quality
    if q is None or measured_later(scenario):
        return
    seed, names = scenario.run.seed, list(scenario.segments)
    rates = true_rates(q, seed, trial, scenario.term.years)
    block["measure_rate_true_pct"][i] = rates
    eligible = q.eligible(names)
    measured = scenario.measured_segments()
    for s, name in enumerate(names):
        den, num = sample_measures(q, seed, trial, s, eligible[s], block["group_members"][i, :, s], rates)
        block["measure_denominator"][i, :, s] = den
        block["measure_numerator"][i, :, s] = num
        seg = scenario.segments[name]
        mix = np.array([seg.group_mix[g] for g in q.groups])
        base_den, base_num = sample_baseline(q, seed, trial, s, eligible[s], seg.members, mix)
        block["measure_baseline_measured_denominator"][i, s] = base_den
        block["measure_baseline_measured_numerator"][i, s] = base_num
        block["measure_numerator_no_change"][i, :, s] = sample_no_change(q, seed, trial, s, den)
        if name in measured:
            block["quality_score_pct"][i, :, s] = composite_score(q, num, den)

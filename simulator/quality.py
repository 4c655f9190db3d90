"""Composite quality score per (trial, year, segment).

Until quality measures by group are modelled, a segment's composite score is
an input distribution: an expected path (year-1 mean plus a yearly change)
with a systemic AR(1) deviation, clipped to 0-100. It is drawn from its own
stream per trial and segment, so it is common to every contract variant and
independent of the member draws.
"""

from __future__ import annotations

import numpy as np

from .scenario import Scenario
from .streams import Purpose, stream


def quality_scores(scenario: Scenario, trial: int) -> np.ndarray:
    """Scores of one trial, shape (years, segments); NaN where a segment has none."""
    years = scenario.term.years
    out = np.full((years, len(scenario.segments)), np.nan)
    for s, seg in enumerate(scenario.segments.values()):
        q = seg.quality_score
        if q is None:
            continue
        z = stream(scenario.run.seed, trial, Purpose.QUALITY, s).standard_normal(years)
        deviation = np.empty(years)
        deviation[0] = z[0]
        rho = q.year_correlation
        for y in range(1, years):
            deviation[y] = rho * deviation[y - 1] + np.sqrt(1 - rho**2) * z[y]
        path = q.mean_pct + q.change_pct_points * np.arange(years)
        out[:, s] = np.clip(path + q.sd_pct_points * deviation, 0.0, 100.0)
    return out

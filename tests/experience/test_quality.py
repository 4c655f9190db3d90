"""The composite quality score model (until measures by group are modelled)."""

from __future__ import annotations

import numpy as np

from conftest import small_dict
from simulator.experience.quality import quality_scores
from simulator.scenario import scenario_from_dict


def scenario_with(**score):
    data = small_dict(years=5)
    data["segments"]["ppo"]["quality_score"] = score
    del data["segments"]["hmo"]["quality_score"]
    return scenario_from_dict(data)


def test_scores_follow_the_expected_path_within_monte_carlo_error():
    s = scenario_with(mean_pct=70.0, change_pct_points=2.0, sd_pct_points=5.0, year_correlation=0.6)
    scores = np.array([quality_scores(s, t)[:, 0] for t in range(2000)])
    expected = 70.0 + 2.0 * np.arange(5)
    se = scores.std(axis=0, ddof=1) / np.sqrt(len(scores))
    assert np.all(np.abs(scores.mean(axis=0) - expected) < 4 * se)
    np.testing.assert_allclose(scores.std(axis=0, ddof=1), 5.0, rtol=0.1)
    lag1 = np.corrcoef(scores[:, 1], scores[:, 2])[0, 1]
    assert abs(lag1 - 0.6) < 4 * (1 - 0.6**2) / np.sqrt(len(scores))


def test_scores_stay_between_0_and_100_and_are_nan_without_a_model():
    s = scenario_with(mean_pct=98.0, sd_pct_points=20.0)
    scores = np.array([quality_scores(s, t) for t in range(200)])
    ppo, hmo = scores[..., 0], scores[..., 1]
    assert ppo.min() >= 0 and ppo.max() == 100.0
    assert np.isnan(hmo).all()

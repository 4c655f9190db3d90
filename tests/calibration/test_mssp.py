"""The MSSP calibration: shipped estimates, member noise, and the model against the data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from simulator.calibration.mssp import (SIZE_POINTS, data_band_sd, estimate_components, load_mssp,
                                        member_noise, model_band_sd)
from simulator.experience.costs import CostTables
from simulator.scenario import load_scenario

SCENARIO = Path(__file__).resolve().parents[2] / "scenarios" / "mssp_aco.toml"


@pytest.fixture(scope="module")
def scenario():
    return load_scenario(SCENARIO)


@pytest.fixture(scope="module")
def frame():
    return load_mssp()


def _noise(scenario):
    seg = scenario.segments["medicare"]
    return member_noise(CostTables.from_model(scenario.cost_models[seg.cost_model]), seg.churn_pct / 100)


def test_data_is_the_shipped_panel(frame):
    assert len(frame) == 3848 and frame.aco_key.nunique() == 977
    assert frame.performance_year.min() == 2013 and frame.performance_year.max() == 2021
    # each year's mean is removed
    assert np.allclose(frame.groupby("performance_year").deviation.mean(), 0, atol=1e-12)


def test_scenario_holds_the_estimates(scenario, frame):
    est = estimate_components(frame, _noise(scenario), n_boot=20)
    pricing = scenario.segments["medicare"].pricing
    for field in ("level_sd_pct", "yearly_sd_pct", "practice_level_sd_pct", "practice_yearly_sd_pct"):
        assert getattr(pricing, field) == pytest.approx(getattr(est, field).value, abs=0.005), field
    assert scenario.segments["medicare"].trend_shock_sd_pct == pytest.approx(est.year_sd_pct.value, abs=0.005)


def test_member_noise_matches_simulation(scenario):
    """Without pricing error the model's savings-rate SD is the predicted CV / sqrt(n)."""
    plain = scenario.with_changes({"segments": {"medicare": {"pricing": None}}})
    table = model_band_sd(plain, "medicare", 600, points=(10_000,))
    predicted = 100 * _noise(scenario).cv / np.sqrt(10_000)
    # 4 Monte Carlo standard errors of the simulated SD, plus 3% for what the analytic CV
    # leaves out (deaths shorten exposure, the start mix is one year end earlier)
    assert abs(table.model_sd_pct[0] - predicted) < 4 * table.model_sd_se[0] + 0.03 * predicted


def test_model_sd_within_20_percent_of_data_in_every_band(scenario, frame):
    data = data_band_sd(frame, n_boot=10)
    model = model_band_sd(scenario, "medicare", 400)
    assert list(model.members) == list(SIZE_POINTS)
    for (_, d), (_, m) in zip(data.iterrows(), model.iterrows()):
        # the issue's +-20%, widened by 3 Monte Carlo standard errors of the model's SD at 400
        # trials (about 3.5% of it each); the data's own sampling error is not added
        assert abs(m.model_sd_pct - d.data_sd_pct) <= 0.20 * d.data_sd_pct + 3 * m.model_sd_se, d.members

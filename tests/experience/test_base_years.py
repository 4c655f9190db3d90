"""Base years simulated before the term on the same population (historical benchmarks)."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import small_dict
from simulator.experience.dataset import experience_dataset
from simulator.experience.engine import engine as engine_of, simulate_experience, trial_blocks, trials_per_block
from simulator.scenario import scenario_from_dict


def without_history(data: dict) -> dict:
    data["term"].pop("base_years", None)
    for seg in data["segments"].values():
        seg.pop("risk_scoring", None)
    return data


@pytest.mark.parametrize("engine", ["member", "cohort"])
def test_without_base_years_or_risk_scoring_nothing_changes_bit_for_bit(engine):
    # The run is exactly the engine's own output: no step of this issue touches it.
    scenario = scenario_from_dict(without_history(small_dict())).with_run(engine=engine)
    blocks = trial_blocks(8, trials_per_block(scenario))
    raw = experience_dataset([engine_of(engine)(scenario, r) for r in blocks], scenario)
    run = simulate_experience(scenario, jobs=1)
    assert "base_member_months" not in run
    for name in raw.data_vars:
        np.testing.assert_array_equal(run[name].values, raw[name].values, err_msg=name)


@pytest.mark.parametrize("engine", ["member", "cohort"])
def test_base_years_are_kept_apart_and_the_term_keeps_its_shape(engine):
    data = small_dict(years=3, trials=6)
    data["term"]["base_years"] = 2
    with_base = simulate_experience(scenario_from_dict(data).with_run(engine=engine), jobs=1)
    plain = simulate_experience(scenario_from_dict(without_history(small_dict(years=3, trials=6)))
                                .with_run(engine=engine), jobs=1)
    assert list(with_base["base_year"].values) == [2017, 2018]
    assert with_base["base_member_months"].shape == (6, 2, 3)
    assert with_base["allowed_usd"].shape == plain["allowed_usd"].shape
    # quality and the program run over the term only, exactly as without base years
    for name in ("quality_score_pct", "program_cost_usd"):
        np.testing.assert_array_equal(with_base[name].values, plain[name].values, err_msg=name)
    # every member slot is filled in the base years too
    members = np.array([1500, 1000, 600])
    assert (with_base["base_member_months"].values <= 12 * members).all()
    assert (with_base["base_member_months"].values >= 11 * members).all()


def test_base_year_cost_is_the_same_population_before_the_term():
    # Same population: a trial whose last base year was costly tends to have a costly year 1
    # (members persist in their bands), so the two years' cost PMPM correlate across trials;
    # were the base years an independent population the correlation would be 0 (no trend
    # shocks here), with a standard error of 1 / sqrt(1,000) = 0.032: asserted above 4 of them.
    # The base years run at year 1's trend with the level deflated: the mean ratio of year-1
    # to last-base-year cost is the 3.6% trend (stationary band mix), within 4 standard errors.
    data = without_history(small_dict(members={"ppo": 1500, "hmo": 1000, "medicare": 2000},
                                       years=1, trials=1000, trials_per_block=100))
    data["term"]["base_years"] = 1
    data.pop("program"), data.pop("program_designs")
    for seg in data["segments"].values():  # no systemic level parts: the members' noise alone
        seg["trend_shock_sd_pct"] = 0.0
        seg.pop("pricing", None)
    exp = simulate_experience(scenario_from_dict(data).with_run(engine="cohort"), jobs=1).sel(segment="medicare")
    base = (exp["base_allowed_usd"] / exp["base_member_months"]).values[:, -1]
    year1 = (exp["allowed_usd"] / exp["member_months"]).values[:, 0]
    assert np.corrcoef(base, year1)[0, 1] > 4 / np.sqrt(1000)
    # the recorded level stays relative to the year before year 1 (no shocks: exactly the trend)
    np.testing.assert_allclose(exp["trend_index"].values[:, 0], 1.036, rtol=1e-12)
    ratio = year1 / base
    assert abs(ratio.mean() - 1.036) <= 4 * ratio.std(ddof=1) / np.sqrt(ratio.size)

"""Pricing error, trend parameter risk, shock processes and events in the cost level."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from simulator.experience.costs import trend_index
from simulator.experience.engine import simulate_experience
from simulator.experience.uncertainty import event_multipliers, level_parts
from conftest import reference_dict, without_pricing
from simulator.scenario import scenario_from_dict

REFERENCE = Path(__file__).resolve().parents[2] / "scenarios" / "reference_global_budget.toml"
N = 4000


@pytest.fixture(scope="module")
def reference():
    """The reference scenario without its pricing error: each test adds the part it checks."""
    return scenario_from_dict(without_pricing(reference_dict()), str(REFERENCE), "")


def _levels(scenario, n=N):
    return np.stack([trend_index(scenario, t) for t in range(n)])


def test_pricing_error_has_mean_one_and_its_sd(reference):
    sc = reference.with_changes({"segments": {"ppo": {"pricing": {"level_sd_pct": 3.0, "yearly_sd_pct": 2.0}}}})
    ratio = _levels(sc)[:, :, 0] / _levels(reference)[:, :, 0]   # same shock draws: the pricing part
    log = np.log(ratio)
    # persistent part: the year-to-year change of log ratio is the transient part only
    assert np.std(np.diff(log, axis=1)) == pytest.approx(np.sqrt(2) * 0.02, rel=0.05)  # 5% ~ 4 SE at N
    assert np.std(log[:, 0]) == pytest.approx(np.hypot(0.03, 0.02), rel=0.05)
    assert ratio.mean() == pytest.approx(1.0, abs=4 * ratio.std() / np.sqrt(N))
    # other segments untouched
    assert np.array_equal(_levels(sc, 50)[:, :, 1:], _levels(reference, 50)[:, :, 1:])


def test_practice_part_diversifies_with_size(reference):
    one = reference.with_changes({"segments": {"ppo": {"pricing": {"practice_level_sd_pct": 3.0}}}})
    assert one.segments["ppo"].pricing.sds(10_000)[0] == pytest.approx(0.03)
    assert one.segments["ppo"].pricing.sds(40_000)[0] == pytest.approx(0.015)


def test_trend_parameter_risk_is_constant_over_the_term(reference):
    base = reference.with_changes({"segments": {s: {"trend_shock_sd_pct": 0.0} for s in reference.segments}})
    sc = base.with_changes({"segments": {"hmo": {"trend_sd_pct": 1.0}}})
    growth = _levels(sc, 2000)[:, :, 1]
    yearly = growth[:, 1:] / growth[:, :-1] - 1
    assert np.allclose(yearly, yearly[:, :1])                     # one draw per trial
    assert yearly[:, 0].std() == pytest.approx(0.01, rel=0.07)   # 7% ~ 4.5 SE at 2,000
    assert yearly[:, 0].mean() == pytest.approx(0.036, abs=4 * 0.01 / np.sqrt(2000))


def test_ar1_shocks_revert_and_keep_mean_one(reference):
    flat = {"segments": {s: {"cost_trend_pct": 0.0} for s in reference.segments}}
    perm = reference.with_changes(flat)
    ar1 = reference.with_changes(flat | {"systemic": {"trend_shock_correlation": 0.7,
                                                      "trend_shocks": {"process": "ar1", "phi": 0.5}}})
    lp, la = np.log(_levels(perm)[:, :, 0]), np.log(_levels(ar1)[:, :, 0])
    sd = 0.015
    assert np.std(lp[:, -1]) == pytest.approx(sd * np.sqrt(7), rel=0.05)
    assert np.std(la[:, -1]) == pytest.approx(sd / np.sqrt(1 - 0.25), rel=0.05)  # stationary AR(1)
    level = np.exp(la[:, -1])
    assert level.mean() == pytest.approx(1.0, abs=4 * level.std() / np.sqrt(N))
    # phi = 0: each year's deviation is that year's shock only, on the same draws as permanent
    zero = reference.with_changes(flat | {"systemic": {"trend_shock_correlation": 0.7,
                                                       "trend_shocks": {"process": "ar1", "phi": 0.0}}})
    lz = np.log(_levels(zero, 20)[:, :, 0])
    assert np.allclose(lz, np.diff(np.concatenate([np.zeros((20, 1)), lp[:20]], axis=1), axis=1))


def test_event_frequency_size_and_rebound(reference):
    sc = reference.with_changes({"systemic": {"event": {"probability_pct": 10, "size_pct": -6,
                                                         "duration_years": 1, "rebound_pct": 2}}})
    mult = np.stack([event_multipliers(sc, t) for t in range(N)])
    assert set(np.unique(mult)) <= {1.0, 0.94, 1.02}
    first = mult[:, 0] == 0.94
    assert first.mean() == pytest.approx(0.10, abs=4 * np.sqrt(0.09 / N))
    assert np.all(mult[first, 1] == 1.02)
    parts = level_parts(sc, range(3))
    assert np.allclose(parts.index, parts.trend * parts.event)


@pytest.mark.parametrize("engine", ["member", "cohort"])
def test_both_engines_use_the_full_level(reference, engine):
    small = {"segments": {s: {"members": 300} for s in reference.segments},
             "term": {"base_years": 0}}  # the term's level alone (base years shift its draws)
    plain = reference.with_changes(small).with_run(trials=4, engine=engine, trials_per_block=2)
    priced = plain.with_changes({"segments": {s: {"pricing": {"level_sd_pct": 5.0}} for s in plain.segments},
                                 "systemic": {"event": {"probability_pct": 50, "size_pct": -10}}})
    exp, base = simulate_experience(priced), simulate_experience(plain)
    expected = np.stack([trend_index(priced, t) for t in range(4)])
    assert np.array_equal(exp.trend_index.transpose("trial", "year", "segment").values, expected)
    assert np.array_equal(exp.member_months.values, base.member_months.values)  # members' draws kept
    if engine == "member":  # same member draws: cost scales exactly with the level (float32 exp)
        level_ratio = exp.trend_index / base.trend_index
        assert np.allclose(exp.allowed_usd / base.allowed_usd, level_ratio, rtol=1e-5)


def _replicate_means(scenario, replicates, points):
    level = np.stack([trend_index(scenario, t)[-1, 0] for t in range(replicates * points)])
    return level.reshape(replicates, points).mean(axis=1)


def test_sobol_sampling_is_reproducible_and_reduces_variance(reference):
    sobol = reference.with_changes({"systemic": {"sampling": "sobol", "sobol_points": 64}})
    assert np.array_equal(trend_index(sobol, 70), trend_index(sobol, 70))
    assert not np.array_equal(trend_index(sobol, 70), trend_index(sobol, 6))   # replicates differ
    plain, qmc = _replicate_means(reference, 24, 64), _replicate_means(sobol, 24, 64)
    # both unbiased: the replicate means agree within 4 standard errors of the difference
    assert abs(plain.mean() - qmc.mean()) < 4 * np.hypot(plain.std(ddof=1), qmc.std(ddof=1)) / np.sqrt(24)
    # F test with 23 and 23 degrees of freedom: a variance ratio below 0.25 has probability
    # below 0.001 if Sobol points did not help; a smooth function of 7 normals gains far more
    assert qmc.var(ddof=1) / plain.var(ddof=1) < 0.25


def test_sobol_points_must_be_a_power_of_two(reference):
    from simulator.core.errors import ScenarioError
    with pytest.raises(ScenarioError, match="systemic.sobol_points: .*power of 2"):
        reference.with_changes({"systemic": {"sampling": "sobol", "sobol_points": 100}})

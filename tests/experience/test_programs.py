"""Care-management programs: the queue, engagement, effects, cost and common random numbers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from conftest import small_dict
from simulator.experience.engine import simulate_experience
from simulator.experience.member_engine import ProgramInTrial
from simulator.experience.operations import queue_wait_mm_c, simulate_operations
from simulator.experience.programs import Program, expected_referrals
from simulator.scenario import scenario_from_dict


def program(**kw) -> Program:
    base = dict(strata={"top": {"bands": ["catastrophic"], "effect_mean_pct": 10.0}}, care_managers=1,
                caseload=1, cost_per_care_manager_usd=100_000.0, engagement_pct=100.0,
                engaged_months_mean=6.0, replications=1)
    return Program.model_validate(base | kw)


def test_with_unlimited_capacity_and_certain_engagement_every_flagged_member_engages():
    p = program(care_managers=100_000, caseload=100)
    ops = simulate_operations(p, np.array([[300.0], [250.0]]), seed=1)
    np.testing.assert_array_equal(ops.engaged_fraction, 1.0)
    assert ops.mean_wait_months[0] == 0.0


def test_mean_wait_matches_the_m_m_c_queue():
    # one care manager with a caseload of 2 is an M/M/2 queue: arrivals 16 a month,
    # engagements lasting 0.1 month on average (service rate 10), utilisation 0.8
    p = program(caseload=2, engaged_months_mean=0.1, max_simulated_referrals=10_000)
    referrals = np.full((20, 1), 16.0 * 12)
    waits = np.array([simulate_operations(p, referrals, seed=s).mean_wait_months[0] for s in range(12)])
    expected = queue_wait_mm_c(16.0, 10.0, 2)
    se = waits.std(ddof=1) / math.sqrt(len(waits))
    assert abs(waits.mean() - expected) < 4 * se, (waits.mean(), expected, se)


def test_erlang_c_formula_against_m_m_1():
    # M/M/1: Wq = rho / (mu - lambda)
    assert queue_wait_mm_c(8.0, 10.0, 1) == pytest.approx(0.8 / 2.0)


def scenario_with(program_changes: dict | None, trials: int = 12, years: int = 3):
    data = small_dict(members={"ppo": 4_000, "hmo": 2_000, "medicare": 1_000}, trials=trials,
                      trials_per_block=4, years=years)
    data.pop("program_designs")
    if program_changes is None:
        data.pop("program")
    else:
        data["program"].update(program_changes)
    return scenario_from_dict(data)


def test_zero_effect_leaves_experience_unchanged_on_the_same_seeds():
    zero = {"strata": {"top": {"bands": ["catastrophic", "very_high"], "effect_mean_pct": 0.0}}}
    with_program = simulate_experience(scenario_with(zero))
    without = simulate_experience(scenario_with(None))
    for name in ("allowed_usd", "excess_usd", "member_months", "risk_score_member_months"):
        np.testing.assert_array_equal(with_program[name].values, without[name].values, err_msg=name)
    assert with_program["program_engaged"].sum() > 0


def test_program_cost_is_staff_times_cost_per_care_manager():
    exp = simulate_experience(scenario_with({"care_managers": [4, 6, 6],
                                             "cost_per_care_manager_usd": 125_000.0}, trials=2))
    np.testing.assert_allclose(exp["program_cost_usd"].sum("segment").isel(trial=0),
                               [4 * 125_000.0, 6 * 125_000.0, 6 * 125_000.0])


def test_engaged_members_follow_the_engaged_fraction_and_never_exceed_the_flagged():
    exp = simulate_experience(scenario_with({"care_managers": 10_000, "engagement_pct": 100.0}, trials=2))
    np.testing.assert_array_equal(exp["program_engaged"].values, exp["program_flagged"].values)


def test_common_random_numbers_make_the_program_effect_10x_more_precise():
    # the program's effect on seven-year cost: same seeds with and without the program,
    # against the same difference taken between independent seeds
    def total_cost(changes, seed):
        s = scenario_with(changes, trials=40, years=7).with_run(seed=seed)
        return simulate_experience(s, jobs=2)["allowed_usd"].sum(["year", "segment"]).values

    strong = {"care_managers": 2_000, "engagement_pct": 80.0}
    with_program, without = total_cost(strong, 1), total_cost(None, 1)
    common = (with_program - without).std(ddof=1) / math.sqrt(with_program.size)
    other = total_cost(None, 2)
    independent = math.sqrt(with_program.var(ddof=1) / with_program.size + other.var(ddof=1) / other.size)
    assert (with_program - without).mean() < 0  # the program lowers cost
    print(f"standard errors: independent {independent:,.0f}, common {common:,.0f}, ratio {independent / common:.1f}")
    assert independent / common >= 10, (independent, common)


def test_care_management_outcomes_combine_prediction_and_engagement():
    # bands 0..2; band 2 is stratum 0, band 1 stratum 1; a wrong guess draws from the mix
    program = ProgramInTrial(np.array([-1, 1, 0]), accuracy=0.8,
                             engaged_fraction=np.array([[0.5, 0.25]]), effects=np.zeros((1, 2)))
    mix = np.array([0.7, 0.2, 0.1])
    p = program.outcome_probabilities(mix)[0]
    np.testing.assert_allclose(p.sum(axis=1), 1.0)
    # prior band 2: flagged into stratum 0 with 0.8 + 0.2 x 0.1, half of them engage
    np.testing.assert_allclose(p[2], [0.2 * 0.7, 0.41, 0.41, 0.2 * 0.2 * 0.25, 0.2 * 0.2 * 0.75])
    np.testing.assert_allclose(p[0], [0.8 + 0.2 * 0.7, 0.01, 0.01, 0.01, 0.03])


@pytest.mark.parametrize("engine", ["member", "cohort"])
def test_flagged_members_match_the_expected_referrals(engine):
    scenario = scenario_with({"accuracy_pct": 60.0}, trials=24).with_run(engine=engine)
    flagged = simulate_experience(scenario)["program_flagged"].sum("segment").values  # (T, y, s)
    expected = expected_referrals(scenario.segments.values(), scenario.cost_models,
                                  scenario.term.years, scenario.program)
    se = flagged.std(axis=0, ddof=1) / math.sqrt(flagged.shape[0])
    z = (flagged.mean(axis=0) - expected) / se
    assert np.abs(z).max() < 4, z


def test_a_plan_handed_to_a_worker_is_used_not_recomputed(monkeypatch):
    from simulator.experience import operations, programs

    scenario = scenario_with({"care_managers": 5})
    plan = programs.program_plan(scenario)
    monkeypatch.setattr(programs, "_PLANS", {})  # a fresh worker process

    def fail(*args):
        raise AssertionError("the discrete-event model ran again in the worker")

    monkeypatch.setattr(operations, "simulate_operations", fail)
    programs.remember_plan(scenario, plan)
    assert programs.program_plan(scenario) is plan
    with pytest.raises(ValueError):
        programs.remember_plan(scenario_with({"care_managers": 6}), plan)


def test_the_discrete_event_model_runs_once_for_plans_that_differ_only_in_effects(monkeypatch):
    """A risk decomposition switches the effects' uncertainty off: the queue is the same, so
    its plans share one discrete-event result; a change of capacity runs the model again."""
    from simulator.experience import operations, programs

    monkeypatch.setattr(programs, "_PLANS", {})
    monkeypatch.setattr(programs, "_OPERATIONS", {})
    runs = []
    real = operations.simulate_operations
    monkeypatch.setattr(operations, "simulate_operations", lambda *a: runs.append(1) or real(*a))
    base = scenario_with({"care_managers": 5})
    quiet = base.with_changes({"program": {"strata": {n: {"effect_sd_pct": 0.0}
                                                      for n in base.program.strata}}})
    assert quiet.program != base.program
    assert programs.program_plan(quiet).operations is programs.program_plan(base).operations
    assert len(runs) == 1
    programs.program_plan(scenario_with({"care_managers": 6}))
    assert len(runs) == 2

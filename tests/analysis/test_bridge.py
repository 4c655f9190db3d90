"""The bridge of the expected result adds up to the expected gain, step by step."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import small_scenario
from simulator.analysis.bridge import STEPS, result_bridge
from simulator.experience.engine import simulate_experience
from simulator.settlement.rules import settle
from simulator.analysis.sweep import set_term


@pytest.fixture(scope="module")
def settled():
    scenario = small_scenario(trials=30)
    experience = simulate_experience(scenario, jobs=1)
    contracts = scenario.contracts()
    no_stop_loss = set_term(contracts["base"], "segments.ppo.stop_loss", None)
    return settle(experience, {**contracts, "no_stop_loss": no_stop_loss}, 3.0), experience["member_months"]


@pytest.mark.parametrize("segment", ["ppo", "hmo", "total"])
def test_steps_add_up_to_the_expected_gain(settled, segment):
    settled, months = settled
    b = result_bridge(settled, months, "base", segment)
    assert list(b.steps.step) == [k for k, _ in STEPS] + ["provider_gain"]
    gain = settled["provider_gain_usd"].sel(variant="base")
    gain = gain.sum("segment") if segment == "total" else gain.sel(segment=segment)
    expected = float(gain.sum("year").mean())
    total = b.steps.set_index("step").mean_usd
    assert total["provider_gain"] == pytest.approx(expected, rel=1e-12)
    # exact identity trial by trial, so the means add up to rounding
    assert total.drop("provider_gain").sum() == pytest.approx(expected, rel=1e-9, abs=1.0)
    assert (b.steps.mc_se_usd >= 0).all()


def test_each_step_reads_the_right_term(settled):
    settled, months = settled
    ppo = result_bridge(settled, months, "base", "ppo").steps.set_index("step").mean_usd
    off = result_bridge(settled, months, "no_stop_loss", "ppo").steps.set_index("step").mean_usd
    assert ppo["stop_loss_recoveries"] > 0 and ppo["stop_loss_premiums"] < 0
    assert off["stop_loss_recoveries"] == 0 and off["stop_loss_premiums"] == 0
    # the PPO shares 100% with no MSR or caps: the payer keeps nothing of the gross result
    assert ppo["sharing"] == pytest.approx(0.0, abs=1e-6)
    assert off["budget_less_cost"] == pytest.approx(ppo["budget_less_cost"], rel=1e-12)
    hmo = result_bridge(settled, months, "base", "hmo").steps.set_index("step").mean_usd
    gross = settled["gross_result_usd"].sel(variant="base", segment="hmo").sum("year").mean()
    shared = settled["shared_result_usd"].sel(variant="base", segment="hmo").sum("year").mean()
    assert hmo["sharing"] == pytest.approx(float(shared - gross), rel=1e-12)
    assert hmo["sharing"] != 0  # 50% shares move money


def test_trends_behind_the_first_step(settled):
    b = result_bridge(*settled, "base", "ppo")
    # the reference budget grows 3.1% a year, not risk-adjusted: the same in every trial
    assert b.budget_growth_pct[0] == pytest.approx(3.1, abs=1e-9)
    assert b.budget_growth_pct[1] == pytest.approx(0.0, abs=1e-9)
    # allowed cost trends 3.6% a year in expectation (systemic sd 1.5 points a year): within
    # five standard errors of the per-trial mean, and a standard error that is really there
    value, se = b.cost_growth_pct
    assert se > 0 and np.isfinite(value)
    assert abs(value - 3.6) < 5 * se + 0.5  # + process noise of a 1,500-member segment

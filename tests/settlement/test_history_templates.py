"""The shipped contract templates exercise realistic risk scores and historical benchmarks
(issue 15, items 8 and 9) on a small run of the reference scenario."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import ROOT, small_dict
from simulator.core.errors import ScenarioError
from simulator.experience.engine import simulate_experience
from simulator.scenario import load_contracts, scenario_from_dict
from simulator.settlement.rules import SegmentExperience, settle_segment

CONTRACTS = ROOT / "scenarios" / "contracts"
MEMBERS = {"ppo": 1500, "hmo": 1000, "medicare": 4000}


def run(coding: bool = True):
    data = small_dict(members=MEMBERS, years=7, trials=40, trials_per_block=20)
    data["term"]["base_years"] = 3  # as the reference scenario
    if not coding:
        for seg in data["segments"].values():
            seg["risk_scoring"] = {**seg["risk_scoring"], "coding_intensity_pct": 0.0}
    scenario = scenario_from_dict(data).with_run(engine="cohort")
    return scenario, simulate_experience(scenario, jobs=1)


@pytest.fixture(scope="module")
def reference_run():
    return run()


def medicare(exp) -> SegmentExperience:
    return SegmentExperience.from_dataset(exp.sel(segment="medicare"))


def test_reach_score_caps_bind_with_coding_intensity(reference_run):
    # Medicare scores drift 1.5% a year (reference scenario); REACH cuts them by a 1% coding
    # intensity factor and caps growth at +3%: by year 7 the expected applied score is about
    # 1.015^6 x 0.99 = 1.0825, so the cap binds in (nearly) every trial; the score noise of
    # 4,000 members (sd about 0.5 / sqrt(4,000 x 0.9) plus the band mix, under 2%) cannot pull
    # it below 1.03. Without coding intensity the year-7 applied score is about 0.99 and the
    # cap binds in few trials. Both shares are over 40 trials.
    scenario, exp = reference_run
    terms = load_contracts(CONTRACTS / "aco_reach.toml", scenario)["base"].segments["medicare"]
    capped = settle_segment(terms, medicare(exp))["risk_score"][:, -1] == pytest.approx(1.03)
    assert np.mean(capped) >= 0.95
    _, plain = run(coding=False)
    capped_plain = settle_segment(terms, medicare(plain))["risk_score"][:, -1] == pytest.approx(1.03)
    assert np.mean(capped_plain) <= 0.25


def test_reach_heba_adds_its_net_pmpm(reference_run):
    # 15% x $30 - 40% x $6 = +$2.10 per member-month, after the discount
    scenario, exp = reference_run
    terms = load_contracts(CONTRACTS / "aco_reach.toml", scenario)["base"].segments["medicare"]
    without = terms.model_copy(update={"heba": None})
    seg = medicare(exp)
    extra = settle_segment(terms, seg)["budget_usd"] - settle_segment(without, seg)["budget_usd"]
    np.testing.assert_allclose(extra, 2.10 * seg.member_months, rtol=1e-12)


def test_mssp_historical_variant_sets_the_budget_from_the_simulated_base_years(reference_run):
    # Year 1 at score 1: 10/30/60 of the base years' cost / score, each trended at 3.1% to
    # year 1, blended 85/15 with the 1,200 schedule (x 1.031); year 6 opens the second
    # agreement period: rebased on years 3-5 of the term.
    scenario, exp = reference_run
    terms = load_contracts(CONTRACTS / "mssp.toml", scenario)["historical_benchmark"].segments["medicare"]
    seg = medicare(exp)
    out = settle_segment(terms, seg)
    at_one = seg.base_allowed_usd / seg.base_member_months / seg.base_risk_score   # (trial, 3)
    year1 = 0.85 * (at_one @ (np.array([0.1, 0.3, 0.6]) * 1.031 ** np.array([3, 2, 1]))) + 0.15 * 1200 * 1.031
    term = seg.allowed_usd / seg.member_months / seg.risk_score
    year6 = 0.85 * (term[:, 2:5] @ (np.array([0.1, 0.3, 0.6]) * 1.031 ** np.array([3, 2, 1]))) \
        + 0.15 * 1200 * 1.031**6
    budget_pmpm = out["budget_usd"] / seg.member_months / out["risk_score"]
    np.testing.assert_allclose(budget_pmpm[:, 0], year1, rtol=1e-12)
    np.testing.assert_allclose(budget_pmpm[:, 5], year6, rtol=1e-12)
    # the base years' noise enters the budget: year-1 budgets differ from trial to trial
    assert budget_pmpm[:, 0].std() > 0.002 * budget_pmpm[:, 0].mean()
    # risk growth is capped at +3% over the reference year: the last base year in years 1-5,
    # year 5 in years 6-7; coding intensity makes the cap bind by year 5 in most trials
    assert (out["risk_score"][:, :5] <= 1.03 * seg.base_risk_score[:, -1:] * (1 + 1e-12)).all()
    assert (out["risk_score"][:, 5:] <= 1.03 * seg.risk_score[:, 4:5] * (1 + 1e-12)).all()
    assert np.mean(np.isclose(out["risk_score"][:, 4], 1.03 * seg.base_risk_score[:, -1])) > 0.5


def test_aqc_historical_ratchet_settles_every_segment(reference_run):
    scenario, exp = reference_run
    contract = load_contracts(CONTRACTS / "aqc_global_budget.toml", scenario)["historical_ratchet"]
    for name, terms in contract.segments.items():
        out = settle_segment(terms, SegmentExperience.from_dataset(exp.sel(segment=name)))
        assert np.isfinite(out["provider_gain_usd"]).all() and terms.historical_benchmark.agreement_years == 5


def test_a_historical_benchmark_needs_the_runs_base_years():
    data = small_dict(years=7)
    data["term"]["base_years"] = 2
    data["contract"]["segments"]["medicare"]["historical_benchmark"] = {"base_year_weights_pct": [10, 30, 60]}
    with pytest.raises(ScenarioError, match="3 base years weighted; term.base_years is 2"):
        scenario_from_dict(data)

"""Comparisons on common random numbers, sweeps and break-even values."""

from __future__ import annotations

import math

import numpy as np
import pytest
import xarray as xr
from scipy import stats

from conftest import reference_dict, small_scenario
from simulator.analysis.compare import compare, horizon_gains
from simulator.settlement.contract import Contract
from simulator.experience.engine import simulate_experience
from simulator.scenario import scenario_from_dict
from simulator.settlement.rules import settle
from simulator.analysis.sweep import (Evaluator, breakeven, loss_probability_statistic, mean_statistic,
                             set_term, sweep, tornado)


def reference_run(seed: int, trials: int = 24):
    data = reference_dict()
    data["run"].update(seed=seed, trials=trials, trials_per_block=8)
    scenario = scenario_from_dict(data)
    settled = settle(simulate_experience(scenario, jobs=2), scenario.contracts(),
                     scenario.valuation.discount_rate_pct)
    return scenario, settled


def test_common_random_numbers_make_differences_at_least_5x_more_precise():
    # reference case: 'ppo_80_percent' against 'base', term gain in total
    _, run_a = reference_run(seed=1)
    _, run_b = reference_run(seed=2)
    table = compare(run_a, ["ppo_80_percent"]).set_index(["variant", "measure"])
    common = table.loc[("ppo_80_percent", "mean"), "diff_se_common"]
    # the same difference from two independent simulations (other seed for the variant)
    base = horizon_gains(run_a).sel(variant="base").values
    other = horizon_gains(run_b).sel(variant="ppo_80_percent").values
    independent = math.sqrt(base.var(ddof=1) / base.size + other.var(ddof=1) / other.size)
    assert independent / common >= 5
    assert table.loc[("ppo_80_percent", "mean"), "diff_se_independent"] / common >= 5


def test_compare_differences_are_exact_on_the_common_paths():
    scenario = small_scenario(trials=40, trials_per_block=10)
    settled = settle(simulate_experience(scenario), scenario.contracts(), 3.0)
    table = compare(settled).set_index(["variant", "measure"])
    g = horizon_gains(settled)
    diff = (g.sel(variant="ppo_80_percent") - g.sel(variant="base")).values
    assert table.loc[("ppo_80_percent", "mean"), "diff"] == pytest.approx(diff.mean())
    assert table.loc[("ppo_80_percent", "mean"), "diff_se_common"] == pytest.approx(
        diff.std(ddof=1) / np.sqrt(diff.size))
    with pytest.raises(KeyError, match="no variant 'nope'"):
        compare(settled, ["nope"])


def synthetic(trials: int = 4000, seed: int = 3) -> tuple[xr.Dataset, Contract]:
    """One segment, one year, 12,000 member-months, allowed cost ~ Normal(7.2M, 0.3M)."""
    rng = np.random.default_rng(seed)
    dims = ("trial", "year", "segment")
    exp = xr.Dataset(
        {"member_months": (dims, np.full((trials, 1, 1), 12_000.0)),
         "risk_score_member_months": (dims, np.full((trials, 1, 1), 12_000.0)),
         "quality_score_pct": (dims, np.full((trials, 1, 1), np.nan)),
         "allowed_usd": (dims, rng.normal(7.2e6, 0.3e6, (trials, 1, 1))),
         "excess_usd": (dims + ("attachment",), np.zeros((trials, 1, 1, 0)))},
        coords={"trial": np.arange(trials), "year": [2019], "segment": ["ppo"],
                "attachment": np.zeros(0)})
    contract = Contract.model_validate({"payment_lag_months": 0, "segments": {"ppo": {
        "budget_pmpm": 580.0, "budget_trend_pct": 0.0, "surplus_share_pct": 100.0,
        "deficit_share_pct": 100.0}}})
    return exp, contract


def test_breakeven_recovers_the_known_root():
    # full risk: mean gain = budget_pmpm x 12,000 - mean cost; root at mean cost / 12,000
    exp, contract = synthetic()
    ev = Evaluator(exp, contract, discount_rate_pct=0.0, horizon="term")
    result = breakeven(ev, "segments.ppo.budget_pmpm", (500.0, 700.0), mean_statistic, 0.0)
    sample_root = exp["allowed_usd"].values.mean() / 12_000
    assert result.value == pytest.approx(sample_root, rel=1e-9)
    assert result.ci_low < 600.0 < result.ci_high  # the true root, 7.2M / 12,000
    # the interval is +/- 1.96 standard errors of the mean cost, in PMPM
    half = stats.norm.ppf(0.975) * exp["allowed_usd"].values.std(ddof=1) / np.sqrt(4000) / 12_000
    assert result.ci_high - result.ci_low == pytest.approx(2 * half, rel=1e-6)


def test_breakeven_on_a_loss_probability():
    # P(loss > 0) = P(cost > budget) = 5% at budget = mean + 1.645 sd
    exp, contract = synthetic(trials=20_000)
    ev = Evaluator(exp, contract, discount_rate_pct=0.0, horizon="term")
    result = breakeven(ev, "segments.ppo.budget_pmpm", (500.0, 700.0), loss_probability_statistic(0.0), 0.05)
    true = (7.2e6 + 1.6448536 * 0.3e6) / 12_000
    assert result.ci_low - 0.5 < true < result.ci_high + 0.5


def test_breakeven_outside_the_bounds_is_a_clear_error():
    exp, contract = synthetic()
    ev = Evaluator(exp, contract, discount_rate_pct=0.0, horizon="term")
    with pytest.raises(ValueError, match="not reached between"):
        breakeven(ev, "segments.ppo.budget_pmpm", (650.0, 700.0), mean_statistic, 0.0)


def test_sweep_is_monotone_and_marks_the_frontier():
    exp, contract = synthetic()
    ev = Evaluator(exp, contract, discount_rate_pct=0.0, horizon="term")
    table = sweep(ev, {"segments.ppo.deficit_share_pct": [25.0, 50.0, 75.0, 100.0],
                       "segments.ppo.budget_pmpm": [590.0, 610.0]})
    assert len(table) == 8
    for _, rows in table.groupby("segments.ppo.budget_pmpm"):
        assert np.all(np.diff(rows["mean"].values) <= 1e-6)       # more deficit share, lower mean
        assert np.all(np.diff(rows["tvar_95"].values) >= -1e-6)   # and a fatter tail
    best = table.loc[table["mean"].idxmax()]
    assert best["on_frontier"]


def test_set_term_reaches_every_segment_with_a_star_and_validates():
    contract = small_scenario().contract
    changed = set_term(contract, "segments.*.budget_trend_pct", 2.0)
    assert {t.budget_trend_pct for t in changed.segments.values()} == {2.0}
    with pytest.raises(ValueError, match="surplus_share_pct"):
        set_term(contract, "segments.ppo.surplus_share_pct", 150.0)


def test_tornado_orders_terms_by_swing():
    exp, contract = synthetic()
    ev = Evaluator(exp, contract, discount_rate_pct=0.0, horizon="term")
    table = tornado(ev, {"segments.ppo.deficit_share_pct": (90.0, 100.0),
                         "segments.ppo.budget_pmpm": (570.0, 590.0)})
    assert list(table.term) == ["segments.ppo.budget_pmpm", "segments.ppo.deficit_share_pct"]
    assert table.loc[0, "change_at_high"] == pytest.approx(10.0 * 12_000, rel=1e-9)

"""Ruin probabilities, the capital solver and its interval, on synthetic settlement paths."""

from __future__ import annotations

import math

import numpy as np
import pytest

from simulator.capital.calendar import YearlyItems, cash_paths
from simulator.capital.measures import (capital_measures, exceeded_at_most, ruin_by_year,
                                        ruin_curve, solve_capital)
from simulator.capital.terms import CapitalTerms


def synthetic(n: int, seed: int, years: int = 4, lag: int = 6) -> YearlyItems:
    """Two segments (one capitated, one fee-for-service) with a heavy-tailed yearly result."""
    rng = np.random.default_rng(seed)
    shape = (n, years, 2)
    budget = np.full(shape, 1000.0)
    allowed = budget * rng.lognormal(0.0, 0.06, shape) * (1 + 0.15 * (rng.random(shape) < 0.03))
    recovery = rng.uniform(0, 20, shape)
    premium = np.full(shape, 10.0)
    program = np.full(shape, 5.0)
    gross = budget - (allowed - recovery + premium)
    gain = np.where(gross > 0, 0.6, 0.9) * gross - program
    return YearlyItems(budget, allowed, recovery, premium, program, gain,
                       capitation=np.array([True, False]), payment_lag_months=lag)


LAGGED = dict(return_on_cash_pct=3.0, line_of_credit={"limit_usd": 50.0, "rate_pct": 8.0},
              interim_settlement_pct=30.0)


def test_ruin_probability_is_monotone_in_starting_capital():
    it = synthetic(2000, seed=3)
    terms = CapitalTerms(starting_usd=0.0, **LAGGED)
    curve = ruin_curve(terms, it, np.linspace(0, 1200, 41))
    assert curve.p_ruin.iloc[0] > 0.5 and curve.p_ruin.iloc[-1] < 0.01
    assert (np.diff(curve.p_ruin) <= 0).all()


def test_with_zero_lags_ruin_is_cumulative_settlements_breaching_the_capital():
    it = synthetic(3000, seed=4, lag=0)
    terms = CapitalTerms(starting_usd=250.0, claims_lag_pct=[100.0], stop_loss_recovery_lag_months=0)
    paths = cash_paths(terms, it)
    cumulative = np.cumsum(it.gain_usd.sum(axis=2), axis=1)
    by_settlements = (250.0 + cumulative < 0).any(axis=1)
    by_calendar = (paths.capital_usd < 0).any(axis=1)
    assert 0.02 < by_settlements.mean() < 0.5  # the comparison is not vacuous
    np.testing.assert_array_equal(by_calendar, by_settlements)
    # ... and cash is capital at each year end when nothing is paid late (within a year the
    # reconciliation with the payer is booked monthly but paid at the year end)
    np.testing.assert_allclose(paths.cash_usd[:, ::12], paths.capital_usd[:, ::12], atol=1e-9)
    table = ruin_by_year(paths).set_index(["measure", "horizon"])
    for y in range(1, 4):
        assert table.loc[("p_ruin", str(y)), "value"] == pytest.approx(
            (250.0 + cumulative[:, :y] < 0).any(axis=1).mean())


def test_the_solved_capital_fed_back_gives_the_target_ruin_probability():
    """Solve on one set of trials, check the ruin probability on independent ones.

    On fresh trials the ruin probability at the solved capital is an estimate of the true
    probability there; the true one is the target up to the solver's own error, which its
    95% interval states. So the fresh estimate must be inside the target +- 3 standard errors
    of a binomial proportion at the target level (both errors added in quadrature)."""
    target = 2.0
    terms = CapitalTerms(starting_usd=50.0, ruin_level_pct=target, **LAGGED)
    n = 20000
    found = solve_capital(terms, synthetic(n, seed=11))
    assert found["ci_low"] <= found["value"] <= found["ci_high"]
    same = cash_paths(terms, synthetic(n, seed=11), found["value"])
    assert (same.capital_usd < 0).any(axis=1).mean() <= target / 100  # at most the level, by construction
    fresh = cash_paths(terms, synthetic(n, seed=12), found["value"])
    p = (fresh.capital_usd < 0).any(axis=1).mean()
    se = math.sqrt(2 * (target / 100) * (1 - target / 100) / n)
    assert abs(p - target / 100) <= 3 * se
    # and the interval brackets the answer of the independent trials
    other = solve_capital(terms, synthetic(n, seed=12))
    assert found["ci_low"] - 3 * found["mc_se"] <= other["value"] <= found["ci_high"] + 3 * found["mc_se"]


FINANCED = LAGGED | dict(payer_advance={"monthly_usd": 20.0, "months": 24, "recovery_pct": 50.0,
                                        "unrecovered": "forgiven"},
                         partner={"upfront_usd": 10.0, "loss_share_pct": 30.0, "gain_share_pct": 10.0})


@pytest.mark.parametrize("terms", [LAGGED, FINANCED])
def test_each_trial_ruined_at_a_capital_is_ruined_at_every_lower_one(terms):
    """What the solver relies on to recompute only the trials near its answer: more starting
    capital never ruins a trial (with a return on cash, a line of credit, an advance, a partner)."""
    it = synthetic(3000, seed=7)
    ruined = [(cash_paths(CapitalTerms(starting_usd=0.0, **terms), it, c).capital_usd < 0).any(axis=1)
              for c in np.linspace(0, 900, 19)]
    assert ruined[0].mean() > 0.5 and ruined[-1].mean() < 0.01
    for more, less in zip(ruined[1:], ruined[:-1]):
        assert not (more & ~less).any()


@pytest.mark.parametrize("starting_usd", [0.0, 50.0, 2000.0])
def test_the_solved_capital_is_the_smallest_that_ruins_at_most_the_level(starting_usd):
    """Whichever side of the answer the search starts from: at most the level's trials are
    ruined at the answer (all trials recomputed), more one tolerance below it."""
    terms = CapitalTerms(starting_usd=starting_usd, ruin_level_pct=1.0, **FINANCED)
    it = synthetic(5000, seed=8)
    found = solve_capital(terms, it, rel_tol=1e-4)
    allowed = math.floor(0.01 * 5000)

    def ruined(c: float) -> int:
        return int((cash_paths(terms, it, c).capital_usd < 0).any(axis=1).sum())

    assert ruined(found["value"]) <= allowed < ruined(found["value"] * (1 - 1e-4))


def test_order_statistic_interval_covers_a_known_quantile():
    # exponential(1): the value exceeded with probability a is -log(a); 95% intervals should
    # cover it in about 95% of 400 independent samples (binomial sd of the cover ~1.1%)
    rng = np.random.default_rng(5)
    covered = [(lambda f: f["ci_low"] <= -math.log(0.01) <= f["ci_high"])(
        exceeded_at_most(rng.exponential(size=3000), 0.01)) for _ in range(400)]
    assert 0.95 - 3 * 0.011 <= np.mean(covered) <= 0.99
    assert math.isnan(exceeded_at_most(rng.exponential(size=50), 0.005)["ci_low"])


def test_capital_measures_table_has_every_figure_with_its_error():
    terms = CapitalTerms(starting_usd=100.0, required_minimum={"pct_of_claims": 5.0}, **LAGGED)
    table = capital_measures(terms, synthetic(1500, seed=6)).set_index(["measure", "horizon"])
    for key in [("p_ruin", "term"), ("p_breach", "term"), ("p_ruin", "1"), ("capital_needed_usd", "term"),
                ("capital_needed_usd", "one_year"), ("worst_drawdown_mean_usd", "term"),
                ("return_on_risk_capital", "term"), ("loc_interest_mean_usd", "term")]:
        assert key in table.index and np.isfinite(table.loc[key, "mc_se"]), key
    # breach (below 5% of ~2,000 claims) is at least as likely as ruin, by year as over the term
    assert table.loc[("p_breach", "term"), "value"] >= table.loc[("p_ruin", "term"), "value"]
    assert table.loc[("p_ruin", "1"), "value"] <= table.loc[("p_ruin", "term"), "value"]
    # a one-year view needs less capital than surviving the whole term
    assert table.loc[("capital_needed_usd", "one_year"), "value"] <= \
        table.loc[("capital_needed_usd", "term"), "value"]


def test_binomial_quantile_is_scipys_ppf():
    """The order-statistic interval's binomial quantile, without importing scipy.stats at run
    time, equals scipy.stats.binom.ppf over trial counts and levels a run meets (0 < q < 1;
    at q = 0 scipy answers -1 by convention, and where the distribution function meets q
    exactly, as at p = q = 0.5, the two may round differently)."""
    from scipy import stats

    from simulator.capital.measures import binomial_quantile

    for n in (1, 7, 50, 400, 1000, 2000, 10_000, 123_457):
        for p in (0.001, 0.005, 0.01, 0.05, 0.3, 0.99):
            for q in (1e-9, 0.025, 0.975, 1 - 1e-9):
                assert binomial_quantile(q, n, p) == int(stats.binom.ppf(q, n, p)), (q, n, p)

"""Disparity metrics, the minimum-denominator rule, sampling noise and the equity payment."""

from __future__ import annotations

import numpy as np
import pytest

from simulator.settlement.equity import (EquityTerms, MeasureExperience, apply_min_denominator, disparity,
                              equity_payment, narrowing_share)
from simulator.experience.measures import QualityModel, composite_score, sample_measures

# three groups: reference A at 60%, B at 50%, C at 55%; denominators 200, 100, 100
RATES = np.array([60.0, 50.0, 55.0])
DEN = np.array([200, 100, 100])


def test_gap_to_reference_is_the_weighted_mean_gap_of_the_other_groups():
    # (100 x 10 + 100 x 5) / 200 = 7.5 points
    assert disparity(RATES, DEN, "gap_to_reference", reference=0) == pytest.approx(7.5)


def test_gap_to_best_includes_every_group():
    # best 60: (200 x 0 + 100 x 10 + 100 x 5) / 400 = 3.75
    assert disparity(RATES, DEN, "gap_to_best") == pytest.approx(3.75)


def test_mean_absolute_deviation_and_between_group_variance():
    # overall (200 x 60 + 100 x 50 + 100 x 55) / 400 = 56.25; deviations 3.75, -6.25, -1.25
    # MAD = (200 x 3.75 + 100 x 6.25 + 100 x 1.25) / 400 = 3.75
    # variance = (200 x 14.0625 + 100 x 39.0625 + 100 x 1.5625) / 400 = 17.1875
    assert disparity(RATES, DEN, "mean_abs_deviation") == pytest.approx(3.75)
    assert disparity(RATES, DEN, "between_group_variance") == pytest.approx(17.1875)


def test_minimum_denominator_excludes_exactly_the_small_groups():
    num, den = np.array([120, 10, 14, 3]), np.array([200, 29, 30, 5])
    kept_num, kept_den = apply_min_denominator(num, den, 30, "exclude")
    np.testing.assert_array_equal(kept_den, [200, 0, 30, 0])
    np.testing.assert_array_equal(kept_num, [120, 0, 14, 0])
    # pooled: 29 + 5 = 34 >= 30 -> one extra group with 13 / 34
    pooled_num, pooled_den = apply_min_denominator(num, den, 30, "pool")
    np.testing.assert_array_equal(pooled_den, [200, 0, 30, 0, 34])
    np.testing.assert_array_equal(pooled_num, [120, 0, 14, 0, 13])
    # an excluded reference group leaves the gap undefined
    assert np.isnan(disparity(np.array([60.0, 50.0]), np.array([0, 100]), "gap_to_reference", 0))


def test_narrowing_share_is_linear_between_floor_and_target():
    # baseline 10 points; 7 points is 30% narrowing; floor 10%, target 50% -> 0.5
    assert narrowing_share(np.array(10.0), np.array(7.0), 10.0, 50.0) == pytest.approx(0.5)
    assert narrowing_share(np.array(10.0), np.array(12.0), 10.0, 50.0) == 0.0
    assert narrowing_share(np.array(10.0), np.array(0.0), 10.0, 50.0) == 1.0


def _model(**measure) -> QualityModel:
    base = {"eligible_pct": {"ppo": 40.0}, "baseline_rate_pct": {"a": 60.0, "b": 50.0}}
    return QualityModel.model_validate({"groups": ["a", "b"], "measures": {"cbp": base | measure}})


def test_sampled_rates_have_binomial_variance():
    model = _model()
    members = np.full((1, 2), 1_000)
    rates = np.array([[[60.0, 50.0]]])
    samples = [sample_measures(model, 7, t, 0, np.array([0.4]), members, rates) for t in range(4000)]
    den = np.array([d[0, 0, 0] for d, _ in samples], float)
    num = np.array([n[0, 0, 0] for _, n in samples], float)
    # denominator ~ Binomial(1000, 0.4); rate given the denominator ~ p (1 - p) / n
    assert den.var(ddof=1) == pytest.approx(1000 * 0.4 * 0.6, rel=0.1)
    rate = num / den
    assert rate.mean() == pytest.approx(0.6, abs=4 * np.sqrt(0.24 / 400 / 4000))
    assert rate.var(ddof=1) == pytest.approx(np.mean(0.24 / den), rel=0.1)


def test_with_no_improvement_the_expected_payment_is_the_pure_noise_value():
    # the rates stay at baseline, so the true-rate payment is zero; the measured payment is
    # the value of the rule under sampling noise, computed here independently by sampling
    # the two groups' rates directly
    terms = EquityTerms.model_validate({"pool_pct": 1.0, "metric": "gap_to_reference",
                                        "reference_group": "a",
                                        "measures": {"cbp": {"floor_pct": 0.0, "target_pct": 50.0}}})
    trials, n_a, n_b = 20_000, 400, 60
    rng = np.random.default_rng(11)
    num = np.stack([rng.binomial(n_a, 0.6, trials), rng.binomial(n_b, 0.5, trials)], -1)
    den = np.broadcast_to(np.array([n_a, n_b]), num.shape)
    exp = MeasureExperience(["cbp"], ["a", "b"], num[:, None, None, :], den[:, None, None, :],
                            np.broadcast_to(np.array([60.0, 50.0]), (trials, 1, 1, 2)),
                            np.array([[60.0, 50.0]]), np.array([[float(n_a), float(n_b)]]))
    budget = np.full((trials, 1), 1e6)
    paid, paid_true, noise, _ = equity_payment(terms, exp, budget, np.full((trials, 1), 1.0))
    assert np.all(paid_true == 0) and np.isnan(noise).all()  # no-change counts not recorded
    # independent check: the gap is (p_a - p_b); payment = 1% x 1e6 x clip(2 x narrowing, 0, 1)
    rng = np.random.default_rng(99)
    gap = 100 * (rng.binomial(n_a, 0.6, trials) / n_a - rng.binomial(n_b, 0.5, trials) / n_b)
    expected = 1e4 * np.clip((10 - gap) / 10 / 0.5, 0, 1)
    se = np.hypot(paid.std(), expected.std()) / np.sqrt(trials)
    assert abs(paid.mean() - expected.mean()) < 4 * se
    assert paid.mean() > 1_000  # noise alone pays a sizeable share of the pool


def test_the_noise_payment_measures_the_baseline_with_the_same_noise():
    # As above, but the baseline is measured too (binomial, same group sizes) and the years
    # are the no-change counterfactual. Independent check: both gaps sampled directly;
    # payment = 1e4 x clip(narrowing / 50%, 0, 1), narrowing = 100 (g0 - g) / g0.
    # Tolerance: 4 standard errors of the difference of two independent means.
    terms = EquityTerms.model_validate({"pool_pct": 1.0, "metric": "gap_to_reference",
                                        "reference_group": "a",
                                        "measures": {"cbp": {"floor_pct": 0.0, "target_pct": 50.0}}})
    trials, n = 20_000, np.array([400, 60])
    rng = np.random.default_rng(12)
    base = np.stack([rng.binomial(n[0], 0.6, trials), rng.binomial(n[1], 0.5, trials)], -1)
    year = np.stack([rng.binomial(n[0], 0.6, trials), rng.binomial(n[1], 0.5, trials)], -1)
    den = np.broadcast_to(n, year.shape)
    exp = MeasureExperience(["cbp"], ["a", "b"], year[:, None, None, :], den[:, None, None, :],
                            np.broadcast_to(np.array([60.0, 50.0]), (trials, 1, 1, 2)),
                            np.array([[60.0, 50.0]]), n[None, :].astype(float),
                            base[:, None, :], np.broadcast_to(n, (trials, 1, 2)), year[:, None, None, :])
    out = equity_payment(terms, exp, np.full((trials, 1), 1e6), np.full((trials, 1), 1.0))
    np.testing.assert_array_equal(out.no_change, out.measured)  # the counts are the null's here
    rng = np.random.default_rng(98)
    def gap():
        return 100 * (rng.binomial(n[0], 0.6, trials) / n[0] - rng.binomial(n[1], 0.5, trials) / n[1])
    g0, g = gap(), gap()
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.clip(100 * (g0 - g) / g0 / 50, 0, 1)
    expected = 1e4 * np.where(np.isfinite(share), share, 0.0)
    se = np.hypot(out.no_change.std(), expected.std()) / np.sqrt(trials)
    assert abs(out.no_change.mean() - expected.mean()) < 4 * se
    # a noisy baseline pays more for nothing than a known one: ~1/2 of the pool against
    # ~1/3 with the true baseline (the test above)
    assert out.no_change.mean() > 4_000


def test_the_measured_baseline_sets_the_narrowing_worked_example():
    # baseline measured: a 120/200 = 60%, b 24/50 = 48% -> gap 12 (the true gap is 10);
    # year measured: a 120/200 = 60%, b 27/50 = 54% -> gap 6: narrowing 50% = target -> the
    # whole pool, 1% x 1,000,000 = 10,000 (on the true baseline gap 10: narrowing 40% ->
    # 80% -> 8,000). No change: a 118/200 = 59%, b 26/50 = 52% -> gap 7: narrowing
    # 5/12 = 41.667% -> 83.33% of the pool = 8,333.33: noise alone.
    terms = EquityTerms.model_validate({"pool_pct": 1.0, "metric": "gap_to_reference",
                                        "reference_group": "a",
                                        "measures": {"cbp": {"floor_pct": 0.0, "target_pct": 50.0}}})
    exp = MeasureExperience(["cbp"], ["a", "b"], np.array([[[[120, 27]]]]), np.array([[[[200, 50]]]]),
                            np.array([[[[60.0, 50.0]]]]), np.array([[60.0, 50.0]]),
                            np.array([[200.0, 50.0]]), np.array([[[120, 24]]]), np.array([[[200, 50]]]),
                            np.array([[[[118, 26]]]]))
    out = equity_payment(terms, exp, np.full((1, 1), 1e6), np.ones((1, 1)))
    assert out.measured[0, 0] == pytest.approx(10_000.0)
    assert out.no_change[0, 0] == pytest.approx(10_000 * 5 / 6)
    assert out.true_rates[0, 0] == 0.0  # true rates did not move


def test_composite_score_counts_cut_points_reached():
    model = _model(cut_points_pct=[50.0, 55.0, 60.0, 65.0])
    # pooled rate (120 + 25) / (200 + 50) = 58% -> 2 of 4 cut points -> 50
    assert composite_score(model, np.array([[120, 25]]), np.array([[200, 50]])) == pytest.approx(50.0)


def test_equity_scenarios_cover_the_seed_contracts_and_their_measures():
    from conftest import ROOT
    from simulator.scenario import load_scenario

    expected = {"steward": {"cbp", "col"}, "beth_israel_lahey": {"cbp", "hbd"},
                "mass_general_brigham": {"cbp"}, "boston_aco": {"cbp", "col"}}
    total = 0
    for key, measures in expected.items():
        scenario = load_scenario(ROOT / "scenarios" / "equity" / f"{key}.toml")
        assert set(scenario.contract.segments["commercial"].equity.measures) == measures
        total += sum(s.members for s in scenario.segments.values())
    assert 540_000 <= total <= 560_000  # "more than 550,000 members"


def test_an_equity_scenario_runs_end_to_end_with_rates_disparities_and_payments():
    from conftest import ROOT
    from simulator.analysis.risk import summarize
    from simulator.experience.engine import simulate_experience
    from simulator.scenario import load_scenario
    from simulator.settlement.rules import settle

    scenario = load_scenario(ROOT / "scenarios" / "equity" / "boston_aco.toml")
    scenario = scenario.with_changes({"segments": {"commercial": {"members": 5_000}}}).with_run(trials=20)
    exp = simulate_experience(scenario)
    assert exp["measure_rate_pct"].dims == ("trial", "year", "segment", "measure", "group")
    # denominators follow the population: members x eligible share x group share
    den = exp["measure_denominator"].sel(measure="cbp", group="black").mean().item()
    assert den == pytest.approx(5_000 * 0.12 * 0.25, rel=0.1)
    assert np.isfinite(exp["quality_score_pct"]).all()  # composite from the cut points
    settled = settle(exp, scenario.contracts(), 3.0)
    assert settled["disparity"].dims == ("variant", "trial", "year", "segment", "measure")
    assert (settled["equity_payment_usd"] >= 0).all()
    summary = summarize(settled)
    share = summary.query("variant == 'base' and measure == 'equity_noise_share'")["value"].item()
    assert 0 <= share <= 1
    noise = summary.query("variant == 'base' and measure == 'equity_noise_payment_mean'")["value"].item()
    assert noise >= 0
    # the baseline is measured per trial: denominators about members x eligible x group share
    base_den = exp["measure_baseline_measured_denominator"].sel(measure="cbp", group="black").mean().item()
    assert base_den == pytest.approx(5_000 * 0.12 * 0.25, rel=0.1)
    assert exp["measure_baseline_measured_numerator"].std("trial").sel(measure="cbp").min() > 0


def test_lowest_group_bonus_pays_for_the_lowest_groups_improvement():
    # group b is lowest at baseline (50%); it improves to 53% (true) and is measured at
    # 54% (27 of 50): 4 of the 5 points for the full bonus -> 0.8 x 0.5% x 1e6 = 4,000
    terms = EquityTerms.model_validate({"pool_pct": 0.0, "metric": "gap_to_best",
                                        "measures": {"cbp": {}},
                                        "lowest_group_bonus": {"pool_pct": 0.5, "full_at_pct_points": 5.0}})
    exp = MeasureExperience(["cbp"], ["a", "b"], np.array([[[[120, 27]]]]), np.array([[[[200, 50]]]]),
                            np.array([[[[60.0, 53.0]]]]), np.array([[60.0, 50.0]]), np.array([[200.0, 50.0]]))
    paid, paid_true, _, _ = equity_payment(terms, exp, np.full((1, 1), 1e6), np.ones((1, 1)))
    assert paid[0, 0] == pytest.approx(4_000.0)
    assert paid_true[0, 0] == pytest.approx(0.6 * 5_000.0)

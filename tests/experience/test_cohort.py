"""The cohort engine agrees with the member engine within Monte Carlo error."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from scipy import stats

from conftest import ROOT, reference_dict, small_dict
from simulator.analysis.risk import risk_measures
from simulator.experience.cohort_engine import _program_classes, cell_costs
from simulator.experience.costs import BandSeverities, CostTables
from simulator.experience.engine import resolve_engine, simulate_experience
from simulator.scenario import load_scenario, scenario_from_dict
from simulator.settlement.rules import settle

LEVELS = ("mean", "sd", "p1", "p5", "p95", "p99", "p99_5")


def both_engines(data: dict, jobs: int = 1):
    out = {}
    for engine in ("member", "cohort"):
        scenario = scenario_from_dict(data).with_run(engine=engine)
        exp = simulate_experience(scenario, jobs=jobs)
        out[engine] = (exp, settle(exp, {"base": scenario.contract}, 3.0, outputs=("provider_gain_usd",)))
    return out


def assert_same_distribution(a: np.ndarray, b: np.ndarray, what: str, levels=LEVELS) -> None:
    ma, mb = risk_measures(a), risk_measures(b)
    for name in levels:
        (va, sa), (vb, sb) = ma[name], mb[name]
        assert np.isfinite(sa) and np.isfinite(sb), (what, name)
        assert abs(va - vb) <= 4 * np.hypot(sa, sb), (what, name, va, vb, sa, sb)


def check_equivalence(runs, levels=LEVELS) -> None:
    gains = {e: s["provider_gain_usd"].sel(variant="base").sum("segment").values for e, (_, s) in runs.items()}
    for y in range(gains["member"].shape[1]):
        assert_same_distribution(gains["member"][:, y], gains["cohort"][:, y], f"year {y + 1}", levels)
    term = {e: g.sum(1) for e, g in gains.items()}
    assert_same_distribution(term["member"], term["cohort"], "term", levels)
    assert stats.ks_2samp(term["member"], term["cohort"]).pvalue > 0.01
    excess = {e: x["excess_usd"].sel(attachment=250_000.0).sum(["year", "segment"]).values
              for e, (x, _) in runs.items()}
    for name in ("mean", "p99") if "p99" in levels else ("mean",):
        (va, sa), (vb, sb) = risk_measures(excess["member"])[name], risk_measures(excess["cohort"])[name]
        assert abs(va - vb) <= 4 * np.hypot(sa, sb), ("stop-loss excess", name, va, vb)


def test_engines_agree_on_a_small_population():
    data = small_dict(members={"ppo": 1000, "hmo": 600, "medicare": 400}, trials=2000,
                      trials_per_block=250, years=3)
    check_equivalence(both_engines(data))


def test_engines_agree_on_the_reference_case():
    data = reference_dict()
    data["run"].update(trials=240, trials_per_block=40)
    # few trials keep the suite fast: the extreme percentiles are compared in the benchmark
    check_equivalence(both_engines(data, jobs=2), levels=("mean", "sd", "p5", "p95"))


def test_cell_costs_have_the_exact_mean_and_excess_under_each_configuration():
    """Configurations share their members' claims, each at its own cost level (the tail set by
    the highest): each still has its exact mean, excess and variance."""
    tables = CostTables.from_model(scenario_from_dict(reference_dict()).cost_models["commercial"])
    sev = BandSeverities(tables)
    rng = np.random.default_rng(4)
    n, band, count = 20_000, 4, 40  # catastrophic band, 40 members a cell: moment-matched body
    levels = (1.1, 0.8)
    mult = np.array([np.full(n, m) for m in levels])
    out = cell_costs(sev, np.full(n, band), np.full(n, count), mult, np.array([100_000.0, 250_000.0]), rng,
                     np.arange(n), n)
    s = tables.severities[band]
    assert len(out) == len(levels)
    for m, (total, excess, claimants) in zip(levels, out):
        for value, mean in ((total, count * m * s.mean), (excess[:, 1], count * m * s.excess_mean(250_000 / m)),
                            (claimants[:, 0], count * float(s.dist.sf(100_000 / m)))):
            assert abs(value.mean() - mean) < 4 * value.std() / np.sqrt(n)
        # the sample variance's standard error: 1.3% (20,000 sums of 40, excess kurtosis 1.46);
        # 5% is about four of them
        assert total.var() == pytest.approx(count * s.var * m**2, rel=0.05)


def test_auto_picks_the_cohort_engine_and_says_why():
    scenario = scenario_from_dict(small_dict()).with_run(engine="auto")
    engine, why = resolve_engine(scenario)
    assert engine == "cohort" and "auto" in why


@pytest.mark.parametrize("attachments", [np.array([100_000.0, 250_000.0, 1_000_000.0]),
                                         np.linspace(100_000.0, 1_000_000.0, 255),  # the most a byte counts
                                         np.linspace(100_000.0, 1_000_000.0, 300)])
def test_cost_above_each_attachment_is_summed_as_member_by_member(attachments):
    from simulator.experience.cohort_engine import _excess

    rng = np.random.default_rng(5)
    values = 90_000 + rng.pareto(1.5, 500) * 60_000
    owner = np.sort(rng.integers(0, 4, 500))
    excess, claimants = _excess(values, owner, attachments, 5)
    for o in range(5):
        for j, a in enumerate(attachments):
            mine = values[owner == o]
            assert claimants[o, j] == np.sum(mine > a)
            assert excess[o, j] == pytest.approx(np.sum(np.maximum(mine - a, 0.0)), rel=1e-12, abs=1e-6)
    assert claimants[4].sum() == 0 and claimants[:, 0].sum() > claimants[:, 2].sum() > 0


def test_one_year_book_has_the_compound_sums_mean_and_variance():
    # benchmarks/one_year_book.toml: each of n members costs nothing with probability 0.15,
    # else a draw from the four-band lognormal mixture X, so the total has mean n 0.85 E[X] and
    # variance n (0.85 E[X^2] - (0.85 E[X])^2); checked within 4 standard errors (the sd's
    # error from the fourth moment of a near-normal total: sd / sqrt(2 (trials - 1)))
    book = load_scenario(ROOT / "benchmarks" / "one_year_book.toml")
    trials = 2000
    total = simulate_experience(book.with_run(trials=trials))["allowed_usd"].values.ravel()
    bands = book.cost_models["four_bands"].bands
    mix = np.array(book.cost_models["four_bands"].initial_mix)
    mean_x = mix @ [b.mean_annual_usd for b in bands]
    square_x = mix @ [b.mean_annual_usd**2 * (1 + b.cv**2) for b in bands]
    n, p = book.segments["book"].members, 0.85
    mean, sd = n * p * mean_x, np.sqrt(n * (p * square_x - (p * mean_x) ** 2))
    assert abs(total.mean() - mean) < 4 * sd / np.sqrt(trials)
    assert abs(total.std(ddof=1) - sd) < 4 * sd / np.sqrt(2 * (trials - 1))


def test_program_classes_drawn_on_strata_of_histories_follow_the_per_history_draws():
    # three bands: band 2 is stratum 0, band 1 stratum 1, band 0 none; histories 0..2 and
    # entrants. The engine adds up the histories of a stratum before drawing; drawing each
    # history on its own (written out here) must give the same distribution of the members
    # by (band, class) and of the flagged and engaged: means and variances within 4 standard errors
    trials, acc, engage = 4000, 0.7, 0.6
    stratum_of, start = np.array([-1, 1, 0], np.int16), np.array([0.6, 0.3, 0.1])
    one = np.array([[50, 20, 5], [30, 40, 10], [5, 10, 25], [20, 8, 2]])  # (history, band)
    counts = np.broadcast_to(one, (trials, *one.shape))
    plan = SimpleNamespace(program=SimpleNamespace(accuracy_pct=100 * acc),
                           operations=SimpleNamespace(engaged_fraction=np.array([engage])))
    rng = SimpleNamespace(stratify=np.random.default_rng(1), engagement=np.random.default_rng(2))
    classes, flagged, engaged = _program_classes(counts, plan, stratum_of, start, 0, rng, 2)

    draw = np.random.default_rng(3)
    shares = np.array([start[2], start[1], start[0]])
    by_history = np.zeros((trials, 3, 3), np.int64)  # (trial, band, stratum 0, 1, none)
    for h in range(3):
        right = draw.binomial(one[h], acc, (trials, 3))
        by_history += draw.multinomial(one[h] - right, shares)
        by_history[..., 2 if stratum_of[h] < 0 else stratum_of[h]] += right
    engaged_ref = draw.binomial(by_history[..., :2], engage)
    classes_ref = np.concatenate([engaged_ref, (one.sum(0) - engaged_ref.sum(-1))[..., None]], axis=-1)
    for mine, ref, what in ((classes, classes_ref, "classes"), (flagged, by_history[..., :2].sum(1), "flagged"),
                            (engaged, engaged_ref.sum(1), "engaged")):
        mine, ref = mine.reshape(trials, -1).astype(float), ref.reshape(trials, -1).astype(float)
        se = np.sqrt((mine.var(0) + ref.var(0)) / trials)
        assert np.all(np.abs(mine.mean(0) - ref.mean(0)) <= 4 * se), what
        dev_a, dev_b = (mine - mine.mean(0)) ** 2, (ref - ref.mean(0)) ** 2
        se_var = np.sqrt((dev_a.var(0) + dev_b.var(0)) / trials)
        assert np.all(np.abs(dev_a.mean(0) - dev_b.mean(0)) <= 4 * se_var), what

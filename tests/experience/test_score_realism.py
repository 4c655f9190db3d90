"""Risk scores that predict as badly as real ones (target R²) and drift with coding intensity."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import REFERENCE, small_dict
from simulator.core.errors import ScenarioError
from simulator.experience.costs import CostTables
from simulator.experience.engine import simulate_experience
from simulator.experience.risk_scores import adjust_scores, best_r2, history_member_years, score_noise
from simulator.scenario import load_scenario, scenario_from_dict


def reference_tables(model: str) -> tuple[CostTables, float]:
    scenario = load_scenario(REFERENCE)
    seg = next(s for s in scenario.segments.values() if s.cost_model == model)
    return CostTables.from_model(scenario.cost_models[model]), seg.churn_pct / 100


def member_years(tables: CostTables, churn: float, n: int, rng: np.random.Generator
                 ) -> tuple[np.ndarray, np.ndarray]:
    """``n`` member-years of the first simulated year, drawn straight from the cost model:
    history (last year's band or entrant), this year's band, cost. Returns (m, cost)."""
    k = tables.n_bands
    history = rng.choice(k + 1, size=n, p=history_member_years(tables, churn))
    to_band = np.vstack([tables.transition, tables.entrant_mix])
    u = rng.random(n)
    band = (u[:, None] > np.cumsum(to_band[history], axis=1)[:, :-1]).sum(axis=1)
    cost = np.zeros(n)
    for b, sev in enumerate(tables.severities):
        paid = (band == b) & (rng.random(n) >= tables.zero_prob[b])
        cost[paid] = sev.dist.rvs(size=paid.sum(), random_state=rng)
    scores = np.append(*tables.prospective_scores(churn))
    return scores[history], cost


def without_scoring(data: dict) -> dict:
    for seg in data["segments"].values():
        seg.pop("risk_scoring", None)
    return data


@pytest.mark.parametrize("model, target", [("commercial", 0.175), ("medicare", 0.125)])
def test_member_level_r2_of_the_scores_is_the_target(model, target):
    # Section 4b: prospective CMS-HCC R² about 0.12-0.13, commercial 0.15-0.20 (midpoints).
    # 40 batches of 50,000 member-years: the R² of each batch, and the standard error of
    # their mean from their spread (the cost tail makes a batch's R² noisy; batch means
    # measure that noise rather than assume it). Tolerance: 4 standard errors.
    tables, churn = reference_tables(model)
    lam, var_eps = score_noise(tables, churn, target)
    rng = np.random.default_rng(20261125)
    r2, r2_best, slope = [], [], []
    for _ in range(40):
        m, cost = member_years(tables, churn, 50_000, rng)
        score = 1 + lam * (m - 1) + rng.normal(0, np.sqrt(var_eps), m.size)
        r2.append(np.corrcoef(score, cost)[0, 1] ** 2)
        r2_best.append(np.corrcoef(m, cost)[0, 1] ** 2)
        slope.append(np.cov(score, cost)[0, 1] / score.var(ddof=1) / cost.mean())
    for values, expected in ((r2, target), (r2_best, best_r2(tables, churn)[0])):
        se = np.std(values, ddof=1) / np.sqrt(len(values))
        assert abs(np.mean(values) - expected) <= 4 * se, (model, np.mean(values), expected, se)
    # calibrated: regression of cost (relative to its mean) on the score has slope 1; the
    # mean cost here is that of member-years, 1-2% off the member-month normalisation
    assert np.mean(slope) == pytest.approx(1.0, abs=0.05)


def test_the_cost_models_own_scores_predict_better_than_real_ones():
    # The band-given expectation reaches R² 0.230 (commercial) and 0.244 (re-fitted Medicare)
    # on the first simulated year, above the real 0.15-0.20 and 0.12-0.13 (the batch test above
    # checks these exact values against drawn member-years); a target above them is refused.
    assert best_r2(*reference_tables("commercial"))[0] == pytest.approx(0.2304, abs=1e-4)
    assert best_r2(*reference_tables("medicare"))[0] == pytest.approx(0.2443, abs=1e-4)
    with pytest.raises(ValueError, match="prospective_r2"):
        score_noise(*reference_tables("commercial"), 0.3)
    data = small_dict()
    data["segments"]["ppo"]["risk_scoring"] = {"prospective_r2": 0.3}
    with pytest.raises(ScenarioError, match=r"segments\.ppo\.risk_scoring\.prospective_r2: 0\.3 is above 0\.230"):
        scenario_from_dict(data)


def test_aggregate_noise_has_its_exact_variance():
    # 4,000 trials of one segment-year of 120,000 member-months with every score 1: the
    # adjusted aggregate is 120,000 + N(0, sigma² x 12 x 120,000). The sample variance over
    # 4,000 trials has a relative standard error sqrt(2 / 3,999) = 2.2%: tolerance 4 of them.
    data = without_scoring(small_dict(years=1))
    data["segments"]["medicare"]["risk_scoring"] = {"prospective_r2": 0.125}
    scenario = scenario_from_dict(data)
    tables, churn = reference_tables("medicare")
    lam, var_eps = score_noise(tables, scenario.segments["medicare"].churn_pct / 100, 0.125)
    trials = range(4000)
    mm = np.full((4000, 1, 3), 120_000.0)
    scores = mm.copy()
    adjust_scores(scenario, trials, scores, mm)
    s = list(scenario.segments).index("medicare")
    assert np.array_equal(scores[:, :, :s], mm[:, :, :s])  # segments without it: untouched
    noise = scores[:, 0, s] - 120_000.0
    assert abs(noise.mean()) <= 4 * np.sqrt(var_eps * 12 * 120_000 / 4000)
    assert noise.var(ddof=1) / (var_eps * 12 * 120_000) == pytest.approx(1.0, abs=4 * np.sqrt(2 / 3999))


@pytest.mark.parametrize("engine", ["member", "cohort"])
def test_coding_intensity_moves_scores_not_cost(engine):
    # 2% a year: year y's scores are (1.02)^(y - 1) times those without it; costs identical.
    data = without_scoring(small_dict(years=3, trials=4))
    plain = simulate_experience(scenario_from_dict(data).with_run(engine=engine))
    for seg in data["segments"].values():
        seg["risk_scoring"] = {"coding_intensity_pct": 2.0}
    coded = simulate_experience(scenario_from_dict(data).with_run(engine=engine))
    for name in ("allowed_usd", "member_months", "excess_usd", "deaths"):
        assert np.array_equal(plain[name].values, coded[name].values), name
    ratio = coded["risk_score_member_months"] / plain["risk_score_member_months"]
    np.testing.assert_allclose(ratio.values, np.broadcast_to([1.0, 1.02, 1.0404], (4, 3))[..., None]
                               * np.ones((1, 1, 3)), rtol=1e-13)

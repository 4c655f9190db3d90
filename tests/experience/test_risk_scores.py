"""Risk scores average exactly 1 in year 1 as they are applied: weighted by member-months."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from conftest import ROOT, SCENARIO_FILES, small_dict
from simulator.experience.costs import MEAN_MONTHS_LOST_AT_DEATH, CostTables
from simulator.experience.engine import simulate_experience
from simulator.scenario import load_scenario, scenario_from_dict

SHIPPED = SCENARIO_FILES


def shipped_segments() -> list[tuple[str, str, CostTables, float]]:
    out = []
    for path in SHIPPED:
        scenario = load_scenario(path)
        for name, seg in scenario.segments.items():
            tables = CostTables.from_model(scenario.cost_models[seg.cost_model])
            out.append((Path(path).stem, name, tables, seg.churn_pct / 100))
    return out


@pytest.mark.parametrize("scenario, segment, tables, churn", shipped_segments(),
                         ids=[f"{a}-{b}" for a, b, *_ in shipped_segments()])
def test_expected_year_one_score_is_one_weighted_by_member_months(scenario, segment, tables, churn):
    scores, entrant = tables.prospective_scores(churn)
    weights = tables.year_one_history_member_months(churn)
    assert weights @ np.append(scores, entrant) / weights.sum() == pytest.approx(1.0, abs=1e-12)


def test_the_medicare_score_weighted_by_member_years_would_not_average_one():
    # The old normalisation (per member-year) applied per member-month gave 0.9845 on the
    # reference Medicare model before its re-fit and 0.9873 on the re-fitted one: decedents
    # lose 5.5 months on average and sit in high-score histories, so weighting by months
    # lowers the average. The new scores differ from the old by exactly that factor.
    scenario = load_scenario(ROOT / "scenarios" / "reference_global_budget.toml")
    tables = CostTables.from_model(scenario.cost_models["medicare"])
    churn = scenario.segments["medicare"].churn_pct / 100
    year_one_mix = tables.band_mix_by_year(churn, 1)[0]
    old = tables.transition @ tables.expected_cost / (year_one_mix @ tables.expected_cost)
    old_entrant = tables.entrant_mix @ tables.expected_cost / (year_one_mix @ tables.expected_cost)
    weights = tables.year_one_history_member_months(churn)
    old_applied = weights @ np.append(old, old_entrant) / weights.sum()
    assert old_applied == pytest.approx(0.9873, abs=5e-4)
    new, _ = tables.prospective_scores(churn)
    np.testing.assert_allclose(new, old / old_applied)
    assert MEAN_MONTHS_LOST_AT_DEATH == 5.5


@pytest.mark.parametrize("engine", ["member", "cohort"])
def test_simulated_year_one_score_averages_one_in_both_engines(engine):
    data = small_dict(members={"ppo": 2000, "hmo": 2000, "medicare": 3000}, years=1,
                      trials=400, trials_per_block=100)
    data.pop("program"), data.pop("program_designs")
    scenario = scenario_from_dict(data).with_run(engine=engine)
    exp = simulate_experience(scenario, jobs=1)
    for segment in scenario.segments:
        x = exp.sel(segment=segment, year=exp["year"].values[0])
        ratio = (x["risk_score_member_months"] / x["member_months"]).values  # as settlement applies it
        se = ratio.std(ddof=1) / np.sqrt(ratio.size)
        # 4 standard errors of the mean over 400 trials (about 0.0035 for Medicare, well below
        # the old normalisation's 0.0155 shortfall)
        assert abs(ratio.mean() - 1.0) <= 4 * se, (segment, ratio.mean(), se)


def test_readme_worked_example_of_member_month_normalisation():
    # Two bands, no churn, bands kept (identity transition): base year 90% low ($5,000, no
    # deaths), 10% high ($50,000, 20% die). After the base-year end: 90% stay low, 8% stay
    # high, 2% entrants (all low) replace the decedents. Year-1 months: low and entrants 12,
    # high 12 - 5.5 x 0.2 = 10.9. Weights 0.92 x 12 = 11.04 and 0.08 x 10.9 = 0.872.
    # Per member-year norm 0.92 x 5,000 + 0.08 x 50,000 = 8,600: applied average
    # (11.04 x 5,000 + 0.872 x 50,000) / 11.912 / 8,600 = 8,294.16 / 8,600 = 0.96444.
    # Per member-month norm 8,294.16: scores 5,000 / 8,294.16 = 0.60284 and 6.0284.
    from simulator.experience.costs import Severity

    tables = CostTables(severities=(Severity("lognormal", 5_000.0, 1.0), Severity("lognormal", 50_000.0, 1.0)),
                        zero_prob=np.zeros(2), death_prob=np.array([0.0, 0.2]),
                        transition=np.eye(2), entrant_mix=np.array([1.0, 0.0]),
                        initial_mix=np.array([0.9, 0.1]))
    np.testing.assert_allclose(tables.year_one_history_member_months(0.0), [0.9 * 12, 0.08 * 10.9, 0.02 * 12])
    scores, entrant = tables.prospective_scores(0.0)
    np.testing.assert_allclose(scores, [5_000 / 8_294.1571, 50_000 / 8_294.1571], rtol=1e-7)
    assert entrant == pytest.approx(0.60284, abs=1e-5)
    old_average = 8_294.1571 / 8_600
    assert old_average == pytest.approx(0.96444, abs=1e-5)

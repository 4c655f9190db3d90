"""A zero budget is settled, not turned into NaN, and no NaN is ever summed away
(issue 14, point 7)."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import small_dict
from simulator.analysis.risk import summarize
from simulator.core.errors import SettlementError
from simulator.experience.engine import simulate_experience
from simulator.scenario import scenario_from_dict
from simulator.settlement.rules import settle


def tiny(**contract_changes):
    data = small_dict(members={"ppo": 300, "hmo": 200, "medicare": 100}, years=3, trials=6,
                      trials_per_block=3)
    data.pop("program", None)
    data.pop("program_designs", None)
    data["variants"] = {}
    for terms in data["contract"]["segments"].values():
        for cap in ("gain_cap_pct", "loss_cap_pct"):
            terms.pop(cap, None)
        terms.update(contract_changes)
    return scenario_from_dict(data)


def test_a_full_discount_settles_the_whole_cost_as_a_loss():
    scenario = tiny(discount_pct=100, deficit_share_pct=100)
    settled = settle(simulate_experience(scenario), scenario.contracts(), 3.0)
    assert not np.isnan(settled["provider_gain_usd"].values).any()
    np.testing.assert_array_equal(settled["budget_usd"].values, 0.0)
    np.testing.assert_allclose(settled["shared_result_usd"].values, -settled["actual_cost_usd"].values)
    summary = summarize(settled)
    p_loss = summary.query("variant == 'base' and segment == 'total' and horizon == 'term' "
                           "and measure == 'p_loss'")["value"].item()
    assert p_loss == 1.0


def test_rebasing_onto_a_zero_cost_year_settles():
    scenario = tiny(rebasing={"year": 2, "weight_pct": 100}, deficit_share_pct=100)
    experience = simulate_experience(scenario)
    experience["allowed_usd"].loc[{"year": scenario.years[0]}] = 0.0
    experience["excess_usd"].loc[{"year": scenario.years[0]}] = 0.0
    settled = settle(experience, scenario.contracts(), 3.0)
    assert not np.isnan(settled["provider_gain_usd"].values).any()
    np.testing.assert_array_equal(settled["budget_usd"].sel(year=scenario.years[1]).values, 0.0)
    summarize(settled)


def test_a_nan_gain_stops_the_summary_loudly():
    scenario = tiny()
    settled = settle(simulate_experience(scenario), scenario.contracts(), 3.0)
    settled["provider_gain_usd"][0, 2, 1, 0] = np.nan
    with pytest.raises(SettlementError, match="NaN in 1 trial"):
        summarize(settled)

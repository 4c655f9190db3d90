"""Fuzzed input: mutated scenario files are valid or refused with a named field, never a
traceback; random valid scenarios run end to end with finite results."""

from __future__ import annotations

import copy
import math
import re
from typing import Any

import numpy as np
import tomli_w
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import reference_dict
from simulator.analysis.risk import summarize
from simulator.experience.engine import simulate_experience
from simulator.core.errors import ScenarioError
from simulator.scenario import Scenario, load_scenario, scenario_from_dict
from simulator.settlement.rules import settle

FIELD_MESSAGE = re.compile(r"^[a-z_]+(\.[a-z0-9_*]+)*: ")
REFERENCE = reference_dict()
# the reference plus a variant using the richer terms, so that those are fuzzed too
REFERENCE["variants"]["rich"] = {"segments": {"medicare": {
    "surplus_share_pct": None, "discount_pct": 3.5,
    "risk_adjustment": {"growth_cap_pct": 3.0, "decline_floor_pct": 3.0},
    "rebasing": {"year": 4, "weight_pct": 50.0},
    "quality": {"withhold_pct": 2.0, "gate_pct": 40.0, "bonus": [{"min_score_pct": 80.0, "bonus_pct": 2.0}]},
    "aggregate_stop_loss": {"attachment_pct": 115.0},
    "min_savings_rate_pct": "cms_table"}}}
del REFERENCE["variants"]["rich"]["segments"]["medicare"]["surplus_share_pct"]
REFERENCE["contract"]["segments"]["medicare"].pop("surplus_share_pct")
REFERENCE["contract"]["segments"]["medicare"]["surplus_corridors"] = [
    {"up_to_pct": 5.0, "share_pct": 50.0}, {"up_to_pct": 10.0, "share_pct": 35.0}, {"share_pct": 5.0}]


def _paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix] if prefix else []
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, prefix + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _paths(v, prefix + (i,))
    return out


PATHS = _paths(REFERENCE)

odd_values = st.one_of(
    st.integers(min_value=-10**12, max_value=10**12), st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([float("nan"), float("inf"), -1.0, 0.0, 1e300, -1e300]),
    st.text(max_size=8), st.booleans(), st.lists(st.floats(-2, 2), max_size=4),
    st.dictionaries(st.sampled_from(["x", "members", "share_pct"]), st.integers(-5, 5), max_size=2))


@st.composite
def mutations(draw):
    data = copy.deepcopy(REFERENCE)
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(PATHS))
        parent = data
        try:
            for key in path[:-1]:
                parent = parent[key]
            kind = draw(st.sampled_from(["replace", "delete", "unknown", "scale"]))
            last = path[-1]
            if kind == "delete":
                del parent[last]
            elif kind == "unknown" and isinstance(parent, dict):
                parent[draw(st.sampled_from(["extra", "membrs", "churn_pc", "share"]))] = 1
            elif kind == "scale" and isinstance(parent[last], (int, float)) and not isinstance(parent[last], bool):
                parent[last] = parent[last] * draw(st.sampled_from([-1, 0, 1.5, 1e6]))
            else:
                parent[last] = draw(odd_values)
        except (KeyError, IndexError, TypeError):
            continue  # an earlier mutation removed this path
    return data


def _check_outcome(path) -> None:
    try:
        result = load_scenario(path)
    except ScenarioError as err:
        assert err.source == str(path)
        for field, message in err.problems:
            assert field or message.startswith("not valid TOML") or FIELD_MESSAGE.match(message), \
                (field, message)
    else:
        assert isinstance(result, Scenario)


@given(data=mutations())
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_mutated_scenarios_are_valid_or_refused_with_a_named_field(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("fuzz") / "mutated.toml"
    try:
        text = tomli_w.dumps(data)
    except (TypeError, ValueError):  # not representable as TOML at all
        return
    path.write_text(text)
    _check_outcome(path)


@given(cut=st.integers(0, 10_000), junk=st.sampled_from(["[", "]", "=", '"', "\x00", "[[x]]\n", "a = ", "é"]))
@settings(max_examples=150, deadline=None)
def test_malformed_toml_is_refused_with_the_file_named(tmp_path_factory, cut, junk):
    text = tomli_w.dumps(REFERENCE)
    cut = cut % len(text)
    path = tmp_path_factory.mktemp("fuzz") / "broken.toml"
    path.write_text(text[:cut] + junk + text[cut:])
    _check_outcome(path)


def _mix(draw, k: int) -> list[float]:
    weights = draw(st.lists(st.floats(0.01, 1.0), min_size=k, max_size=k))
    mix = [w / sum(weights) for w in weights]
    mix[-1] = 1.0 - sum(mix[:-1])
    return mix


@st.composite
def valid_scenarios(draw):
    k = draw(st.integers(1, 4))
    years = draw(st.integers(1, 4))
    bands = [{"name": f"b{i}", "mean_annual_usd": draw(st.floats(10, 2e5)), "cv": draw(st.floats(0.1, 5)),
              "severity": draw(st.sampled_from(["lognormal", "gamma"])),
              "zero_cost_pct": draw(st.floats(0, 99)), "death_pct": draw(st.floats(0, 50))}
             for i in range(k)]
    model = {"bands": bands, "transition": [_mix(draw, k) for _ in range(k)], "entrant_mix": _mix(draw, k)}
    segments, terms = {}, {}
    for name in draw(st.lists(st.sampled_from(["ppo", "hmo", "medicare"]), min_size=1, max_size=3,
                              unique=True)):
        segments[name] = {"members": draw(st.integers(1, 300)), "cost_model": "m",
                          "cost_trend_pct": draw(st.floats(-10, 20)), "churn_pct": draw(st.floats(0, 100)),
                          "trend_shock_sd_pct": draw(st.floats(0, 10)),
                          "quality_score": {"mean_pct": draw(st.floats(0, 100)), "sd_pct_points": 5.0}}
        terms[name] = {"budget_pmpm": draw(st.floats(1, 5000)), "budget_trend_pct": draw(st.floats(-5, 10)),
                       "surplus_share_pct": draw(st.floats(0, 100)), "deficit_share_pct": draw(st.floats(0, 100)),
                       "min_savings_rate_pct": draw(st.floats(0, 5)), "gain_cap_pct": draw(st.floats(0, 50)),
                       "stop_loss": {"attachment_usd": draw(st.sampled_from([1e5, 2.5e5])),
                                     "coinsurance_pct": draw(st.floats(0, 100))},
                       "quality": {"gate_pct": draw(st.floats(0, 100))}}
    return {"name": "fuzz", "term": {"years": years},
            "run": {"trials": draw(st.integers(1, 3)), "seed": draw(st.integers(0, 2**32)),
                    "trials_per_block": 2},
            "systemic": {"trend_shock_correlation": draw(st.floats(0, 1))},
            "cost_models": {"m": model}, "segments": segments, "contract": {"segments": terms}}


@given(data=valid_scenarios())
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_random_valid_scenarios_run_end_to_end_with_finite_results(data):
    scenario = scenario_from_dict(data)
    settled = settle(simulate_experience(scenario), scenario.contracts(), 3.0)
    assert np.isfinite(settled["provider_gain_usd"].values).all()
    assert np.isfinite(settled["pv_gain_usd"].values).all()
    summary = summarize(settled)
    assert all(math.isfinite(v) for v in summary["value"])

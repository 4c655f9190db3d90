"""Scenario files: the shipped ones are valid; bad ones are refused with a pointed message."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import REFERENCE, ROOT, SCENARIO_FILES, reference_dict, write_toml
from simulator.cli import main
from simulator.core.errors import ScenarioError
from simulator.scenario import json_schema, load_contracts, load_scenario


SCENARIOS = SCENARIO_FILES


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.name)
def test_shipped_scenarios_are_valid(path: Path):
    scenario = load_scenario(path)
    assert scenario.segments and scenario.contracts()


def test_reference_scenario_is_the_seed_case(reference):
    members = sum(s.members for s in reference.segments.values())
    assert 125_000 <= members <= 135_000
    assert reference.term.years == 7
    assert set(reference.segments) == {"ppo", "hmo", "medicare"}
    ppo = reference.contract.segments["ppo"]
    assert (ppo.surplus_share_pct, ppo.deficit_share_pct) == (100.0, 100.0)


def _set(data: dict, path: str, value) -> dict:
    *parents, last = path.split(".")
    node = data
    for p in parents:
        node = node[int(p)] if isinstance(node, list) else node[p]
    if value is _DELETE:
        del node[last]
    elif isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return data


_DELETE = object()

BAD_VALUES = [
    # (what, dotted path, new value, field named in the message, words expected in it)
    ("unknown key", "segments.ppo.churn_rate_pct", 20.0, "segments.ppo.churn_rate_pct", "unknown key"),
    ("missing key", "segments.ppo.members", _DELETE, "segments.ppo.members", "missing"),
    ("wrong type", "segments.ppo.members", "many", "segments.ppo.members", "valid integer"),
    ("bool for a number", "segments.hmo.members", True, "segments.hmo.members", "valid integer"),
    ("negative population", "segments.ppo.members", -5, "segments.ppo.members", "greater than or equal to 1"),
    ("share above 100%", "segments.ppo.churn_pct", 120.0, "segments.ppo.churn_pct", "less than or equal to 100"),
    ("NaN", "segments.ppo.cost_factor", float("nan"), "segments.ppo.cost_factor", "finite"),
    ("infinity", "contract.segments.ppo.budget_pmpm", float("inf"), "contract.segments.ppo.budget_pmpm", "finite"),
    ("term too long", "term.years", 31, "term.years", "less than or equal to 30"),
    ("term of zero years", "term.years", 0, "term.years", "greater than or equal to 1"),
    ("row not summing to 1", "cost_models.commercial.transition.0.0", 0.5,
     "cost_models.commercial.transition", "row 1 must sum to 1"),
    ("probability above 1", "cost_models.commercial.entrant_mix.0", 1.5,
     "cost_models.commercial.entrant_mix.0", "less than or equal to 1"),
    ("unknown cost model", "segments.hmo.cost_model", "comercial", "segments.hmo.cost_model",
     "no cost model named 'comercial'"),
    ("unknown severity family", "cost_models.commercial.bands.0.severity", "pareto",
     "cost_models.commercial.bands.0.severity", "'lognormal' or 'gamma'"),
    ("bad variant term", "variants.ppo_80_percent.segments.ppo.surplus_share_pct", 150.0,
     "variants.ppo_80_percent", "segments.ppo.surplus_share_pct"),
    ("contract without a segment", "contract.segments.medicare", _DELETE, "contract.segments",
     "no terms for segment(s) ['medicare']"),
    ("trend list of wrong length", "segments.ppo.cost_trend_pct", [3.0, 3.0], "segments.ppo.cost_trend_pct",
     "one per year"),
]


@pytest.mark.parametrize("what, path, value, field, words", BAD_VALUES, ids=[b[0] for b in BAD_VALUES])
def test_bad_scenario_is_rejected_naming_file_and_field(tmp_path, what, path, value, field, words):
    bad = write_toml(tmp_path / "bad.toml", _set(reference_dict(), path, value))
    with pytest.raises(ScenarioError) as err:
        load_scenario(bad)
    message = str(err.value)
    assert str(bad) in message
    assert field in message
    assert words in message


def test_transition_matrix_of_wrong_shape_is_rejected(tmp_path):
    data = reference_dict()
    data["cost_models"]["commercial"]["transition"].pop()
    with pytest.raises(ScenarioError, match=r"transition: expected a 5x5 matrix"):
        load_scenario(write_toml(tmp_path / "bad.toml", data))


def test_malformed_toml_is_rejected_with_its_position(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text(REFERENCE.read_text().replace("[term]", "[term", 1))
    with pytest.raises(ScenarioError, match=r"bad\.toml: not valid TOML: .*line \d+"):
        load_scenario(bad)


def test_missing_file_is_named(tmp_path):
    with pytest.raises(ScenarioError, match="nope.toml: no such file"):
        load_scenario(tmp_path / "nope.toml")


def test_cli_reports_a_bad_file_in_one_line_without_traceback(tmp_path, capsys):
    bad = write_toml(tmp_path / "bad.toml", _set(reference_dict(), "segments.ppo.churn_pct", -1.0))
    assert main(["validate", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.strip().startswith("vbcsim: error:")
    assert "segments.ppo.churn_pct" in err


def test_cli_validate_accepts_the_reference(capsys):
    assert main(["validate", str(REFERENCE)]) == 0
    assert "valid" in capsys.readouterr().out


def test_schema_describes_the_format(capsys):
    assert main(["schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert schema == json.loads(json.dumps(json_schema()))
    assert {"segments", "contract", "cost_models", "term"} <= set(schema["properties"])
    assert schema["additionalProperties"] is False


@pytest.mark.parametrize("path", sorted((ROOT / "scenarios" / "contracts").glob("*.toml")),
                         ids=lambda p: p.name)
def test_contract_templates_fit_the_reference_scenario(path, reference):
    contracts = load_contracts(path, reference)
    assert "base" in contracts and len(contracts) >= 2


def test_contract_using_quality_needs_a_quality_score(tmp_path):
    data = reference_dict()
    del data["segments"]["hmo"]["quality_score"]
    data["contract"]["segments"]["hmo"]["quality"] = {"gate_pct": 50.0}
    with pytest.raises(ScenarioError, match="segments.hmo.quality_score: required"):
        load_scenario(write_toml(tmp_path / "bad.toml", data))

"""`vbcsim run --set PATH=VALUE`: overrides change what they name and nothing else."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import small_dict, write_toml
from simulator.cli import main
from simulator.core.errors import ScenarioError
from simulator.scenario import load_scenario

REFERENCE = Path(__file__).resolve().parents[1] / "scenarios" / "reference_global_budget.toml"


def _flat(data, prefix=""):
    """Every leaf of a nested dict/list as path -> value."""
    if isinstance(data, dict):
        return {k: v for key, sub in data.items() for k, v in _flat(sub, f"{prefix}{key}.").items()}
    if isinstance(data, list):
        return {k: v for i, sub in enumerate(data) for k, v in _flat(sub, f"{prefix}{i}.").items()}
    return {prefix.rstrip("."): data}


def _changed(a, b):
    fa, fb = _flat(a.model_dump()), _flat(b.model_dump())
    return {k for k in fa.keys() | fb.keys() if fa.get(k) != fb.get(k)}


def test_an_override_changes_only_what_it_names():
    base = load_scenario(REFERENCE)
    changed = load_scenario(REFERENCE, ["segments.medicare.members=20000"])
    assert changed.segments["medicare"].members == 20000
    assert _changed(base, changed) == {"segments.medicare.members"}


def test_star_sets_every_segment_and_tables_and_strings_parse():
    base = load_scenario(REFERENCE)
    changed = load_scenario(REFERENCE, ["segments.*.churn_pct=15",
                                        "segments.ppo.pricing={ level_sd_pct = 2.5 }",
                                        "contract.segments.hmo.min_savings_rate_pct=cms_table"])
    assert _changed(base, changed) == (
        {f"segments.{s}.churn_pct" for s in base.segments}
        | {"segments.ppo.pricing.level_sd_pct", "segments.ppo.pricing.yearly_sd_pct",
           "segments.ppo.pricing.practice_level_sd_pct", "segments.ppo.pricing.practice_yearly_sd_pct",
           "contract.segments.hmo.min_savings_rate_pct"})
    assert changed.segments["ppo"].pricing.level_sd_pct == 2.5
    assert changed.contract.segments["hmo"].min_savings_rate_pct == "cms_table"


@pytest.mark.parametrize("override, where, what", [
    ("segments.medicare.membrs=3", "segments.medicare.membrs", "unknown key"),
    ("segments.dental.members=3", "--set segments.dental.members", "no entry named 'dental'"),
    ("segments.ppo.members=-3", "segments.ppo.members", "greater than or equal to 1"),
    ("segments.ppo.members", "--set segments.ppo.members", "expected PATH=VALUE"),
    ("segments.ppo.churn_pct.x=1", "--set segments.ppo.churn_pct.x", "is a value, not a table"),
])
def test_a_bad_override_is_one_pointed_error(override, where, what):
    with pytest.raises(ScenarioError) as err:
        load_scenario(REFERENCE, [override])
    assert len(err.value.problems) == 1
    path, message = err.value.problems[0]
    assert path == where and what in message


def test_cli_unknown_path_is_one_line(tmp_path, capsys):
    code = main(["run", str(REFERENCE), "--set", "segments.medicare.membrs=3", "--out", str(tmp_path / "x")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "\n" not in err
    assert "segments.medicare.membrs: unknown key" in err
    assert not (tmp_path / "x").exists() and not (tmp_path / "x.partial").exists()


def test_manifest_records_overrides_and_effective_scenario(tmp_path):
    source = write_toml(tmp_path / "small.toml", small_dict(trials=6, trials_per_block=3))
    out = tmp_path / "res"
    sets = ["segments.ppo.members=123", "segments.*.churn_pct=11"]
    assert main(["run", str(source), "--out", str(out), "--quiet", "--jobs", "1", "--engine", "cohort",
                 *sum((["--set", s] for s in sets), [])]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["scenario"]["overrides"] == sets
    stored = load_scenario(out / "scenario.toml")       # the effective scenario, as run
    assert manifest["scenario"]["text"] == (out / "scenario.toml").read_text()
    direct = load_scenario(source, sets)
    assert stored.model_dump() == direct.model_dump()
    assert stored.segments["ppo"].members == 123
    assert _changed(load_scenario(source), stored) == (
        {"segments.ppo.members"} | {f"segments.{s}.churn_pct" for s in stored.segments})

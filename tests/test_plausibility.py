"""Plausibility warnings: a percent typed as a fraction is named, and --strict refuses it."""

from __future__ import annotations

import tomllib

import pytest

from conftest import ROOT, small_dict, write_toml
from simulator.cli import main
from simulator.core.plausibility import plausibility_warnings


def slipped() -> dict:
    data = small_dict(trials=4, trials_per_block=2)
    data["segments"]["ppo"]["churn_pct"] = 0.2                     # 20% typed as 0.2
    data["segments"]["hmo"]["cost_trend_pct"] = 0.036              # 3.6% typed as 0.036
    data["contract"]["segments"]["hmo"]["surplus_share_pct"] = 0.8  # 80% typed as 0.8
    return data


def test_each_unit_slip_is_named_by_its_field():
    paths = [p for p, _ in plausibility_warnings(slipped())]
    assert paths == ["segments.ppo.churn_pct", "segments.hmo.cost_trend_pct",
                     "contract.segments.hmo.surplus_share_pct"]
    message = dict(plausibility_warnings(slipped()))["segments.ppo.churn_pct"]
    assert "did you mean 20?" in message


def test_lists_tables_and_variants_are_walked():
    data = {"variants": {"x": {"segments": {"ppo": {"budget_trend_pct": [3.1, 0.031],
                                                    "surplus_corridors": [{"share_pct": 0.5}]}}}},
            "quality": {"measures": {"cbp": {"baseline_rate_pct": {"white": 0.6, "black": 55}}}}}
    assert [p for p, _ in plausibility_warnings(data)] == [
        "variants.x.segments.ppo.budget_trend_pct.1",
        "variants.x.segments.ppo.surplus_corridors.0.share_pct",
        "quality.measures.cbp.baseline_rate_pct.white"]


def test_legal_small_values_that_are_meant_are_not_flagged():
    # 0 is a real value (one-sided: deficit share 0); a 0.5% death rate and a 0.5% MSR are
    # genuine; 1.0 is a whole percent; a 0.5% trend is above the 0.2 threshold for trends
    data = {"deficit_share_pct": 0, "death_pct": 0.5, "min_savings_rate_pct": 0.5,
            "churn_pct": 1.0, "cost_trend_pct": 0.5}
    assert plausibility_warnings(data) == []


@pytest.mark.parametrize("path", sorted(ROOT.glob("scenarios/**/*.toml")),
                         ids=lambda p: p.stem)
def test_shipped_files_raise_no_warning(path):
    assert plausibility_warnings(tomllib.loads(path.read_text())) == []


def test_validate_and_run_print_one_line_per_warning_and_strict_refuses(tmp_path, capsys):
    path = write_toml(tmp_path / "slip.toml", slipped())
    assert main(["validate", str(path)]) == 0
    err = capsys.readouterr().err.splitlines()
    assert err[0] == (f"vbcsim: warning: {path}: segments.ppo.churn_pct: 0.2 looks like a fraction "
                      "typed for a percent: churn_pct is in percent (20 means 20%) (did you mean 20?)")
    assert len(err) == 3
    assert main(["validate", str(path), "--strict"]) == 2
    err = capsys.readouterr().err
    assert "vbcsim: error:" in err and "contract.segments.hmo.surplus_share_pct" in err
    assert main(["run", str(path), "--strict", "--quiet", "--out", str(tmp_path / "r")]) == 2
    assert not (tmp_path / "r").exists() and not (tmp_path / "r.partial").exists()
    assert main(["run", str(path), "--quiet", "--jobs", "1", "--out", str(tmp_path / "r")]) == 0
    assert capsys.readouterr().err.count("vbcsim: warning:") == 3

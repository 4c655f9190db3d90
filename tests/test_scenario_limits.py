"""What validation accepts, every engine runs; a scenario cannot name a machine to connect to;
absurd nesting is one clear error (issue 14, points 8, 10 and 12)."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import small_dict, write_toml
from simulator.cli import main
from simulator.core.errors import ScenarioError
from simulator.experience.engine import simulate_experience
from simulator.scenario import MAX_NESTING, scenario_from_dict


def tiny(**kw):
    data = small_dict(members={"ppo": 300, "hmo": 200, "medicare": 100}, years=2, trials=4,
                      trials_per_block=2, **kw)
    data.pop("program", None)
    data.pop("program_designs", None)
    return data


# -- 8. normalised once, degenerate parameters bounded ----------------------------------------
@pytest.mark.parametrize("engine", ["member", "cohort"])
def test_a_row_summing_to_one_plus_rounding_runs_in_every_engine(engine):
    data = tiny()
    model = data["cost_models"][data["segments"]["ppo"]["cost_model"]]
    for row in model["transition"]:
        row[0] += 1e-9  # valid (within the tolerance), and the first k-1 entries exceed 1
    model["entrant_mix"][0] += 5e-7
    scenario = scenario_from_dict(data).with_run(engine=engine)
    rows = np.array(scenario.cost_models[data["segments"]["ppo"]["cost_model"]].transition)
    assert np.all(np.abs(rows.sum(axis=1) - 1) < 1e-15)
    exp = simulate_experience(scenario)
    assert np.isfinite(exp["allowed_usd"].values).all() and (exp["allowed_usd"].values > 0).all()


def test_rows_within_rounding_are_kept_as_written():
    """Existing scenarios give the same numbers: only a sum off by more than rounding moves."""
    data = tiny()
    scenario = scenario_from_dict(data)
    for name, model in data["cost_models"].items():
        assert scenario.cost_models[name].transition == model["transition"]


@pytest.mark.parametrize("engine", ["member", "cohort"])
@pytest.mark.parametrize("severity", ["gamma", "lognormal"])
def test_the_smallest_valid_cv_runs_in_every_engine(engine, severity):
    data = tiny()
    for model in data["cost_models"].values():
        for band in model["bands"]:
            band.update(cv=1e-3, severity=severity)
    exp = simulate_experience(scenario_from_dict(data).with_run(engine=engine))
    allowed = exp["allowed_usd"].values
    assert np.isfinite(allowed).all() and (allowed > 0).all()


def test_a_degenerate_cv_is_refused_with_the_reason(tmp_path, capsys):
    data = tiny()
    data["cost_models"]["commercial"]["bands"][0]["cv"] = 1e-160
    assert main(["validate", str(write_toml(tmp_path / "s.toml", data))]) == 2
    err = capsys.readouterr().err
    assert "cost_models.commercial.bands.0.cv" in err and "0.001" in err


# -- 10. the scheduler address never comes from a scenario --------------------------------------
def test_a_scenario_naming_a_scheduler_is_refused(tmp_path, capsys):
    data = tiny()
    data["run"]["scheduler"] = "tcp://203.0.113.9:8786"
    path = write_toml(tmp_path / "mailed.toml", data)
    assert main(["run", str(path), "--out", str(tmp_path / "r"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "mailed.toml: run.scheduler" in err and "--scheduler" in err and err.count("\n") == 1
    assert not (tmp_path / "r").exists() and not (tmp_path / "r.partial").exists()


# -- 12. nesting thousands deep --------------------------------------------------------------
@pytest.mark.parametrize("text", ["a = " + "[" * 5000 + "]" * 5000,
                                  "a = " + "{b = " * 3000 + "1" + "}" * 3000,
                                  "[x]\n" + "y = " + "[" * (MAX_NESTING + 5) + "]" * (MAX_NESTING + 5)])
def test_absurd_nesting_is_one_clear_error(tmp_path, capsys, text):
    path = tmp_path / "deep.toml"
    path.write_text(text)
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("vbcsim: error: ") and "nested more than" in err and err.count("\n") == 1


def test_a_nested_dictionary_is_refused_before_validation():
    deep: dict = {}
    node = deep
    for _ in range(5000):
        node["x"] = {}
        node = node["x"]
    with pytest.raises(ScenarioError, match="nested more than"):
        scenario_from_dict({"variants": {"v": deep}})

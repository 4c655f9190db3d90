"""End to end through the command line: scenario file in, complete results folder out."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from conftest import small_dict, write_toml
from simulator.cli import main


@pytest.fixture
def scenario_file(tmp_path):
    return write_toml(tmp_path / "small.toml", small_dict(trials=12, trials_per_block=4))


def run(scenario_file, out, *extra):
    return main(["run", str(scenario_file), "--out", str(out), "--quiet", *extra])


def test_run_writes_a_complete_results_folder(tmp_path, scenario_file, capsys):
    out = tmp_path / "res"
    assert run(scenario_file, out, "--jobs", "1") == 0
    assert sorted(p.name for p in out.iterdir()) == [
        "capital.csv", "experience.nc", "manifest.json", "program_operations.csv", "scenario.toml", "settlement.nc",
        "summary.csv"]
    assert not (tmp_path / "res.partial").exists()
    ops = pd.read_csv(out / "program_operations.csv")
    assert set(ops.stratum) == {"top_1", "top_5", "rising_risk"} and len(ops) == 3 * 12 * 3
    assert ((ops.engaged_share >= 0) & (ops.engaged_share <= 1)).all()

    manifest = json.loads((out / "manifest.json").read_text())
    text = scenario_file.read_text()
    assert manifest["complete"] is True
    assert manifest["scenario"]["text"] == text
    assert manifest["scenario"]["sha256"] == hashlib.sha256(text.encode()).hexdigest()
    assert manifest["trials"] == 12 and manifest["seed"] == small_dict()["run"]["seed"]
    assert {"numpy", "numba", "xarray", "vbcsim", "python"} <= set(manifest["versions"])
    assert set(manifest["processor"]) == {"model", "vector_extensions"}
    assert manifest["timings_s"]["total"] > 0

    with xr.open_dataset(out / "experience.nc") as exp:
        assert exp["allowed_usd"].dims == ("trial", "year", "segment")
        assert exp["allowed_usd"].attrs["units"] == "USD"
    with xr.open_dataset(out / "settlement.nc") as st:
        assert st["provider_gain_usd"].dims == ("variant", "trial", "year", "segment")
        assert list(st["variant"].values) == ["base", "ppo_80_percent"]

    summary = pd.read_csv(out / "summary.csv")
    assert list(summary.columns) == ["variant", "segment", "horizon", "measure", "value", "mc_se"]
    assert {"ppo", "hmo", "medicare", "total"} == set(summary.segment)
    assert {"term", "pv"} <= set(summary.horizon)
    assert {"mean", "sd", "p_loss", "p1", "p99_5", "var_95", "tvar_95", "var_99_5",
            "tvar_99_5"} <= set(summary.measure)
    mean_total = summary.query("variant == 'base' and segment == 'total' and horizon == 'term' "
                               "and measure == 'mean'")["value"].item()
    with xr.open_dataset(out / "settlement.nc") as st:
        direct = st["provider_gain_usd"].sel(variant="base").sum(["year", "segment"]).mean().item()
    assert mean_total == pytest.approx(direct, rel=1e-5)


def test_same_seed_gives_the_same_numbers_with_any_number_of_jobs(tmp_path, scenario_file):
    assert run(scenario_file, tmp_path / "a", "--jobs", "1") == 0
    assert run(scenario_file, tmp_path / "b", "--jobs", "2") == 0
    with xr.open_dataset(tmp_path / "a" / "settlement.nc") as a, \
            xr.open_dataset(tmp_path / "b" / "settlement.nc") as b:
        for name in a.data_vars:
            np.testing.assert_array_equal(a[name].values, b[name].values)


def test_an_existing_run_is_not_overwritten_without_force(tmp_path, scenario_file, capsys):
    out = tmp_path / "res"
    assert run(scenario_file, out, "--jobs", "1") == 0
    before = (out / "manifest.json").read_text()
    assert run(scenario_file, out, "--jobs", "1", "--seed", "5") == 3
    assert "already holds a run" in capsys.readouterr().err
    assert (out / "manifest.json").read_text() == before
    assert run(scenario_file, out, "--jobs", "1", "--seed", "5", "--force") == 0
    assert json.loads((out / "manifest.json").read_text())["seed"] == 5


def test_an_unwritable_output_location_is_a_clear_error(tmp_path, scenario_file, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    assert run(scenario_file, blocker / "res") == 3
    err = capsys.readouterr().err
    assert "cannot write" in err and "Traceback" not in err


def test_bad_command_line_values_are_refused(scenario_file, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["run", str(scenario_file), "--trials", "0"])
    assert exit_.value.code == 2
    assert "at least 1" in capsys.readouterr().err


def test_settle_reprices_a_stored_run_without_simulating(tmp_path, scenario_file):
    out = tmp_path / "res"
    assert run(scenario_file, out, "--jobs", "1") == 0
    # a contract file that restates nothing: its base must equal the run's own base
    same = tmp_path / "same.toml"
    same.write_text("[contract]\n[variants.ppo_half]\nsegments.ppo.surplus_share_pct = 50\n")
    assert main(["settle", str(out), "--contract", str(same), "--quiet"]) == 0
    folder = out / "settlements" / "same"
    assert sorted(p.name for p in folder.iterdir()) == [
        "contract.toml", "manifest.json", "settlement.nc", "summary.csv"]
    with xr.open_dataset(out / "settlement.nc") as a, xr.open_dataset(folder / "settlement.nc") as b:
        np.testing.assert_array_equal(a["provider_gain_usd"].sel(variant="base"),
                                      b["provider_gain_usd"].sel(variant="base"))
        half = b["shared_result_usd"].sel(variant="ppo_half", segment="ppo").values
        base = b["shared_result_usd"].sel(variant="base", segment="ppo").values
        np.testing.assert_allclose(half[base > 0], 0.5 * base[base > 0])
        np.testing.assert_array_equal(half[base <= 0], base[base <= 0])


def test_settle_refuses_an_attachment_the_run_did_not_simulate(tmp_path, scenario_file, capsys):
    out = tmp_path / "res"
    assert run(scenario_file, out, "--jobs", "1") == 0
    bad = tmp_path / "bad.toml"
    bad.write_text("[contract]\n[variants.odd]\nsegments.ppo.stop_loss.attachment_usd = 333333\n")
    assert main(["settle", str(out), "--contract", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "variants.odd.segments.ppo.stop_loss.attachment_usd" in err and "333,333" in err

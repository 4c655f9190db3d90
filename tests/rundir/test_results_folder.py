"""vbcsim replaces or deletes only what it made; one run at a time per folder; a kill at any
step of the finish is completed by the same command without recomputing (issue 14, 1-3)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from conftest import small_dict, write_toml
from simulator.cli import main
from simulator.core.errors import RunError
from simulator.experience import engine as engine_module
from simulator.rundir import RunFolder, folder as folder_module
from simulator.run import run_scenario
from simulator.scenario import load_scenario


def tiny(**kw):
    """A small scenario without the care-management program (whose discrete-event model
    would dominate these tests' time)."""
    data = small_dict(members={"ppo": 150, "hmo": 100, "medicare": 80}, years=2, **kw)
    data.pop("program", None)
    data.pop("program_designs", None)
    return data


@pytest.fixture
def scenario_file(tmp_path):
    return write_toml(tmp_path / "tiny.toml", tiny(trials=4, trials_per_block=2))


def snapshot(root: Path) -> dict[str, str]:
    """Every file and link under ``root`` with a hash of its bytes (or its link target)."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            rel = str(path.relative_to(root))
            if path.is_symlink():
                out[rel] = "link:" + os.readlink(path)
            elif path.is_file():
                out[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
            else:
                out[rel] = "dir"
    return out


def user_files(folder: Path) -> None:
    """A folder of someone's unrelated files."""
    (folder / "notes").mkdir(parents=True)
    (folder / "thesis.docx").write_bytes(os.urandom(3000))
    (folder / "notes" / "todo.txt").write_text("buy milk\n")
    (folder / "manifest.json").write_text('{"not": "vbcsim"}\n')


def run(scenario_file, out, *extra):
    # without the risk-by-source decomposition: a small simulation of its own, not checkpointed
    return main(["run", str(scenario_file), "--out", str(out), "--quiet", "--jobs", "1",
                 "--sources-trials", "0", *extra])


def no_simulation(monkeypatch):
    """Make any block simulation fail the test."""
    def refuse(*args, **kwargs):
        raise AssertionError("a block was simulated")
    monkeypatch.setattr(engine_module, "engine", lambda name: refuse)


# -- 1. --force deletes only what vbcsim made --------------------------------------------
@pytest.mark.parametrize("where", ["out", "partial", "replaced"])
def test_force_never_deletes_a_folder_vbcsim_did_not_make(tmp_path, scenario_file, capsys, where):
    out = tmp_path / "res"
    target = {"out": out, "partial": tmp_path / "res.partial", "replaced": tmp_path / "res.replaced"}[where]
    user_files(target)
    before = snapshot(tmp_path)
    assert run(scenario_file, out, "--force") == 3
    err = capsys.readouterr().err
    assert str(target) in err and "vbcsim" in err and "Traceback" not in err
    assert snapshot(tmp_path) == before


def test_force_does_not_delete_files_added_to_a_run(tmp_path, scenario_file, capsys):
    out = tmp_path / "res"
    assert run(scenario_file, out) == 0
    (out / "my_analysis.xlsx").write_bytes(b"mine")
    (out / "settlements").mkdir()
    (out / "settlements" / "draft").mkdir()
    (out / "settlements" / "draft" / "x.csv").write_text("1,2\n")
    before = snapshot(tmp_path)
    assert run(scenario_file, out, "--force", "--seed", "3") == 3
    err = capsys.readouterr().err
    assert "my_analysis.xlsx" in err and "did not write" in err
    assert snapshot(tmp_path) == before


def test_force_replaces_a_run_vbcsim_made_with_all_it_wrote_there(tmp_path, scenario_file):
    out = tmp_path / "res"
    assert run(scenario_file, out) == 0
    contract = tmp_path / "c.toml"
    contract.write_text("[contract]\n")
    assert main(["settle", str(out), "--contract", str(contract), "--quiet"]) == 0
    assert run(scenario_file, out, "--force", "--seed", "3") == 0
    assert not (out / "settlements").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.toml", "res", "tiny.toml"]


def test_settle_with_a_dot_dot_contract_name_deletes_nothing(tmp_path, scenario_file, capsys):
    out = tmp_path / "res"
    assert run(scenario_file, out) == 0
    (out / "settlements").mkdir()
    user_files(out / "settlements" / "mine")
    contract = tmp_path / "..toml"
    contract.write_text("[contract]\n")
    before = snapshot(tmp_path)
    assert main(["settle", str(out), "--contract", str(contract), "--force"]) == 3
    assert snapshot(tmp_path) == before
    assert "Traceback" not in capsys.readouterr().err


def test_sweep_force_into_a_user_folder_deletes_nothing(tmp_path, scenario_file):
    out = tmp_path / "res"
    assert run(scenario_file, out) == 0
    user_files(tmp_path / "mine")
    before = snapshot(tmp_path)
    assert main(["sweep", str(out), "--term", "segments.ppo.surplus_share_pct=50:100:2",
                 "--out", str(tmp_path / "mine"), "--force"]) == 3
    assert snapshot(tmp_path) == before


# -- 2. one run at a time; nothing appearing during a run is deleted ---------------------
def test_a_second_run_of_the_same_out_is_refused_while_one_writes(tmp_path, scenario_file, capsys):
    out = tmp_path / "res"
    first = RunFolder(out, {"another": "run"})
    try:
        assert run(scenario_file, out) == 3
        assert "another run is writing" in capsys.readouterr().err
    finally:
        first.release()


@pytest.mark.parametrize("force", [False, True])
def test_a_folder_created_at_out_during_the_run_survives(tmp_path, force):
    out = tmp_path / "res"
    scenario = load_scenario(write_toml(tmp_path / "s.toml", tiny(trials=4, trials_per_block=2)))

    def someone_writes_out(index):
        if not out.exists():
            user_files(out)
    with pytest.raises(RunError, match="finished results stay in"):
        run_scenario(scenario, out, force=force, on_block=someone_writes_out)
    assert sorted(snapshot(out)) == ["manifest.json", "notes", "notes/todo.txt", "thesis.docx"]
    assert (tmp_path / "res.partial" / "manifest.json").is_file()  # the results are kept


# -- 3. a kill at any step of the finish ---------------------------------------------------
class Killed(BaseException):
    """Stands for SIGKILL: nothing catches it, only ``finally`` blocks run (as the lock's
    release does when a process dies)."""


KILL_POINTS = ["before_manifest", "before_blocks_dropped", "before_old_run_moved",
               "after_old_run_moved", "after_move_into_place", "before_run_key_removed"]


def inject_kill(monkeypatch, point, out):
    partial, replaced = out.with_name(out.name + ".partial"), out.with_name(out.name + ".replaced")
    real_rename, real_unlink = os.rename, Path.unlink

    def wrap(name, when):
        original = getattr(folder_module.RunFolder, name)

        def method(self, *args, **kwargs):
            if when == "before":
                raise Killed
            result = original(self, *args, **kwargs)
            raise Killed
        monkeypatch.setattr(folder_module.RunFolder, name, method)

    if point == "before_manifest":
        wrap("_write_manifest", "before")
    elif point == "before_blocks_dropped":
        wrap("_drop_blocks", "before")
    elif point == "before_old_run_moved":
        wrap("_move_old_run_aside", "before")
    elif point == "after_old_run_moved":
        wrap("_move_old_run_aside", "after")
    elif point == "after_move_into_place":
        def rename(src, dst):
            real_rename(src, dst)
            if Path(src) == partial:
                raise Killed
        monkeypatch.setattr(folder_module.os, "rename", rename)
    elif point == "before_run_key_removed":
        def unlink(self, missing_ok=False):
            if self.name == "run-key.json" and self.parent == out:
                raise Killed
            return real_unlink(self, missing_ok=missing_ok)
        monkeypatch.setattr(Path, "unlink", unlink)
    return replaced


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """An uninterrupted run of seed 3, and a run of another seed to be replaced (made once)."""
    root = tmp_path_factory.mktemp("finished")
    scenario = write_toml(root / "tiny.toml", tiny(trials=4, trials_per_block=2))
    assert run(scenario, root / "whole", "--seed", "3") == 0
    assert run(scenario, root / "old") == 0
    return root


@pytest.mark.parametrize("point", KILL_POINTS)
def test_a_kill_during_the_finish_is_completed_without_recomputing(tmp_path, scenario_file,
                                                                   monkeypatch, point, finished):
    out, whole = tmp_path / "res", finished / "whole"
    shutil.copytree(finished / "old", out)  # the old run that --force replaces
    with monkeypatch.context() as m:
        inject_kill(m, point, out)
        with pytest.raises(Killed):
            run(scenario_file, out, "--force", "--seed", "3")
    no_simulation(monkeypatch)
    assert run(scenario_file, out, "--force", "--seed", "3") == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["res", "tiny.toml"]
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in whole.iterdir())
    with xr.open_dataset(out / "settlement.nc") as a, xr.open_dataset(whole / "settlement.nc") as b:
        np.testing.assert_array_equal(a["provider_gain_usd"].values, b["provider_gain_usd"].values)


def test_a_stale_replaced_run_is_cleaned_up(tmp_path, scenario_file, capsys):
    out = tmp_path / "res"
    assert run(scenario_file, out, "--seed", "5") == 0
    os.rename(out, tmp_path / "res.replaced")  # as a --force killed after its move into place
    assert run(scenario_file, tmp_path / "other") == 0
    os.rename(tmp_path / "other", out)
    assert run(scenario_file, out, "--force", "--seed", "6") == 0
    assert "res.replaced" in capsys.readouterr().err
    assert not (tmp_path / "res.replaced").exists()


def test_a_stale_replaced_folder_with_user_files_is_reported_and_kept(tmp_path, scenario_file, capsys):
    out = tmp_path / "res"
    assert run(scenario_file, out) == 0
    user_files(tmp_path / "res.replaced")
    before = snapshot(tmp_path / "res.replaced")
    assert run(scenario_file, out, "--force", "--seed", "6") == 3
    assert "res.replaced" in capsys.readouterr().err
    assert snapshot(tmp_path / "res.replaced") == before


# -- 12. bad --out values, before any simulation -------------------------------------------
@pytest.mark.parametrize("bad", [".", "X/..", "a_file", "a_link"])
def test_bad_out_values_are_refused_before_simulating(tmp_path, scenario_file, monkeypatch, capsys, bad):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "X").mkdir()
    (tmp_path / "a_file").write_text("keep me")
    (tmp_path / "real").mkdir()
    (tmp_path / "a_link").symlink_to(tmp_path / "real")
    before = snapshot(tmp_path)
    no_simulation(monkeypatch)
    assert run(scenario_file, bad, "--force") == 3
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--out" in err
    assert snapshot(tmp_path) == before


def test_force_replaces_a_run_holding_an_interrupted_settle(tmp_path, scenario_file):
    out = tmp_path / "res"
    assert run(scenario_file, out) == 0
    partial = out / "settlements" / "c.partial"
    partial.mkdir(parents=True)
    (partial / "run-key.json").write_text('{"format": "vbcsim-partial/1", "key": {}}')
    (partial / "contract.toml").write_text("[contract]\n")
    assert run(scenario_file, out, "--force", "--seed", "3") == 0
    assert not (out / "settlements").exists()


@pytest.mark.parametrize("point", ["after_move_into_place", "before_blocks_dropped"])
def test_a_settle_killed_during_its_finish_is_completed(tmp_path, monkeypatch, point, finished):
    out = tmp_path / "res"
    shutil.copytree(finished / "whole", out)
    contract = tmp_path / "c.toml"
    contract.write_text("[contract]\n[variants.half]\nsegments.ppo.surplus_share_pct = 50\n")
    settle = ["settle", str(out), "--contract", str(contract), "--quiet"]
    with monkeypatch.context() as m:
        inject_kill(m, point, out / "settlements" / "c")
        with pytest.raises(Killed):
            main(settle)
    assert main(settle) == 0
    assert sorted(p.name for p in (out / "settlements").iterdir()) == ["c"]
    assert sorted(p.name for p in (out / "settlements" / "c").iterdir()) == [
        "contract.toml", "manifest.json", "settlement.nc", "summary.csv"]


def test_force_replaces_a_run_of_an_earlier_version(tmp_path, scenario_file):
    """A folder written before format tags (no checksums) is still vbcsim's to replace."""
    out = tmp_path / "res"
    assert run(scenario_file, out) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    legacy = {k: v for k, v in manifest.items() if k not in ("format", "files", "manifest_sha256")}
    (out / "manifest.json").write_text(json.dumps(legacy))
    assert main(["compare", str(out)]) == 3  # never read ...
    assert run(scenario_file, out, "--force", "--seed", "3") == 0  # ... but replaced
    assert json.loads((out / "manifest.json").read_text())["seed"] == 3

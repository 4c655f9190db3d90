"""Every failure a user can cause is one line naming what is wrong; --debug shows the
traceback (issue 14, point 12; --out values and stored runs are in tests/rundir)."""

from __future__ import annotations

import errno
import os

import pytest
import xarray as xr

from conftest import small_dict, write_toml
from simulator.cli import main
from simulator.core import files as files_module
from simulator.core.errors import ScenarioError
from simulator.experience import engine as engine_module


@pytest.fixture
def scenario_file(tmp_path):
    data = small_dict(members={"ppo": 150, "hmo": 100, "medicare": 80}, years=2, trials=4,
                      trials_per_block=2)
    data.pop("program", None)
    data.pop("program_designs", None)
    return write_toml(tmp_path / "s.toml", data)


def run(scenario_file, out, *extra):
    return main(["run", str(scenario_file), "--out", str(out), "--quiet", "--jobs", "1", *extra])


def test_a_full_disk_while_writing_netcdf_is_one_line_and_resumable(tmp_path, scenario_file,
                                                                     monkeypatch, capsys):
    real = xr.Dataset.to_netcdf

    def full(self, path, *args, **kwargs):
        real(self, path, *args, **kwargs)  # part of the file is written, then the disk fills
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    with monkeypatch.context() as m:
        m.setattr(xr.Dataset, "to_netcdf", full)
        assert run(scenario_file, tmp_path / "r") == 3
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "experience.nc: the disk is full" in err
    assert not (tmp_path / "r").exists()
    assert sorted(p.name for p in (tmp_path / "r.partial").iterdir()) == [".lock", "blocks", "run-key.json"]
    assert run(scenario_file, tmp_path / "r") == 0  # space freed: the same command finishes


def test_a_full_disk_while_writing_the_manifest_is_one_line(tmp_path, scenario_file, monkeypatch, capsys):
    real = files_module._fsync

    def fsync(path):
        if "manifest" in path.name:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real(path)
    monkeypatch.setattr(files_module, "_fsync", fsync)
    assert run(scenario_file, tmp_path / "r") == 3
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "manifest.json: the disk is full" in err
    assert not (tmp_path / "r").exists()


def test_debug_shows_the_traceback(tmp_path, capsys):
    assert main(["validate", str(tmp_path / "missing.toml")]) == 2
    assert capsys.readouterr().err.count("\n") == 1
    with pytest.raises(ScenarioError, match="no such file"):
        main(["--debug", "validate", str(tmp_path / "missing.toml")])


def test_an_unforeseen_error_is_one_line_with_a_pointer_to_debug(tmp_path, scenario_file, monkeypatch, capsys):
    def broken(*args, **kwargs):
        raise ZeroDivisionError("a bug")
    monkeypatch.setattr(engine_module, "engine", lambda name: broken)
    assert run(scenario_file, tmp_path / "r") == 70
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "ZeroDivisionError: a bug" in err and "--debug" in err


def test_an_error_while_an_interrupt_is_handled_is_the_interrupt(tmp_path, scenario_file, monkeypatch, capsys):
    """Ctrl-C in the middle of writing a checkpoint's zip makes zipfile raise a ValueError as
    it closes: the run was interrupted (exit 130, resumable), not broken."""
    def interrupted_mid_write(*args, **kwargs):
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt:
            raise ValueError("Can't close the ZIP file while there is an open writing handle on it")
    monkeypatch.setattr(engine_module, "engine", lambda name: interrupted_mid_write)
    assert run(scenario_file, tmp_path / "r") == 130
    assert capsys.readouterr().err.strip() == "interrupted"


def test_an_unreachable_scheduler_is_one_line(tmp_path, scenario_file, monkeypatch, capsys):
    pytest.importorskip("distributed")
    monkeypatch.setattr(engine_module, "CONNECT_TIMEOUT_S", 2)
    assert run(scenario_file, tmp_path / "r", "--scheduler", "tcp://127.0.0.1:9") == 3
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot reach the dask scheduler at tcp://127.0.0.1:9" in err

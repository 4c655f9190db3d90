"""Beyond one process: the dask backend, a killed run resumed, a lost worker, full disks."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from conftest import small_dict, small_scenario, write_toml
from simulator.cli import main
from simulator.experience.engine import simulate_experience
from simulator.core.errors import RunError
from simulator.run import run_scenario

distributed = pytest.importorskip("distributed")


def assert_identical(a: xr.Dataset, b: xr.Dataset) -> None:
    for name in a.data_vars:
        np.testing.assert_array_equal(a[name].values, b[name].values, err_msg=name)


def test_dask_backend_gives_bit_identical_results():
    scenario = small_scenario(trials=8, trials_per_block=2)
    local = simulate_experience(scenario, jobs=1)
    dask = simulate_experience(scenario.with_run(backend="dask"), jobs=2)
    assert_identical(local, dask)


def test_a_lost_worker_does_not_change_the_result():
    scenario = small_scenario(members={"ppo": 20_000, "hmo": 5_000, "medicare": 3_000},
                              trials=12, trials_per_block=1)
    expected = simulate_experience(scenario, jobs=1)
    killed = []

    def kill_a_worker(index):
        if killed:
            return
        client = distributed.default_client()
        victim = sorted(client.scheduler_info()["workers"])[0]
        killed.append(victim)
        try:
            client.run(os._exit, 1, workers=[victim])
        except Exception:  # the worker's connection dies with it
            pass

    got = simulate_experience(scenario.with_run(backend="dask"), jobs=2, on_block=kill_a_worker)
    assert killed
    assert_identical(expected, got)


def test_a_run_killed_with_sigkill_resumes_to_the_uninterrupted_result(tmp_path):
    data = small_dict(members={"ppo": 30_000, "hmo": 20_000, "medicare": 10_000}, trials=24,
                      trials_per_block=1)
    scenario_file = write_toml(tmp_path / "s.toml", data)
    out = tmp_path / "killed"
    cmd = [sys.executable, "-m", "simulator.cli", "run", str(scenario_file), "--out", str(out),
           "--jobs", "1", "--quiet"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    blocks = tmp_path / "killed.partial" / "blocks"
    deadline = time.time() + 120
    while time.time() < deadline and len(list(blocks.glob("block-*.npz"))) < 3:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    finished = len(list(blocks.glob("block-*.npz")))
    assert 3 <= finished < 24, "the run was not caught mid-way"
    assert not out.exists()

    assert main(["run", str(scenario_file), "--out", str(out), "--jobs", "1", "--quiet"]) == 0
    assert main(["run", str(scenario_file), "--out", str(tmp_path / "whole"), "--jobs", "1",
                 "--quiet"]) == 0
    for name in ("experience.nc", "settlement.nc"):
        with xr.open_dataset(out / name) as a, xr.open_dataset(tmp_path / "whole" / name) as b:
            assert_identical(a, b)
    import json
    assert json.loads((out / "manifest.json").read_text())["blocks_resumed"] >= finished


def test_resuming_with_another_seed_is_refused(tmp_path, capsys):
    scenario = small_scenario(trials=4, trials_per_block=1)
    with pytest.raises(KeyboardInterrupt):
        run_scenario(scenario, tmp_path / "r", on_block=_interrupt_after(1))
    with pytest.raises(RunError, match="differs in: seed"):
        run_scenario(scenario.with_run(seed=99), tmp_path / "r")


def _interrupt_after(n):
    seen = []

    def hook(index):
        seen.append(index)
        if len(seen) >= n:
            raise KeyboardInterrupt
    return hook


def test_a_full_disk_is_a_clear_error_and_leaves_no_complete_looking_folder(tmp_path, monkeypatch):
    import builtins

    from simulator.core import files

    class Full(io.RawIOBase):
        def writable(self):
            return True

        def write(self, data):
            raise OSError(28, "No space left on device")

    def filling_up(path, *args, **kwargs):  # the disk is full when the first block is written
        return Full() if Path(path).name.startswith(".block-") else builtins.open(path, *args, **kwargs)

    monkeypatch.setattr(files, "open", filling_up, raising=False)  # files' own name for open
    with pytest.raises(RunError, match="block-000000.npz: the disk is full"):
        run_scenario(small_scenario(trials=2), tmp_path / "r")
    assert not (tmp_path / "r").exists()
    assert not list((tmp_path / "r.partial" / "blocks").iterdir())  # nor the block half written

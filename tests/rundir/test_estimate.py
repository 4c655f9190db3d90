"""Before simulating, a run's needs are estimated and a run the machine cannot hold is
refused with the estimate (issue 14, point 11)."""

from __future__ import annotations

import pytest

from conftest import small_dict, write_toml
from simulator.cli import main
from simulator.experience import engine as engine_module
from simulator.experience.engine import simulate_experience
from simulator.rundir import estimate as estimate_module
from simulator.rundir.estimate import estimate
from simulator.scenario import scenario_from_dict
from simulator.settlement.rules import OUTPUTS, settle


def tiny(**kw):
    data = small_dict(members={"ppo": 300, "hmo": 200, "medicare": 100}, years=2, **kw)
    data.pop("program", None)
    data.pop("program_designs", None)
    return data


def test_the_estimate_matches_the_results_sizes():
    scenario = scenario_from_dict(tiny(trials=10, trials_per_block=5))
    found = estimate(scenario, jobs=1, settlement_outputs=len(OUTPUTS))
    experience = simulate_experience(scenario)
    settled = settle(experience, scenario.contracts(), 3.0)
    assert found.member_years == 10 * 2 * 600
    # the per-trial arrays are the bulk; the trial-independent baselines are small
    assert 0.9 < found.experience_bytes / experience.nbytes < 1.1
    assert 0.9 < found.settlement_bytes / settled.nbytes < 1.1


def test_a_run_too_big_for_the_machine_is_refused_before_anything_is_written(tmp_path, capsys, monkeypatch):
    data = tiny(trials=10_000_000, trials_per_block=1000)
    data["segments"]["ppo"]["members"] = 50_000_000
    path = write_toml(tmp_path / "huge.toml", data)

    def refuse(*args, **kwargs):
        raise AssertionError("a block was simulated")
    monkeypatch.setattr(engine_module, "engine", lambda name: refuse)
    # a well-equipped machine: 64 GiB of memory and 1 TiB of disk free
    monkeypatch.setattr(estimate_module, "available_memory_bytes", lambda: 64 * 2**30)
    monkeypatch.setattr(estimate_module, "free_disk_bytes", lambda path: 2**40)
    assert main(["run", str(path), "--out", str(tmp_path / "r"), "--quiet"]) == 3
    err = capsys.readouterr().err
    assert "needs more than the machine has" in err and "1,000,006,000,000,000 member-years" in err
    assert "--no-resource-check" in err and err.count("\n") == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["huge.toml"]


@pytest.mark.parametrize("short", ["memory", "disk"])
def test_the_override_runs_anyway(tmp_path, capsys, monkeypatch, short):
    path = write_toml(tmp_path / "s.toml", tiny(trials=4, trials_per_block=2))
    monkeypatch.setattr(estimate_module, "available_memory_bytes" if short == "memory"
                        else "free_disk_bytes", lambda *a: 1000)
    assert main(["run", str(path), "--out", str(tmp_path / "r"), "--quiet"]) == 3
    assert ("of memory available" if short == "memory" else "free on the disk") in capsys.readouterr().err
    assert main(["run", str(path), "--out", str(tmp_path / "r"), "--quiet", "--no-resource-check"]) == 0

"""Reproducibility and common random numbers of the engine, and resuming from checkpoints."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from conftest import CrashingFolder, small_dict, small_scenario
from simulator.core.files import replace_file
from simulator.experience import engine
from simulator.experience.engine import simulate_experience, trial_blocks, trials_per_block
from simulator.core.errors import RunError
from simulator.rundir import RunFolder
from simulator.scenario import scenario_from_dict


def assert_identical(a: xr.Dataset, b: xr.Dataset) -> None:
    for name in a.data_vars:
        np.testing.assert_array_equal(a[name].values, b[name].values, err_msg=name)


def test_trial_blocks_cover_every_trial_once():
    blocks = trial_blocks(10, 4)
    assert [list(b) for b in blocks] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]


def test_results_are_identical_for_one_and_two_workers():
    scenario = small_scenario(trials=8, trials_per_block=2)
    assert_identical(simulate_experience(scenario, jobs=1), simulate_experience(scenario, jobs=2))


def test_results_do_not_depend_on_the_block_size():
    a = simulate_experience(small_scenario(trials=7, trials_per_block=2))
    b = simulate_experience(small_scenario(trials=7, trials_per_block=7))
    assert_identical(a, b)


@pytest.mark.parametrize("base_years", [0, 2])
def test_a_cohort_task_of_several_engine_blocks_gives_their_numbers(tmp_path, monkeypatch, base_years):
    data = small_dict(trials=450)
    data["run"]["engine"] = "cohort"
    data["term"]["base_years"] = base_years
    scenario = scenario_from_dict(data)
    block_work = engine.member_years(scenario, 100)
    monkeypatch.setattr(engine, "COHORT_TASK_MEMBER_YEARS", block_work)  # a block is work enough
    assert [trials_per_block(scenario.with_run(trials=n)) for n in (25_000, 25_001, 200_000)] \
        == [100, 200, 800]  # at most 250 tasks
    monkeypatch.setattr(engine, "COHORT_TASK_MEMBER_YEARS", 3 * block_work)
    assert [trials_per_block(scenario.with_run(trials=n)) for n in (3_100, 6_400, 9_600, 25_001, 200_000)] \
        == [100, 200, 300, 300, 800]  # three blocks a task, leaving at least 32 tasks
    alone = simulate_experience(scenario)  # five tasks of one engine block each
    monkeypatch.setattr(engine, "COHORT_TASKS_MAX", 2)
    crashed = CrashingFolder(tmp_path / "run", {"test": 1})
    crashed.limit = 1
    with pytest.raises(KeyboardInterrupt):
        simulate_experience(scenario, store=crashed)  # trials 0-299 done, then killed
    crashed.release()
    folder = RunFolder(tmp_path / "run", {"test": 1})
    grouped = simulate_experience(scenario, jobs=2, store=folder)  # 150 trials more
    assert folder.resumed_blocks == 1
    assert sorted(p.name for p in (folder.partial / "blocks").iterdir()) \
        == ["block-000000.npz", "block-000001.npz"]
    assert_identical(alone, grouped)
    folder.release()
    with pytest.raises(ValueError, match="spans cohort blocks"):
        engine.simulate_block(scenario, range(50, 150))


def test_force_discards_a_partial_run_whose_block_a_kill_left_half_written(tmp_path):
    old = RunFolder(tmp_path / "run", {"scenario_sha256": "a"})
    old.finished([range(0, 2)])
    writing = replace_file(old.partial / "blocks", "block-000000.npz")
    writing.__enter__().write_bytes(b"PK")  # and killed: the temporary file stays
    old.release()
    RunFolder(tmp_path / "run", {"scenario_sha256": "b"}, force=True).release()
    assert not (tmp_path / "run.partial" / "blocks").exists()


def test_a_shorter_run_is_a_prefix_of_a_longer_one():
    short = simulate_experience(small_scenario(trials=3))
    long = simulate_experience(small_scenario(trials=9))
    assert_identical(short, long.isel(trial=slice(0, 3)))


def test_another_seed_gives_other_numbers():
    a = small_scenario(trials=2)
    b = a.with_run(seed=a.run.seed + 1)
    assert not np.array_equal(simulate_experience(a)["allowed_usd"], simulate_experience(b)["allowed_usd"])


def test_changing_one_segment_leaves_the_others_draws_alone():
    # streams are keyed by segment: a bigger HMO must not move a single PPO or Medicare dollar
    # (without a care-management program, whose shared capacity links the segments)
    def without_program(**kw):
        data = small_dict(trials=3, **kw)
        del data["program"], data["program_designs"]
        return scenario_from_dict(data)

    base = simulate_experience(without_program())
    bigger = simulate_experience(without_program(members={"ppo": 1500, "hmo": 2500, "medicare": 600}))
    for seg in ("ppo", "medicare"):
        np.testing.assert_array_equal(base["allowed_usd"].sel(segment=seg),
                                      bigger["allowed_usd"].sel(segment=seg))
    assert not np.array_equal(base["allowed_usd"].sel(segment="hmo"),
                              bigger["allowed_usd"].sel(segment="hmo"))


def test_a_new_stop_loss_attachment_does_not_move_costs():
    data = small_dict(trials=3)
    with_variant = small_dict(trials=3)
    with_variant["variants"]["high_attachment"] = {
        "segments": {"ppo": {"stop_loss": {"attachment_usd": 500_000.0}}}}
    a = simulate_experience(scenario_from_dict(data))
    b = simulate_experience(scenario_from_dict(with_variant))
    np.testing.assert_array_equal(a["allowed_usd"], b["allowed_usd"])
    np.testing.assert_array_equal(a["excess_usd"].sel(attachment=250_000.0),
                                  b["excess_usd"].sel(attachment=250_000.0))
    assert (b["excess_usd"].sel(attachment=500_000.0) <= b["excess_usd"].sel(attachment=250_000.0)).all()


def test_systemic_shocks_do_not_diversify_with_population_size():
    # process risk shrinks like 1/sqrt(N); systemic risk does not: the spread of the
    # cost level between trials must stay at the shock's size for a large population
    scenario = small_scenario(members={"ppo": 50_000, "hmo": 10, "medicare": 10}, trials=60,
                              trials_per_block=20, years=1)
    exp = simulate_experience(scenario).sel(segment="ppo", year=scenario.years[0])
    pmpm = exp["allowed_usd"] / exp["member_months"]
    shock_sd = scenario.segments["ppo"].trend_shock_sd_pct / 100
    process_cv = 3.1 / np.sqrt(50_000)  # person-level CV about 3 (scenario file)
    spread = float(pmpm.std() / pmpm.mean())
    assert spread > shock_sd * 0.7
    assert spread < np.hypot(shock_sd, process_cv) * 1.4




def test_an_interrupted_run_resumes_to_the_same_result(tmp_path):
    scenario = small_scenario(trials=9, trials_per_block=2)
    key = {"test": 1}
    crashed = CrashingFolder(tmp_path / "run", key)
    with pytest.raises(KeyboardInterrupt):
        simulate_experience(scenario, store=crashed)
    crashed.release()  # what the end of the crashed process does
    folder = RunFolder(tmp_path / "run", key)
    resumed = simulate_experience(scenario, store=folder)
    assert folder.resumed_blocks == 2
    assert_identical(resumed, simulate_experience(scenario))


def test_a_partial_run_of_something_else_is_not_resumed(tmp_path):
    RunFolder(tmp_path / "run", {"scenario_sha256": "a"}).release()
    with pytest.raises(RunError, match="unfinished run of something else.*scenario_sha256"):
        RunFolder(tmp_path / "run", {"scenario_sha256": "b"})


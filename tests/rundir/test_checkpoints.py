"""A checkpoint block is used only by the run, and for the trials, it was made for; a foreign,
resized or damaged block is simulated again, never mixed in (issue 14, point 5)."""

from __future__ import annotations

import shutil

import pytest

from conftest import CrashingFolder, small_scenario
from simulator.core.errors import RunError
from simulator.experience.engine import simulate_experience
from simulator.experience.streams import MEMBER_STREAM_LAYOUT
from simulator.rundir import RunFolder
from simulator.run import run_key
from xarray.testing import assert_identical




def interrupted(tmp_path, name, scenario):
    folder = CrashingFolder(tmp_path / name, run_key(scenario))
    with pytest.raises(KeyboardInterrupt):
        simulate_experience(scenario, store=folder)
    folder.release()
    return tmp_path / f"{name}.partial" / "blocks"


@pytest.fixture(scope="module")
def scenarios():
    seven = small_scenario(trials=6, trials_per_block=2).with_run(seed=7)
    return seven, seven.with_run(seed=8)


def test_blocks_of_another_run_are_not_mixed_in(tmp_path, scenarios):
    seven, eight = scenarios
    foreign = interrupted(tmp_path, "seven", seven)
    mine = interrupted(tmp_path, "eight", eight)
    for path in foreign.glob("block-*.npz"):
        shutil.copy(path, mine / path.name)  # overwrite seed 8's blocks with seed 7's
    folder = RunFolder(tmp_path / "eight", run_key(eight))
    resumed = simulate_experience(eight, store=folder)
    assert folder.rejected_blocks == 2 and folder.resumed_blocks == 0
    assert_identical(resumed, simulate_experience(eight))


def test_a_block_moved_to_another_trial_range_is_not_used(tmp_path, scenarios):
    _, eight = scenarios
    blocks = interrupted(tmp_path, "r", eight)
    (blocks / "block-000000.npz").rename(blocks / "block-000002.npz")
    folder = RunFolder(tmp_path / "r", run_key(eight))
    resumed = simulate_experience(eight, store=folder)
    assert folder.rejected_blocks == 1 and folder.resumed_blocks == 1
    assert_identical(resumed, simulate_experience(eight))


@pytest.mark.parametrize("damage", ["truncate", "flip", "empty", "garbage", "symlink"])
def test_a_damaged_block_is_simulated_again(tmp_path, scenarios, damage, capsys):
    _, eight = scenarios
    blocks = interrupted(tmp_path, "r", eight)
    path = blocks / "block-000001.npz"
    data = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "flip":  # inside the arrays: only the checksum can tell
        middle = len(data) // 2
        path.write_bytes(data[:middle] + bytes([data[middle] ^ 1]) + data[middle + 1:])
    elif damage == "empty":
        path.write_bytes(b"")
    elif damage == "garbage":
        path.write_bytes(b"PK\x03\x04" + b"\x00" * 100)
    else:
        (tmp_path / "elsewhere.npz").write_bytes(data)
        path.unlink()
        path.symlink_to(tmp_path / "elsewhere.npz")
    folder = RunFolder(tmp_path / "r", run_key(eight))
    resumed = simulate_experience(eight, store=folder)
    assert folder.rejected_blocks == 1 and folder.resumed_blocks == 1
    assert "simulating them again" in capsys.readouterr().err
    assert_identical(resumed, simulate_experience(eight))


def test_a_symlinked_checkpoint_folder_is_refused(tmp_path, scenarios):
    from simulator.core.errors import RunError

    _, eight = scenarios
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    folder = RunFolder(tmp_path / "r", run_key(eight))
    (tmp_path / "r.partial" / "blocks").symlink_to(elsewhere)
    with pytest.raises(RunError, match="never writes through"):
        simulate_experience(eight, store=folder)
    folder.release()
    assert list(elsewhere.iterdir()) == []


def test_a_partial_member_run_of_the_old_stream_layout_is_not_resumed(tmp_path, scenarios):
    """The member engine's draws changed with its stream layout: blocks of the old layout
    would mix two sets of draws, so the run's key names the layout and such a run is refused."""
    member = scenarios[0].with_run(engine="member")
    key = run_key(member)
    assert key["member_stream_layout"] == MEMBER_STREAM_LAYOUT
    assert "member_stream_layout" not in run_key(member.with_run(engine="cohort"))
    folder = CrashingFolder(tmp_path / "old", key | {"member_stream_layout": MEMBER_STREAM_LAYOUT - 1})
    with pytest.raises(KeyboardInterrupt):
        simulate_experience(member, store=folder)
    folder.release()
    with pytest.raises(RunError, match="differs in: member_stream_layout"):
        RunFolder(tmp_path / "old", key)

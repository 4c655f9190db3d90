"""Worker processes end with the run: a killed or terminated run leaves no workers behind,
and SIGTERM stops a run as Ctrl-C does (issue 14, point 4)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from conftest import small_dict, write_toml

WAIT_S = 60  # generous bound for a loaded machine; the workers normally go within a second


def start_run(tmp_path):
    """A run with two local workers and many small blocks; returns it once the workers work."""
    data = small_dict(members={"ppo": 4_000, "hmo": 2_000, "medicare": 1_000}, years=3,
                      trials=400, trials_per_block=1)
    data.pop("program", None)
    data.pop("program_designs", None)
    scenario = write_toml(tmp_path / "s.toml", data)
    proc = subprocess.Popen([sys.executable, "-m", "simulator.cli", "run", str(scenario), "--jobs", "2",
                             "--out", str(tmp_path / "out"), "--quiet"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    blocks = tmp_path / "out.partial" / "blocks"
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:  # workers exist, and at least one block is done
        workers = [p for p in psutil.Process(proc.pid).children(recursive=True)
                   if "resource_tracker" not in " ".join(p.cmdline())]
        if len(workers) >= 2 and blocks.is_dir() and any(blocks.glob("block-*.npz")):
            return proc, workers
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.1)
    proc.kill()
    pytest.fail("the run did not start its workers")


def wait_gone(processes) -> list[psutil.Process]:
    deadline = time.monotonic() + WAIT_S
    alive = processes
    while alive and time.monotonic() < deadline:
        alive = [p for p in alive if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
        time.sleep(0.2)
    return alive


PRELUDE = """
import time
import psutil
from simulator.experience import workers


def forks():  # the processes forked from this one (the helper, the workers), wherever they went
    me = psutil.Process()
    return [p for p in psutil.process_iter()
            if p.pid != me.pid and _cmdline(p) == me.cmdline() and p.status() != psutil.STATUS_ZOMBIE]


def _cmdline(process):
    try:
        return process.cmdline()
    except psutil.Error:
        return None


def gone(processes, wait_s=30):
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        if all(not p.is_running() or p.status() == psutil.STATUS_ZOMBIE for p in processes):
            return True
        time.sleep(0.05)
    return False


def _refuse():
    raise ValueError("cannot rebuild")


class Unloadable:
    def __reduce__(self):
        return _refuse, ()


def outcome(fn, n, calls=None, **options):
    # the results of fn on n calls, or the error that ended them (and the workers)
    try:
        return sorted(workers.run_unordered(fn, calls or [(i,) for i in range(n)], 2, **options))
    except Exception as err:
        return f"{type(err).__name__} {err}"


def settled(futures):
    return [f.result(timeout=30) for f in futures] and True
"""


def run_script(body: str) -> list[str]:
    """The lines a script prints, run in a fresh process (no other thread: workers fork)."""
    tests = str(Path(__file__).resolve().parents[1])
    out = subprocess.run([sys.executable, "-c", PRELUDE + body], capture_output=True, text=True,
                         timeout=4 * WAIT_S, env=os.environ | {"PYTHONPATH": tests})
    assert out.returncode == 0, out.stderr
    return out.stdout.splitlines()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="process tree checks on Linux")
def test_workers_exit_when_the_run_is_killed(tmp_path):
    proc, workers = start_run(tmp_path)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    alive = wait_gone(workers)
    for p in alive:
        p.kill()
    assert not alive, "workers outlived the killed run"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="process tree checks on Linux")
def test_sigterm_stops_a_run_like_ctrl_c(tmp_path):
    proc, workers = start_run(tmp_path)
    os.kill(proc.pid, signal.SIGTERM)
    out, err = proc.communicate(timeout=WAIT_S)
    assert proc.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    assert any((tmp_path / "out.partial" / "blocks").glob("block-*.npz"))  # kept for the resume
    alive = wait_gone(workers)
    for p in alive:
        p.kill()
    assert not alive


FORKED = """
import os, sys
from conftest import small_dict
from simulator.experience import workers
from simulator.experience.engine import simulate_experience
from simulator.scenario import scenario_from_dict

scenario = scenario_from_dict(small_dict(trials=12, trials_per_block=2))
two = simulate_experience(scenario, jobs=2)
assert workers._pool.get("pid") == os.getpid(), "the workers were not forked"
one = simulate_experience(scenario, jobs=1)
print("identical" if two.identical(one) else "different")
try:
    list(workers.run_unordered(os._exit, [(3,)], 2))
except Exception as err:
    print(type(err).__name__, err)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="workers fork on Linux only")
def test_forked_workers_give_one_process_numbers_and_a_lost_worker_one_line():
    """In a fresh process (no other thread) the workers are forked; their numbers are those
    of one process, bit for bit; a worker that dies ends the run with one line, no hang."""
    tests = str(Path(__file__).resolve().parents[1])
    out = subprocess.run([sys.executable, "-c", FORKED], capture_output=True, text=True, timeout=WAIT_S,
                         env=os.environ | {"PYTHONPATH": tests})
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == "identical"
    assert lines[1].startswith("RunError a worker process died"), lines


EARLY = """
import os
from conftest import small_dict
from simulator.experience import engine, workers
from simulator.experience.engine import simulate_experience, start_early, trial_blocks
from simulator.scenario import scenario_from_dict

scenario = scenario_from_dict(small_dict(trials=12, trials_per_block=2))
start_early(scenario, 2)  # first: a run in this process starts a thread (tqdm's), then no fork
futures = dict(engine._early["futures"])
assert workers._pool.get("pid") == os.getpid(), "the workers were not forked"
early = simulate_experience(scenario, jobs=2)
one = simulate_experience(scenario, jobs=1)
print("identical" if early.identical(one) else "different", len(futures), engine._early == {})


class Resumed:
    \"\"\"A store that already holds blocks 0 and 1 (as a resumed run's folder does).\"\"\"

    def __init__(self):
        self.saved = []

    def finished(self, ranges):
        return {i: engine._one_block(scenario, None, i, ranges[i])[1] for i in (0, 1)}

    def save(self, index, block):
        self.saved.append(index)


start_early(scenario, 2)
store = Resumed()
resumed = simulate_experience(scenario, jobs=2, store=store)
print("identical" if resumed.identical(one) else "different", sorted(store.saved))
other = scenario.with_run(seed=scenario.run.seed + 1)
start_early(other, 2)
print("identical" if simulate_experience(scenario, jobs=2).identical(one) else "different", engine._early == {})
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="workers fork on Linux only")
def test_blocks_started_early_are_the_runs_blocks_and_a_resumed_run_drops_the_ones_it_has():
    """The command line starts a run's blocks before importing the analysis stack: the run
    collects them (the same numbers as one process), a resumed run simulates only the blocks
    it lacks, and blocks started for another scenario are never taken."""
    tests = str(Path(__file__).resolve().parents[1])
    out = subprocess.run([sys.executable, "-c", EARLY], capture_output=True, text=True, timeout=WAIT_S,
                         env=os.environ | {"PYTHONPATH": tests})
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == ["identical 6 True", "identical [2, 3, 4, 5]",
                                       "identical True"]


UNORDERED = """
import os
from simulator.experience import workers

assert workers.start(2)
early = workers.submit(abs, [(-i,) for i in range(5)])
got = list(workers.run_unordered(abs, [(-i,) for i in range(5, 2000)], 2, submitted=early))
print(sorted(got) == list(range(2000)), workers._pool.get("pid") == os.getpid())
processes = forks()
try:
    list(workers.run_unordered(int, [("1",), ("x",), ("2",)], 2))
except ValueError as error:
    print("ValueError", workers._pool == {}, len(processes), gone(processes))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="workers fork on Linux only")
def test_results_come_once_each_and_an_error_ends_the_workers():
    """Every call's result, and every early-submitted one, is yielded exactly once (2,000
    calls: results are collected as they finish, with one waiter for all); an error in a
    call reaches the caller, and the workers and their helper are ended."""
    assert run_script(UNORDERED) == ["True True", "ValueError True 3 True"]


FAILURES = """
import os, signal, time
from simulator.experience import workers


def result(i):
    return Unloadable() if i == 2 else i


def exit_quietly(i):
    os._exit(0)


def fail_to_import():
    raise ImportError("no engine here")


print("unloadable result:", outcome(result, 4))
print("worker exits with 0:", outcome(exit_quietly, 4))
print("unloadable call:", outcome(abs, 0, calls=[(Unloadable(),), (-1,)]))
print("failed import:", outcome(abs, 4, warm=fail_to_import))

assert workers.start(2)
futures = workers.submit(time.sleep, [(0.05,)] * 40)
cancelled = [f.cancel() and f.cancel() for f in futures[10:]]  # a second cancel is a no-op
print("cancelled:", all(cancelled), settled(futures[:10]), all(f.cancelled() for f in futures[10:]))

futures = workers.submit(time.sleep, [(0.5,)] * 4)
processes = forks()
os.kill(workers._pool["helper"]._process.pid, signal.SIGKILL)
print("helper killed:", sorted({type(f.exception(timeout=30)).__name__ for f in futures}), gone(processes))
print("started afresh:", outcome(abs, 4))

helper = workers._Helper.__init__


def interrupted(self, *args):
    helper(self, *args)
    os.kill(os.getpid(), signal.SIGINT)  # a Ctrl-C in the middle of start()


workers.stop()
workers._Helper.__init__ = interrupted
try:
    workers.start(2)
except KeyboardInterrupt:
    print("Ctrl-C while starting: the pool is recorded", workers._pool.get("pid") == os.getpid())
workers._Helper.__init__ = helper
workers.stop()

for wait_s in (0.0, 0.15, 0.3, 0.5):  # before, while and after the helper forks the workers
    assert workers.start(2, warm=lambda: time.sleep(0.2))
    time.sleep(wait_s)
    processes = forks()
    workers.stop()
    print("stopped after", wait_s, "s:", gone(processes), gone(forks()))
print("forked again:", outcome(abs, 3), workers._pool.get("pid") == os.getpid())
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="workers fork on Linux only")
def test_every_failure_of_the_workers_ends_the_wait_with_its_reason():
    """A result or a call that cannot cross between processes, a worker that exits (even
    with code 0), an engine that cannot be imported, the helper killed: each ends the wait
    with the reason, never a hang; cancelled calls are dropped (cancelling twice too); a pool
    broken while idle is started afresh; a Ctrl-C during the start leaves the pool recorded
    (so it is stopped); stopping at any moment of the start leaves no process behind, and the
    workers can be started again."""
    lines = run_script(FAILURES)
    resume = "finished blocks are kept: run the same command again to resume"
    assert lines == [
        f"unloadable result: RunError a worker process died or failed (ValueError: cannot rebuild); {resume}",
        "worker exits with 0: RunError a worker process died or failed (A process in the process pool "
        f"was terminated abruptly while the future was running or pending); {resume}",
        "unloadable call: ValueError cannot rebuild",
        "failed import: ImportError no engine here",
        "cancelled: True True True",
        "helper killed: ['BrokenProcessPool'] True",
        "started afresh: [0, 1, 2, 3]",
        "Ctrl-C while starting: the pool is recorded True",
        *[f"stopped after {wait_s} s: True True" for wait_s in (0.0, 0.15, 0.3, 0.5)],
        "forked again: [0, 1, 2] True"]


WARMING = """
import time
from simulator.experience import workers

LONG = lambda: sum(range(10**11))  # compiled code for minutes, as numba compiling the kernel
assert workers.start(2, warm=LONG)
time.sleep(0.5)
processes = forks()
start = time.monotonic()
workers.stop()
print("stopped while warming up:", len(processes), time.monotonic() - start < workers.STOP_WAIT_S / 2,
      gone(processes, wait_s=5))
assert workers.start(2, warm=LONG)
print(workers._pool["helper"]._process.pid, flush=True)
time.sleep(600)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="workers fork on Linux only")
def test_a_helper_warming_up_ends_at_once_when_stopped_or_when_the_run_is_killed():
    """The helper loads (on a machine's first run, compiles) the kernel before it forks the
    workers, for up to half a minute in compiled code, where a Python signal handler waits:
    stopping the run ends it at once all the same, and so does killing the run."""
    tests = str(Path(__file__).resolve().parents[1])
    proc = subprocess.Popen([sys.executable, "-c", PRELUDE + WARMING], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=os.environ | {"PYTHONPATH": tests})
    forked: list[psutil.Process] = []
    try:
        stopped = proc.stdout.readline().split()
        helper = psutil.Process(int(proc.stdout.readline()))
        time.sleep(0.5)  # inside the warm-up
        forked = psutil.Process(proc.pid).children(recursive=True)
        proc.kill()
        proc.wait()
        deadline = time.monotonic() + 10  # the warm-up itself lasts minutes
        while _running(helper) and time.monotonic() < deadline:
            time.sleep(0.05)
        alive = _running(helper)
    finally:
        if proc.poll() is None:
            forked = psutil.Process(proc.pid).children(recursive=True)
            proc.kill()
            proc.wait()
        for process in forked:  # whatever outlived the run: a failure leaves nothing running
            if _running(process):
                process.kill()
    assert stopped == ["stopped", "while", "warming", "up:", "1", "True", "True"], proc.stderr.read()
    assert not alive, "the helper outlived the killed run"


def _running(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False

"""Local worker processes: forked from the run's own process where that is safe, else loky.

A forked worker starts in milliseconds and inherits every module the run has imported (the
engine is imported before the fork), where
a fresh interpreter (loky, joblib's default) spends most of a second importing numpy, numba
and the engine again, which on a short run is longer than the simulation. So on Linux, when
the process has no other thread (forking a threaded process can copy a held lock), the
workers are forked once and kept for the process's later calls (a run's risk-source
configurations reuse them). Elsewhere, or from a threaded process, joblib's loky pool runs
the blocks. Which one runs never changes a result: every block's random streams are keyed
by its trials.

A worker ignores Ctrl-C (the run handles it and ends the workers at once, keeping finished
blocks), and exits within a moment when the process that started it is gone, even killed.
"""

from __future__ import annotations

import atexit
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from ..core.errors import RunError

PARENT_POLL_S = 0.5
_watched: set[int] = set()
_pool: dict[str, Any] = {}
"""The forked pool of this process: ``executor``, ``jobs``, ``pid`` (a forked child does not
inherit its parent's pool)."""


def can_fork() -> bool:
    """Whether workers are forked: on Linux, from a process running no other thread."""
    return sys.platform.startswith("linux") and threading.active_count() == 1


def forked(jobs: int) -> bool:
    """Whether this process has its forked pool of ``jobs`` workers running."""
    return _pool.get("pid") == os.getpid() and _pool["jobs"] == jobs


def start(jobs: int, warm: Callable[[], object] | None = None) -> bool:
    """Fork ``jobs`` workers now, after running ``warm`` (e.g. importing the engine) here, so
    that they inherit its result; False if this process cannot fork them safely."""
    if forked(jobs):
        return True
    if not can_fork():  # (this includes a process whose pool, of another size, still runs)
        return False
    if warm is not None:
        warm()
    executor = ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("fork"),
                                   initializer=_init_worker, initargs=(os.getpid(),))
    executor.submit(int)  # a forking pool launches all its workers at the first task
    _pool.update(executor=executor, jobs=jobs, pid=os.getpid())
    return True


def submit(fn: Callable[..., Any], calls: Iterable[tuple]) -> list[Future]:
    """``fn(*args)`` for each ``args`` of ``calls`` on this process's forked workers (started)."""
    return [_pool["executor"].submit(fn, *args) for args in calls]


def run_unordered(fn: Callable[..., Any], calls: Iterable[tuple], jobs: int,
                  warm: Callable[[], object] | None = None,
                  meanwhile: Callable[[], object] | None = None,
                  submitted: Iterable[Future] = ()) -> Iterator[Any]:
    """``fn(*args)`` for each ``args`` of ``calls`` on ``jobs`` workers, and the results of
    ``submitted`` (:func:`submit` earlier), yielded as they finish; ``meanwhile`` runs here
    once they are under way (work this process would do later anyway).

    On an interruption or an error the workers are ended at once (their blocks in flight are
    lost, finished ones were yielded)."""
    submitted = set(submitted)
    if not start(jobs, warm):
        yield from _loky(fn, calls, jobs)
        return
    futures = submitted | set(submit(fn, calls))
    try:
        if meanwhile is not None:
            meanwhile()
        for future in as_completed(futures):  # one waiter on all of them, not one per result
            yield future.result()
    except BrokenProcessPool:
        stop()
        raise RunError("a worker process died (out of memory, or killed); finished blocks are "
                       "kept: run the same command again to resume") from None
    except BaseException:
        stop()
        raise


def stop() -> None:
    """End this process's forked workers now, without waiting for the blocks they run."""
    if _pool.get("pid") != os.getpid():
        _pool.clear()
        return
    executor = _pool.pop("executor")
    _pool.clear()
    processes = list((getattr(executor, "_processes", None) or {}).values())
    manager = getattr(executor, "_executor_manager_thread", None)
    executor.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        if process.is_alive():
            process.terminate()
    for process in processes:
        process.join(timeout=5)
    if manager is not None:  # let it close its pipes before the interpreter's exit wakes it
        manager.join(timeout=5)  # (CPython 3.11 races the two: "Bad file descriptor" on exit)


atexit.register(stop)


def _init_worker(parent_pid: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)    # the run handles Ctrl-C and ends us
    signal.signal(signal.SIGTERM, signal.SIG_DFL)   # not the run's Ctrl-C handler
    _pool.clear()
    watch_parent(parent_pid)


def _loky(fn: Callable[..., Any], calls: Iterable[tuple], jobs: int) -> Iterator[Any]:
    import joblib

    parallel = joblib.Parallel(n_jobs=jobs, return_as="generator_unordered", batch_size=1)
    yield from parallel(joblib.delayed(_watched_call)(fn, os.getpid(), *args) for args in calls)


def _watched_call(fn: Callable[..., Any], parent_pid: int, *args: Any) -> Any:
    watch_parent(parent_pid)
    return fn(*args)


def watch_parent(parent_pid: int) -> None:
    """In a worker process: exit at once when the process that started the run is gone.

    loky keeps idle workers alive for minutes, and any worker notices a dead parent only when
    it next talks to it, so a killed run (SIGKILL, a crash) would leave workers of hundreds of
    MB each. A daemon thread polls the parent instead and ends the worker within a moment (or,
    while the compiled kernel holds the interpreter, as soon as the block it runs ends).
    """
    if parent_pid == os.getpid() or parent_pid in _watched:
        return
    _watched.add(parent_pid)
    start_parent = os.getppid()

    def watch() -> None:
        while True:
            time.sleep(PARENT_POLL_S)
            if os.getppid() != start_parent or not _alive(parent_pid):
                os._exit(1)

    threading.Thread(target=watch, name="vbcsim-parent-watch", daemon=True).start()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True

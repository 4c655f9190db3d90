"""Local worker processes: forked by a helper process where that is safe, else loky.

A forked worker starts in milliseconds and inherits every module imported before the fork,
where a fresh interpreter (loky, joblib's default) spends most of a second importing numpy,
numba and the engine again, which on a short run is longer than the simulation. So on Linux,
when the process has no other thread (forking a threaded process can copy a held lock), the
run's process forks one helper, which imports the engine and forks the workers, while the
run's process goes on with its own imports (pandas, xarray, the analysis) on the other core:
importing the engine here first would leave that core idle (``docs/performance.md``). The
workers are kept for the process's later calls (a run's risk-source configurations reuse
them). Elsewhere, or from a threaded process, joblib's loky pool runs the blocks. Which one
runs never changes a result: every block's random streams are keyed by its trials.

A worker ignores Ctrl-C (the run handles it and ends the workers at once, keeping finished
blocks), and exits within a moment when the process that started it is gone, even killed;
so does the helper, which reports a worker that dies.
"""

from __future__ import annotations

import atexit
import itertools
import multiprocessing
import multiprocessing.connection
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, as_completed
from concurrent.futures.process import BrokenProcessPool
from multiprocessing.reduction import ForkingPickler
from typing import Any

from ..core.errors import RunError

PARENT_POLL_S = 0.5
_watched: set[int] = set()
CANCEL_SLOTS = 1 << 16
"""Size of the shared flags by which a worker skips a call cancelled after it was handed out
(a call's flag is its number modulo this: far more than the calls ever out at once)."""
_pool: dict[str, Any] = {}
"""The forked pool of this process: ``executor`` (a :class:`HelperPool`), ``jobs``, ``pid``
(a forked child does not inherit its parent's pool)."""


def can_fork() -> bool:
    """Whether workers are forked: on Linux, from a process running no other thread."""
    return sys.platform.startswith("linux") and threading.active_count() == 1


def forked(jobs: int) -> bool:
    """Whether this process has its forked pool of ``jobs`` workers running."""
    return _pool.get("pid") == os.getpid() and _pool["jobs"] == jobs


def start(jobs: int, warm: Callable[[], object] | None = None) -> bool:
    """Fork ``jobs`` workers now, by a helper that runs ``warm`` (e.g. importing the engine)
    first, so that they inherit its result while this process goes on; False if this process
    cannot fork them safely."""
    if forked(jobs):
        return True
    if not can_fork():  # (this includes a process whose pool, of another size, still runs)
        return False
    _pool.update(executor=HelperPool(jobs, warm), jobs=jobs, pid=os.getpid())
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
    executor.stop()


class HelperPool:
    """``jobs`` workers forked by a helper process, which runs ``warm`` first: the helper is
    this process's child, the workers its children. Every call is handed out at once through
    one queue (a thread that fed them one by one would wait for this process's imports);
    results come back through another, read by a thread of this process that settles each
    call's future. A call cancelled before a worker takes it is skipped (shared flags); a
    worker that dies breaks the pool (its calls fail with ``BrokenProcessPool``)."""

    def __init__(self, jobs: int, warm: Callable[[], object] | None):
        context = multiprocessing.get_context("fork")
        self.jobs = jobs
        self._calls = context.Queue()
        self._results = context.SimpleQueue()
        self._cancelled = context.RawArray("b", CANCEL_SLOTS)
        self._status, status = context.Pipe(duplex=False)
        self._helper = context.Process(target=_helper, name="vbcsim-helper", daemon=True, args=(
            jobs, warm, self._calls, self._results, self._cancelled, status, os.getpid()))
        self._helper.start()
        status.close()
        self.pids: list[int] = []
        self._lock = threading.Lock()
        self._ids = itertools.count()
        self._futures: dict[int, Future] = {}
        self._broken: str | None = None
        self._reader = threading.Thread(target=self._read, name="vbcsim-results", daemon=True)
        self._reader.start()

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future:
        """``fn(*args)`` on a worker, as a future (which may be cancelled until it ends)."""
        with self._lock:
            if self._broken is not None:
                raise BrokenProcessPool(self._broken)
            index = next(self._ids)
            data = bytes(ForkingPickler.dumps((index, fn, args)))  # an error is the caller's
            call = _Call(self._cancelled, index % CANCEL_SLOTS)
            self._cancelled[index % CANCEL_SLOTS] = 0
            self._futures[index] = call
            self._calls.put(data)
        return call

    def stop(self) -> None:
        """End the workers and the helper now; calls not finished fail."""
        for pid in self.pids:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        if self.pids:  # the helper reaps the workers, then exits
            self._helper.join(timeout=5)
        if self._helper.is_alive():  # (before it forked them, they go when it goes)
            self._helper.terminate()
            self._helper.join(timeout=5)
        self._reader.join(timeout=5)
        self._calls.cancel_join_thread()  # its feeder may hold calls no worker will read
        self._calls.close()

    def _read(self) -> None:
        """Settle futures as results come, until the helper reports a worker gone."""
        results = self._results._reader
        while True:
            ready = multiprocessing.connection.wait([self._status, results])
            if self._status in ready:
                try:
                    kind, value = self._status.recv()
                except (EOFError, OSError):
                    kind, value = "gone", None
                if kind == "pids":
                    self.pids = value
                    continue
                self._break(f"a worker process ended ({kind}: {value})")
                return
            try:
                index, ok, value = self._results.get()
            except (EOFError, OSError) as error:
                self._break(f"the results pipe failed ({error})")
                return
            with self._lock:
                future = self._futures.pop(index)
            if not future.set_running_or_notify_cancel():  # cancelled: skipped, or run anyway
                continue
            if ok:
                future.set_result(value)
            else:
                future.set_exception(value)

    def _break(self, reason: str) -> None:
        with self._lock:
            self._broken = reason
            futures = list(self._futures.values())
            self._futures.clear()
        for future in futures:
            if future.set_running_or_notify_cancel():
                future.set_exception(BrokenProcessPool(reason))


class _Call(Future):
    """A call's future: cancelling it before it ends raises its shared flag, so that a
    worker that has not started it skips it."""

    def __init__(self, flags: Any, slot: int):
        super().__init__()
        self._flags, self._slot = flags, slot

    def cancel(self) -> bool:
        cancelled = super().cancel()
        if cancelled:
            self._flags[self._slot] = 1
        return cancelled


def _helper(jobs: int, warm: Callable[[], object] | None, calls: Any, results: Any,
            cancelled: Any, status: Any, parent_pid: int) -> None:
    """The helper process: run ``warm``, fork the workers, report their ids, then wait on
    them and report one that ends by a signal or an error."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    _pool.clear()
    if warm is not None:
        warm()
    pids = []
    for _ in range(jobs):
        pid = os.fork()
        if pid == 0:
            status.close()
            try:
                _serve(calls, results, cancelled, parent_pid)
            finally:
                os._exit(0)
        pids.append(pid)
    status.send(("pids", pids))
    watch_parent(parent_pid)  # a thread: after the forks
    reported = False
    while pids:
        pid, code = os.wait()
        if pid in pids:
            pids.remove(pid)
            code = os.waitstatus_to_exitcode(code)
            if code != 0 and not reported:
                status.send(("exit code" if code > 0 else "signal", abs(code)))
                reported = True


def _serve(calls: Any, results: Any, cancelled: Any, parent_pid: int) -> None:
    """A worker: run calls until the queue says stop (None); skip the cancelled ones."""
    _init_worker(parent_pid)
    while (data := calls.get()) is not None:
        index, fn, args = ForkingPickler.loads(data)
        if cancelled[index % CANCEL_SLOTS]:
            out = (index, True, None)
        else:
            try:
                out = (index, True, fn(*args))
            except BaseException as error:  # noqa: BLE001 - reaches the caller
                out = (index, False, error)
        try:
            results.put(out)
        except Exception as error:  # noqa: BLE001 - a result or error that cannot be pickled
            results.put((index, False, RuntimeError(f"cannot send the result back: {error!r}")))


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

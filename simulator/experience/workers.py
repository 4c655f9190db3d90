"""Local worker processes: forked where that is safe, else loky.

A forked worker starts in milliseconds and inherits every module imported before the fork,
where a fresh interpreter (loky, joblib's default) spends most of a second importing numpy,
numba and the engine again, which on a short run is longer than the simulation. So on Linux,
when the process has no other thread (forking a threaded process can copy a held lock), the
run forks one helper process and goes on at once (importing pandas and xarray, say); the
helper imports the engine on the other core (and loads its compiled kernel: on a machine's
first run it compiles it, once for all the workers), forks the workers, which inherit it, and runs
them as a standard ``ProcessPoolExecutor``. Calls go to the helper and results come back
over two pipes. The helper and its workers are kept for the process's later calls (a run's
risk-source configurations reuse them). Elsewhere, or from a threaded process, joblib's loky
pool runs the blocks. Which one runs never changes a result: every block's random streams
are keyed by its trials.

The helper and the workers ignore Ctrl-C: the run handles it and ends them at once (the
helper ends its workers as it goes), keeping finished blocks; each of them exits within a
moment when the run is gone, even killed. A result that cannot be unpickled in the run, or
a call in the helper, fails that call alone; a worker or the helper that dies, however it
exits, fails every call in flight (``BrokenProcessPool``, as a result the helper cannot
unpickle does), so no wait is ever left without an end.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import itertools
import multiprocessing
import os
import pickle
import queue
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, InvalidStateError, ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool, _RemoteTraceback
from multiprocessing.connection import Connection
from typing import Any

from ..core.errors import RunError

PARENT_POLL_S = 0.5
_PR_SET_PDEATHSIG = 1  # linux/prctl.h
STOP_WAIT_S = 5.0
_STOPPING = {signal.SIGINT, signal.SIGTERM}
_watched: set[int] = set()
_pool: dict[str, Any] = {}
"""The forked pool of this process: ``helper``, ``jobs``, ``pid`` (a forked child does not
inherit its parent's pool)."""


def can_fork() -> bool:
    """Whether workers are forked: on Linux, from a process running no other thread."""
    return sys.platform.startswith("linux") and threading.active_count() == 1


def forked(jobs: int) -> bool:
    """Whether this process has its forked pool of ``jobs`` workers running."""
    return _pool.get("pid") == os.getpid() and _pool["jobs"] == jobs


def start(jobs: int, warm: Callable[[], object] | None = None) -> bool:
    """Start ``jobs`` forked workers, returning at once: a helper process runs ``warm`` (e.g.
    importing the engine) and forks them, so that they inherit its result; False if this
    process cannot fork them safely."""
    if forked(jobs):
        if _pool["helper"].broken is None:
            return True
        stop()  # it broke while idle (a worker killed): start afresh
    if not can_fork():  # (this includes a process whose pool, of another size, still runs)
        return False
    held = signal.pthread_sigmask(signal.SIG_BLOCK, _STOPPING)  # no helper left unrecorded
    try:
        _pool.update(helper=_Helper(jobs, warm), jobs=jobs, pid=os.getpid())
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, held)  # a Ctrl-C held meanwhile lands now
    return True


def submit(fn: Callable[..., Any], calls: Iterable[tuple], shared: tuple = ()) -> list[Future]:
    """``fn(*shared, *args)`` for each ``args`` of ``calls`` on this process's forked workers
    (started); ``shared`` goes to the helper once, not with every call (its executor still
    hands it to a worker with each call)."""
    return _pool["helper"].submit(fn, shared, list(calls))


def run_unordered(fn: Callable[..., Any], calls: Iterable[tuple], jobs: int,
                  warm: Callable[[], object] | None = None,
                  meanwhile: Callable[[], object] | None = None,
                  submitted: Iterable[Future] = (), shared: tuple = ()) -> Iterator[Any]:
    """``fn(*shared, *args)`` for each ``args`` of ``calls`` on ``jobs`` workers, and the results
    of ``submitted`` (:func:`submit` earlier), yielded as they finish; ``meanwhile`` runs here
    once they are under way (work this process would do later anyway).

    On an interruption or an error the workers are ended at once (their blocks in flight are
    lost, finished ones were yielded)."""
    submitted = set(submitted)
    if not start(jobs, warm):
        yield from _loky(fn, calls, jobs, shared)
        return
    try:
        futures = submitted | set(submit(fn, calls, shared))
        if meanwhile is not None:
            meanwhile()
        for future in as_completed(futures):  # one waiter on all of them, not one per result
            yield future.result()
    except BrokenProcessPool as err:
        stop()
        raise RunError(f"a worker process died or failed ({_reason(err)}); finished blocks are "
                       "kept: run the same command again to resume") from None
    except BaseException:
        stop()
        raise


def stop() -> None:
    """End this process's forked workers now, without waiting for the blocks they run."""
    if _pool.get("pid") != os.getpid():
        _pool.clear()
        return
    helper = _pool.pop("helper")
    _pool.clear()
    helper.stop()


class _Call(Future):
    """A call handed to the helper: cancelling it here tells the helper to drop it."""

    def __init__(self, helper: _Helper, index: int) -> None:
        super().__init__()
        self._helper, self._index = helper, index

    def cancel(self) -> bool:
        with self._condition:
            if self.cancelled():
                return True
            if not super().cancel():
                return False
            self.set_running_or_notify_cancel()  # what an executor does: waiters see it done
        self._helper.drop(self._index)
        return True


class _Helper:
    """This process's side of the helper: calls out on one pipe, a thread sending them (so
    that a full pipe never blocks the run), a thread settling each call's future from the
    results coming back on the other pipe."""

    def __init__(self, jobs: int, warm: Callable[[], object] | None) -> None:
        context = multiprocessing.get_context("fork")
        calls_in, self._calls = context.Pipe(duplex=False)
        self._results, results_out = context.Pipe(duplex=False)
        self._process = context.Process(target=_serve, name="vbcsim-workers", args=(
            jobs, warm, os.getpid(), calls_in, results_out, (self._calls, self._results)))
        self._process.start()
        calls_in.close()
        results_out.close()
        _stop_at_exit()
        self._futures: dict[int, _Call] = {}
        self._numbers = itertools.count()
        self._lock = threading.Lock()
        self._broken: BaseException | None = None
        self._outbox: queue.SimpleQueue = queue.SimpleQueue()
        self._threads = [threading.Thread(target=self._send, name="vbcsim-calls", daemon=True),
                         threading.Thread(target=self._read, name="vbcsim-results", daemon=True)]
        for thread in self._threads:
            thread.start()

    def submit(self, fn: Callable[..., Any], shared: tuple, calls: list[tuple]) -> list[Future]:
        message = pickle.dumps((fn, shared, calls), pickle.HIGHEST_PROTOCOL)  # errors raise here
        with self._lock:
            futures = [_Call(self, next(self._numbers)) for _ in calls]
            broken = self._broken
            if broken is None:
                self._futures.update((f._index, f) for f in futures)
        if broken is not None:
            for future in futures:
                _settle(future, error=broken)
        elif futures:
            self._outbox.put(("calls", futures[0]._index, len(futures), message))
        return futures

    @property
    def broken(self) -> BaseException | None:
        """Why the pool can take no more calls, or None."""
        return self._broken

    def drop(self, index: int) -> None:
        with self._lock:
            self._futures.pop(index, None)
        self._outbox.put(("drop", index, 1, b""))

    def stop(self) -> None:
        self._outbox.put(None)
        self._process.terminate()  # the helper kills its workers, then exits
        self._process.join(STOP_WAIT_S)
        if self._process.is_alive():  # (its workers then exit as they see it gone)
            self._process.kill()
            self._process.join(STOP_WAIT_S)
        for thread in self._threads:
            thread.join(STOP_WAIT_S)
        self._fail_pending(BrokenProcessPool("the workers were stopped"))

    def _send(self) -> None:
        try:
            while (message := self._outbox.get()) is not None:
                kind, first, count, payload = message
                self._calls.send((kind, first, count))
                if payload:
                    self._calls.send_bytes(payload)
        except OSError:  # the helper is gone: the results thread fails the calls
            pass
        finally:
            self._calls.close()

    def _read(self) -> None:
        try:
            while True:
                try:
                    index, outcome = self._results.recv()
                except (EOFError, OSError):
                    return
                with self._lock:
                    future = self._futures.pop(index, None) if index >= 0 else None
                if index < 0:  # the helper could not start: its error fails every call
                    self._fail_pending(_unpickled(outcome)[1])
                elif future is not None:
                    ok, value = _unpickled(outcome)
                    _settle(future, *((value, None) if ok else (None, value)))
        finally:
            self._results.close()
            self._fail_pending(BrokenProcessPool("the process running the workers ended"))

    def _fail_pending(self, error: BaseException) -> None:
        with self._lock:
            self._broken = self._broken or error
            pending, self._futures = list(self._futures.values()), {}
        for future in pending:
            _settle(future, error=self._broken)


def _reason(error: BrokenProcessPool) -> str:
    """What broke the pool in one line: the last line of the error that did, when it came
    from another process (e.g. a result that could not be unpickled), else its message."""
    cause = error.__cause__
    lines = str(cause).strip(" \n'").splitlines() if isinstance(cause, _RemoteTraceback) else []
    return (lines[-1] if lines else str(error)).rstrip(".")


def _settle(future: Future, result: Any = None, error: BaseException | None = None) -> None:
    try:
        if error is None:
            future.set_result(result)
        else:
            future.set_exception(error)
    except InvalidStateError:  # cancelled meanwhile
        pass


def _unpickled(outcome: bytes) -> tuple[bool, Any]:
    """``(True, result)`` or ``(False, error)`` from an outcome the helper sent, the error with
    its traceback in the other process as its cause; an outcome that cannot be rebuilt here
    is an error of its own call alone."""
    try:
        ok, value, remote = pickle.loads(outcome)
    except Exception as err:
        return False, RuntimeError(f"a worker's outcome could not be unpickled: {type(err).__name__}: {err}")
    if not ok and remote:
        value.__cause__ = _RemoteTraceback(remote)
    return ok, value


# -- the helper process ----------------------------------------------------------------------
def _serve(jobs: int, warm: Callable[[], object] | None, run_pid: int, calls: Connection,
           results: Connection, run_ends: Sequence[Connection]) -> None:
    """The helper: import what the workers need, fork them, then hand them each call that
    comes in and send back each outcome, until the run stops it (SIGTERM: its workers are
    killed first) or is gone (``run_ends``: the run's ends of the pipes, which this process
    closes so that it sees the run close its own)."""
    for pipe_end in run_ends:
        pipe_end.close()
    workers: dict[int, multiprocessing.Process] = {}

    def end(*_: object) -> None:
        for process in list(workers.values()):
            process.kill()
        os._exit(0)

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the run handles Ctrl-C and ends us
    # No workers yet: a SIGTERM ends this process at once, even in the middle of compiled code
    # (numba compiling the kernel on a machine's first run, for half a minute); and should the
    # run die meanwhile, the kernel takes SIGKILL to this process with it
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOPPING)  # (held by the run while it forked us)
    _pool.clear()
    try:
        if warm is not None:
            with _dying_with_parent():
                warm()
        if not _alive(run_pid):  # killed meanwhile: fork nothing
            os._exit(1)
        signal.signal(signal.SIGTERM, end)
        executor = ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("fork"),
                                       initializer=_init_worker, initargs=(run_pid, calls, results))
        workers = executor._processes  # (filled as they fork: a SIGTERM then ends them too)
        executor.submit(int)  # a forking pool launches all its workers at the first task
    except BaseException as err:  # reported as itself: the run raises it
        try:
            results.send((-1, _pickled(err)))
        finally:
            os._exit(1)
    outbox: queue.SimpleQueue = queue.SimpleQueue()
    threading.Thread(target=_send_outcomes, args=(outbox, results), daemon=True).start()
    watch_parent(run_pid)
    running: dict[int, Future] = {}
    try:
        while True:
            kind, first, count = calls.recv()
            if kind == "drop":
                future = running.pop(first, None)
                if future is not None:
                    future.cancel()
                continue
            payload = calls.recv_bytes()
            index = first
            try:
                fn, shared, args = pickle.loads(payload)
                for index, arg in enumerate(args, first):
                    running[index] = future = executor.submit(fn, *shared, *arg)
                    future.add_done_callback(functools.partial(_report, index, outbox, running))
            except Exception as err:  # calls that cannot be unpickled here, or a broken pool
                failed = _pickled(err)
                for rest in range(index, first + count):  # those not handed to the pool
                    outbox.put((rest, failed))
    except (EOFError, OSError):  # the run stopped us, or is gone
        pass
    finally:
        end()


@contextlib.contextmanager
def _dying_with_parent() -> Iterator[None]:
    """While inside, this process gets SIGKILL when its parent ends (Linux's
    ``PR_SET_PDEATHSIG``): no thread is needed to watch it, and a process about to fork wants
    none. The caller checks afterwards that the parent is still there (it may have ended
    before the request)."""
    import ctypes

    prctl = ctypes.CDLL(None, use_errno=True).prctl
    prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL))
    try:
        yield
    finally:
        prctl(_PR_SET_PDEATHSIG, 0)


def _report(index: int, outbox: queue.SimpleQueue, running: dict[int, Future], future: Future) -> None:
    """Queue the outcome of call ``index`` for the run (a done-callback of its future). Should
    that fail, the helper exits: the run then fails every call in flight, none is left."""
    try:
        running.pop(index, None)
        if future.cancelled():
            return
        error = future.exception()
        if error is None:
            try:
                outbox.put((index, pickle.dumps((True, future.result(), ""), pickle.HIGHEST_PROTOCOL)))
                return
            except Exception as err:  # a result that cannot be pickled fails its call alone
                error = err
        cause = error.__cause__  # the worker's traceback, as the executor gives it
        outbox.put((index, _pickled(error, str(cause) if isinstance(cause, _RemoteTraceback) else "")))
    except BaseException:
        os._exit(1)


def _pickled(error: BaseException, remote: str | None = None) -> bytes:
    """An error as the run receives it (or its type and message, when it cannot be pickled),
    with ``remote``, the traceback to show: by default the error's own, in this process."""
    if remote is None:
        remote = "".join(traceback.format_exception(error))
    try:
        return pickle.dumps((False, error, remote), pickle.HIGHEST_PROTOCOL)
    except Exception:
        return pickle.dumps((False, RuntimeError(f"{type(error).__name__}: {error}"), remote))


def _send_outcomes(outbox: queue.SimpleQueue, results: Connection) -> None:
    try:
        while True:
            results.send(outbox.get())
    finally:  # the run is gone, or an outcome could not be sent: the run sees the pipe close
        os._exit(1)


@functools.cache
def _stop_at_exit() -> None:
    """End the workers at exit: registered after multiprocessing's own exit function, which
    waits for child processes, so that it runs before it."""
    atexit.register(stop)


def _init_worker(run_pid: int, *inherited: Connection) -> None:
    """A worker's start: the helper's pipes closed (so that the run sees the helper's end),
    signals as the run wants them, and the run watched."""
    for end in inherited:
        end.close()
    signal.signal(signal.SIGINT, signal.SIG_IGN)    # the run handles Ctrl-C and ends us
    signal.signal(signal.SIGTERM, signal.SIG_DFL)   # not the run's Ctrl-C handler
    _pool.clear()
    _watched.clear()
    watch_parent(run_pid)


def _loky(fn: Callable[..., Any], calls: Iterable[tuple], jobs: int, shared: tuple) -> Iterator[Any]:
    import joblib

    parallel = joblib.Parallel(n_jobs=jobs, return_as="generator_unordered", batch_size=1)
    yield from parallel(joblib.delayed(_watched_call)(fn, os.getpid(), *shared, *args)
                        for args in calls)


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

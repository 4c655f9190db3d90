"""Trial blocks, parallel execution and assembly of the experience dataset.

An engine is a function ``(scenario, trials: range) -> ExperienceBlock``.
Trials are cut into blocks of ``run.trials_per_block`` (the cohort engine, which
simulates a block's trials together, uses its own fixed block size, and on local workers
groups several of its blocks into one task when they are light or many,
:func:`trials_per_block`); blocks are
independent tasks, run on local worker processes (:mod:`.workers`) or on a
dask.distributed cluster, and handed as they finish to an optional
checkpoint store, so an interrupted run loses at most the blocks in flight.
Because every random stream is keyed by trial (see :mod:`simulator.streams`),
the result is the same for any backend, number of workers, block size or
completion order. On dask a block lost with its worker is recomputed.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Protocol

from . import workers
from .dataset import ExperienceBlock, concatenate, experience_dataset, prepare_dataset
from .programs import ProgramPlan, program_plan, remember_plan
from .streams import COHORT_TRIALS_PER_BLOCK
from ..core.errors import RunError
from ..core.progress import Progress

if TYPE_CHECKING:  # the scenario assembles this stage's inputs; no import back
    from concurrent.futures import Future

    import xarray as xr

    from .inputs import ExperienceInputs

Engine = Callable[["ExperienceInputs", range], ExperienceBlock]


def engine(name: str) -> Engine:
    """The engine function of ``name`` (its module, and numba, imported on first use)."""
    if name == "member":
        from .member_engine import simulate_block
    elif name == "cohort":
        from .cohort_engine import simulate_block
    else:
        raise ValueError(f"unknown engine {name!r}")
    return simulate_block


def resolve_engine(scenario: ExperienceInputs) -> tuple[str, str]:
    """The engine a run uses, and why (``auto`` picks the cohort engine, which supports every
    feature the member engine does)."""
    if scenario.run.engine != "auto":
        return scenario.run.engine, "as asked"
    return "cohort", "auto: the cohort engine supports every feature of this scenario"


class BlockStore(Protocol):
    """Where finished blocks go (and come back from, on resume)."""

    def finished(self, ranges: list[range]) -> dict[int, ExperienceBlock]:
        """Blocks already done, by index; ``ranges`` are every block's trials."""

    def save(self, index: int, block: ExperienceBlock) -> None: ...


def trial_blocks(n_trials: int, per_block: int) -> list[range]:
    """Consecutive trial ranges of at most ``per_block`` trials."""
    return [range(i, min(i + per_block, n_trials)) for i in range(0, n_trials, per_block)]


COHORT_TASKS_MAX = 250
"""Most tasks (and checkpoint files) of a cohort-engine run on local workers: past 25,000
trials a task takes several of the engine's 100-trial blocks, so that handling and saving a
task's results does not cost more than simulating it (a one-year book simulates 100 trials
in about 5 ms, its checkpoint took 2-6 ms of the main process to write)."""
COHORT_TASK_MEMBER_YEARS = 50_000_000
"""Member-years a cohort task takes at least, when the run has blocks enough: the process pool
costs about a millisecond a task (a one-year book of 100,000 members, 20,000 trials on two
workers: 0.52 s in tasks of 100 trials, 0.44 s in tasks of 1,000), and its engine simulates
100 trials of that book, 10 M member-years, in about 4 ms. A task of 100 reference trials
(130 M member-years, base years included) takes a quarter of a second and stays alone."""
COHORT_TASKS_MIN = 32
"""Fewest tasks :data:`COHORT_TASK_MEMBER_YEARS` may leave a run of that many engine blocks or
more: enough to keep the workers of a large machine busy to the end."""


def trials_per_block(scenario: ExperienceInputs) -> int:
    """The block size of a run: the scenario's; for the cohort engine on local workers, the
    fewest of its 100-trial blocks that hold :data:`COHORT_TASK_MEMBER_YEARS` (leaving at least
    :data:`COHORT_TASKS_MIN` tasks) and give at most :data:`COHORT_TASKS_MAX` tasks; on a dask
    cluster, which may have more workers than that, its block. It depends on the scenario
    only, so that a run resumes with any number of workers; results never depend on it."""
    if resolve_engine(scenario)[0] != "cohort":
        return scenario.run.trials_per_block
    if scenario.run.backend != "local":
        return COHORT_TRIALS_PER_BLOCK
    engine_blocks = -(-scenario.run.trials // COHORT_TRIALS_PER_BLOCK)
    for_count = -(-engine_blocks // COHORT_TASKS_MAX)
    for_work = min(-(-COHORT_TASK_MEMBER_YEARS // member_years(scenario, COHORT_TRIALS_PER_BLOCK)),
                   max(engine_blocks // COHORT_TASKS_MIN, 1))
    return COHORT_TRIALS_PER_BLOCK * max(for_count, for_work)


def member_years(scenario: ExperienceInputs, n_trials: int) -> int:
    """Simulated member-years of a run (the unit of engine throughput), base years included."""
    years = scenario.term.years + scenario.term.base_years
    return n_trials * years * sum(s.members for s in scenario.segments.values())


def simulate_experience(scenario: ExperienceInputs, jobs: int = 1, store: BlockStore | None = None,
                        progress: bool = False, on_block: Callable[[int], None] | None = None,
                        label: str = "simulating trials", scheduler: str | None = None
                        ) -> xr.Dataset:
    """Stage 1: simulate ``scenario.run.trials`` trials and return the experience dataset.

    Parameters
    ----------
    scenario
        The validated scenario (its ``run`` settings give trials, seed, engine).
    jobs
        Worker processes (local backend, or a dask cluster started here).
    store
        Checkpoint store: blocks it already holds are not simulated again.
    progress
        Show a progress bar with an ETA on standard error (start-up, which compiles the
        kernel on first use, is reported on its own line).
    on_block
        Called with each finished block's index (after it is stored).
    label
        What the progress bar says it is doing.
    scheduler
        Address of a dask scheduler (dask backend; default ``$DASK_SCHEDULER_ADDRESS``, else a
        local cluster). Only the caller names it: never a scenario file.
    """
    blocks = trial_blocks(scenario.run.trials, trials_per_block(scenario))
    done = store.finished(blocks) if store is not None else {}
    todo = [i for i in range(len(blocks)) if i not in done]
    if len(todo) > 1:
        start_workers(scenario, jobs)  # before the progress bar's thread: workers fork from one thread
    # Start-up (workers, the program model, compiling the kernel on first use) is announced
    # on its own line and left out of the ETA, which is measured from the first results.
    bar = Progress(scenario.run.trials, label, enabled=progress, initial=sum(len(blocks[i]) for i in done),
                   preamble=f"starting: workers, program model, the {resolve_engine(scenario)[0]} "
                            "engine's kernel (compiled on first use, then cached)" if todo else None)
    try:
        for index, block in _run(scenario, [(i, blocks[i]) for i in todo], jobs, scheduler):
            if store is not None:
                store.save(index, block)
            done[index] = block
            bar.advance(len(blocks[index]))
            if on_block is not None:
                on_block(index)
    finally:
        bar.close()
    return experience_dataset([done[i] for i in range(len(blocks))], scenario)


def simulate_block(scenario: ExperienceInputs, trials: range) -> ExperienceBlock:
    """One block of trials from the scenario's engine, with base years simulated first when
    the scenario has them and its risk scores made realistic when it asks for it (the cohort
    engine's blocks of 100 trials one by one: its streams are keyed by them)."""
    name = resolve_engine(scenario)[0]
    run_engine = engine(name)
    cuts = [trials.start, trials.stop]
    if name == "cohort":
        step = COHORT_TRIALS_PER_BLOCK
        if trials.start % step and trials.start // step != (trials.stop - 1) // step:
            raise ValueError(f"{trials} spans cohort blocks of {step} trials without starting one")
        cuts[1:1] = range((trials.start // step + 1) * step, trials.stop, step)
    parts = [_with_history(lambda scenarios, t: [run_engine(scenarios[0], t)], [scenario], range(a, b))[0]
             for a, b in zip(cuts, cuts[1:])]
    return parts[0] if len(parts) == 1 else concatenate(parts)


def simulate_configuration_blocks(scenarios: Sequence[ExperienceInputs], trials: range
                                  ) -> list[ExperienceBlock]:
    """:func:`simulate_block` of each scenario by the cohort engine, the member counts
    simulated once for all (:func:`.cohort_engine.simulate_configurations`)."""
    from .cohort_engine import simulate_configurations

    return _with_history(simulate_configurations, scenarios, trials)


def _with_history(run: Callable[[Sequence[ExperienceInputs], range], list[ExperienceBlock]],
                  scenarios: Sequence[ExperienceInputs], trials: range) -> list[ExperienceBlock]:
    """``run`` (scenarios, trials) -> their blocks, over base years and term when the scenarios
    have base years (:mod:`.history`), with their risk scores adjusted."""
    from .history import extended, split_history  # with the engine, on first use
    from .risk_scores import adjust_scores

    if scenarios[0].term.base_years:
        full = run([extended(sc) for sc in scenarios], trials)
        return [split_history(sc, trials, block) for sc, block in zip(scenarios, full)]
    blocks = run(scenarios, trials)
    for sc, block in zip(scenarios, blocks):
        adjust_scores(sc, trials, block["risk_score_member_months"], block["member_months"])
    return blocks


def simulate_configurations(scenarios: Sequence[ExperienceInputs], jobs: int = 1) -> list[xr.Dataset]:
    """The experience of each scenario by the cohort engine, for scenarios that differ only in
    cost levels, program effects and quality (a risk decomposition's configurations): their
    member counts and claims are simulated once (:func:`.cohort_engine.simulate_configurations`).
    Trials, seed and workers as the first scenario's (local backend)."""
    first = scenarios[0]
    blocks = trial_blocks(first.run.trials, COHORT_TRIALS_PER_BLOCK)
    plans = [program_plan(sc) for sc in scenarios]  # once, here
    tasks = list(enumerate(blocks))
    if jobs == 1 or len(tasks) <= 1:
        done = dict(_configuration_blocks(scenarios, plans, *task) for task in tasks)
    else:
        done = dict(workers.run_unordered(_configuration_blocks, tasks, jobs, shared=(scenarios, plans),
                                          warm=functools.partial(load_engine, "cohort")))
    return [experience_dataset([done[i][c] for i in range(len(blocks))], sc)
            for c, sc in enumerate(scenarios)]


def _configuration_blocks(scenarios: Sequence[ExperienceInputs], plans: Sequence[ProgramPlan | None],
                          index: int, trials: range) -> tuple[int, list[ExperienceBlock]]:
    for sc, plan in zip(scenarios, plans):
        remember_plan(sc, plan)
    return index, simulate_configuration_blocks(scenarios, trials)


def _one_block(scenario: ExperienceInputs, plan: ProgramPlan | None, index: int, trials: range
               ) -> tuple[int, ExperienceBlock]:
    remember_plan(scenario, plan)  # computed once, in the main process
    return index, simulate_block(scenario, trials)


def start_workers(scenario: ExperienceInputs, jobs: int) -> None:
    """Start the local worker processes of a run now: a helper process imports the engine (and
    loads its compiled kernel) and forks the workers, which inherit it and wait for blocks,
    while this process goes on (e.g. importing the analysis stack)."""
    if scenario.run.backend == "local" and jobs > 1:
        workers.start(jobs, warm=_engine_loader(scenario))


def _engine_loader(scenario: ExperienceInputs) -> Callable[[], None]:
    """What is done before workers fork: import the scenario's engine (and numba), and load
    its compiled kernel if it has one (:func:`load_engine`)."""
    return functools.partial(load_engine, resolve_engine(scenario)[0])


def load_engine(name: str) -> None:
    """Import engine ``name``, and load its compiled kernel if it has one (the member engine:
    compiled on a machine's first run, then loaded from numba's cache)."""
    engine(name)
    if name == "member":
        from .member_engine import load_kernel

        load_kernel()


_early: dict[str, object] = {}
"""Blocks submitted before a run asked for them (:func:`start_early`): ``scenario``, ``jobs``
and ``futures``, a future per block index."""


def start_early(scenario: ExperienceInputs, jobs: int) -> None:
    """Start simulating every block of ``scenario`` on forked workers now, so that they work
    while this process imports what the run needs next (pandas, xarray, the analysis: about a
    second); :func:`simulate_experience` of the same scenario object then collects them.
    Blocks that a resumed run already holds are dropped unused; results never depend on it."""
    if scenario.run.backend != "local" or jobs <= 1 or not workers.start(jobs, warm=_engine_loader(scenario)):
        return
    plan = program_plan(scenario)
    blocks = trial_blocks(scenario.run.trials, trials_per_block(scenario))
    futures = workers.submit(_one_block, list(enumerate(blocks)), shared=(scenario, plan))
    _early.update(scenario=scenario, jobs=jobs, futures=dict(enumerate(futures)))


def _take_early(scenario: ExperienceInputs, jobs: int, tasks: list[tuple[int, range]]) -> dict[int, Future]:
    """The early futures of ``tasks`` (those of other blocks cancelled), if they are this run's."""
    if _early.get("scenario") is not scenario or _early.get("jobs") != jobs or not workers.forked(jobs):
        _early.clear()
        return {}
    futures = _early["futures"]
    _early.clear()
    wanted = {i for i, _ in tasks}
    for i, future in futures.items():
        if i not in wanted:
            future.cancel()
    return {i: f for i, f in futures.items() if i in wanted}


def _run(scenario: ExperienceInputs, tasks: list[tuple[int, range]], jobs: int,
         scheduler: str | None = None) -> Iterator[tuple[int, ExperienceBlock]]:
    if scenario.run.backend == "dask":
        yield from _run_dask(scenario, tasks, jobs, scheduler)
        return
    early = _take_early(scenario, jobs, tasks)
    if not early and (jobs == 1 or len(tasks) <= 1):
        yield from (_one_block(scenario, None, i, r) for i, r in tasks)
        return
    start_workers(scenario, jobs)  # they import the engine while this process runs the program model
    plan = program_plan(scenario)
    calls = [(i, r) for i, r in tasks if i not in early]
    yield from workers.run_unordered(_one_block, calls, jobs, warm=_engine_loader(scenario),
                                     meanwhile=prepare_dataset, submitted=early.values(),
                                     shared=(scenario, plan))


SCHEDULER_ENV = "DASK_SCHEDULER_ADDRESS"
DASK_RETRIES = 3
CONNECT_TIMEOUT_S = 10
"""How long to try reaching a dask scheduler before saying it is unreachable."""


def _run_dask(scenario: ExperienceInputs, tasks: list[tuple[int, range]], jobs: int,
              scheduler: str | None = None) -> Iterator[tuple[int, ExperienceBlock]]:
    """Blocks as dask futures: on the scheduler named by the caller or by
    ``DASK_SCHEDULER_ADDRESS``, else on a local cluster of ``jobs`` workers."""
    try:
        from distributed import Client, LocalCluster, as_completed
    except ImportError:
        raise RunError("the dask backend needs dask.distributed: pip install 'vbcsim[dask]'") from None
    address = scheduler or os.environ.get(SCHEDULER_ENV)
    cluster = None if address else LocalCluster(n_workers=jobs, threads_per_worker=1,
                                               dashboard_address=None)
    try:
        try:
            client = Client(address or cluster, timeout=CONNECT_TIMEOUT_S)
        except (OSError, TimeoutError, ValueError, TypeError) as err:
            raise RunError(f"cannot reach the dask scheduler at {address} within {CONNECT_TIMEOUT_S} s "
                           f"({type(err).__name__}: {err}); check --scheduler or ${SCHEDULER_ENV}"
                           ) from None
        with client:
            shared = client.scatter(scenario, broadcast=True)
            plan = program_plan(scenario)
            plan = None if plan is None else client.scatter(plan, broadcast=True)
            futures = [client.submit(_one_block, shared, plan, i, r, key=f"vbcsim-block-{i}",
                                     retries=DASK_RETRIES, pure=False) for i, r in tasks]
            for future in as_completed(futures):
                yield future.result()
                future.release()
    finally:
        if cluster is not None:
            cluster.close()

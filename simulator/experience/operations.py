"""The care-management queue: a discrete-event model (simpy) of referrals and care managers.

Flagged members of each stratum are referred over their year as a Poisson
process to care managers, a resource with a caseload limit whose staff is
given per year. A referred member waits for a slot (higher strata first, first
come first served within a stratum; a referral not reached by the end of its
year lapses), engages with a probability, stays engaged for an exponential
time, then drops out. The model runs once per scenario, with replications; its
output (:class:`Operations`) is what the member model applies.

simpy's event calendar runs the model with callbacks, not a process and a
``PriorityResource`` request per member: that design (kept as the reference in
``tests/experience/test_operations.py``, which checks that both give the same
distribution) spent seconds re-sorting simpy's queue on every request and
stepping five events per member. Here a referral is one event and an
engagement another; the waiting line is a first-in first-out queue per stratum,
and a year end is one event (each slot free then, as when new care managers
start, reaches one referral still waiting; the year's other referrals lapse, as
they did in the per-member model). The random numbers are drawn per referral
in advance (arrival, engagement, duration), so they do not depend on the order
of events: two program designs share their referrals and engagement draws.
"""

from __future__ import annotations

import math
import time
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import simpy

from .streams import Purpose, stream

if TYPE_CHECKING:
    from .programs import Program

MONTHS = 12


@dataclass(frozen=True)
class Operations:
    """What the discrete-event model yields for the term, per (year, stratum) unless noted."""

    engaged_fraction: np.ndarray   # share of the year's referred (flagged) members who engage
    intensity: np.ndarray          # mean engaged time of an engagement, in years (at most one)
    engaged_by_month: np.ndarray   # (months, strata): mean members engaged in each month
    mean_wait_months: np.ndarray   # (strata,)
    seconds: float


def simulate_operations(program: Program, referrals: np.ndarray, seed: int) -> Operations:
    """Run the care-management queue over the term.

    Parameters
    ----------
    referrals
        Expected flagged members per (year, stratum); they are referred over their
        year as a Poisson process.
    seed
        Root seed; replication ``r`` draws from its own stream.
    """
    t0 = time.perf_counter()
    years, n_strata = referrals.shape
    scale = min(1.0, program.max_simulated_referrals / max(referrals.sum(axis=1).max(), 1.0))
    capacity = np.maximum(np.round(program.staff(years) * program.caseload * scale), 0).astype(int)
    runs = [_one_replication(program, referrals * scale, capacity,
                             stream(seed, r, Purpose.PROGRAM_OPERATIONS))
            for r in range(program.replications)]
    run = {k: np.concatenate([r[k] for r in runs]) for k in runs[0]}
    cell = run["year"] * n_strata + run["stratum"]

    def per_cell(weights: np.ndarray) -> np.ndarray:
        return np.bincount(cell, weights, years * n_strata).reshape(years, n_strata)

    referred = per_cell(np.ones(cell.size))
    engaged = per_cell(run["engaged"].astype(float))
    months = per_cell(np.where(run["engaged"], np.minimum(run["duration"], MONTHS), 0.0))
    with np.errstate(invalid="ignore", divide="ignore"):
        fraction = np.where(referred > 0, engaged / referred, 0.0)
        intensity = np.where(engaged > 0, months / (MONTHS * engaged), 0.0)
        reached = ~np.isnan(run["reached"])
        waits = (np.bincount(run["stratum"][reached], (run["reached"] - run["arrival"])[reached],
                             n_strata) / np.bincount(run["stratum"][reached], None, n_strata))
    census = _census(run, years * MONTHS, n_strata) / (program.replications * scale)
    return Operations(fraction, intensity, census, waits, time.perf_counter() - t0)


def _one_replication(program: Program, referrals: np.ndarray, capacity: np.ndarray,
                     rng: np.random.Generator) -> dict[str, np.ndarray]:
    """One replication: per referral its year, stratum, arrival, when it was reached (NaN:
    lapsed), whether it engaged and for how long."""
    years, n_strata = referrals.shape
    referral = _referrals(referrals, rng)
    n = referral["arrival"].size
    engages = rng.random(n) < program.engagement_pct / 100
    duration = rng.exponential(program.engaged_months_mean, n)
    reached = np.full(n, np.nan)
    _queue(referral["year"].tolist(), referral["stratum"].tolist(), referral["arrival"].tolist(),
           engages.tolist(), duration.tolist(), capacity.tolist(), n_strata, reached)
    return referral | {"reached": reached, "engaged": engages & ~np.isnan(reached),
                       "duration": duration}


def _referrals(referrals: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Referral times of each (year, stratum), a Poisson process over the year, in time order."""
    years, n_strata = referrals.shape
    counts = rng.poisson(referrals)
    year, stratum = np.divmod(np.repeat(np.arange(referrals.size), counts.ravel()), n_strata)
    arrival = (year + rng.random(year.size)) * MONTHS
    order = np.argsort(arrival, kind="stable")
    return {"year": year[order], "stratum": stratum[order], "arrival": arrival[order]}


def _queue(year: list, stratum: list, arrival: list, engages: list, duration: list,
           capacity: list, n_strata: int, reached: np.ndarray) -> None:
    """The waiting line on simpy's event calendar: fills ``reached`` (month reached)."""
    env = simpy.Environment()
    waiting = [deque() for _ in range(n_strata)]  # FIFO within a stratum
    state = {"busy": 0, "slots": capacity[0]}

    def reach(i: int) -> None:
        reached[i] = env.now
        if engages[i]:   # a member who does not engage frees the slot at once
            state["busy"] += 1
            env.timeout(duration[i]).callbacks.append(finish)

    def head() -> int | None:
        queue = next((q for q in waiting if q), None)  # highest stratum first
        return None if queue is None else queue.popleft()

    def serve() -> None:
        while state["busy"] < state["slots"] and (i := head()) is not None:
            reach(i)

    def finish(_event: simpy.Event) -> None:
        state["busy"] -= 1
        serve()

    def referred():
        for i, t in enumerate(arrival):
            yield env.timeout(t - env.now)
            waiting[stratum[i]].append(i)
            serve()

    def year_ends():
        for y in range(1, len(capacity)):
            yield env.timeout(y * MONTHS - env.now)
            state["slots"] = capacity[y]
            # each slot free at the year end reaches one referral still waiting (one who
            # declines leaves the slot to the new year's referrals), then the rest lapse
            for _ in range(state["slots"] - state["busy"]):
                if (i := head()) is None:
                    break
                reach(i)
            for queue in waiting:
                while queue and year[queue[0]] < y:
                    queue.popleft()

    env.process(year_ends())
    env.process(referred())
    env.run(until=len(capacity) * MONTHS)


def _census(run: dict[str, np.ndarray], months: int, n_strata: int) -> np.ndarray:
    """Member-months engaged in each month, per stratum: the overlap of each engagement
    [reached, reached + duration) with the month (the term's end cuts it)."""
    e = run["engaged"]
    start = run["reached"][e]
    end = np.minimum(start + run["duration"][e], months)
    edges = np.arange(months)
    overlap = np.clip(np.minimum(end[:, None], edges + 1) - np.maximum(start[:, None], edges), 0, None)
    out = np.zeros((months, n_strata))
    np.add.at(out.T, run["stratum"][e], overlap)
    return out


def queue_wait_mm_c(arrival_rate: float, service_rate: float, servers: int) -> float:
    """Mean wait in queue of an M/M/c queue (Erlang C), for checking the model."""
    a = arrival_rate / service_rate
    rho = a / servers
    if rho >= 1:
        return math.inf
    terms = sum(a**k / math.factorial(k) for k in range(servers))
    last = a**servers / (math.factorial(servers) * (1 - rho))
    p_wait = last / (terms + last)
    return p_wait / (servers * service_rate - arrival_rate)

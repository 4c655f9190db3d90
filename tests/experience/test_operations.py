"""The care-management queue: the event-calendar model against the per-member simpy model.

``simulate_operations`` runs the queue with one simpy event per referral and per engagement.
The reference here is the model it replaced (and the textbook way to write it in simpy): a
process per member holding a ``PriorityResource`` request, racing a lapse timeout, with
placeholder requests holding the slots of care managers not yet hired. The two draw their
random numbers in different orders, so they agree in distribution, not replication by
replication: every statistic's mean over independent replications must agree within four
standard errors of the difference (a false alarm about once in 16,000 per statistic).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import simpy

from simulator.experience.operations import MONTHS, simulate_operations
from simulator.experience.programs import Program
from simulator.experience.streams import Purpose, stream


def reference_replication(program: Program, referrals: np.ndarray, seed: int) -> dict[str, np.ndarray]:
    """One replication of the per-member model, summarised as :class:`Operations` is:
    engaged share and intensity per (year, stratum), mean wait per stratum, and member-months
    engaged per year (all strata)."""
    years, n_strata = referrals.shape
    capacity = (program.staff(years) * program.caseload).astype(int)
    rng = stream(seed, 0, Purpose.PROGRAM_OPERATIONS)
    env = simpy.Environment()
    slots = simpy.PriorityResource(env, capacity=max(int(capacity.max()), 1))
    referred, engaged, months = (np.zeros((years, n_strata)) for _ in range(3))
    waits: list[list[float]] = [[] for _ in range(n_strata)]
    census = np.zeros(years)

    def member(year: int, stratum: int):
        arrived = env.now
        referred[year, stratum] += 1
        with slots.request(priority=stratum) as slot:
            yield slot | env.timeout((year + 1) * MONTHS - arrived)
            if not slot.triggered:
                return
            waits[stratum].append(env.now - arrived)
            if rng.random() >= program.engagement_pct / 100:
                return
            duration = rng.exponential(program.engaged_months_mean)
            engaged[year, stratum] += 1
            months[year, stratum] += min(duration, MONTHS)
            start, end = env.now, min(env.now + duration, years * MONTHS)
            for y in range(years):
                census[y] += max(0.0, min(end, (y + 1) * MONTHS) - max(start, y * MONTHS))
            yield env.timeout(duration)

    def referrals_of(year: int, stratum: int):
        rate = referrals[year, stratum] / MONTHS
        yield env.timeout(year * MONTHS)
        while True:
            yield env.timeout(rng.exponential(1 / rate))
            if env.now >= (year + 1) * MONTHS:
                return
            env.process(member(year, stratum))

    def staffing():
        held = []
        for year in range(years):
            vacant = int(capacity.max()) - int(capacity[year])
            while len(held) > vacant:
                slots.release(held.pop())
            while len(held) < vacant:
                held.append(slots.request(priority=-1))
            yield env.timeout(MONTHS)

    env.process(staffing())
    for y in range(years):
        for s in range(n_strata):
            env.process(referrals_of(y, s))
    env.run(until=years * MONTHS)
    return {"engaged_fraction": engaged / referred, "intensity": months / (MONTHS * engaged),
            "mean_wait_months": np.array([np.mean(w) for w in waits]), "census_by_year": census}


def replication(program: Program, referrals: np.ndarray, seed: int) -> dict[str, np.ndarray]:
    """The same statistics from ``simulate_operations`` (one replication)."""
    ops = simulate_operations(program, referrals, seed)
    return {"engaged_fraction": ops.engaged_fraction, "intensity": ops.intensity,
            "mean_wait_months": ops.mean_wait_months,
            "census_by_year": ops.engaged_by_month.sum(1).reshape(-1, MONTHS).sum(1)}


# three strata competing for too few care managers, hiring in year 2: a busy queue
# (waits, lapses, priority), small enough for the per-member model to run 40 times
PROGRAM = Program.model_validate(dict(
    strata={"top": {"bands": ["catastrophic"], "effect_mean_pct": 10.0},
            "next": {"bands": ["very_high"], "effect_mean_pct": 5.0},
            "rising": {"bands": ["high"], "effect_mean_pct": 2.0}},
    care_managers=[2, 3, 3], caseload=20, cost_per_care_manager_usd=100_000.0, engagement_pct=60.0,
    engaged_months_mean=4.0, replications=1))
REFERRALS = np.array([[40.0, 120.0, 300.0], [50.0, 140.0, 320.0], [50.0, 150.0, 330.0]])
SEEDS = 40


@pytest.fixture(scope="module")
def both_models() -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Each statistic over ``SEEDS`` replications of each model (independent seeds)."""
    def stack(runs: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
        return {k: np.array([r[k] for r in runs]) for k in runs[0]}

    return (stack([replication(PROGRAM, REFERRALS, seed) for seed in range(SEEDS)]),
            stack([reference_replication(PROGRAM, REFERRALS, 1000 + seed) for seed in range(SEEDS)]))


@pytest.mark.parametrize("statistic", ["engaged_fraction", "intensity", "mean_wait_months",
                                       "census_by_year"])
def test_event_calendar_model_has_the_per_member_models_distribution(both_models, statistic):
    new, old = (m[statistic] for m in both_models)
    se = np.sqrt(new.var(0, ddof=1) / SEEDS + old.var(0, ddof=1) / SEEDS)
    z = (new.mean(0) - old.mean(0)) / se
    print(statistic, new.mean(0).round(3), old.mean(0).round(3), z.round(2))
    assert np.all(np.abs(z) < 4), (statistic, z)
    # the queue matters here: the lowest stratum engages least and waits longest
    if statistic == "engaged_fraction":
        assert np.all(new.mean(0)[:, -1] < 0.5 * new.mean(0)[:, 0])
    if statistic == "mean_wait_months":
        assert np.all(np.diff(new.mean(0)) > 0)


def test_same_seed_same_operations_and_replications_average():
    a = simulate_operations(PROGRAM, REFERRALS, seed=3)
    b = simulate_operations(PROGRAM, REFERRALS, seed=3)
    np.testing.assert_array_equal(a.engaged_by_month, b.engaged_by_month)
    np.testing.assert_array_equal(a.engaged_fraction, b.engaged_fraction)
    two = simulate_operations(PROGRAM.model_copy(update={"replications": 2}), REFERRALS, seed=3)
    assert not np.array_equal(two.engaged_fraction, a.engaged_fraction)
    assert math.isfinite(two.mean_wait_months.sum())

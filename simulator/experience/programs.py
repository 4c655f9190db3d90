"""Population-health programs: risk-strata care management with limited capacity.

Each year members are flagged by their predicted risk: the prior year's cost
band, right with probability ``accuracy_pct`` and otherwise a band drawn at
random from the population mix (entrants, with no history, are not
flagged). Flagged members of a stratum (top 1%, top 5%, rising risk ...) are
referred over the year to care managers, who are a resource with a caseload
limit; staff (hiring) is given per year. A referred member waits for a slot
(higher strata first; a referral not reached by the end of its year lapses),
engages with a probability, stays engaged for an exponential time, then
drops out.

That part is a discrete-event simulation (simpy). It runs once per scenario
for the whole term, with a few replications, not per trial: its output is
the share of flagged member-months actually engaged, per stratum and year,
which the member model then applies to flagged members (one engagement draw
each, from its own stream). An engaged member's cost is reduced by the
stratum's effect, uncertain across trials (systemic) and ramping up over the
first years; the program's cost is staff x cost per care manager.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated

import numpy as np
import simpy
from pydantic import Field, model_validator

from ..core.inputs import Name, Percent, StrictModel
from .costs import CostTables
from .population import CostModel, Segment
from .streams import Purpose, stream

if TYPE_CHECKING:  # the scenario assembles this stage's inputs; no import back
    from ..scenario import Scenario

MONTHS = 12
Staff = Annotated[int, Field(ge=0, le=1_000_000)]


class Stratum(StrictModel):
    """A risk stratum: the predicted bands it flags and the program's effect on them."""

    bands: list[Name] = Field(min_length=1, description="Predicted cost bands flagged into the stratum.")
    effect_mean_pct: float = Field(ge=-50, le=90, description="Expected cost reduction of an "
                                   "engaged member-year, %.")
    effect_sd_pct: float = Field(0.0, ge=0, le=50, description="Uncertainty of the effect across "
                                 "trials (systemic), points.")


class Program(StrictModel):
    """A care-management program design."""

    description: str = ""
    accuracy_pct: Percent = Field(100.0, description="Chance that a member's predicted band is the "
                                  "true prior-year band.")
    strata: dict[Name, Stratum] = Field(min_length=1, description="In priority order (first: highest).")
    care_managers: Staff | list[Staff] = Field(description="Care managers, one number or one per "
                                               "year (hiring).")
    caseload: int = Field(ge=1, le=10_000, description="Members one care manager follows at once.")
    cost_per_care_manager_usd: float = Field(ge=0, le=1e7, description="Annual cost of one care "
                                             "manager, salary and overhead.")
    engagement_pct: Percent = Field(description="Chance that a referred member engages when reached.")
    engaged_months_mean: float = Field(gt=0, le=120, description="Mean months a member stays engaged.")
    ramp_years: int = Field(1, ge=1, le=30, description="Years until the effect reaches its full size.")
    replications: int = Field(3, ge=1, le=100, description="Replications of the discrete-event model.")
    max_simulated_referrals: int = Field(
        2000, ge=100, le=10_000_000, description="Referrals a year simulated at most: above it the "
        "discrete-event model runs on a proportional sample of members and care managers.")

    @model_validator(mode="after")
    def _bands_once(self) -> Program:
        seen = [b for s in self.strata.values() for b in s.bands]
        if len(seen) != len(set(seen)):
            raise ValueError(f"strata: a band may belong to one stratum only, got {seen}")
        return self

    def staff(self, years: int) -> np.ndarray:
        staff = self.care_managers
        return np.array(staff if isinstance(staff, list) else [staff] * years, float)


# -- the discrete-event part ---------------------------------------------------------
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
    tally = _Tally(years, n_strata)
    for r in range(program.replications):
        rng = stream(seed, r, Purpose.PROGRAM_OPERATIONS)
        _one_replication(program, referrals * scale, capacity, rng, tally)
    with np.errstate(invalid="ignore", divide="ignore"):
        fraction = np.where(tally.referred > 0, tally.engaged / tally.referred, 0.0)
        intensity = np.where(tally.engaged > 0, tally.months / (MONTHS * tally.engaged), 0.0)
    waits = np.array([np.mean(w) if w else math.nan for w in tally.waits])
    census = tally.census / (program.replications * scale)
    return Operations(fraction, intensity, census, waits, time.perf_counter() - t0)


class _Tally:
    def __init__(self, years: int, n_strata: int):
        self.referred = np.zeros((years, n_strata))
        self.engaged = np.zeros((years, n_strata))
        self.months = np.zeros((years, n_strata))  # engaged months, up to 12 per engagement
        self.census = np.zeros((years * MONTHS, n_strata))
        self.waits: list[list[float]] = [[] for _ in range(n_strata)]


def _one_replication(program: Program, referrals: np.ndarray, capacity: np.ndarray,
                     rng: np.random.Generator, tally: _Tally) -> None:
    years, n_strata = referrals.shape
    horizon = years * MONTHS
    env = simpy.Environment()
    slots = simpy.PriorityResource(env, capacity=max(int(capacity.max()), 1))
    p_engage = program.engagement_pct / 100

    def member(year: int, stratum: int):
        arrived = env.now
        tally.referred[year, stratum] += 1
        with slots.request(priority=stratum) as slot:
            # a referral not reached within its year lapses (the member may be flagged again)
            yield slot | env.timeout((year + 1) * MONTHS - arrived)
            if not slot.triggered:
                return
            tally.waits[stratum].append(env.now - arrived)
            if rng.random() >= p_engage:
                return
            start = env.now
            duration = rng.exponential(program.engaged_months_mean)
            end = min(start + duration, horizon)
            tally.engaged[year, stratum] += 1
            tally.months[year, stratum] += min(duration, MONTHS)
            _add_interval(tally.census[:, stratum], start, end)
            yield env.timeout(duration)

    def referrals_of(year: int, stratum: int):
        rate = referrals[year, stratum] / MONTHS
        if rate <= 0:
            return
        yield env.timeout(year * MONTHS)
        end = (year + 1) * MONTHS
        while True:
            yield env.timeout(rng.exponential(1 / rate))
            if env.now >= end:
                return
            env.process(member(year, stratum))

    def staffing():
        # slots of care managers not (yet) hired are held by top-priority placeholders
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
    env.run(until=horizon)


def _add_interval(months: np.ndarray, start: float, end: float) -> None:
    """Add the overlap of [start, end) with each month (in member-months)."""
    for m in range(int(start), min(int(math.ceil(end)), months.size)):
        months[m] += max(0.0, min(end, m + 1) - max(start, m))


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


# -- what the member model needs ------------------------------------------------------
@dataclass(frozen=True)
class ProgramPlan:
    """The program as the member model applies it (one per scenario)."""

    program: Program
    strata: list[str]
    operations: Operations
    cost_usd: np.ndarray  # (years, segments)
    referrals: np.ndarray  # (years, strata) expected flagged members

    def monthly_table(self, first_year: int):
        """Per month and stratum: flagged members (the year's), members engaged, their share,
        and the program's cost in the month."""
        import pandas as pd

        months = self.operations.engaged_by_month.shape[0]
        rows = []
        for m in range(months):
            y = m // MONTHS
            for s, name in enumerate(self.strata):
                flagged = self.referrals[y, s]
                engaged = self.operations.engaged_by_month[m, s]
                rows.append((first_year + y, m % MONTHS + 1, name, flagged, engaged,
                             engaged / flagged if flagged else np.nan, self.cost_usd[y].sum() / MONTHS))
        return pd.DataFrame(rows, columns=["year", "month", "stratum", "flagged_members",
                                           "engaged_members", "engaged_share", "program_cost_usd"])

    def stratum_of_band(self, band_names: list[str]) -> np.ndarray:
        """Stratum index of each band (-1: not flagged)."""
        lookup = {b: i for i, s in enumerate(self.program.strata.values()) for b in s.bands}
        return np.array([lookup.get(b, -1) for b in band_names], np.int16)

    def effects(self, seed: int, trial: int, years: int) -> np.ndarray:
        """Cost reduction (fraction) of an engaged member-year, per (year, stratum), for one
        trial: the trial's effect size, ramped, times the share of the year engaged."""
        strata = list(self.program.strata.values())
        z = stream(seed, trial, Purpose.PROGRAM_EFFECT).standard_normal(len(strata))
        size = np.array([(s.effect_mean_pct + s.effect_sd_pct * zi) / 100 for s, zi in zip(strata, z)])
        ramp = np.minimum(1.0, np.arange(1, years + 1) / self.program.ramp_years)
        return np.clip(ramp[:, None] * size[None, :], -0.5, 0.95) * self.operations.intensity


def expected_referrals(segments: Iterable[Segment], cost_models: Mapping[str, CostModel],
                       years: int, program: Program) -> np.ndarray:
    """Expected flagged members per (year, stratum), all segments together.

    A member is flagged in year y if it stayed from year y-1 (entrants have no history),
    by its prior band when the prediction is right, else by a band drawn from the mix.
    """
    out = np.zeros((years, len(program.strata)))
    acc = program.accuracy_pct / 100
    for seg in segments:
        tables = CostTables.from_model(cost_models[seg.cost_model])
        names = cost_models[seg.cost_model].band_names
        churn = seg.churn_pct / 100
        mix = tables.start_mix(churn)
        prior = np.vstack([mix, tables.band_mix_by_year(churn, years)[:-1]])   # last year's bands
        stayers = prior * (1 - tables.death_prob) * (1 - churn)
        predicted = acc * stayers + (1 - acc) * stayers.sum(1, keepdims=True) * mix
        for i, stratum in enumerate(program.strata.values()):
            idx = [names.index(b) for b in stratum.bands if b in names]
            out[:, i] += seg.members * predicted[:, idx].sum(axis=1)
    return out


_PLANS: dict[str, ProgramPlan] = {}
"""Plans by what they depend on: the discrete-event model runs once per process and inputs."""


def program_plan(scenario: Scenario) -> ProgramPlan | None:
    """The scenario's program plan (the discrete-event model runs once per process).

    The plan depends on the program, the segments, their cost models, the term and the
    seed, not on run settings such as trials, engine or backend.
    """
    program = scenario.program
    if program is None:
        return None
    segments = list(scenario.segments.values())
    years, seed = scenario.term.years, scenario.run.seed
    key = json.dumps([program.model_dump(mode="json"), [s.model_dump(mode="json") for s in segments],
                      {k: m.model_dump(mode="json") for k, m in scenario.cost_models.items()},
                      years, seed], sort_keys=True)
    if key not in _PLANS:
        if len(_PLANS) >= 8:
            _PLANS.pop(next(iter(_PLANS)))
        referrals = expected_referrals(segments, scenario.cost_models, years, program)
        ops = simulate_operations(program, referrals, seed)
        members = np.array([s.members for s in segments], float)
        total = program.staff(years) * program.cost_per_care_manager_usd
        _PLANS[key] = ProgramPlan(program, list(program.strata), ops,
                                  total[:, None] * members / members.sum(), referrals)
    return _PLANS[key]

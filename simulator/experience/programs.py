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

That part is a discrete-event simulation (simpy, :mod:`.operations`). It runs
once per scenario for the whole term, with a few replications, not per trial
(once per run, in the main process: workers are handed the plan): its output is
the share of flagged member-months actually engaged, per stratum and year,
which the member model then applies to flagged members (one engagement draw
each, from its own stream). An engaged member's cost is reduced by the
stratum's effect, uncertain across trials (systemic) and ramping up over the
first years; the program's cost is staff x cost per care manager.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated

import numpy as np
from pydantic import Field, model_validator

from ..core.inputs import Name, Percent, StrictModel
from .population import CostModel, Segment
from .streams import Purpose, standard_normals

if TYPE_CHECKING:
    from .inputs import ExperienceInputs
    from .operations import Operations

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
        z = standard_normals(seed, trial, Purpose.PROGRAM_EFFECT, len(strata))
        size = np.array([(s.effect_mean_pct + s.effect_sd_pct * zi) / 100 for s, zi in zip(strata, z)])
        ramp = np.minimum(1.0, np.arange(1, years + 1) / self.program.ramp_years)
        return np.clip(ramp[:, None] * size[None, :], -0.5, 0.95) * self.operations.intensity


def expected_referrals(segments: Iterable[Segment], cost_models: Mapping[str, CostModel],
                       years: int, program: Program) -> np.ndarray:
    """Expected flagged members per (year, stratum), all segments together.

    A member is flagged in year y if it stayed from year y-1 (entrants have no history),
    by its prior band when the prediction is right, else by a band drawn from the mix.
    """
    from .costs import CostTables  # scipy: not needed to validate a scenario

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


@dataclass(frozen=True)
class ShiftedPlan(ProgramPlan):
    """A plan whose term starts after ``offset`` simulated base years: nothing is flagged,
    engaged, saved or spent in the base years (see :mod:`simulator.experience.history`)."""

    offset: int = 0

    def effects(self, seed: int, trial: int, years: int) -> np.ndarray:
        term = super().effects(seed, trial, years - self.offset)
        return np.vstack([np.zeros((self.offset, term.shape[1])), term])


def shift_plan(plan: ProgramPlan, offset: int) -> ShiftedPlan:
    """``plan`` preceded by ``offset`` years without the program."""
    def pad(a: np.ndarray) -> np.ndarray:
        return np.concatenate([np.zeros((offset,) + a.shape[1:]), a])

    ops = dataclasses.replace(plan.operations, engaged_fraction=pad(plan.operations.engaged_fraction))
    return ShiftedPlan(plan.program, plan.strata, ops, pad(plan.cost_usd), pad(plan.referrals), offset)


_PLANS: dict[str, ProgramPlan] = {}
"""Plans by what they depend on: the discrete-event model runs once per process and inputs."""
_MAX_PLANS = 8


def _plan_key(scenario: ExperienceInputs) -> str:
    """What a plan depends on: the program, the segments, their cost models, the term and the
    seed, not run settings such as trials, engine or backend."""
    return json.dumps([scenario.program.model_dump(mode="json"),
                       [s.model_dump(mode="json") for s in scenario.segments.values()],
                       {k: m.model_dump(mode="json") for k, m in scenario.cost_models.items()},
                       scenario.term.years, scenario.run.seed], sort_keys=True)


def _keep(key: str, plan: ProgramPlan) -> None:
    if key not in _PLANS and len(_PLANS) >= _MAX_PLANS:
        _PLANS.pop(next(iter(_PLANS)))
    _PLANS[key] = plan


def program_plan(scenario: ExperienceInputs) -> ProgramPlan | None:
    """The scenario's program plan (the discrete-event model runs once per process and
    inputs; a run computes it in the main process and hands it to its workers with
    :func:`remember_plan`)."""
    program = scenario.program
    if program is None:
        return None
    term_scenario = getattr(scenario, "_history_of", None)  # base years simulated first
    if term_scenario is not None:
        return shift_plan(program_plan(term_scenario), term_scenario.term.base_years)
    key = _plan_key(scenario)
    if key not in _PLANS:
        segments = list(scenario.segments.values())
        years, seed = scenario.term.years, scenario.run.seed
        referrals = expected_referrals(segments, scenario.cost_models, years, program)
        ops = _operations(program, referrals, seed)
        members = np.array([s.members for s in segments], float)
        total = program.staff(years) * program.cost_per_care_manager_usd
        _keep(key, ProgramPlan(program, list(program.strata), ops,
                               total[:, None] * members / members.sum(), referrals))
    return _PLANS[key]


_OPERATIONS: dict[str, Operations] = {}


def _operations(program: Program, referrals: np.ndarray, seed: int) -> Operations:
    """The discrete-event model's result, once per process for what it depends on: not the
    strata's effects, which the configurations of a risk decomposition change."""
    from .operations import simulate_operations  # simpy: only when a plan is computed

    queue = program.model_dump(mode="json", exclude={"strata": {n: {"effect_mean_pct", "effect_sd_pct"}
                                                                  for n in program.strata}})
    key = json.dumps([queue, referrals.round(9).tolist(), seed], sort_keys=True)
    if key not in _OPERATIONS:
        if len(_OPERATIONS) >= _MAX_PLANS:
            _OPERATIONS.pop(next(iter(_OPERATIONS)))
        _OPERATIONS[key] = simulate_operations(program, referrals, seed)
    return _OPERATIONS[key]


def remember_plan(scenario: ExperienceInputs, plan: ProgramPlan | None) -> None:
    """Make ``plan`` (computed elsewhere, e.g. in the main process) this process's plan of
    ``scenario``, so that :func:`program_plan` does not run the discrete-event model again."""
    if plan is None or scenario.program is None:
        return
    if plan.program != scenario.program:
        raise ValueError("remember_plan: the plan is of another program")
    _keep(_plan_key(scenario), plan)

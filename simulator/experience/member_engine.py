"""The member engine: every member simulated, year by year, in one compiled loop.

Each segment's members are split into fixed-size chunks; each (trial,
segment, chunk) has its own stream per random purpose, so results depend
only on the scenario and the seed. A chunk is simulated by one numba kernel,
year by year over its members, keeping each member's band, group and whether
it left; the random numbers come from numpy's SFC64 streams stepped inline
(:mod:`simulator.experience.jit_random`), held in registers while the chunk
runs. A member-year goes through:

1. next band: the transition matrix for those who stayed, the entrant mix
   (and a new group) in the slots of last year's leavers and decedents, so
   the population size stays constant;
2. cost: zero with the band's zero-cost probability, else a draw from the
   band's severity, times the segment's cost level that year;
3. care management: a member who stayed is flagged into a stratum and engaged
   or not (one draw); an engaged member-year costs less by the stratum's effect;
4. year end: death (band probability; month of death uniform on 1..12,
   exposure ends then, the year's cost is still incurred), else churn with
   the segment's rate (one draw for both).

Only per-(trial, year, segment) aggregates leave a chunk. Every member-year
draws a zero-cost uniform and a severity (which a zero-cost year discards);
each purpose keeps its own stream, so a program switched on or a contract
term changed never moves the cost draws.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np
from numba import njit

from .costs import BandSeverities, CostTables, cumulative, trend_index
from .dataset import ExperienceBlock, empty_block
from .jit_random import Stream, gamma, load, normal, store, stream_states, uniform
from .programs import ProgramPlan, program_plan
from .quality import fill_measures, quality_scores
from .streams import Purpose

if TYPE_CHECKING:
    from .inputs import ExperienceInputs

MEMBER_CHUNK = 1 << 17
"""Members per chunk. Part of the random-stream layout: changing it changes the draws."""

PURPOSES = [Purpose.INITIAL_BAND, Purpose.TRANSITION, Purpose.ZERO_COST, Purpose.SEVERITY,
            Purpose.DEATH, Purpose.ENTRY, Purpose.GROUP, Purpose.STRATIFY]
"""The streams of one chunk, in the row order of its state array. One uniform from the
DEATH stream decides death and churn together; one from STRATIFY decides the care-management
stratum and engagement together (so the draws of a stream never depend on other outcomes)."""
_INITIAL, _TRANSITION, _ZERO, _SEVERITY, _YEAR_END, _ENTRY, _GROUP, _STRATIFY = range(len(PURPOSES))

# Columns of the per-band parameter table handed to the kernel.
_ZERO_PROB, _DEATH_PROB, _LEAVE_PROB, _LOG_SCALE, _SIGMA, _SHAPE, _SCALE, _IS_GAMMA, _SCORE = range(9)
# Columns of the per-year totals the kernel adds to.
TOTALS = ("member_months", "risk_score_member_months", "allowed_usd", "deaths", "leavers")
_MONTHS, _SCORE_MONTHS, _ALLOWED, _DEATHS, _LEAVERS = range(len(TOTALS))


@dataclass(frozen=True)
class ProgramInTrial:
    """A program as one trial of one segment sees it."""

    stratum_of_band: np.ndarray   # (bands,) stratum index, -1 when not flagged
    accuracy: float
    engaged_fraction: np.ndarray  # (years, strata) chance a flagged member engages
    effects: np.ndarray           # (years, strata) cost reduction of an engaged member-year

    def outcome_probabilities(self, guess_mix: np.ndarray) -> np.ndarray:
        """Chance of each care-management outcome of a stayer, by year and prior band:
        (years, bands, 1 + 2 strata), the outcomes being not flagged, then for each stratum
        flagged and engaged, flagged and not engaged.

        The predicted band is the prior band with probability ``accuracy``, else a band
        drawn from ``guess_mix``; the member is flagged into the predicted band's stratum."""
        strata = self.effects.shape[1]
        in_stratum = self.stratum_of_band[:, None] == np.arange(strata)          # (bands, S)
        flagged = self.accuracy * in_stratum + (1 - self.accuracy) * (guess_mix @ in_stratum)
        engage = np.asarray(self.engaged_fraction, float)[:, None, :]            # (years, 1, S)
        out = np.empty((engage.shape[0], len(guess_mix), 1 + 2 * strata))
        out[..., 0] = 1 - flagged.sum(axis=1)
        out[..., 1::2] = flagged * engage
        out[..., 2::2] = flagged * (1 - engage)
        return out


@dataclass(frozen=True)
class ChunkModel:
    """The inputs of the kernel for one segment and trial, as flat arrays."""

    band: np.ndarray              # (bands, 9) parameter table, columns as above
    initial_cut: np.ndarray       # cumulative start mix (also the stratifier's guess mix)
    transition_cut: np.ndarray    # (bands, bands) cumulative transition rows
    entrant_cut: np.ndarray
    entrant_score: float
    log_level: np.ndarray         # (years,) log of the cost level
    group_cut: np.ndarray         # cumulative group mix, empty without groups
    program_cut: np.ndarray       # (years, bands, outcomes) by prior band; empty without a program
    effects: np.ndarray           # (years, strata)
    attachments: np.ndarray       # ascending

    @classmethod
    def build(cls, tables: CostTables, churn: float, levels: np.ndarray,
              attachments: np.ndarray, group_mix: np.ndarray | None = None,
              program: ProgramInTrial | None = None) -> ChunkModel:
        sev = BandSeverities(tables)
        scores, entrant_score = tables.prospective_scores(churn)
        leave = tables.death_prob + (1 - tables.death_prob) * churn
        band = np.column_stack([tables.zero_prob, tables.death_prob, leave, sev.mu, sev.sigma,
                                sev.shape, sev.scale, sev.gamma.astype(float), scores])
        start = tables.start_mix(churn)
        return cls(
            band=np.ascontiguousarray(band), initial_cut=cumulative(start),
            transition_cut=cumulative(tables.transition), entrant_cut=cumulative(tables.entrant_mix),
            entrant_score=entrant_score, log_level=np.log(np.asarray(levels, float)),
            group_cut=np.zeros(0) if group_mix is None else cumulative(group_mix),
            program_cut=(np.zeros((len(levels), tables.n_bands, 0)) if program is None
                         else cumulative(program.outcome_probabilities(start))),
            effects=(np.zeros((len(levels), 0)) if program is None
                     else np.asarray(program.effects, float)),
            attachments=np.asarray(attachments, float))

    def for_trial(self, levels: np.ndarray, effects: np.ndarray | None) -> ChunkModel:
        """The same model with one trial's cost levels and program effects."""
        return replace(self, log_level=np.log(np.asarray(levels, float)),
                       effects=self.effects if effects is None else np.asarray(effects, float))


@dataclass
class ChunkTotals:
    """Per-year aggregates of a chunk (the kernel adds to them)."""

    totals: np.ndarray      # (years, len(TOTALS))
    excess: np.ndarray      # (years, attachments)
    claimants: np.ndarray   # (years, attachments)
    groups: np.ndarray      # (years, groups)
    flagged: np.ndarray     # (years, strata)
    engaged: np.ndarray     # (years, strata)

    @classmethod
    def zeros(cls, model: ChunkModel) -> ChunkTotals:
        years, strata = model.effects.shape
        return cls(np.zeros((years, len(TOTALS))), np.zeros((years, model.attachments.size)),
                   np.zeros((years, model.attachments.size), np.int64),
                   np.zeros((years, model.group_cut.size), np.int64),
                   np.zeros((years, strata), np.int64), np.zeros((years, strata), np.int64))


@dataclass(frozen=True)
class MemberPaths:
    """Member-level record of a chunk (for calibration checks): cost and leaving by year."""

    cost_usd: np.ndarray     # (years, members)
    leaves: np.ndarray       # (years, members) left at the end of the year (death or churn)
    death_month: np.ndarray  # (years, members) month of death 1-12, or 0: alive at year end


def simulate_chunk(model: ChunkModel, members: int, state: np.ndarray,
                   paths: MemberPaths | None = None) -> ChunkTotals:
    """Simulate ``members`` member slots over the term from the streams in ``state``.

    The slots start in the base year (the year before year 1) and pass one year end
    before year 1, so year-1 members have a history (for prospective risk scores and
    the care-management stratifier) and the entrants of that year end, as every later
    year has. ``paths``, when given, receives every member's cost and leaving.
    """
    out = ChunkTotals.zeros(model)
    record = paths if paths is not None else MemberPaths(np.zeros((0, 0)), np.zeros((0, 0), bool),
                                                         np.zeros((0, 0), np.int8))
    _kernel(members, model.band, model.initial_cut, model.transition_cut, model.entrant_cut,
            model.entrant_score, model.log_level, model.group_cut, model.program_cut,
            model.effects, model.attachments, state, out.totals,
            out.excess, out.claimants, out.groups, out.flagged, out.engaged, record.cost_usd,
            record.leaves, record.death_month)
    return out


@njit(inline="always")
def _pick(cut: np.ndarray, u: float) -> int:
    """Category of uniform ``u`` given cumulative probabilities ``cut`` (last one 1)."""
    k = 0
    for i in range(cut.size - 1):
        k += u >= cut[i]
    return k


@njit(inline="always")
def _pick_row(cut: np.ndarray, row: int, u: float) -> int:
    """:func:`_pick` on row ``row`` of a table of cumulative probabilities (no row view:
    a view inside the loop would cost reference counting)."""
    k = 0
    for i in range(cut.shape[1] - 1):
        k += u >= cut[row, i]
    return k


@njit(inline="always")
def _pick_cell(cut: np.ndarray, i: int, j: int, u: float) -> int:
    """:func:`_pick` on cell ``(i, j)`` of a 3-d table of cumulative probabilities."""
    k = 0
    for n in range(cut.shape[2] - 1):
        k += u >= cut[i, j, n]
    return k


@njit(inline="always")
def _year_end(band: np.ndarray, b: int, stream: Stream) -> tuple[Stream, bool, bool, float]:
    """Whether the member dies this year, leaves at its end (death or churn), and the
    months of exposure lost to death. One uniform decides: below the death probability
    ``p`` the member dies (and ``u/p``, uniform, gives the month of death), below
    ``p + (1 - p) churn`` a survivor leaves."""
    stream, u = uniform(stream)
    p = band[b, _DEATH_PROB]
    if u < p:  # month of death floor(12 u/p) + 1; exposure ends then
        return stream, True, True, 11.0 - np.floor(12.0 * u / p)
    return stream, False, u < band[b, _LEAVE_PROB], 0.0


@njit(cache=True, error_model="numpy")
def _kernel(members, band, initial_cut, transition_cut, entrant_cut, entrant_score,
            log_level, group_cut, program_cut, effects, attachments, state,
            totals, excess, claimants, groups, flagged, engaged, record_cost, record_leaves,
            record_death_month):
    """Simulate one chunk (arguments: the fields of :class:`ChunkModel`, the stream states,
    the arrays of :class:`ChunkTotals` to add to, and of :class:`MemberPaths` or empty).

    Year by year over all members, so that the year's totals stay in registers; so do the
    streams, loaded from ``state`` at the start and stored back at the end."""
    has_groups, has_program = group_cut.size > 0, effects.shape[1] > 0
    record = record_cost.shape[0] > 0
    initial, transition, zero, severity = (load(state, _INITIAL), load(state, _TRANSITION),
                                           load(state, _ZERO), load(state, _SEVERITY))
    year_end, entry, group, stratify = (load(state, _YEAR_END), load(state, _ENTRY),
                                        load(state, _GROUP), load(state, _STRATIFY))
    band_of = np.empty(members, np.int64)
    group_of = np.zeros(members, np.int64)
    leaves_of = np.empty(members, np.bool_)
    for m in range(members):  # the base year: a band, a group, and its year end
        initial, u = uniform(initial)
        band_of[m] = _pick(initial_cut, u)
        if has_groups:
            group, u = uniform(group)
            group_of[m] = _pick(group_cut, u)
        year_end, _, leaves_of[m], _ = _year_end(band, band_of[m], year_end)
    for y in range(log_level.size):
        level = np.exp(log_level[y])
        allowed = score_sum = months_lost = score_months_lost = 0.0
        deaths = leavers = 0
        for m in range(members):
            prior, new = band_of[m], leaves_of[m]
            if new:
                entry, u = uniform(entry)
                b = _pick(entrant_cut, u)
                score = entrant_score
                if has_groups:
                    group, u = uniform(group)
                    group_of[m] = _pick(group_cut, u)
            else:
                score = band[prior, _SCORE]
                transition, u = uniform(transition)
                b = _pick_row(transition_cut, prior, u)
            # Branch-free where outcomes are too random to predict: a mispredicted branch
            # at the end of the band's chain of dependent loads costs more than drawing a
            # severity that a zero-cost year then discards.
            zero, u = uniform(zero)
            paid = 1.0 if u >= band[b, _ZERO_PROB] else 0.0
            if band[b, _IS_GAMMA] > 0.0:
                severity, g = gamma(severity, band[b, _SHAPE])
                cost = paid * level * band[b, _SCALE] * g
            else:  # single-precision exp: a relative error of about 1e-6 in a member's cost
                severity, z = normal(severity)
                cost = paid * float(np.exp(np.float32(band[b, _LOG_SCALE] + log_level[y]
                                                      + band[b, _SIGMA] * z)))
            if has_program and not new:  # entrants have no history to be flagged on
                stratify, u = uniform(stratify)
                if u >= program_cut[y, prior, 0]:  # most members are not flagged: one test
                    outcome = _pick_cell(program_cut, y, prior, u)
                    stratum = (outcome - 1) // 2
                    flagged[y, stratum] += 1
                    if outcome % 2 == 1:
                        engaged[y, stratum] += 1
                        cost *= 1.0 - effects[y, stratum]
            year_end, died, leaves, lost = _year_end(band, b, year_end)
            allowed += cost
            score_sum += score
            leavers += leaves
            if died:
                deaths += 1
                months_lost += lost
                score_months_lost += score * lost
            for k in range(attachments.size):
                if cost <= attachments[k]:
                    break
                excess[y, k] += cost - attachments[k]
                claimants[y, k] += 1
            if has_groups:
                groups[y, group_of[m]] += 1
            if record:
                record_cost[y, m] = cost
                record_leaves[y, m] = leaves
                record_death_month[y, m] = 12 - lost if died else 0
            band_of[m], leaves_of[m] = b, leaves
        totals[y, _MONTHS] += 12.0 * members - months_lost
        totals[y, _SCORE_MONTHS] += 12.0 * score_sum - score_months_lost
        totals[y, _ALLOWED] += allowed
        totals[y, _DEATHS] += deaths
        totals[y, _LEAVERS] += leavers
    streams = (initial, transition, zero, severity, year_end, entry, group, stratify)  # PURPOSES' order
    for row, stream in enumerate(streams):
        store(state, row, stream)


def member_paths(tables: CostTables, members: int, levels: np.ndarray, churn: float,
                 seed: int, trial: int = 0) -> MemberPaths:
    """Every member's cost and leaving over ``len(levels)`` years (one segment, one chunk's
    streams), for checking the cost model against member-level calibration targets."""
    shape = (len(levels), members)
    paths = MemberPaths(np.zeros(shape), np.zeros(shape, bool), np.zeros(shape, np.int8))
    simulate_chunk(ChunkModel.build(tables, churn, levels, np.zeros(0)), members,
                   stream_states(seed, trial, PURPOSES, 0, 0), paths)
    return paths


def simulate_block(scenario: ExperienceInputs, trials: range) -> ExperienceBlock:
    """Experience aggregates of ``trials`` (the engine interface)."""
    block = empty_block(scenario, len(trials))
    plan = program_plan(scenario)
    if plan is not None:
        block["program_cost_usd"][:] = plan.cost_usd
    models = _segment_models(scenario, plan)
    for i, trial in enumerate(trials):
        effects = None if plan is None else plan.effects(scenario.run.seed, trial, scenario.term.years)
        index = trend_index(scenario, trial)
        block["trend_index"][i] = index
        block["quality_score_pct"][i] = quality_scores(scenario, trial)
        for s, seg in enumerate(scenario.segments.values()):
            model = models[s].for_trial(seg.cost_factor * index[:, s], effects)
            for chunk, start in enumerate(range(0, seg.members, MEMBER_CHUNK)):
                state = stream_states(scenario.run.seed, trial, PURPOSES, s, chunk)
                _accumulate(block, (i, slice(None), s),
                            simulate_chunk(model, min(MEMBER_CHUNK, seg.members - start), state))
        fill_measures(scenario, trial, block, i)
    return block


def _segment_models(scenario: ExperienceInputs, plan: ProgramPlan | None) -> list[ChunkModel]:
    """Each segment's kernel inputs that do not change from trial to trial."""
    attachments = np.array(scenario.stop_loss_attachments())
    groups = None if scenario.quality is None else scenario.quality.groups
    years = scenario.term.years
    models = []
    for seg in scenario.segments.values():
        cost_model = scenario.cost_models[seg.cost_model]
        program = None if plan is None else ProgramInTrial(
            plan.stratum_of_band(cost_model.band_names), plan.program.accuracy_pct / 100,
            plan.operations.engaged_fraction, np.zeros((years, len(plan.strata))))
        models.append(ChunkModel.build(
            CostTables.from_model(cost_model), seg.churn_pct / 100, np.ones(years), attachments,
            None if groups is None else np.array([seg.group_mix[g] for g in groups]), program))
    return models


def _accumulate(block: ExperienceBlock, at: tuple, out: ChunkTotals) -> None:
    for k, name in enumerate(TOTALS):  # counts are whole numbers held exactly in float64
        block[name][at] += out.totals[:, k].astype(block[name].dtype)
    block["excess_usd"][at] += out.excess
    block["claimants"][at] += out.claimants
    if out.groups.size:
        block["group_members"][at] += out.groups
    if out.flagged.size:
        block["program_flagged"][at] += out.flagged
        block["program_engaged"][at] += out.engaged

"""The member engine: every member simulated, year by year, in one compiled kernel.

Each segment's members are split into fixed-size chunks; each (trial,
segment, chunk) has its own streams per random purpose, so results depend
only on the scenario and the seed. A chunk is simulated by one numba kernel,
year by year over its members, keeping each member's band, group and whether
it left. Member ``m`` of a chunk draws from lane ``m % LANES`` of each
purpose's numpy SFC64 streams, stepped side by side in vector instructions
(:mod:`simulator.experience.jit_random`); members go through the kernel in
batches, stage by stage. A member-year goes through:

1. next band: the transition matrix for those who stayed, the entrant mix
   (and a new group) in the slots of last year's leavers and decedents, so
   the population size stays constant (one uniform either way);
2. cost: zero with the band's zero-cost probability, else a draw from the
   band's severity, times the segment's cost level that year;
3. care management: a member who stayed is flagged into a stratum and engaged
   or not (one draw); an engaged member-year costs less by the stratum's effect;
4. year end: death (band probability; month of death uniform on 1..12,
   exposure ends then, the year's cost is still incurred), else churn with
   the segment's rate (one draw for both).

Only per-(trial, year, segment) aggregates leave a chunk. Every member-year
draws a band uniform, a zero-cost uniform, a severity word (which a zero-cost
year discards) and a year-end uniform, and a stratification uniform when there
is a program; each purpose keeps its own streams, so a program switched on or
a contract term changed never moves the cost draws. The rare draws that need
more (a normal outside the ziggurat's rectangle, a gamma severity) take them
from the purpose's scalar stream, in member order.

The layout changed in December 2026 (issue 18: lanes, the entrant band from the
transition stream): member-engine results of earlier versions differ from
today's in their draws, not in distribution.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np
from numba import njit

from .costs import BandSeverities, CostTables, cumulative, trend_index
from .dataset import ExperienceBlock, empty_block
from .jit_random import (LANES, ZIGGURAT_RATIO, ZIGGURAT_X, exp, fill_uniforms, fill_words, gamma,
                         lane_states, normal_outside_rectangle, ziggurat_point)
from .programs import ProgramPlan, program_plan
from .quality import fill_measures, quality_scores
from .streams import Purpose

if TYPE_CHECKING:
    from .inputs import ExperienceInputs

MEMBER_CHUNK = 1 << 17
"""Members per chunk. Part of the random-stream layout: changing it changes the draws."""

PURPOSES = [Purpose.INITIAL_BAND, Purpose.TRANSITION, Purpose.ZERO_COST, Purpose.SEVERITY,
            Purpose.DEATH, Purpose.GROUP, Purpose.STRATIFY]
"""The streams of one chunk, in the row order of its state arrays. One uniform from the
TRANSITION streams gives the band of a stayer or of an entrant in its slot; one from DEATH
decides death and churn together; one from STRATIFY decides the care-management stratum and
engagement together (so the draws of a stream never depend on other outcomes)."""
_INITIAL, _TRANSITION, _ZERO, _SEVERITY, _YEAR_END, _GROUP, _STRATIFY = range(len(PURPOSES))

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


GUIDE = 1024
"""Buckets of the guide tables that start a categorical draw near its answer."""


def guide_table(cut: np.ndarray, size: int = GUIDE) -> np.ndarray:
    """For cumulative probabilities ``cut`` (last axis, last entry 1), the category of each
    bucket's lower edge ``q / size``: a draw ``u`` in bucket ``q`` is of that category or a
    later one, so a search from it ends after a step or two (Chen and Asau's guide table)."""
    edges = np.arange(size) / size
    return (cut[..., :-1, None] <= edges).sum(axis=-2).astype(np.int8)


@dataclass(frozen=True)
class ChunkModel:
    """The inputs of the kernel for one segment and trial, as flat arrays.

    Categorical draws of the year loop are by a row of a table of cumulative probabilities
    and its guide table (:func:`guide_table`): the band by the prior band's transition row or,
    for an entrant, the last row (the entrant mix); the care-management outcome by the prior
    band's row or, for an entrant, the last row (never flagged)."""

    band: np.ndarray              # (bands, 9) parameter table, columns as above
    initial_cut: np.ndarray       # cumulative start mix (also the stratifier's guess mix)
    band_cut: np.ndarray          # (bands + 1, bands) cumulative transition rows, then entrant mix
    band_guide: np.ndarray
    entrant_score: float
    log_level: np.ndarray         # (years,) log of the cost level
    group_cut: np.ndarray         # cumulative group mix, empty without groups
    program_cut: np.ndarray       # (years, bands + 1, outcomes); outcomes 1 without a program
    program_guide: np.ndarray
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
        band_cut = cumulative(np.vstack([tables.transition, tables.entrant_mix]))
        years = len(levels)
        outcomes = (np.ones((years, tables.n_bands, 1)) if program is None
                    else program.outcome_probabilities(start))
        never_flagged = np.zeros((years, 1, outcomes.shape[2]))
        never_flagged[..., 0] = 1.0
        program_cut = cumulative(np.concatenate([outcomes, never_flagged], axis=1))
        return cls(
            band=np.ascontiguousarray(band), initial_cut=cumulative(start),
            band_cut=band_cut, band_guide=guide_table(band_cut), entrant_score=entrant_score,
            log_level=np.log(np.asarray(levels, float)),
            group_cut=np.zeros(0) if group_mix is None else cumulative(group_mix),
            program_cut=program_cut, program_guide=guide_table(program_cut),
            effects=(np.zeros((years, 0)) if program is None
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


def simulate_chunk(model: ChunkModel, members: int, states: tuple[np.ndarray, np.ndarray],
                   paths: MemberPaths | None = None) -> ChunkTotals:
    """Simulate ``members`` member slots over the term from the streams ``states`` (scalar
    and lanes, :func:`~simulator.experience.jit_random.lane_states`).

    The slots start in the base year (the year before year 1) and pass one year end
    before year 1, so year-1 members have a history (for prospective risk scores and
    the care-management stratifier) and the entrants of that year end, as every later
    year has. ``paths``, when given, receives every member's cost and leaving.
    """
    out = ChunkTotals.zeros(model)
    record = paths if paths is not None else MemberPaths(np.zeros((0, 0)), np.zeros((0, 0), bool),
                                                         np.zeros((0, 0), np.int8))
    _kernel(members, model.band, model.initial_cut, model.band_cut, model.band_guide,
            model.entrant_score, model.log_level, model.group_cut, model.program_cut,
            model.program_guide, model.effects, model.attachments, *states, out.totals,
            out.excess, out.claimants, out.groups, out.flagged, out.engaged, record.cost_usd,
            record.leaves, record.death_month)
    return out


BATCH = 1024
"""Members simulated together, stage by stage (a multiple of ``LANES``). Not part of the
random-stream layout: the draws do not depend on it (the sums, added batch by batch, do in
their last bits)."""


@njit(inline="always")
def _pick(cut: np.ndarray, u: float) -> int:
    """Category of uniform ``u`` given cumulative probabilities ``cut`` (last one 1)."""
    k = 0
    for j in range(cut.size - 1):
        k += u >= cut[j]
    return k


@njit(inline="always")
def _category(cut: np.ndarray, guide: np.ndarray, row: int, u: float) -> int:
    """:func:`_pick` on row ``row`` of ``cut``, searching from its guide table's entry."""
    k = np.intp(guide[row, np.intp(u * guide.shape[1])])
    while u >= cut[row, k]:
        k += 1
    return k


@njit
def _draw(lanes: np.ndarray, n: int, u_band: np.ndarray, u_zero: np.ndarray, words: np.ndarray,
          u_end: np.ndarray, u_flag: np.ndarray | None, u_group: np.ndarray | None) -> None:
    """A year's draws of ``n`` members: band, zero cost, severity (raw words), year end, and
    care-management outcome and group where there are such (``None`` where not)."""
    fill_uniforms(lanes, _TRANSITION, u_band[:n])
    fill_uniforms(lanes, _ZERO, u_zero[:n])
    fill_words(lanes, _SEVERITY, words[:n])
    fill_uniforms(lanes, _YEAR_END, u_end[:n])
    if u_flag is not None:
        fill_uniforms(lanes, _STRATIFY, u_flag[:n])
    if u_group is not None:
        fill_uniforms(lanes, _GROUP, u_group[:n])


@njit
def _next_state(n: int, first: int, members: int, band_of: np.ndarray, leaves_of: np.ndarray,
                band: np.ndarray, entrant_score: float, band_cut: np.ndarray,
                band_guide: np.ndarray, u_band: np.ndarray, flag_cut: np.ndarray,
                flag_guide: np.ndarray, u_flag: np.ndarray, multiplier: np.ndarray,
                b: np.ndarray, params: np.ndarray, outcomes: np.ndarray) -> None:
    """Each member's band this year (by its prior band's row, or the entrant row) and the
    parameters the later passes need, one row of ``params`` each: zero-cost probability,
    log scale, sigma, death and leaving probability, risk score (of the prior band, or the
    entrant's), the cost multiplier of its care-management outcome, and 1 for a member (0
    for the padding after the last). ``outcomes`` counts members by outcome."""
    n_bands = band.shape[0]
    has_program = flag_cut.shape[1] > 1
    for i in range(n):
        m = first + i
        row = n_bands if leaves_of[m] else band_of[m]
        k = _category(band_cut, band_guide, row, u_band[i])
        b[i] = k
        params[0, i], params[1, i], params[2, i] = band[k, _ZERO_PROB], band[k, _LOG_SCALE], band[k, _SIGMA]
        params[3, i], params[4, i] = band[k, _DEATH_PROB], band[k, _LEAVE_PROB]
        params[5, i] = entrant_score if row == n_bands else band[row, _SCORE]
        member = m < members
        params[7, i] = 1.0 if member else 0.0
        if has_program:
            outcome = _category(flag_cut, flag_guide, row, u_flag[i])
            params[6, i] = multiplier[outcome]
            outcomes[outcome] += member
        else:
            params[6, i] = 1.0


_ZERO_I, _LOG_SCALE_I, _SIGMA_I, _DEATH_I, _LEAVE_I, _SCORE_I, _MULTIPLIER_I, _MEMBER_I = range(8)


@njit
def _normals(n: int, words: np.ndarray, z: np.ndarray, outside: np.ndarray) -> None:
    """A normal from each word by the ziggurat's rectangle test (about 99% pass it)."""
    for i in range(n):
        layer, sign, u = ziggurat_point(words[i])
        z[i] = sign * u * ZIGGURAT_X[layer]
        outside[i] = u >= ZIGGURAT_RATIO[layer]


@njit
def _costs(n: int, level: float, u_zero: np.ndarray, params: np.ndarray, z: np.ndarray,
           cost: np.ndarray) -> None:
    """Cost: zero with the band's probability, else the lognormal severity times the level
    and the care-management multiplier."""
    for i in range(n):
        paid = params[_MULTIPLIER_I, i] * params[_MEMBER_I, i] if u_zero[i] >= params[_ZERO_I, i] else 0.0
        cost[i] = paid * exp(params[_LOG_SCALE_I, i] + level + params[_SIGMA_I, i] * z[i])


@njit
def _year_end(n: int, u: np.ndarray, params: np.ndarray, leaves: np.ndarray, lost: np.ndarray) -> None:
    """Whether each member leaves at the end of the year (death or churn), and the months of
    exposure lost to death (-1 for a survivor). One uniform decides: below the death
    probability ``p`` the member dies (and ``u/p``, uniform, gives the month of death
    ``floor(12 u/p) + 1``; exposure ends then), below ``p + (1 - p) churn`` a survivor leaves."""
    for i in range(n):
        p = params[_DEATH_I, i]
        leaves[i] = u[i] < params[_LEAVE_I, i]
        lost[i] = 11.0 - np.floor(12.0 * u[i] / p) if u[i] < p else -1.0


@njit(fastmath={"reassoc"})
def _add_totals(n: int, cost: np.ndarray, params: np.ndarray, lost: np.ndarray,
                leaves: np.ndarray, totals: np.ndarray) -> None:
    """Add a batch to a year's totals (member-months and score-months less the months lost).

    The additions may be reordered (``fastmath`` reassociation) so that the compiler
    vectorises them: the order is then fixed by the compiled code, so one machine gives the
    same sums on every run and for any number of workers."""
    allowed = score_sum = months_lost = score_months_lost = deaths = leavers = 0.0
    for i in range(n):
        member, score = params[_MEMBER_I, i], params[_SCORE_I, i]
        died = member * (lost[i] >= 0.0)
        allowed += cost[i]
        score_sum += member * score
        months_lost += died * lost[i]
        score_months_lost += died * lost[i] * score
        deaths += died
        leavers += member * leaves[i]
    totals[_MONTHS] -= months_lost
    totals[_SCORE_MONTHS] += 12.0 * score_sum - score_months_lost
    totals[_ALLOWED] += allowed
    totals[_DEATHS] += deaths
    totals[_LEAVERS] += leavers


@njit
def _stop_loss(n: int, cost: np.ndarray, attachments: np.ndarray, excess: np.ndarray,
               claimants: np.ndarray) -> None:
    """Cost above each attachment: few members pass the lowest."""
    lowest = attachments[0] if attachments.size else np.inf
    for i in range(n):
        if cost[i] > lowest:
            for k in range(attachments.size):
                if cost[i] <= attachments[k]:
                    break
                excess[k] += cost[i] - attachments[k]
                claimants[k] += 1


@njit
def _rare_severities(n: int, band: np.ndarray, b: np.ndarray, words: np.ndarray,
                     outside: np.ndarray, scalar: np.ndarray, z: np.ndarray,
                     params: np.ndarray) -> None:
    """In member order, from the severity's scalar stream: the normal of a word outside its
    layer's rectangle (the ziggurat's slow path), and a gamma band's severity (``z`` its
    log, with log scale 0 and sigma 1, so that :func:`_costs` gives the gamma variate)."""
    any_gamma = band[:, _IS_GAMMA].max() > 0.0
    for i in range(n):
        if any_gamma and band[b[i], _IS_GAMMA] > 0.0:
            z[i] = np.log(band[b[i], _SCALE] * gamma(scalar, _SEVERITY, band[b[i], _SHAPE]))
            params[_LOG_SCALE_I, i], params[_SIGMA_I, i] = 0.0, 1.0
        elif outside[i]:
            layer, sign, u = ziggurat_point(words[i])
            z[i] = normal_outside_rectangle(scalar, _SEVERITY, layer, sign, u)


@njit(cache=True, error_model="numpy")
def _kernel(members, band, initial_cut, band_cut, band_guide, entrant_score, log_level,
            group_cut, program_cut, program_guide, effects, attachments, scalar, lanes,
            totals, excess, claimants, groups, flagged, engaged, record_cost, record_leaves,
            record_death_month):
    """Simulate one chunk (arguments: the fields of :class:`ChunkModel`, the scalar and lane
    stream states, the arrays of :class:`ChunkTotals` to add to, and of
    :class:`MemberPaths` or empty).

    Year by year, ``BATCH`` members at a time, in passes over the batch, each a small
    function: the draws, the band and its parameters (scalar: table look-ups), then passes
    of plain arithmetic that the compiler vectorises (normals, costs, year end, totals). The
    rare outcomes (a normal outside the ziggurat's rectangle, a gamma band, a stop-loss
    claimant) take scalar passes of their own."""
    n_bands, strata = band.shape[0], effects.shape[1]
    has_groups, record = group_cut.size > 0, record_cost.shape[0] > 0
    slots = -(-members // LANES) * LANES  # whole lane steps: the draws do not depend on BATCH
    band_of = np.zeros(slots, np.int64)
    group_of = np.zeros(slots, np.int64)
    leaves_of = np.zeros(slots, np.bool_)
    uniforms = np.empty((5, BATCH))
    u_band, u_zero, u_end, u_flag, u_group = uniforms[0], uniforms[1], uniforms[2], uniforms[3], uniforms[4]
    words = np.empty(BATCH, np.uint64)
    b = np.empty(BATCH, np.int64)
    params = np.empty((8, BATCH))
    z, cost, lost = np.empty(BATCH), np.empty(BATCH), np.empty(BATCH)
    leaves, outside = np.empty(BATCH, np.bool_), np.empty(BATCH, np.bool_)
    outcomes = np.zeros(1 + 2 * strata, np.int64)
    multiplier = np.ones(1 + 2 * strata)
    for first in range(0, slots, BATCH):  # the base year: a band, a group, and its year end
        n = min(BATCH, slots - first)
        fill_uniforms(lanes, _INITIAL, u_band[:n])
        if has_groups:
            fill_uniforms(lanes, _GROUP, u_group[:n])
        fill_uniforms(lanes, _YEAR_END, u_end[:n])
        for i in range(n):
            b[i] = _pick(initial_cut, u_band[i])
            params[_DEATH_I, i], params[_LEAVE_I, i] = band[b[i], _DEATH_PROB], band[b[i], _LEAVE_PROB]
            if has_groups:
                group_of[first + i] = _pick(group_cut, u_group[i])
        _year_end(n, u_end, params, leaves, lost)
        band_of[first:first + n] = b[:n]
        leaves_of[first:first + n] = leaves[:n]
    for y in range(log_level.size):
        totals[y, _MONTHS] += 12.0 * members
        multiplier[1::2] = 1.0 - effects[y]  # outcome 2s + 1: flagged into stratum s, engaged
        outcomes[:] = 0
        for first in range(0, slots, BATCH):
            n = min(BATCH, slots - first)
            _draw(lanes, n, u_band, u_zero, words, u_end, u_flag if strata else None,
                  u_group if has_groups else None)
            _next_state(n, first, members, band_of, leaves_of, band, entrant_score, band_cut,
                        band_guide, u_band, program_cut[y], program_guide[y], u_flag, multiplier,
                        b, params, outcomes)
            _normals(n, words, z, outside)
            _rare_severities(n, band, b, words, outside, scalar, z, params)
            _costs(n, log_level[y], u_zero, params, z, cost)
            _year_end(n, u_end, params, leaves, lost)
            _add_totals(n, cost, params, lost, leaves, totals[y])
            _stop_loss(n, cost, attachments, excess[y], claimants[y])
            if has_groups:
                for i in range(n):
                    m = first + i
                    if leaves_of[m]:  # an entrant takes a new group
                        group_of[m] = _pick(group_cut, u_group[i])
                    if m < members:
                        groups[y, group_of[m]] += 1
            if record:
                for i in range(min(n, members - first)):
                    record_cost[y, first + i] = cost[i]
                    record_leaves[y, first + i] = leaves[i]
                    record_death_month[y, first + i] = np.int8(12.0 - lost[i]) if lost[i] >= 0.0 else 0
            band_of[first:first + n] = b[:n]
            leaves_of[first:first + n] = leaves[:n]
        flagged[y] += outcomes[1::2] + outcomes[2::2]
        engaged[y] += outcomes[1::2]


def member_paths(tables: CostTables, members: int, levels: np.ndarray, churn: float,
                 seed: int, trial: int = 0) -> MemberPaths:
    """Every member's cost and leaving over ``len(levels)`` years (one segment, one chunk's
    streams), for checking the cost model against member-level calibration targets."""
    shape = (len(levels), members)
    paths = MemberPaths(np.zeros(shape), np.zeros(shape, bool), np.zeros(shape, np.int8))
    simulate_chunk(ChunkModel.build(tables, churn, levels, np.zeros(0)), members,
                   lane_states(seed, trial, PURPOSES, 0, 0), paths)
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
                states = lane_states(scenario.run.seed, trial, PURPOSES, s, chunk)
                _accumulate(block, (i, slice(None), s),
                            simulate_chunk(model, min(MEMBER_CHUNK, seg.members - start), states))
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

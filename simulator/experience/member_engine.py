"""The member engine: every member-year drawn on its own, in one compiled kernel.

Each segment's members are split into fixed-size chunks; each (trial, segment, chunk)
has its own stream per random purpose, so results depend only on the scenario and the
seed. A year of a member goes through:

1. next band: the transition matrix for those who stayed, the entrant mix (and a new
   group) in the places of last year's leavers and decedents, so the population size
   stays constant;
2. care management: a member who stayed is flagged into a stratum and engaged or not
   (one draw), by its prior band;
3. cost: zero with the band's zero-cost probability, else a draw from the band's
   severity, times the segment's cost level that year; an engaged member-year costs
   less by the stratum's effect;
4. year end: death (band probability; month of death uniform on 1..12, exposure ends
   then, the year's cost is still incurred), else churn with the segment's rate (one
   draw for both).

Members in one state are interchangeable, so the kernel (one numba function per chunk)
keeps how many members each group and band holds, not who they are, and goes through a
year cell by cell: the members of one group, prior band (or entrants) and band, in
order of care-management outcome. Every member of a cell has the same parameters, so
each step is a loop over the cell's members that compiles to vector instructions, and
each member still draws its own numbers: a uniform for its band, one for its outcome,
one for a zero-cost year, a normal (or gamma) severity and a uniform for its year end.
A purpose's stream spawns ``LANES`` streams stepped side by side
(:func:`spawn_lanes`); a cell draws in batches of
``BATCH`` members, each batch's words rounded up to a whole step of the lanes. A
uniform ``u`` is compared with a probability ``p`` exactly, as integers (``u >= p``
when the word's top 53 bits reach ``ceil(p 2**53)``).

The layout keeps the engine's common random numbers: a cell's members draw their
severities and year ends in one run of words whatever their care-management outcomes,
so switching a program on or changing a contract term changes which members are
engaged, never the cost draws. Only per-(trial, year, segment) aggregates leave a
chunk. The layout changed on 4 December 2026 (``MEMBER_STREAM_LAYOUT``), and with it every
member-engine result, once.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np
from numba import njit

from .costs import BandSeverities, CostTables, cumulative, trend_index
from .dataset import ExperienceBlock, empty_block
from .jit_random import Stream, gamma, load, next_uint64, normal_from_word, store, stream_states
from .programs import ProgramPlan, program_plan
from .quality import fill_measures, quality_scores
from .streams import Purpose

if TYPE_CHECKING:
    from .inputs import ExperienceInputs

LANES = 16
"""Streams each chunk stream spawns, stepped side by side: four vectors of four 64-bit words
(AVX2) per step of the loop. Part of the random-stream layout (kept in this module, whose
edits numba notices: its cached kernel compiles this number in)."""
_SEED_STEPS = 12  # SFC64's own seeding: three words, a counter of one, twelve steps
MEMBER_CHUNK = 1 << 17
"""Members per chunk. Part of the random-stream layout: changing it changes the draws."""
BATCH = 512
"""Members of a cell drawn for together, their words padded to a multiple of ``LANES`` (the
rest are discarded). Part of the random-stream layout."""
assert BATCH % LANES == 0 and LANES % 8 == 0  # whole lane steps fill a batch; _sum takes eights

PURPOSES = [Purpose.INITIAL_BAND, Purpose.TRANSITION, Purpose.ZERO_COST, Purpose.SEVERITY,
            Purpose.DEATH, Purpose.ENTRY, Purpose.GROUP, Purpose.STRATIFY]
"""The streams of one chunk, in the row order of its state array. One uniform from the
DEATH stream decides death and churn together; one from STRATIFY decides the care-management
stratum and engagement together (so the draws of a stream never depend on other outcomes)."""
_INITIAL, _TRANSITION, _ZERO, _SEVERITY, _YEAR_END, _ENTRY, _GROUP, _STRATIFY = range(len(PURPOSES))

_TWO53 = 9007199254740992.0
_U53 = 1.0 / _TWO53  # a word's top 53 bits times this: its uniform
_INV_LN2 = 1.4426950408889634
_LN2_HIGH, _LN2_LOW = 0.6931471803691238, 1.9082149292705877e-10  # ln 2, split (Cody and Waite)
_E2, _E3, _E4, _E5, _E6, _E7, _E8, _E9, _E10, _E11 = (1.0 / np.cumprod(np.arange(1.0, 12.0)))[1:]

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


@njit(cache=True)
def spawn_lanes(states: np.ndarray) -> np.ndarray:
    """``LANES`` streams for each row of ``states``, shape (rows, 4, LANES): lane ``l`` of a
    row is seeded as SFC64 seeds itself, from three words of that row's stream (its outputs
    ``3l`` to ``3l + 2``, a counter of one, twelve steps). ``states`` is stepped past them."""
    lanes = np.empty((states.shape[0], 4, LANES), np.uint64)
    for row in range(states.shape[0]):
        parent = load(states, row)
        for lane in range(LANES):
            parent, a = next_uint64(parent)
            parent, b = next_uint64(parent)
            parent, c = next_uint64(parent)
            child = (a, b, c, np.uint64(1))
            for _ in range(_SEED_STEPS):
                child, _ = next_uint64(child)
            _set_lane(lanes, row, lane, child)
        store(states, row, parent)
    return lanes


@njit(inline="always")
def fill_words(lanes: np.ndarray, row: int, out: np.ndarray, steps: int) -> None:
    """``steps * LANES`` words of lane streams ``lanes[row]`` into ``out``: word
    ``s * LANES + l`` is lane ``l``'s output at step ``s``."""
    for step in range(steps):
        for lane in range(LANES):  # innermost and independent: vectorized
            stream, out[step * LANES + lane] = next_uint64(
                (lanes[row, 0, lane], lanes[row, 1, lane], lanes[row, 2, lane], lanes[row, 3, lane]))
            _set_lane(lanes, row, lane, stream)


@njit(inline="always")
def _set_lane(lanes: np.ndarray, row: int, lane: int, stream: Stream) -> None:
    lanes[row, 0, lane], lanes[row, 1, lane], lanes[row, 2, lane], lanes[row, 3, lane] = stream


def load_kernel() -> None:
    """Load the compiled kernel now (compiling it on a machine's first run), by simulating a
    chunk of no members: workers forked afterwards inherit it instead of each loading it."""
    years, bands = 1, 1
    model = ChunkModel(band=np.zeros((bands, 9)), initial_cut=np.ones(bands),
                       transition_cut=np.ones((bands, bands)), entrant_cut=np.ones(bands),
                       entrant_score=1.0, log_level=np.zeros(years), group_cut=np.zeros(0),
                       program_cut=np.zeros((years, bands, 0)), effects=np.zeros((years, 0)),
                       attachments=np.zeros(0))
    simulate_chunk(model, 0, stream_states(0, 0, PURPOSES))


def simulate_chunk(model: ChunkModel, members: int, state: np.ndarray) -> ChunkTotals:
    """Simulate ``members`` member slots over the term from the streams in ``state``.

    The slots start in the base year (the year before year 1) and pass one year end
    before year 1, so year-1 members have a history (for prospective risk scores and
    the care-management stratifier) and the entrants of that year end, as every later
    year has.
    """
    years, strata = model.effects.shape
    outcomes = (years, model.band.shape[0], 1 + 2 * strata)
    if model.log_level.size != years or (strata and model.program_cut.shape != outcomes):
        raise ValueError("a chunk model's cost levels, program outcomes and effects must cover "
                         "the same years, and the outcomes be 1 + 2 per stratum")
    out = ChunkTotals.zeros(model)
    _kernel(members, model.band, model.initial_cut, model.transition_cut, model.entrant_cut,
            model.entrant_score, model.log_level, model.group_cut, model.program_cut,
            model.effects, model.attachments, state, out.totals, out.excess, out.claimants,
            out.groups, out.flagged, out.engaged)
    return out


@njit(inline="always")
def _threshold(p: float) -> int:
    """The integer a word's top 53 bits must reach for its uniform to be at least ``p``."""
    return np.int64(np.ceil(p * _TWO53))


@njit(inline="always")
def _top(word: np.uint64) -> int:
    """A word's top 53 bits: its uniform is ``_top(word) * 2**-53``."""
    return np.int64(word >> np.uint64(11))


@njit(cache=True)
def _split(lanes: np.ndarray, row: int, members: int, cut: np.ndarray, out: np.ndarray,
           words: np.ndarray) -> None:
    """Add to ``out[k]`` how many of ``members`` fall in category ``k`` of the cumulative
    probabilities ``cut``, each by a uniform of its own from lane streams ``row``: the
    category of ``u`` is how many of ``cut[:-1]`` it reaches."""
    reached = np.zeros(cut.size, np.int64)
    for start in range(0, members, BATCH):
        m = min(BATCH, members - start)
        fill_words(lanes, row, words, -(-m // LANES))
        for k in range(cut.size - 1):  # one vectorized count per threshold
            t, count = _threshold(cut[k]), 0
            for i in range(m):
                count += _top(words[i]) >= t
            reached[k] += count
    below = members
    for k in range(cut.size - 1):
        out[k] += below - reached[k]
        below = reached[k]
    out[cut.size - 1] += below


@njit(cache=True, error_model="numpy")
def _kernel(members, band, initial_cut, transition_cut, entrant_cut, entrant_score,
            log_level, group_cut, program_cut, effects, attachments, state,
            totals, excess, claimants, groups, flagged, engaged):
    """Simulate one chunk (arguments: the fields of :class:`ChunkModel`, the stream states,
    the arrays of :class:`ChunkTotals` to add to).

    Members in one state are interchangeable, so a year goes cell by cell, a cell being the
    members of one group, prior band (or entrants) and band: every member of a cell has the
    same parameters, and the loops over its members are vector code."""
    n_bands, n_groups = band.shape[0], max(group_cut.size, 1)
    has_groups, has_program = group_cut.size > 0, effects.shape[1] > 0
    outcomes = program_cut.shape[2] if has_program else 1
    lanes = spawn_lanes(state)
    spare = load(state, _SEVERITY)  # the severity draws outside the vector path
    words = np.empty(BATCH, np.uint64)
    buffers = np.empty((3, BATCH))  # costs, normals, powers of two
    by_band, by_group = np.zeros(n_bands, np.int64), np.zeros(n_groups, np.int64)
    stayers = np.zeros((n_groups, n_bands), np.int64)  # by group and band, after a year end
    leavers = _base_year(members, band, initial_cut, group_cut, lanes, words, stayers)
    cell = np.zeros((n_groups, n_bands + 1, n_bands, outcomes), np.int64)  # prior n_bands: entrants
    factor = np.ones(outcomes)  # cost factor of each care-management outcome
    for y in range(log_level.size):
        cell[:] = 0
        for g in range(n_groups):
            for p in range(n_bands):
                by_band[:] = 0
                _split(lanes, _TRANSITION, stayers[g, p], transition_cut[p], by_band, words)
                for b in range(n_bands):
                    if has_program:
                        _split(lanes, _STRATIFY, by_band[b], program_cut[y, p], cell[g, p, b], words)
                    else:
                        cell[g, p, b, 0] = by_band[b]
        by_band[:] = 0
        _split(lanes, _ENTRY, leavers, entrant_cut, by_band, words)
        for b in range(n_bands):
            if has_groups:
                by_group[:] = 0
                _split(lanes, _GROUP, by_band[b], group_cut, by_group, words)
                cell[:, n_bands, b, 0] = by_group
            else:
                cell[0, n_bands, b, 0] = by_band[b]
        for o in range(1, outcomes, 2):  # flagged into stratum (o - 1) // 2 and engaged
            factor[o] = 1.0 - effects[y, (o - 1) // 2]
        stayers[:] = 0
        leavers = 0
        year = np.zeros(len(TOTALS))
        for g in range(n_groups):
            for p in range(n_bands + 1):
                score = entrant_score if p == n_bands else band[p, _SCORE]
                for b in range(n_bands):
                    size = cell[g, p, b].sum()
                    if size == 0:
                        continue
                    spare, left, deaths, lost, allowed = _cell_year(
                        band[b], log_level[y], cell[g, p, b], factor, attachments, lanes, spare,
                        words, buffers, excess[y], claimants[y])
                    stayers[g, b] += size - left
                    leavers += left
                    year[_MONTHS] += 12.0 * size - lost
                    year[_SCORE_MONTHS] += score * (12.0 * size - lost)
                    year[_ALLOWED] += allowed
                    year[_DEATHS] += deaths
                    year[_LEAVERS] += left
                    if has_groups:
                        groups[y, g] += size
                    for o in range(1, outcomes):
                        flagged[y, (o - 1) // 2] += cell[g, p, b, o]
                        if o % 2 == 1:
                            engaged[y, (o - 1) // 2] += cell[g, p, b, o]
        totals[y] += year
    store(state, _SEVERITY, spare)


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


@njit(cache=True)
def _base_year(members, band, initial_cut, group_cut, lanes, words, stayers) -> int:
    """The base year: members by band and group, then its year end. Fills ``stayers`` (by
    group and band) and returns how many left."""
    n_bands = band.shape[0]
    by_band, leave, cut = np.zeros(n_bands, np.int64), np.zeros(2, np.int64), np.ones(2)
    _split(lanes, _INITIAL, members, initial_cut, by_band, words)
    leavers = 0
    for b in range(n_bands):
        if group_cut.size:
            _split(lanes, _GROUP, by_band[b], group_cut, stayers[:, b], words)
        else:
            stayers[0, b] = by_band[b]
        cut[0] = band[b, _LEAVE_PROB]
        for g in range(stayers.shape[0]):
            leave[:] = 0
            _split(lanes, _YEAR_END, stayers[g, b], cut, leave, words)
            stayers[g, b] = leave[1]
            leavers += leave[0]
    return leavers


@njit(cache=True)
def _cell_year(params, log_level, counts, factor, attachments, lanes, spare, words, buffers,
               excess, claimants):
    """One year of a cell: members of one band (``params``, its row of the band table), in
    ``counts[o]`` by care-management outcome ``o`` (cost factor ``factor[o]``), in that order.

    Adds to the year's stop-loss ``excess`` and ``claimants``; returns the spare stream,
    then the leavers, deaths, months of exposure lost to death and the allowed cost."""
    size = counts.sum()
    cost, z, bits = buffers[0], buffers[1], buffers[2].view(np.int64)
    zero_at = _threshold(params[_ZERO_PROB])
    death = params[_DEATH_PROB]
    death_at, leave_at = _threshold(death), _threshold(params[_LEAVE_PROB])
    lowest = attachments[0] if attachments.size else np.inf
    left = deaths = 0
    lost = allowed = 0.0
    scale = params[_SCALE] * np.exp(log_level)  # of a gamma band
    for start in range(0, size, BATCH):
        m = min(BATCH, size - start)
        steps = -(-m // LANES)
        padded = steps * LANES
        if params[_IS_GAMMA] > 0.0:  # rare: from the spare stream, one at a time
            for i in range(m):
                spare, g = gamma(spare, params[_SHAPE])
                cost[i] = scale * g
        else:
            fill_words(lanes, _SEVERITY, words, steps)
            for i in range(m):  # the ziggurat: its rare rejections draw from the spare stream
                spare, z[i] = normal_from_word(spare, words[i])
            z[m:padded] = 0.0
            _lognormals(params[_LOG_SCALE] + log_level, params[_SIGMA], z, bits, cost, padded)
        cost[m:padded] = 0.0
        fill_words(lanes, _ZERO, words, steps)
        for i in range(padded):
            cost[i] = cost[i] if _top(words[i]) >= zero_at else 0.0
        _apply_factors(cost, start, m, counts, factor)
        allowed += _sum(cost, padded)
        above = 0
        for i in range(padded):
            above += cost[i] > lowest
        if above:  # few members: one at a time
            for i in range(m):
                for k in range(attachments.size):
                    if cost[i] <= attachments[k]:
                        break
                    excess[k] += cost[i] - attachments[k]
                    claimants[k] += 1
        fill_words(lanes, _YEAR_END, words, steps)
        dead = 0
        for i in range(m):  # below the death probability: dies, else below the leave one: leaves
            dead += _top(words[i]) < death_at
            left += _top(words[i]) < leave_at
        if dead:  # the month of death, floor(12 u / p) + 1: exposure ends then
            for i in range(m):
                if _top(words[i]) < death_at:
                    lost += 11.0 - min(np.floor(12.0 * (_top(words[i]) * _U53) / death), 11.0)
        deaths += dead
    return spare, left, deaths, lost, allowed


@njit(inline="always")
def _lognormals(mu: float, sigma: float, z: np.ndarray, bits: np.ndarray, out: np.ndarray,
                n: int) -> None:
    """``out[i] = exp(mu + sigma z[i])`` for ``i < n``, in vector code: ``x = k ln 2 + r``
    with ``|r| <= ln(2) / 2``, ``exp(r)`` by its Taylor polynomial of degree 11 (relative
    error below 3e-14) and ``2**k`` written as the exponent of a double in ``bits``, a buffer
    of ``n`` int64 apart from ``out`` (it may share ``z``'s memory)."""
    for i in range(n):
        x = min(max(mu + sigma * z[i], -700.0), 700.0)
        k = np.floor(x * _INV_LN2 + 0.5)
        r = (x - k * _LN2_HIGH) - k * _LN2_LOW
        e = _E11
        e = _E10 + r * e
        e = _E9 + r * e
        e = _E8 + r * e
        e = _E7 + r * e
        e = _E6 + r * e
        e = _E5 + r * e
        e = _E4 + r * e
        e = _E3 + r * e
        e = _E2 + r * e
        e = 1.0 + r * e
        out[i] = 1.0 + r * e
        bits[i] = (np.int64(k) + 1023) << 52
    scale = bits.view(np.float64)
    for i in range(n):
        out[i] *= scale[i]


@njit(inline="always")
def _apply_factors(cost: np.ndarray, start: int, m: int, counts: np.ndarray,
                   factor: np.ndarray) -> None:
    """Multiply the cost of cell members ``start`` to ``start + m`` (held in ``cost[:m]``) by
    their outcome's factor: members ``counts[:o].sum()`` onwards have outcome ``o``."""
    first = 0
    for o in range(counts.size):
        low, high = max(first, start) - start, min(first + counts[o], start + m) - start
        if factor[o] != 1.0:
            for i in range(low, high):
                cost[i] *= factor[o]
        first += counts[o]


@njit(inline="always")
def _sum(values: np.ndarray, n: int) -> float:
    """The sum of ``values[:n]`` (``n`` a multiple of 8) in eight partial sums: vector code,
    the same order on every machine."""
    s0 = s1 = s2 = s3 = s4 = s5 = s6 = s7 = 0.0
    for i in range(0, n, 8):
        s0 += values[i]
        s1 += values[i + 1]
        s2 += values[i + 2]
        s3 += values[i + 3]
        s4 += values[i + 4]
        s5 += values[i + 5]
        s6 += values[i + 6]
        s7 += values[i + 7]
    return ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7))

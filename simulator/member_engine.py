"""The member engine: every member simulated, year by year, chunk by chunk.

Each segment's members are split into fixed-size chunks; each (trial,
segment, chunk) has its own streams per random purpose, so results depend
only on the scenario and the seed. A member-year goes through:

1. cost: zero with the band's zero-cost probability, else the band's severity
   at the member's normal score, times the segment's cost level that year;
2. death (band probability; month of death uniform on 1..12, exposure ends
   then, the year's cost is still incurred);
3. churn at year end (survivors leave with the segment's churn rate);
4. next band: the transition matrix for stayers, the entrant mix for the
   slots of leavers and decedents (the population size stays constant).

Only per-(trial, year, segment) aggregates leave a chunk.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from .costs import BandSeverities, CostTables, cumulative, trend_index
from .programs import program_plan
from .quality import fill_measures, quality_scores
from .experience import ExperienceBlock, empty_block
from .scenario import Scenario
from .streams import Purpose, stream

MEMBER_CHUNK = 1 << 17
"""Members per chunk. Part of the random-stream layout: changing it changes the draws."""

BAND_DTYPE = np.int16


@dataclass(frozen=True)
class MemberYear:
    """One simulated year of a chunk of members (arrays aligned by member slot)."""

    band: np.ndarray
    cost_usd: np.ndarray
    died: np.ndarray
    months_lost: float
    leaves: np.ndarray
    risk_score: np.ndarray
    risk_score_months_lost: float
    group: np.ndarray | None
    flagged: np.ndarray | None = None
    engaged: np.ndarray | None = None


class _Draws:
    """The streams of one (trial, segment, chunk)."""

    def __init__(self, seed: int, trial: int, segment: int, chunk: int):
        def make(purpose: Purpose) -> np.random.Generator:
            return stream(seed, trial, purpose, segment, chunk)

        self.initial, self.transition, self.zero = (make(p) for p in (
            Purpose.INITIAL_BAND, Purpose.TRANSITION, Purpose.ZERO_COST))
        self.severity, self.churn, self.death, self.entry, self.group = (make(p) for p in (
            Purpose.SEVERITY, Purpose.CHURN, Purpose.DEATH, Purpose.ENTRY, Purpose.GROUP))
        self.stratify, self.engagement = make(Purpose.STRATIFY), make(Purpose.ENGAGEMENT)


@dataclass(frozen=True)
class ProgramInTrial:
    """A program as one trial of one segment sees it."""

    stratum_of_band: np.ndarray   # (bands,) stratum index, -1 when not flagged
    accuracy: float
    engaged_fraction: np.ndarray  # (years, strata) chance a flagged member engages
    effects: np.ndarray           # (years, strata) cost reduction of an engaged member-year


class _BandArrays:
    """Per-band lookup tables in the dtypes the hot loop wants."""

    def __init__(self, tables: CostTables, churn: float):
        sev = tables.severities
        # thresholds[k][b]: P(next band <= k | band b); comparisons beat searchsorted
        # for a handful of bands
        self.thresholds = np.ascontiguousarray(cumulative(tables.transition)[:, :-1].T, np.float32)
        self.entrant = cumulative(tables.entrant_mix)[:-1].astype(np.float32)
        self.initial = cumulative(tables.start_mix(churn))[:-1].astype(np.float32)
        self.lognormal = all(s.family == "lognormal" for s in sev)
        params = BandSeverities(tables)
        self.log_scale = params.mu.astype(np.float32)
        self.sigma = params.sigma.astype(np.float32)
        self.zero_prob = tables.zero_prob.astype(np.float32)
        self.death_prob = tables.death_prob.astype(np.float32)
        self.has_zero = bool(tables.zero_prob.any())
        self.has_death = bool(tables.death_prob.any())
        scores, self.entrant_score = tables.prospective_scores(churn)
        self.scores = scores.astype(np.float32)


def member_years(tables: CostTables, members: int, levels: np.ndarray, churn: float,
                 draws: _Draws, group_mix: np.ndarray | None = None,
                 program: ProgramInTrial | None = None) -> Iterator[MemberYear]:
    """Simulate ``members`` member slots over ``len(levels)`` years.

    The slots start in the base year (the year before year 1) and pass one year end
    before year 1, so year-1 members have a history (for prospective risk scores)
    and the entrants of that year end, as every later year has.

    Parameters
    ----------
    tables
        The cost model.
    members
        Number of member slots (constant: leavers are replaced).
    levels
        Cost level multiplier per year (cost factor x trend index).
    churn
        Annual probability that a surviving member leaves.
    draws
        The streams to draw from.
    group_mix
        Probabilities of the race/ethnicity groups, for members and entrants alike.
    program
        Care management: flagged members engage with the program's engaged share and
        an engaged member-year costs less by the stratum's effect.
    """
    arrays = _BandArrays(tables, churn)
    band = _pick(arrays.initial, draws.initial.random(members, np.float32))
    group_cut = None if group_mix is None else cumulative(group_mix)[:-1].astype(np.float32)
    group = None if group_cut is None else _pick(group_cut, draws.group.random(members, np.float32))
    leaves = _deaths(arrays, band, draws, members)[0] | _churns(draws, members, churn)
    for y, level in enumerate(levels):
        prior, new = band, leaves
        score = np.take(arrays.scores, band)
        band = _year_end(arrays, band, leaves, draws, members)
        score[leaves] = arrays.entrant_score
        if group is not None:
            group[leaves] = _pick(group_cut, draws.group.random(int(np.count_nonzero(leaves)),
                                                                np.float32))
        cost = _cost(tables, arrays, band, np.float32(np.log(level)), draws, members)
        flagged = engaged = None
        if program is not None:
            flagged, engaged = _care_management(program, arrays, prior, new, y, draws, members)
            on = engaged >= 0
            cost[on] *= (1 - program.effects[y, engaged[on]]).astype(np.float32)
        died, lost = _deaths(arrays, band, draws, members)
        leaves = died | _churns(draws, members, churn)
        yield MemberYear(band, cost, died, float(lost.sum()), leaves, score,
                         float(score[died] @ lost), group, flagged, engaged)


def _care_management(program: ProgramInTrial, arrays: _BandArrays, prior: np.ndarray,
                     new: np.ndarray, year: int, draws: _Draws, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Stratum of each flagged member and of each engaged one (-1: none).

    The predicted band is the prior-year band with probability ``accuracy``, else a
    band drawn from the population mix; entrants have no history and are not flagged."""
    predicted = prior.copy()
    wrong = draws.stratify.random(n, np.float32) >= program.accuracy
    predicted[wrong] = _pick(arrays.initial, draws.stratify.random(int(np.count_nonzero(wrong)), np.float32))
    flagged = np.take(program.stratum_of_band, predicted)
    flagged[new] = -1
    engaged = np.full(n, -1, flagged.dtype)
    who = np.flatnonzero(flagged >= 0)  # one engagement draw per flagged member
    chance = np.take(program.engaged_fraction[year].astype(np.float32), flagged[who])
    take_up = draws.engagement.random(who.size, np.float32) < chance
    engaged[who[take_up]] = flagged[who[take_up]]
    return flagged, engaged


def _churns(draws: _Draws, n: int, churn: float) -> np.ndarray:
    return draws.churn.random(n, np.float32) < churn


def _year_end(arrays: _BandArrays, band: np.ndarray, leaves: np.ndarray, draws: _Draws,
              n: int) -> np.ndarray:
    """Next year's bands: transition for stayers, the entrant mix in leavers' slots."""
    u = draws.transition.random(n, np.float32)
    next_band = np.zeros(n, BAND_DTYPE)
    for row in arrays.thresholds:
        next_band += u > np.take(row, band)
    next_band[leaves] = _pick(arrays.entrant, draws.entry.random(int(np.count_nonzero(leaves)),
                                                                  np.float32))
    return next_band


def _pick(thresholds: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Category of each uniform ``u`` given cumulative ``thresholds`` (all but the last)."""
    out = np.zeros(u.size, BAND_DTYPE)
    for t in thresholds:
        out += u > t
    return out


def _cost(tables: CostTables, arrays: _BandArrays, band: np.ndarray, log_level: np.float32,
          draws: _Draws, n: int) -> np.ndarray:
    z = draws.severity.standard_normal(n, np.float32)
    cost = np.exp(np.take(arrays.log_scale, band) + log_level + np.take(arrays.sigma, band) * z)
    if not arrays.lognormal:
        level = np.exp(np.float64(log_level))
        for b, sev in enumerate(tables.severities):
            if sev.family != "lognormal":
                mask = band == b
                cost[mask] = level * sev.from_normal(z[mask].astype(np.float64))
    if arrays.has_zero:
        cost[draws.zero.random(n, np.float32) < np.take(arrays.zero_prob, band)] = 0.0
    return cost


def _deaths(arrays: _BandArrays, band: np.ndarray, draws: _Draws, n: int
            ) -> tuple[np.ndarray, np.ndarray]:
    """Who dies this year, and the months of exposure each decedent loses."""
    if not arrays.has_death:
        return np.zeros(n, bool), np.zeros(0, np.float32)
    u = draws.death.random(n, np.float32)
    p = np.take(arrays.death_prob, band)
    died = u < p
    # Given death, u/p is uniform on (0, 1): the month of death is floor(12 u/p) + 1.
    month = np.floor(12 * u[died] / p[died]) + 1
    return died, 12 - month


def simulate_block(scenario: Scenario, trials: range) -> ExperienceBlock:
    """Experience aggregates of ``trials`` (the engine interface)."""
    block = empty_block(scenario, len(trials))
    attachments = np.array(scenario.stop_loss_attachments())
    segments = list(scenario.segments.items())
    tables = [CostTables.from_model(scenario.cost_models[seg.cost_model]) for _, seg in segments]
    groups = None if scenario.quality is None else scenario.quality.groups
    plan = program_plan(scenario)
    if plan is not None:
        block["program_cost_usd"][:] = plan.cost_usd
    for i, trial in enumerate(trials):
        effects = None if plan is None else plan.effects(scenario.run.seed, trial, scenario.term.years)
        index = trend_index(scenario, trial)
        block["trend_index"][i] = index
        block["quality_score_pct"][i] = quality_scores(scenario, trial)
        for s, (_, seg) in enumerate(segments):
            levels = seg.cost_factor * index[:, s]
            mix = None if groups is None else np.array([seg.group_mix[g] for g in groups])
            program = None if plan is None else ProgramInTrial(
                plan.stratum_of_band(scenario.cost_models[seg.cost_model].band_names),
                plan.program.accuracy_pct / 100, plan.operations.engaged_fraction, effects)
            for chunk, start in enumerate(range(0, seg.members, MEMBER_CHUNK)):
                n = min(MEMBER_CHUNK, seg.members - start)
                draws = _Draws(scenario.run.seed, trial, s, chunk)
                years = member_years(tables[s], n, levels, seg.churn_pct / 100, draws, mix, program)
                for y, my in enumerate(years):
                    _accumulate(block, (i, y, s), my, attachments)
        fill_measures(scenario, trial, block, i)
    return block


def _accumulate(block: ExperienceBlock, at: tuple[int, int, int], my: MemberYear,
                attachments: np.ndarray) -> None:
    n = my.cost_usd.size
    block["member_months"][at] += 12.0 * n - my.months_lost
    block["risk_score_member_months"][at] += (
        12.0 * my.risk_score.sum(dtype=np.float64) - my.risk_score_months_lost)
    block["allowed_usd"][at] += my.cost_usd.sum(dtype=np.float64)
    block["deaths"][at] += np.count_nonzero(my.died)
    if my.flagged is not None:
        strata = block["program_flagged"].shape[-1]
        block["program_flagged"][at] += np.bincount(my.flagged[my.flagged >= 0], minlength=strata)
        block["program_engaged"][at] += np.bincount(my.engaged[my.engaged >= 0], minlength=strata)
    if my.group is not None:
        block["group_members"][at] += np.bincount(my.group, minlength=block["group_members"].shape[-1])
    block["leavers"][at] += np.count_nonzero(my.leaves)
    if attachments.size:
        large = my.cost_usd[my.cost_usd > attachments[0]].astype(np.float64)
        over = large[:, None] - attachments[None, :]
        block["excess_usd"][at] += np.where(over > 0, over, 0.0).sum(axis=0)
        block["claimants"][at] += (over > 0).sum(axis=0)

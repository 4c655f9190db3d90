"""The cohort engine: exact state counts, exact tails, moment-matched bodies.

Members in one state are exchangeable, so instead of simulating each member
the engine simulates how many members sit in each state and the sums of
their costs. A state is (history, band, program class, group): history is
last year's band (or "new" for entrants), which sets the risk score and the
care-management flag. The counts follow the member model's dynamics exactly
as a Markov chain on counts: multinomial transitions, entrants drawn from
their mix, binomial deaths, churn, flags and engagement. Each is drawn on the
counts summed over what it does not depend on (flags over groups, deaths and
churn over program classes): sums of binomial counts with one probability are
binomial, so the distribution is the same with fewer draws.

A cell of members in one band with one cost multiplier has a cost sum made of

- a **tail**: members above the lowest stop-loss attachment, a binomial
  count, each drawn exactly from the severity beyond the attachment, so the
  cost above every attachment is exact;
- a **body**: the sum of the others, each below the attachment. Up to
  ``EXACT_BODY_MAX`` members it is sampled member by member; above, it is
  drawn from a shifted gamma matching the body sum's exact mean, variance and
  skewness (three moments: on 500 members a normal put the 99.5th percentile of
  a year's total 13.6% low, a lognormal 6.3%, a shifted gamma 1.2% high).

Trials of a block are simulated together (arrays have a trial axis), with one
stream per random purpose, segment and block of ``COHORT_TRIALS_PER_BLOCK``
trials (:mod:`.streams`), so results depend on that fixed size only, not on the
run's block size or number of workers. The quality model, trend shocks and
program plan are shared with the member engine.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import scipy.special  # noqa: F401 - BandSeverities needs it: imported with the engine, which forked workers inherit

from .costs import BandSeverities, CostTables, trend_indices
from .dataset import ExperienceBlock, empty_block
from .programs import program_plan
from .quality import fill_measures, quality_scores
from .streams import COHORT_TRIALS_PER_BLOCK, Purpose, stream

if TYPE_CHECKING:
    from .inputs import ExperienceInputs

EXACT_BODY_MAX = 30
"""Body counts up to this are summed member by member. Chosen by measurement
(``benchmarks/bench_body.py``): from 30 members the moment-matched sum's median and
99.5th percentile are within 1% of the exact sum's in every band of the commercial model."""
COHORT_CHUNK_KEY = 2**31 - 1
"""Stream sub-key that separates the cohort engine's streams from the member engine's."""


def cell_costs(sev: BandSeverities, band: np.ndarray, count: np.ndarray, mult: np.ndarray,
               attachments: np.ndarray, rng: np.random.Generator, owner_of_cell: np.ndarray,
               n_owners: int) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Cost sums of cells of ``count`` non-zero members in ``band``, added up by owner (a trial),
    under each configuration's cost multipliers ``mult`` (configurations, cells).

    Cell arrays are flat. The configurations share their members' costs in base-year dollars,
    each scaled by its own multiplier: the tail holds the members above the lowest attachment
    under the highest multiplier, so the cost above every attachment is exact for each. With
    one configuration this is the engine's own draw. Returns per configuration, per owner, the
    cost sum, the cost above each attachment (owners, attachments) and the number of members
    above it.
    """
    threshold = attachments[0] / mult.max(axis=0)
    p_tail = sev.sf(band, threshold)
    tail = rng.binomial(count, p_tail)
    # a member's cell values: members of a cell follow one another, so np.repeat (about a
    # third of the time of indexing by each member's cell, the same values)
    base = sev.isf(np.repeat(band, tail), rng.random(tail.sum()) * np.repeat(p_tail, tail))
    owner = np.repeat(owner_of_cell, tail)
    out = []
    for m in mult:
        values = base * np.repeat(m, tail)
        out.append((np.bincount(owner, values, n_owners).astype(np.float64),
                    *_excess(values, owner, attachments, n_owners)))

    body = count - tail
    F, m1, m2, m3 = sev.partial_moments(band, threshold)
    small = body <= EXACT_BODY_MAX
    exact = np.where(small, body, 0)
    base = sev.ppf(np.repeat(band, exact), rng.random(exact.sum()) * np.repeat(F, exact))
    owner = np.repeat(owner_of_cell, exact)
    for m, (total, _, _) in zip(mult, out):
        total += np.bincount(owner, base * np.repeat(m, exact), n_owners)

    large = ~small
    with np.errstate(invalid="ignore", divide="ignore"):
        c1, c2, c3 = m1 / F, m2 / F, m3 / F
    var = np.maximum(c2 - c1**2, 0.0)
    k3 = c3 - 3 * c1 * c2 + 2 * c1**3
    n = body[large]
    mean, kappa2, kappa3 = n * c1[large], n * var[large], n * k3[large]
    skewed = kappa3 > 1e-12 * np.maximum(kappa2, 1e-300) ** 1.5
    theta = np.where(skewed, kappa3 / (2 * kappa2), 1.0)
    alpha = np.where(skewed, kappa2 / theta**2, 1.0)
    gamma = rng.gamma(alpha)  # one draw per large cell, whichever branch it takes
    normal = rng.standard_normal(n.size)
    draw = np.maximum(np.where(skewed, mean - alpha * theta + theta * gamma, mean + np.sqrt(kappa2) * normal),
                      0.0)
    for m, (total, _, _) in zip(mult, out):
        total += np.bincount(owner_of_cell[large], draw * m[large], n_owners)
    return out


def _excess(values: np.ndarray, owner: np.ndarray, attachments: np.ndarray, n_owners: int
            ) -> tuple[np.ndarray, np.ndarray]:
    """Per owner, the cost of ``values`` above each attachment (ascending) and how many exceed it.

    Each value is counted and summed once, under the number of attachments below it; the
    sums above attachment j are then cumulative over those counts, and the cost above it is
    their sum less j's attachment times their number (no numba: a worker starts faster).
    """
    n_att = attachments.size
    above = np.zeros(values.size, np.min_scalar_type(n_att))  # how many attachments each exceeds
    exceeds = np.empty(values.size, bool)
    for attachment in attachments:  # a comparison per attachment (in bytes): faster than a binary search
        np.greater(values, attachment, out=exceeds)
        above += exceeds
    cell = owner * (n_att + 1)
    cell += above
    size = n_owners * (n_att + 1)
    count = np.bincount(cell, None, size).reshape(n_owners, n_att + 1)[:, :0:-1].cumsum(1)[:, ::-1]
    total = np.bincount(cell, values, size).reshape(n_owners, n_att + 1)[:, :0:-1].cumsum(1)[:, ::-1]
    return total - attachments * count, count.astype(np.int64)


class _Streams:
    def __init__(self, seed: int, block: int, segment: int):
        def make(purpose: Purpose) -> np.random.Generator:
            return stream(seed, block, purpose, segment, COHORT_CHUNK_KEY)

        self.initial, self.transition, self.zero = make(Purpose.INITIAL_BAND), make(Purpose.TRANSITION), \
            make(Purpose.ZERO_COST)
        self.severity, self.churn, self.death = make(Purpose.SEVERITY), make(Purpose.CHURN), make(Purpose.DEATH)
        self.entry, self.stratify, self.engagement = make(Purpose.ENTRY), make(Purpose.STRATIFY), \
            make(Purpose.ENGAGEMENT)


def simulate_block(scenario: ExperienceInputs, trials: range) -> ExperienceBlock:
    """Experience aggregates of ``trials`` (the engine interface)."""
    return simulate_configurations([scenario], trials)[0]


def simulate_configurations(scenarios: Sequence[ExperienceInputs], trials: range
                            ) -> list[ExperienceBlock]:
    """:func:`simulate_block` of each scenario, with the members and their claims simulated once.

    The scenarios must differ only in what acts on a trial's cost level (expected-trend
    error, trend shocks, pricing error, events), in the program's effect sizes and in the
    quality model (:func:`same_counts` checks it). The counts of members in each state are then
    the same for all of them, drawn from streams none of those touch, bit for bit what
    :func:`simulate_block` gives each alone, and so are its quality measures. Their members'
    costs are drawn once, in base-year dollars, and scaled by each scenario's cost multipliers
    (:func:`cell_costs`): each scenario's costs follow exactly the distribution of its own
    run, and the differences between scenarios are not blurred by separate claim draws
    (common random numbers, for the risk decomposition of :mod:`simulator.analysis.sources`). With one
    scenario this is :func:`simulate_block`.
    """
    first = scenarios[0]
    for other in scenarios[1:]:
        same_counts(first, other)
    block_key = trials.start // COHORT_TRIALS_PER_BLOCK
    if (trials.stop - 1) // COHORT_TRIALS_PER_BLOCK != block_key:
        raise ValueError(f"{trials} spans more than one cohort block of {COHORT_TRIALS_PER_BLOCK} trials")
    configs = [_Configuration.start(sc, trials) for sc in scenarios]
    attachments = np.array(first.stop_loss_attachments())
    plan = program_plan(first)
    q = first.quality
    for s, seg in enumerate(first.segments.values()):
        mix = np.ones(1) if q is None else np.array([seg.group_mix[g] for g in q.groups])
        _simulate_segment(first, seg, s, mix, attachments, plan, configs, _Streams(first.run.seed, block_key, s),
                          len(trials))
    for sc, config in zip(scenarios, configs):
        if sc.quality is not None:
            for i, t in enumerate(trials):
                fill_measures(sc, t, config.block, i)
    return [config.block for config in configs]


def same_counts(a: ExperienceInputs, b: ExperienceInputs) -> None:
    """Raise ``ValueError`` unless ``a`` and ``b`` simulate the same member counts: the same
    seed, term, cost models, segments (members, cost model, churn, cost factor, group mix),
    stop-loss attachments, program stratification and engagement."""
    def counts(sc: ExperienceInputs) -> tuple:
        segs = [(n, s.members, s.cost_model, s.churn_pct, s.cost_factor, s.group_mix)
                for n, s in sc.segments.items()]
        plan = program_plan(sc)
        program = None if plan is None else (plan.program.accuracy_pct, list(plan.program.strata),
                                             plan.operations.engaged_fraction.tolist())
        return (sc.run.seed, sc.term.years, sc.term.base_years, segs, sc.cost_models,
                sc.stop_loss_attachments(), program,
                None if sc.quality is None else sc.quality.groups)

    if counts(a) != counts(b):
        raise ValueError("the configurations differ in more than cost levels, program effects "
                         "and quality: simulate them one at a time")


@dataclass
class _Configuration:
    """One scenario's block and what its costs depend on: the trend index (trials, years,
    segments) and the program's effects (trials, years, strata) or None."""

    block: ExperienceBlock
    index: np.ndarray
    effects: np.ndarray | None

    @classmethod
    def start(cls, scenario: ExperienceInputs, trials: range) -> _Configuration:
        """The block with what does not depend on the members filled in."""
        block = empty_block(scenario, len(trials))
        plan = program_plan(scenario)
        index = trend_indices(scenario, trials)  # (T, years, segments)
        block["trend_index"][:] = index
        if any(seg.quality_score is not None for seg in scenario.segments.values()):
            for i, t in enumerate(trials):
                block["quality_score_pct"][i] = quality_scores(scenario, t)
        else:  # what quality_scores gives each trial, without a call per trial
            block["quality_score_pct"][:] = np.nan
        effects = None
        if plan is not None:
            effects = np.stack([plan.effects(scenario.run.seed, t, scenario.term.years) for t in trials])
            block["program_cost_usd"][:] = plan.cost_usd
        return cls(block, index, effects)


def _simulate_segment(scenario, seg, s, group_mix, attachments, plan, configs, rng, t_n) -> None:
    """Segment ``s`` of every configuration: counts and costs from ``rng``."""
    tables = CostTables.from_model(scenario.cost_models[seg.cost_model])
    sev = BandSeverities(tables)
    k, g_n = tables.n_bands, group_mix.size
    churn = seg.churn_pct / 100
    scores, entrant_score = tables.prospective_scores(churn)
    history_score = np.append(scores, entrant_score)                      # (K+1,)
    strata_n = 0 if plan is None else len(plan.strata)
    stratum_of = None if plan is None else plan.stratum_of_band(
        scenario.cost_models[seg.cost_model].band_names)
    start = tables.start_mix(churn)
    blocks = [config.block for config in configs]

    # base year: counts by (band, group), then its year end
    base = rng.initial.multinomial(seg.members, np.outer(start, group_mix).ravel(), size=t_n)
    state = base.reshape(t_n, k, g_n)
    died = rng.death.binomial(state, tables.death_prob[None, :, None])
    left = died + rng.churn.binomial(state - died, churn)
    for y in range(scenario.term.years):
        stay = state - left
        moved = rng.transition.multinomial(stay, np.broadcast_to(tables.transition[None, :, None, :],
                                                                  stay.shape + (k,)))  # (T, h, g, b)
        new = rng.entry.multinomial(left.sum(axis=(1, 2)), np.outer(tables.entrant_mix, group_mix).ravel())
        cells = np.concatenate([moved.transpose(0, 1, 3, 2), new.reshape(t_n, 1, k, g_n)], axis=1)  # (T,H,b,g)
        # Program classes depend on neither the group nor death and churn, which do not depend
        # on the class: they are drawn on the sums over groups (binomial and multinomial counts
        # add up): the same distribution, with fewer draws.
        classes, flagged, engaged = _program_classes(cells.sum(axis=3), plan, stratum_of, start, y, rng,
                                                     strata_n)               # (T, b, E)
        at = (slice(None), y, s)
        group_members = cells.sum(axis=(1, 2)) if blocks[0]["group_members"].shape[-1] else 0
        for block in blocks:
            block["group_members"][at] += group_members
            if strata_n:
                block["program_flagged"][at] += flagged
                block["program_engaged"][at] += engaged
        _costs(sev, tables, classes, configs, seg, y, s, attachments, rng)
        died = rng.death.binomial(cells, tables.death_prob[None, None, :, None])     # (T, H, b, g)
        deaths_by_history = died.sum(axis=(2, 3))                        # (T, H)
        lost = rng.death.multinomial(deaths_by_history, np.full(12, 1 / 12)) @ np.arange(12)  # (T, H)
        members_by_history = cells.sum(axis=(2, 3))
        left = (died + rng.churn.binomial(cells - died, churn)).sum(axis=1)  # (T, b, g): died or left
        for block in blocks:
            block["member_months"][at] += 12.0 * members_by_history.sum(1) - lost.sum(1)
            block["risk_score_member_months"][at] += (12.0 * members_by_history - lost) @ history_score
            block["deaths"][at] += deaths_by_history.sum(1)
            block["leavers"][at] += left.sum(axis=(1, 2))
        state = cells.sum(axis=1)                                        # (T, b, g)


def _program_classes(counts, plan, stratum_of, start, y, rng, strata_n):
    """Split the members of each (history, band) count by program class, summed over history:
    (trials, band, class), the classes being engaged in stratum s, then none; also the members
    flagged and engaged by stratum.

    A member is flagged by its history (last year's band) with the program's accuracy, else as
    if from a band drawn from the start mix; entrants are not flagged. Histories in the same
    stratum share both probabilities, so their counts are added before the draws (binomial
    and multinomial counts with one probability add up): the same distribution as a draw per
    history, with a draw per stratum of histories.
    """
    k = counts.shape[2]
    if plan is None:
        return counts.sum(axis=1)[..., None], None, None
    acc = plan.program.accuracy_pct / 100
    of_history = np.where(stratum_of[:k] < 0, strata_n, stratum_of[:k])  # the last: no stratum
    known = np.stack([counts[:, :k][:, of_history == s].sum(axis=1) for s in range(strata_n + 1)],
                     axis=1)                                             # (T, stratum of history, b)
    right = rng.stratify.binomial(known, acc)
    # the others are flagged into a stratum with the start mix's share of its bands
    shares = np.append([start[stratum_of == s].sum() for s in range(strata_n)], start[stratum_of < 0].sum())
    guessed = rng.stratify.multinomial((known - right).sum(axis=1), shares / shares.sum())  # (T, b, stratum)
    flagged = right[:, :strata_n].transpose(0, 2, 1) + guessed[..., :strata_n]        # (T, b, S)
    engaged = rng.engagement.binomial(flagged, plan.operations.engaged_fraction[y])
    out = np.concatenate([engaged, (counts.sum(axis=1) - engaged.sum(-1))[..., None]], axis=-1)
    return out, flagged.sum(axis=1), engaged.sum(axis=1)


def _costs(sev, tables, n, configs, seg, y, s, attachments, rng) -> None:
    """Year ``y``'s costs of segment ``s`` for every configuration, from one draw of its members'
    zero-cost years and claims (:func:`cell_costs`); ``n`` members by (trial, band, class)."""
    t_n, k, e_n = n.shape
    zeros = rng.zero.binomial(n, tables.zero_prob[None, :, None])
    mult = np.stack([np.broadcast_to(_multipliers(config, seg, y, s, e_n), n.shape).ravel()
                     for config in configs])
    band = np.broadcast_to(np.arange(k)[None, :, None], n.shape)
    trial = np.broadcast_to(np.arange(t_n)[:, None, None], n.shape)
    at = (slice(None), y, s)
    for config, (total, excess, claimants) in zip(configs, cell_costs(
            sev, band.ravel(), (n - zeros).ravel(), mult, attachments, rng.severity, trial.ravel(), t_n)):
        config.block["allowed_usd"][at] += total
        config.block["excess_usd"][at] += excess
        config.block["claimants"][at] += claimants


def _multipliers(config: _Configuration, seg, y: int, s: int, e_n: int) -> np.ndarray:
    """A configuration's cost multiplier of each (trial, 1, program class) in year ``y``: its
    trend index times the segment's cost factor, less the program's effect on the engaged."""
    reduction = np.zeros((config.index.shape[0], e_n))
    if config.effects is not None:
        reduction[:, :-1] = config.effects[:, y]
    level = config.index[:, y, s] * seg.cost_factor
    return level[:, None, None] * (1 - reduction)[:, None, :]

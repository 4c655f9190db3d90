"""Every member's path through a cost model, member by member (exports and calibration).

The member engine keeps counts of interchangeable members, not who they are; calibration
checks (persistence of high cost from one year to the next) and ``vbcsim members`` need
each member's own years. Here the member engine's model (:mod:`.member_engine`, without
programs, groups or stop-loss) is drawn member after member with numpy, one stream per
purpose: a band, a zero-cost uniform, a severity (the engine's exact normal or gamma
samplers) and a year-end uniform, and an entrant in the place of each leaver.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from .costs import CostTables
from .jit_random import gamma, load, normal, store, stream_states
from .member_engine import (_DEATH_PROB, _IS_GAMMA, _LEAVE_PROB, _LOG_SCALE, _SCALE, _SHAPE,
                            _SIGMA, _ZERO_PROB, ChunkModel)
from .streams import Purpose, stream


@dataclass(frozen=True)
class MemberPaths:
    """Every member slot's cost and leaving by year."""

    cost_usd: np.ndarray     # (years, members)
    leaves: np.ndarray       # (years, members) left at the end of the year (death or churn)
    death_month: np.ndarray  # (years, members) month of death 1-12, or 0: alive at year end


def member_paths(tables: CostTables, members: int, levels: np.ndarray, churn: float,
                 seed: int, trial: int = 0) -> MemberPaths:
    """``members`` member slots over ``len(levels)`` years at cost levels ``levels``.

    The slots start in the base year and pass its year end, as the member engine's do; a
    slot whose member leaves holds an entrant the next year.
    """
    model = ChunkModel.build(tables, churn, levels, np.zeros(0))
    rng = {p: stream(seed, trial, p, 0, 0) for p in
           (Purpose.INITIAL_BAND, Purpose.TRANSITION, Purpose.ZERO_COST, Purpose.DEATH, Purpose.ENTRY)}
    severity = stream_states(seed, trial, [Purpose.SEVERITY], 0, 0)
    table = model.band
    band = _categories(model.initial_cut, rng[Purpose.INITIAL_BAND].random(members))
    leaves = _year_end(table, band, rng[Purpose.DEATH].random(members))[0]
    shape = (len(levels), members)
    paths = MemberPaths(np.zeros(shape), np.zeros(shape, bool), np.zeros(shape, np.int8))
    for y, log_level in enumerate(model.log_level):
        stays = ~leaves
        prior = band[stays]
        band = np.empty(members, np.int64)
        band[leaves] = _categories(model.entrant_cut, rng[Purpose.ENTRY].random(members - prior.size))
        band[stays] = _categories(model.transition_cut[prior], rng[Purpose.TRANSITION].random(prior.size))
        paid = rng[Purpose.ZERO_COST].random(members) >= table[band, _ZERO_PROB]
        is_gamma = table[band, _IS_GAMMA] > 0
        draw = _severities(severity, is_gamma, table[band, _SHAPE])
        cost = np.where(is_gamma, np.exp(log_level) * table[band, _SCALE] * draw,
                        np.exp(table[band, _LOG_SCALE] + log_level + table[band, _SIGMA] * draw))
        leaves, month = _year_end(table, band, rng[Purpose.DEATH].random(members))
        paths.cost_usd[y], paths.leaves[y], paths.death_month[y] = cost * paid, leaves, month
    return paths


def _categories(cut: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Category of each uniform given cumulative probabilities ``cut`` (one row for all, or
    a row per uniform)."""
    return (u[:, None] >= cut[..., :-1]).sum(axis=-1)


def _year_end(table: np.ndarray, band: np.ndarray, u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Whether each member leaves at the year end, and its month of death (0: alive): below
    the death probability ``p`` a member dies in month ``floor(12 u / p) + 1``, below the
    leave probability a survivor leaves."""
    p = table[band, _DEATH_PROB]
    died = u < p
    month = np.where(died, np.minimum(np.floor(12.0 * u / np.where(died, p, 1.0)), 11) + 1, 0)
    return died | (u < table[band, _LEAVE_PROB]), month.astype(np.int8)


@njit(cache=True)
def _severities(state: np.ndarray, is_gamma: np.ndarray, shape: np.ndarray) -> np.ndarray:
    """One severity draw per member from stream ``state[0]``: a gamma of shape ``shape[i]``
    (unit scale) where ``is_gamma[i]``, else a standard normal."""
    out = np.empty(is_gamma.size)
    severity = load(state, 0)
    for i in range(out.size):
        if is_gamma[i]:
            severity, out[i] = gamma(severity, shape[i])
        else:
            severity, out[i] = normal(severity)
    store(state, 0, severity)
    return out

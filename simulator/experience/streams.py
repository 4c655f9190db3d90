"""Random streams: one independent generator per (trial, purpose, ...) key.

Every random purpose draws from its own stream, derived from the root seed
by a fixed spawn key, so that

- results do not depend on how trials are grouped into blocks, on the number
  of workers, on the backend or on the order in which blocks finish;
- changing one part of a scenario (a program switched on, a contract term,
  another segment's size) never shifts the draws of another purpose: contract
  and program comparisons enjoy common random numbers.

A key is ``(trial, purpose, segment index, member chunk)``; the stream for key
``k`` is ``SeedSequence(seed, spawn_key=k)``, the same as spawning children of
the root in that order. The cohort engine, which simulates a block of trials
together, keys its streams by block of ``COHORT_TRIALS_PER_BLOCK`` trials instead.
"""

from __future__ import annotations

from enum import IntEnum
from functools import lru_cache

import numpy as np

from .seeding import sfc64_states

COHORT_TRIALS_PER_BLOCK = 100
"""Trials the cohort engine simulates together, whatever ``run.trials_per_block`` says: its
streams are keyed by block, so its results depend on this number (and on no run setting).
Its arrays have a trial axis, so small blocks waste time in per-block overhead: on the
reference scenario, blocks of 10 trials took twice as long as blocks of 100."""

MEMBER_STREAM_LAYOUT = 2
"""How the member engine spends its chunk streams (:mod:`.member_engine`), in a member-engine
run's key, so that a partial run of another layout is never resumed: 2 since 4 December 2026
(cells of interchangeable members, lane streams); 1 before (member by member)."""

BLOCKS_REMEMBERED = 256
"""Blocks of normals :func:`standard_normals` keeps: more than the purposes and segments of a
block draw, few enough to stay small (a few megabytes)."""


class Purpose(IntEnum):
    """What a stream is used for. Values are part of the reproducibility
    contract: never renumber, only append."""

    TREND_SHOCK = 0
    INITIAL_BAND = 1
    TRANSITION = 2
    ZERO_COST = 3
    SEVERITY = 4
    CHURN = 5
    DEATH = 6
    ENTRY = 7
    ENGAGEMENT = 8
    QUALITY = 9
    GROUP = 10
    MEASURE_PATH = 11
    MEASURE_SAMPLE = 12
    PROGRAM_OPERATIONS = 13
    PROGRAM_EFFECT = 14
    STRATIFY = 15
    MEASURE_BASELINE = 16
    MEASURE_NO_CHANGE = 17
    TREND_PARAMETER = 18
    PRICING = 19
    SYSTEMIC_EVENT = 20
    SOBOL_SCRAMBLE = 21
    RISK_SCORE_NOISE = 22


def stream(seed: int, trial: int, purpose: Purpose, *subkeys: int) -> np.random.Generator:
    """The generator for one trial and purpose (and optional segment/chunk keys).

    SFC64 is used for speed; its seeding through ``SeedSequence`` gives
    independent streams for distinct keys.
    """
    seq = np.random.SeedSequence(seed, spawn_key=(trial, int(purpose), *subkeys))
    return np.random.Generator(np.random.SFC64(seq))


def standard_normals(seed: int, trial: int, purpose: Purpose, shape: int | tuple[int, ...],
                     *subkeys: int) -> np.ndarray:
    """``stream(seed, trial, purpose, *subkeys).standard_normal(shape)``, bit for bit, read-only.

    Drawn for the trial's whole block of ``COHORT_TRIALS_PER_BLOCK`` trials at once (their
    streams seeded together, :mod:`.seeding`) and remembered: callers go through a block's
    trials, and a risk decomposition's configurations draw the same normals one after another.
    """
    first = trial - trial % COHORT_TRIALS_PER_BLOCK
    return _block_normals(seed, first, int(purpose), shape, subkeys)[trial - first]


@lru_cache(maxsize=BLOCKS_REMEMBERED)
def _block_normals(seed: int, first: int, purpose: int, shape: int | tuple[int, ...],
                   subkeys: tuple[int, ...]) -> np.ndarray:
    trials = np.arange(first, first + COHORT_TRIALS_PER_BLOCK)
    keys = np.column_stack([trials, np.full_like(trials, purpose), *(np.full_like(trials, k) for k in subkeys)])
    bits = np.random.SFC64(0)
    draw = np.random.Generator(bits)
    out = np.empty((trials.size, *np.atleast_1d(shape).astype(int)))
    for row, state in enumerate(sfc64_states(seed, keys)):
        bits.state = {"bit_generator": "SFC64", "state": {"state": state}, "has_uint32": 0, "uinteger": 0}
        out[row] = draw.standard_normal(shape)
    out.flags.writeable = False
    return out

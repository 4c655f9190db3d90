"""SFC64 states of many stream keys at once, exactly as numpy seeds them.

``np.random.SFC64(np.random.SeedSequence(seed, spawn_key=key))`` takes tens of
microseconds per key, more than a trial-level stream's few draws. The same states
come from numpy's published seeding algorithm (``SeedSequence``: entropy words
hashed into a pool of four 32-bit words, six words drawn from the pool; then
SFC64's seeding: three of those as 64-bit words, a counter of one, twelve steps)
computed with array operations over all keys together: a few microseconds a key
for a block of keys. ``tests/experience/test_seeding.py`` checks the states
against numpy's own for every kind of key the project uses.
"""

from __future__ import annotations

import numpy as np

_INIT_A, _MULT_A = np.uint32(0x43B0D7E5), np.uint32(0x931E8875)
_INIT_B, _MULT_B = np.uint32(0x8B51F9DD), np.uint32(0x58F38DED)
_MIX_L, _MIX_R = np.uint32(0xCA01F9DD), np.uint32(0x4973F715)
_SHIFT = np.uint32(16)
_POOL = 4
_SFC64_SEED_STEPS = 12
WORD = 2**32


def _words(value: int) -> list[int]:
    """An entropy integer as 32-bit words, least significant first (at least one)."""
    out = [value % WORD]
    value //= WORD
    while value:
        out.append(value % WORD)
        value //= WORD
    return out


def sfc64_states(seed: int, keys: np.ndarray) -> np.ndarray:
    """The SFC64 states of the streams ``SeedSequence(seed, spawn_key=key)`` for each row of ``keys``.

    Parameters
    ----------
    seed
        The root seed, a non-negative integer of any size.
    keys
        Spawn keys, shape (n, k); every entry in [0, 2**32).

    Returns
    -------
    ndarray of uint64, shape (n, 4)
        What ``np.random.SFC64(SeedSequence(seed, spawn_key=key)).state["state"]["state"]`` holds.
    """
    keys = np.asarray(keys)
    if seed < 0 or keys.size and (keys.min() < 0 or keys.max() >= WORD):
        raise ValueError("seed must be non-negative and keys in [0, 2**32)")
    n, k = keys.shape
    run = _words(seed)
    if k and len(run) < _POOL:
        run += [0] * (_POOL - len(run))
    entropy = [np.full(n, w, np.uint32) for w in run] + [keys[:, j].astype(np.uint32) for j in range(k)]
    const = [_INIT_A]

    def hashmix(value: np.ndarray) -> np.ndarray:
        value = value ^ const[0]
        const[0] = const[0] * _MULT_A
        value = value * const[0]
        return value ^ (value >> _SHIFT)

    def mix(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        out = _MIX_L * x - _MIX_R * y
        return out ^ (out >> _SHIFT)

    with np.errstate(over="ignore"):  # 32- and 64-bit arithmetic wraps around, as intended
        pool = [hashmix(entropy[i] if i < len(entropy) else np.zeros(n, np.uint32)) for i in range(_POOL)]
        for src in range(_POOL):
            for dst in range(_POOL):
                if src != dst:
                    pool[dst] = mix(pool[dst], hashmix(pool[src]))
        for src in range(_POOL, len(entropy)):
            for dst in range(_POOL):
                pool[dst] = mix(pool[dst], hashmix(entropy[src]))
        words, h = [], _INIT_B
        for i in range(6):  # generate_state(3, uint64)
            value = pool[i % _POOL] ^ h
            h = h * _MULT_B
            value = value * h
            words.append(value ^ (value >> _SHIFT))
        seeded = np.ascontiguousarray(np.stack(words, axis=1), "<u4").view("<u8").astype(np.uint64)
        a, b, c, w = seeded[:, 0], seeded[:, 1], seeded[:, 2], np.ones(n, np.uint64)
        for _ in range(_SFC64_SEED_STEPS):
            out = a + b + w
            a, b = b ^ (b >> np.uint64(11)), c + (c << np.uint64(3))
            c, w = ((c << np.uint64(24)) | (c >> np.uint64(40))) + out, w + np.uint64(1)
    return np.stack([a, b, c, w], axis=1)

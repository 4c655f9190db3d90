"""Random variates inside compiled (numba) kernels.

The member engine draws several numbers per member-year from several streams;
calling a numpy ``Generator`` once per number would cost more than the rest of
the kernel. Here a stream is the four-word state of numpy's SFC64 generator,
stepped inline (the same 64-bit outputs as ``np.random.SFC64``, from the same
``SeedSequence`` seeding). A kernel holds each stream as a tuple of four words,
which the compiler keeps in registers (:func:`load` it from a row of the state
array, :func:`store` it back): every function takes a stream and returns it
stepped, with its variate. Variates are built from the stream's outputs:

- ``uniform``: 53-bit float64 on [0, 1);
- ``normal``: Marsaglia and Tsang's ziggurat (256 layers, exact tail);
- ``gamma``: Marsaglia and Tsang's squeeze method, with the ``U**(1/a)`` boost
  for shapes below one.

These are exact samplers (no table approximation of the distribution); the
tests check them against scipy's distributions.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .streams import Purpose, stream

_U53 = 1.0 / 9007199254740992.0  # 2**-53

Stream = tuple[np.uint64, np.uint64, np.uint64, np.uint64]
"""One SFC64 stream inside a kernel: its words a, b, c and the counter."""


def stream_states(seed: int, trial: int, purposes: list[Purpose], *subkeys: int) -> np.ndarray:
    """SFC64 states, one row per purpose: the streams of :func:`simulator.streams.stream`."""
    states = np.empty((len(purposes), 4), np.uint64)
    for row, purpose in enumerate(purposes):
        states[row] = stream(seed, trial, purpose, *subkeys).bit_generator.state["state"]["state"]
    return states


@njit(inline="always")
def load(states: np.ndarray, row: int) -> Stream:
    """Stream ``row`` of an array of states (one row of four words per stream)."""
    return states[row, 0], states[row, 1], states[row, 2], states[row, 3]


@njit(inline="always")
def store(states: np.ndarray, row: int, stream: Stream) -> None:
    """Write ``stream`` back to row ``row`` of ``states``."""
    states[row, 0], states[row, 1], states[row, 2], states[row, 3] = stream


@njit(inline="always")
def next_uint64(stream: Stream) -> tuple[Stream, np.uint64]:
    """The stream stepped once (SFC64: words a, b, c and the counter) and its 64-bit output."""
    a, b, c, w = stream
    out = a + b + w
    return (b ^ (b >> np.uint64(11)), c + (c << np.uint64(3)),
            ((c << np.uint64(24)) | (c >> np.uint64(40))) + out, w + np.uint64(1)), out


@njit(inline="always")
def uniform(stream: Stream) -> tuple[Stream, float]:
    """A uniform on [0, 1) with 53 random bits."""
    stream, bits = next_uint64(stream)
    return stream, float(np.int64(bits >> np.uint64(11))) * _U53


def _ziggurat_tables(layers: int = 256, r: float = 3.6541528853610088,
                     area: float = 0.00492867323399) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Layer edges ``x``, accept ratios ``x[i+1]/x[i]`` and density ``exp(-x^2/2)`` at the edges.

    Layer 0 is the base strip (the rectangle under ``f(r)`` plus the tail beyond ``r``,
    given an equivalent width); layer ``i >= 1`` is ``[0, x[i]] x [f(x[i]), f(x[i+1])]``;
    every layer has the same ``area`` (Marsaglia and Tsang, 2000)."""
    x = np.empty(layers + 1)
    x[0], x[1] = area / np.exp(-r * r / 2), r
    for i in range(1, layers - 1):
        x[i + 1] = np.sqrt(-2 * np.log(area / x[i] + np.exp(-x[i] ** 2 / 2)))
    x[layers] = 0.0
    return x, x[1:] / x[:-1], np.exp(-x**2 / 2)


ZIGGURAT_X, ZIGGURAT_RATIO, ZIGGURAT_F = _ziggurat_tables()
_TAIL = ZIGGURAT_X[1]


@njit(inline="always")
def _ziggurat_point(bits: np.uint64) -> tuple[int, float, float]:
    """Layer (8 bits), sign (1 bit) and position in [0, 1) (53 bits) of one 64-bit draw."""
    sign = 1.0 - 2.0 * float((bits >> np.uint64(8)) & np.uint64(1))  # no branch to mispredict
    u = float(np.int64(bits >> np.uint64(11))) * _U53  # signed: cheaper to convert
    return np.intp(bits & np.uint64(0xFF)), sign, u


@njit(inline="always")
def normal(stream: Stream) -> tuple[Stream, float]:
    """A standard normal by the ziggurat: the rectangle test accepts about 99% of draws;
    only the rest take the slower path."""
    stream, bits = next_uint64(stream)
    return normal_from_word(stream, bits)


@njit(inline="always")
def normal_from_word(stream: Stream, bits: np.uint64) -> tuple[Stream, float]:
    """:func:`normal` from a word already drawn: ``stream`` gives the draws after a rejection."""
    layer, sign, u = _ziggurat_point(bits)
    if u < ZIGGURAT_RATIO[layer]:
        return stream, sign * u * ZIGGURAT_X[layer]
    return _normal_outside_rectangle(stream, layer, sign, u)


@njit
def _normal_outside_rectangle(stream: Stream, layer: int, sign: float, u: float
                              ) -> tuple[Stream, float]:
    """The tail and wedge tests of a point outside its layer's rectangle, drawing afresh
    after a rejection (a call, not inlined: it is rare, and the kernel stays small)."""
    while True:
        if layer == 0:  # the tail beyond r, by Marsaglia's (1964) exponential rejection
            while True:
                stream, u1 = uniform(stream)
                t = -np.log(1.0 - u1) / _TAIL
                stream, u2 = uniform(stream)
                if -2.0 * np.log(1.0 - u2) > t * t:
                    return stream, sign * (_TAIL + t)
        x = u * ZIGGURAT_X[layer]
        f_low, f_high = ZIGGURAT_F[layer], ZIGGURAT_F[layer + 1]
        stream, u3 = uniform(stream)
        if f_low + u3 * (f_high - f_low) < np.exp(-0.5 * x * x):
            return stream, sign * x
        stream, bits = next_uint64(stream)
        layer, sign, u = _ziggurat_point(bits)
        if u < ZIGGURAT_RATIO[layer]:
            return stream, sign * u * ZIGGURAT_X[layer]


@njit
def gamma(stream: Stream, shape: float) -> tuple[Stream, float]:
    """A gamma variate of unit scale (Marsaglia and Tsang, 2000)."""
    boost = 1.0
    if shape < 1.0:  # G(a) = G(a + 1) U^(1/a)
        stream, u = uniform(stream)
        boost = (1.0 - u) ** (1.0 / shape)
        shape += 1.0
    d = shape - 1.0 / 3.0
    c = 1.0 / np.sqrt(9.0 * d)
    while True:
        stream, z = normal(stream)
        v = 1.0 + c * z
        if v <= 0.0:
            continue
        v = v * v * v
        stream, u = uniform(stream)
        if np.log(1.0 - u) < 0.5 * z * z + d - d * v + d * np.log(v):
            return stream, d * v * boost

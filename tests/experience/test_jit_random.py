"""The compiled random variates: numpy's SFC64 stream, exact normals and gammas."""

from __future__ import annotations

import numpy as np
import pytest
from numba import njit
from scipy import stats

from simulator.experience.jit_random import (ZIGGURAT_X, gamma, load, next_uint64, normal, store,
                                             stream_states, uniform)
from simulator.experience.streams import Purpose, stream


@njit
def _draw(state, kind, n, shape=1.0):
    out = np.empty(n)
    stream = load(state, 0)
    for k in range(n):
        if kind == 1:
            stream, out[k] = uniform(stream)
        elif kind == 2:
            stream, out[k] = normal(stream)
        else:
            stream, out[k] = gamma(stream, shape)
    store(state, 0, stream)
    return out


@njit
def _raw(state, n):
    out = np.empty(n, np.uint64)
    stream = load(state, 0)
    for k in range(n):
        stream, out[k] = next_uint64(stream)
    store(state, 0, stream)
    return out


def _state(seed: int = 11) -> np.ndarray:
    return stream_states(seed, 3, [Purpose.SEVERITY], 1, 0)


def test_inline_generator_is_numpys_sfc64_stream():
    state = _state()
    ours = np.concatenate([_raw(state, 400), _raw(state, 600)])  # the state is stored back
    theirs = stream(11, 3, Purpose.SEVERITY, 1, 0).bit_generator.random_raw(1000)
    np.testing.assert_array_equal(ours, theirs)


def test_uniforms_lie_in_the_unit_interval_and_are_uniform():
    u = _draw(_state(), 1, 200_000)
    assert u.min() >= 0.0 and u.max() < 1.0
    assert stats.kstest(u, "uniform").pvalue > 0.01


def test_ziggurat_layers_close_at_zero():
    # the recursion from r must end at the top of the density: the last layer's width
    # satisfies area / x + f(x) = 1 (to the precision of the published constants)
    area, x = 0.00492867323399, ZIGGURAT_X[-2]
    assert area / x + np.exp(-x * x / 2) == pytest.approx(1.0, abs=1e-9)


def test_normals_are_standard_normal_including_the_tail():
    z = _draw(_state(), 2, 2_000_000)
    assert stats.kstest(z, "norm").pvalue > 0.01
    assert abs(z.mean()) < 4 / np.sqrt(z.size)
    assert abs(z.var() - 1) < 4 * np.sqrt(2 / z.size)
    # beyond the base strip's edge r the tail sampler takes over: its frequency is binomial
    for edge in (ZIGGURAT_X[1], 4.5):
        p = 2 * stats.norm.sf(edge)
        observed = np.mean(np.abs(z) > edge)
        assert abs(observed - p) < 4 * np.sqrt(p * (1 - p) / z.size), edge


@pytest.mark.parametrize("shape", [0.35, 1.0, 2.5, 20.0])
def test_gammas_have_the_requested_distribution(shape):
    g = _draw(_state(), 3, 400_000, shape)
    assert stats.kstest(g, stats.gamma(shape).cdf).pvalue > 0.01
    assert abs(g.mean() - shape) < 4 * np.sqrt(shape / g.size)

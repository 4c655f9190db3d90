"""The compiled random variates: numpy's SFC64 stream, exact normals and gammas."""

from __future__ import annotations

import numpy as np
import pytest
from numba import njit
from scipy import stats

from simulator.experience.jit_random import (LANES, ZIGGURAT_X, exp, fill_uniforms, fill_words, gamma,
                                             lane_states, next_uint64, normal, stream_states, uniform)
from simulator.experience.streams import Purpose, stream


@njit
def _draw(state, kind, n, shape=1.0):
    out = np.empty(n)
    for k in range(n):
        if kind == 0:
            out[k] = float(next_uint64(state, 0))
        elif kind == 1:
            out[k] = uniform(state, 0)
        elif kind == 2:
            out[k] = normal(state, 0)
        else:
            out[k] = gamma(state, 0, shape)
    return out


def _state(seed: int = 11) -> np.ndarray:
    return stream_states(seed, 3, [Purpose.SEVERITY], 1, 0)


def test_inline_generator_is_numpys_sfc64_stream():
    state = _state()
    ours = np.array([next_uint64(state, 0) for _ in range(1000)], np.uint64)
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


@njit
def _fill(lanes, row, n, as_uniforms):
    words, uniforms = np.empty(n, np.uint64), np.empty(n)
    if as_uniforms:
        fill_uniforms(lanes, row, uniforms)
    else:
        fill_words(lanes, row, words)
    return words, uniforms


def _numpy_sfc64(seed_words: np.ndarray) -> np.random.SFC64:
    """numpy's SFC64 seeded with three words as it seeds itself from a SeedSequence."""
    generator = np.random.SFC64(0)
    state = generator.state
    state["state"]["state"] = np.array([*seed_words, 1], np.uint64)
    state["has_uint32"] = 0
    generator.state = state
    generator.random_raw(12)  # numpy discards the first twelve outputs of a new state
    return generator


def test_lanes_are_numpy_sfc64_streams_seeded_from_the_keys_seed_sequence():
    scalar, lanes = lane_states(11, 3, [Purpose.ZERO_COST, Purpose.SEVERITY], 1, 0)
    # the scalar stream of each purpose is the key's own numpy stream
    np.testing.assert_array_equal(scalar, stream_states(11, 3, [Purpose.ZERO_COST, Purpose.SEVERITY], 1, 0))
    words, _ = _fill(lanes.copy(), 1, LANES * 50, False)
    seed = np.random.SeedSequence(11, spawn_key=(3, int(Purpose.SEVERITY), 1, 0))
    seeds = seed.generate_state(3 * (LANES + 1), np.uint64).reshape(LANES + 1, 3)
    for lane in (0, 5, LANES - 1):  # word i comes from lane i % LANES, in order
        np.testing.assert_array_equal(words[lane::LANES], _numpy_sfc64(seeds[1 + lane]).random_raw(50))
    _, uniforms = _fill(lanes.copy(), 1, LANES * 50, True)
    np.testing.assert_array_equal(uniforms, (words >> np.uint64(11)) * 2.0**-53)


def test_lanes_give_independent_uniforms():
    _, lanes = lane_states(5, 0, [Purpose.TRANSITION], 0, 0)
    _, u = _fill(lanes, 0, LANES * 20_000, True)
    assert stats.kstest(u, "uniform").pvalue > 0.01
    by_lane = u.reshape(-1, LANES)
    # neighbouring lanes and successive steps are uncorrelated (|r| within 4 standard errors)
    for a, b in ((by_lane[:, 0], by_lane[:, 1]), (by_lane[:-1, 3], by_lane[1:, 3])):
        assert abs(np.corrcoef(a, b)[0, 1]) < 4 / np.sqrt(a.size)


@njit
def _exp_all(x):
    out = np.empty_like(x)
    for i in range(x.size):
        out[i] = exp(x[i])
    return out


def test_exp_is_within_a_few_units_in_the_fifteenth_digit():
    x = np.concatenate([np.random.default_rng(0).uniform(-40, 40, 200_000),
                        np.linspace(-700, 700, 10_001), [0.0, 1.0, -1.0, np.log(2.0)]])
    assert np.max(np.abs(_exp_all(x) / np.exp(x) - 1)) < 2e-14

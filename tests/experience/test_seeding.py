"""Streams seeded together are numpy's own streams, bit for bit."""

from __future__ import annotations

import numpy as np
import pytest

from simulator.experience.cohort_engine import COHORT_CHUNK_KEY
from simulator.experience.seeding import sfc64_states
from simulator.experience.streams import Purpose, standard_normals, stream


@pytest.mark.parametrize("seed", [0, 1, 20190101, 2**32, 2**70 + 3])
@pytest.mark.parametrize("subkeys", [(), (2,), (1, COHORT_CHUNK_KEY), (0, 3, 2**32 - 1)])
def test_states_are_those_numpy_seeds(seed, subkeys):
    trials = np.array([0, 1, 99, 100, 12_345, 999_999])
    keys = np.column_stack([trials, np.full(trials.size, int(Purpose.SEVERITY))]
                           + [np.full(trials.size, k) for k in subkeys])
    for trial, state in zip(trials, sfc64_states(seed, keys)):
        expected = stream(seed, int(trial), Purpose.SEVERITY, *subkeys).bit_generator.state["state"]["state"]
        np.testing.assert_array_equal(state, expected)


def test_keys_outside_32_bits_are_refused():
    with pytest.raises(ValueError, match="2\\*\\*32"):
        sfc64_states(1, np.array([[2**32, 0]]))
    with pytest.raises(ValueError, match="non-negative"):
        sfc64_states(-1, np.array([[0, 0]]))


@pytest.mark.parametrize("trial, shape, subkeys", [(3, (7, 3), ()), (104, 7, (1,)), (250, (2, 3, 4), (2,)), (7, 4, ())])
def test_remembered_normals_are_the_streams_own_and_cannot_be_changed(trial, shape, subkeys):
    z = standard_normals(11, trial, Purpose.QUALITY, shape, *subkeys)
    np.testing.assert_array_equal(z, stream(11, trial, Purpose.QUALITY, *subkeys).standard_normal(shape))
    with pytest.raises(ValueError, match="read-only"):
        z[...] = 0.0

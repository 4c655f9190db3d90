"""Large write-once arrays: plain mappings behave as numpy arrays."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from simulator.core import arrays


@pytest.mark.parametrize("shape", [(3, 5), (2, 1100, 1000)])  # below and above PLAIN_MAPPING_BYTES
def test_empty_is_a_writable_float_array_of_the_shape(shape):
    a = arrays.empty(shape)
    assert a.shape == shape and a.dtype == np.float64 and a.flags.writeable and a.flags.c_contiguous
    a[...] = np.arange(a.size).reshape(shape)
    assert a.sum() == a.size * (a.size - 1) / 2
    assert np.array_equal(pickle.loads(pickle.dumps(a)), a)


def test_a_fresh_mapping_is_zeros_and_independent_of_another():
    shape = (3, 1000, 1000)
    a, b = arrays.empty(shape), arrays.empty(shape)
    assert a.nbytes >= arrays.PLAIN_MAPPING_BYTES and not a.any()
    a[1, 2, 3] = 7.0
    assert not b.any() and a.sum() == 7.0

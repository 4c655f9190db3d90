"""Large write-once arrays: plain mappings behave as numpy arrays."""

from __future__ import annotations

import gc
import pickle
import sys

import numpy as np
import pytest

from conftest import kernel_populates
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


def _resident_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * arrays.mmap.PAGESIZE


@pytest.mark.parametrize("shape", [(3, 5), (2, 1100, 1000)])
def test_zeros_are_zeros_and_take_what_is_written(shape):
    a = arrays.zeros(shape)
    assert a.shape == shape and a.dtype == np.float64 and a.flags.writeable and not a.any()
    arrays.prepare_write(a[1])
    a[1] = 2.0
    assert a[0].sum() == 0 and a[1].sum() == 2.0 * a[1].size
    if a[1].nbytes >= arrays.mmap.PAGESIZE:  # prepared in one call, where the kernel can
        assert arrays._populate["works"] == kernel_populates()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="resident memory read from /proc")
def test_zeros_cost_memory_only_where_written():
    """64 MB of zeros, 8 MB of it prepared and written: the resident memory grows by the part
    written, not by the array (the collector held off, so nothing else is freed meanwhile)."""
    gc.collect()
    gc.disable()
    try:
        a = arrays.zeros((8, 1024, 1024))
        before = _resident_bytes()
        arrays.prepare_write(a[3])
        if kernel_populates():  # the part is backed at once
            assert _resident_bytes() - before >= a[3].nbytes * 0.9
        a[3] = 1.0
        grown = _resident_bytes() - before
    finally:
        gc.enable()
    assert a[3].nbytes * 0.9 <= grown < 2 * a[3].nbytes
    assert a.sum() == a[3].size  # the rest reads as zeros

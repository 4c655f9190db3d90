"""Large output arrays that are written once: allocated without the huge-page advice.

numpy asks the kernel for transparent huge pages on every large allocation
(``madvise(MADV_HUGEPAGE)``). Where the kernel's defrag setting is ``madvise`` (the
default of many distributions) each first touch of such memory may stall while the kernel
compacts memory to find a huge page: on a busy machine filling 2 GB of settlement
outputs took 11-12.5 s with the advice and 2.4-3.0 s without it. Arrays written once and
read in order gain little from huge pages, so they are mapped plainly here.

Fresh memory is what such arrays cost most: on a virtual machine the first touch of a page
is a fault of the guest and often of its host. :func:`zeros` takes memory from the system
only where it is written, so an output that stays zero (no equity terms, no quality bonus)
costs none; :func:`prepare_write` backs a part about to be written in one call.
"""

from __future__ import annotations

import math
import mmap
import sys

import numpy as np

PLAIN_MAPPING_BYTES = 1 << 24
"""Arrays at least this large (16 MB) get their own plain anonymous mapping."""
MADV_POPULATE_WRITE = 23
"""Linux 5.14 and later: back a range's pages, writable, as a write to each would."""
_populate = {"works": sys.platform.startswith("linux")}


def _mapped(shape: tuple[int, ...], flags: int = 0) -> np.ndarray:
    """A float64 array of ``shape`` in its own anonymous mapping (zeros until written)."""
    mapping = mmap.mmap(-1, 8 * math.prod(shape), flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | flags)
    return np.frombuffer(mapping, dtype=np.float64).reshape(shape)


def _plain(shape: tuple[int, ...]) -> bool:
    return 8 * math.prod(shape) >= PLAIN_MAPPING_BYTES and hasattr(mmap, "MAP_ANONYMOUS")


def empty(shape: tuple[int, ...]) -> np.ndarray:
    """An uninitialised float64 array of ``shape`` (zeros where freshly mapped), writable,
    freed with its last reference."""
    if not _plain(shape):  # (Windows: numpy's)
        return np.empty(shape)
    # mapped in one call (MAP_POPULATE, Linux): 25-40% faster than a fault per 4 kB page
    return _mapped(shape, getattr(mmap, "MAP_POPULATE", 0))


def zeros(shape: tuple[int, ...]) -> np.ndarray:
    """A float64 array of zeros of ``shape``, writable; from 16 MB its memory is taken from the
    system only where it is written (a part never written reads as zeros and costs nothing)."""
    if not _plain(shape):
        return np.zeros(shape)  # (calloc: large ones are lazily zeroed pages too)
    return _mapped(shape)


def prepare_write(part: np.ndarray) -> None:
    """Back the pages of ``part``, a contiguous part of a :func:`zeros` array, in one call
    before it is written (Linux 5.14 and later; elsewhere, or if the call fails once, the
    writes take the pages as they come)."""
    if not _populate["works"] or part.nbytes < mmap.PAGESIZE or not part.flags.c_contiguous:
        return
    start = part.ctypes.data - part.ctypes.data % mmap.PAGESIZE
    length = part.ctypes.data + part.nbytes - start
    try:
        if "madvise" not in _populate:
            import ctypes  # here: an interpreter without ctypes still settles

            madvise = ctypes.CDLL(None).madvise
            madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
            _populate["madvise"] = madvise
        failed = _populate["madvise"](start, length, MADV_POPULATE_WRITE) != 0
    except (ImportError, OSError, AttributeError):
        failed = True
    if failed:  # an older kernel (EINVAL), no libc to call: page faults back the writes
        _populate["works"] = False

"""Large output arrays that are written once: allocated without the huge-page advice.

numpy asks the kernel for transparent huge pages on every large allocation
(``madvise(MADV_HUGEPAGE)``). Where the kernel's defrag setting is ``madvise`` (the
default of many distributions) each first touch of such memory may stall while the kernel
compacts memory to find a huge page: on a busy machine filling 2 GB of settlement
outputs took 11-12.5 s with the advice and 2.4-3.0 s without it. Arrays written once and
read in order gain little from huge pages, so they are mapped plainly here.
"""

from __future__ import annotations

import math
import mmap

import numpy as np

PLAIN_MAPPING_BYTES = 1 << 24
"""Arrays at least this large (16 MB) get their own plain anonymous mapping."""


def empty(shape: tuple[int, ...]) -> np.ndarray:
    """An uninitialised float64 array of ``shape`` (zeros where freshly mapped), writable,
    freed with its last reference."""
    n_bytes = 8 * math.prod(shape)
    if n_bytes < PLAIN_MAPPING_BYTES or not hasattr(mmap, "MAP_ANONYMOUS"):  # Windows: numpy's
        return np.empty(shape)
    # mapped in one call (MAP_POPULATE, Linux): 25-40% faster than a fault per 4 kB page
    flags = mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | getattr(mmap, "MAP_POPULATE", 0)
    return np.frombuffer(mmap.mmap(-1, n_bytes, flags=flags), dtype=np.float64).reshape(shape)

"""What the machine has: available memory and free disk, for checks before heavy work, and
which processor, for a run's manifest."""

from __future__ import annotations

import os
import platform
import shutil
from pathlib import Path


def available_memory_bytes() -> int:
    """Memory available to a new allocation without swapping (``MemAvailable`` on Linux)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 2**62  # unknown: do not refuse on a guess


def free_disk_bytes(path: str | Path) -> int:
    """Free space on the file system that holds ``path`` (or its nearest existing parent)."""
    path = Path(path).absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return shutil.disk_usage(path).free


def gib(n_bytes: float) -> str:
    """A byte count for people: ``1.5 GiB``, ``340 MiB``."""
    if n_bytes >= 2**30:
        return f"{n_bytes / 2**30:,.1f} GiB"
    return f"{n_bytes / 2**20:,.0f} MiB"


VECTOR_EXTENSIONS = ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512dq", "avx512bw", "avx512vl",
                     "asimd", "sve")
"""Instruction sets that decide which compiled paths numpy's functions and numba's kernels take
(their names in Linux's ``/proc/cpuinfo``): results are bit for bit the same only where they are."""


def processor(cpuinfo: str | Path = "/proc/cpuinfo") -> dict[str, str | list[str]]:
    """The processor's model and its vector instruction sets among :data:`VECTOR_EXTENSIONS`.

    Read from ``cpuinfo`` on Linux; elsewhere the model is what :mod:`platform` says and the
    instruction sets are empty (unknown)."""
    model, flags = "", set()
    try:
        with open(cpuinfo) as f:
            for line in f:
                key, _, value = line.partition(":")
                key = key.strip()
                if key in ("model name", "Model", "Hardware") and not model:
                    model = value.strip()
                elif key in ("flags", "Features") and not flags:
                    flags = set(value.split())
                if model and flags:  # the first processor's lines say it: skip the others'
                    break
    except OSError:
        pass
    return {"model": model or platform.processor() or platform.machine(),
            "vector_extensions": [x for x in VECTOR_EXTENSIONS if x in flags]}

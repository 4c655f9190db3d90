"""Before simulating: how much a run will need (member-years, memory, disk), and a refusal
when the machine does not have it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..core.errors import RunError
from ..core.resources import available_memory_bytes, free_disk_bytes, gib
from ..experience.dataset import empty_block
from ..experience.engine import trials_per_block

if TYPE_CHECKING:
    from ..scenario import Scenario

WORKER_BASE_BYTES = 320 * 2**20
"""Resident memory of an idle worker process with numpy, numba and the kernel loaded
(measured: about 310 MB each, issue 14)."""
MEMBER_STATE_BYTES = 64
"""Per member in a worker: band, previous band, group, flags and the per-member draws
(the member engine's arrays; a generous round figure)."""
SETTLEMENT_COPIES = 3
"""The settlement arrays, the labelled dataset and the summary's horizon table live at once."""


@dataclass(frozen=True)
class Estimate:
    member_years: int
    experience_bytes: int
    settlement_bytes: int
    peak_memory_bytes: int
    disk_bytes: int

    def describe(self, variants: int) -> str:
        return (f"{self.member_years:,} member-years; experience {gib(self.experience_bytes)}, "
                f"settlement of {variants} variant(s) {gib(self.settlement_bytes)}; peak memory "
                f"about {gib(self.peak_memory_bytes)}, disk about {gib(self.disk_bytes)}")


def estimate(scenario: Scenario, jobs: int, settlement_outputs: int) -> Estimate:
    """Member-years, result sizes, peak memory and disk of running ``scenario``.

    Parameters
    ----------
    settlement_outputs
        Variables per (variant, trial, year, segment) cell of the settlement.
    """
    trials, years = scenario.run.trials, scenario.term.years
    members = sum(s.members for s in scenario.segments.values())
    per_trial = sum(a.nbytes for a in empty_block(scenario, 1).values())
    experience = per_trial * trials
    if scenario.quality is not None:  # the measured rate is derived when the dataset is built
        experience += empty_block(scenario, 1)["measure_numerator"].nbytes * trials
    variants, segments = len(scenario.contracts()), len(scenario.segments)
    measures = 0 if scenario.quality is None else len(scenario.quality.measures)
    cells = variants * trials * segments
    settlement = 8 * cells * (years * (settlement_outputs + max(measures, 1)) + 1)
    block = per_trial * trials_per_block(scenario)  # a task's trials
    workers = jobs if jobs > 1 and scenario.run.backend == "local" else 0
    worker = WORKER_BASE_BYTES + MEMBER_STATE_BYTES * max(s.members for s in scenario.segments.values()) \
        + 2 * block
    peak = 2 * experience + SETTLEMENT_COPIES * settlement + workers * worker
    return Estimate(trials * years * members, experience, settlement, peak,
                    2 * experience + settlement)  # checkpoints live beside experience.nc until the end


def check_resources(scenario: Scenario, out: Path, jobs: int, settlement_outputs: int) -> Estimate:
    """Refuse, with the estimate, a run that needs more memory or disk than there is."""
    found = estimate(scenario, jobs, settlement_outputs)
    variants = len(scenario.contracts())
    memory, disk = available_memory_bytes(), free_disk_bytes(out)
    short = []
    if found.peak_memory_bytes > memory:
        short.append(f"{gib(memory)} of memory available")
    if found.disk_bytes > disk:
        short.append(f"{gib(disk)} free on the disk of {out}")
    if short:
        raise RunError(f"this run needs more than the machine has ({' and '.join(short)}): "
                       f"{found.describe(variants)}. Use fewer trials, members or variants (or "
                       "fewer --jobs), or add --no-resource-check to try anyway")
    return found

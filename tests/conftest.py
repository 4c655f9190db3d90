"""Shared fixtures: the shipped reference scenario and small, fast versions of it."""

from __future__ import annotations

import copy
import os
import re
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import tomli_w

from simulator.rundir import RunFolder
from simulator.scenario import Scenario, load_scenario, scenario_from_dict

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "scenarios" / "reference_global_budget.toml"
SCENARIO_FILES = sorted(p for p in ROOT.glob("scenarios/**/*.toml")
                        if not {"contracts", "capital"} & set(p.relative_to(ROOT).parts))
"""Shipped whole scenarios (contract and capital files are parts that go with a run)."""


def reference_dict() -> dict[str, Any]:
    return tomllib.loads(REFERENCE.read_text())


def without_pricing(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` with no pricing error: the mechanics tests isolate member noise and shocks."""
    for seg in data["segments"].values():
        seg.pop("pricing", None)
    data.get("systemic", {}).pop("pricing_correlation", None)
    return data


def small_dict(members: dict[str, int] | None = None, years: int = 3, trials: int = 8,
               trials_per_block: int = 3) -> dict[str, Any]:
    """The reference scenario shrunk: fewer members, years and trials (trend lists cut), and
    no pricing error."""
    data = without_pricing(copy.deepcopy(reference_dict()))
    members = members or {"ppo": 1500, "hmo": 1000, "medicare": 600}
    for name, seg in data["segments"].items():
        seg["members"] = members[name]
        if isinstance(seg["cost_trend_pct"], list):
            seg["cost_trend_pct"] = seg["cost_trend_pct"][:years]
    for terms in data["contract"]["segments"].values():
        if isinstance(terms["budget_trend_pct"], list):
            terms["budget_trend_pct"] = terms["budget_trend_pct"][:years]
    data["term"]["years"] = years
    data["term"].pop("base_years", None)  # fast; tests of historical benchmarks set them
    for program in [data.get("program", {}), *data.get("program_designs", {}).values()]:
        if isinstance(program.get("care_managers"), list):
            program["care_managers"] = program["care_managers"][:years]
    data["run"].update(trials=trials, trials_per_block=trials_per_block)
    return data


def kernel_populates() -> bool:
    """Whether this kernel backs a range of pages in one call (MADV_POPULATE_WRITE: Linux 5.14)."""
    if not sys.platform.startswith("linux"):
        return False
    version = re.match(r"(\d+)\.(\d+)", os.uname().release)
    return version is not None and tuple(map(int, version.groups())) >= (5, 14)


def small_scenario(**kw: Any) -> Scenario:
    return scenario_from_dict(small_dict(**kw), "<small>", tomli_w.dumps(small_dict(**kw)))


def write_toml(path: Path, data: dict[str, Any]) -> Path:
    path.write_text(tomli_w.dumps(data))
    return path


@pytest.fixture(scope="session")
def reference() -> Scenario:
    return load_scenario(REFERENCE)


class CrashingFolder(RunFolder):
    """A run folder whose run stops (like a kill or Ctrl-C) once ``limit`` blocks are saved."""

    limit = 2

    def save(self, index, block):
        super().save(index, block)
        if len(list((self.partial / "blocks").glob("*.npz"))) >= self.limit:
            raise KeyboardInterrupt

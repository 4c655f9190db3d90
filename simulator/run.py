"""The whole pipeline into a results folder: experience, settlement, summary, manifest."""

from __future__ import annotations

import platform
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

import pandas as pd
import xarray as xr

from .analysis import summarize
from .engine import member_years, simulate_experience
from .errors import RunError
from .rundir import RunFolder, write_json
from .scenario import Scenario
from .settlement import settle

PACKAGES = ("vbcsim", "numpy", "scipy", "xarray", "pandas", "pydantic", "joblib", "netCDF4")
NETCDF_ENGINE = "netcdf4"


@dataclass(frozen=True)
class RunResult:
    out: Path
    experience: xr.Dataset
    settlement: xr.Dataset
    summary: pd.DataFrame
    manifest: dict[str, Any]


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def run_key(scenario: Scenario) -> dict[str, Any]:
    """What must match for a partial run to be resumed."""
    return {"scenario_sha256": scenario.sha256, "seed": scenario.run.seed,
            "trials": scenario.run.trials, "trials_per_block": scenario.run.trials_per_block,
            "engine": scenario.run.engine, "vbcsim": package_versions()["vbcsim"]}


def run_scenario(scenario: Scenario, out: str | Path, jobs: int = 1, force: bool = False,
                 progress: bool = False) -> RunResult:
    """Simulate, settle and summarise ``scenario`` into the folder ``out``.

    The folder appears only when complete; an interrupted run is resumed by
    calling again with the same arguments.
    """
    started = datetime.now(timezone.utc)
    t0 = time.perf_counter()
    folder = RunFolder(out, run_key(scenario), force=force)
    experience = simulate_experience(scenario, jobs=jobs, store=folder, progress=progress)
    t1 = time.perf_counter()
    settlement = settle(experience, scenario.contracts(), scenario.valuation.discount_rate_pct)
    t2 = time.perf_counter()
    summary = summarize(settlement)
    t3 = time.perf_counter()
    try:
        experience.to_netcdf(folder.path("experience.nc"), engine=NETCDF_ENGINE)
        settlement.to_netcdf(folder.path("settlement.nc"), engine=NETCDF_ENGINE)
        summary.to_csv(folder.path("summary.csv"), index=False, float_format="%.6g")
        folder.path("scenario.toml").write_text(scenario.source_text)
    except OSError as err:
        raise RunError(f"cannot write results into {folder.partial}: {err.strerror or err}") from None
    t4 = time.perf_counter()
    simulated = member_years(scenario, scenario.run.trials)
    manifest = {
        "complete": True,
        "created_utc": started.isoformat(timespec="seconds"),
        "command": " ".join(sys.argv),
        "scenario": {"name": scenario.name, "file": scenario.source_name,
                     "sha256": scenario.sha256, "text": scenario.source_text},
        "seed": scenario.run.seed,
        "trials": scenario.run.trials,
        "trials_per_block": scenario.run.trials_per_block,
        "engine": scenario.run.engine,
        "jobs": jobs,
        "blocks_resumed": folder.resumed_blocks,
        "member_years": simulated,
        "versions": package_versions(),
        "platform": platform.platform(),
        "timings_s": {"simulate": round(t1 - t0, 3), "settle": round(t2 - t1, 3),
                      "summarize": round(t3 - t2, 3), "write": round(t4 - t3, 3),
                      "total": round(t4 - t0, 3)},
        "member_years_per_second": round(simulated / max(t1 - t0, 1e-9)),
    }
    write_json(folder.path("manifest.json"), manifest)
    final = folder.complete()
    return RunResult(final, experience, settlement, summary, manifest)

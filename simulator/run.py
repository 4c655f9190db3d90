"""The pipeline into a results folder: a full run, or new terms settled on a stored run."""

from __future__ import annotations

import hashlib
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from .analysis.risk import summarize
from .settlement.contract import Contract, fixed_premium_notes
from .experience.engine import member_years, resolve_engine, simulate_experience
from .experience.programs import program_plan
from .core.errors import RunError, ScenarioError
from .rundir import RunFolder, write_json
from .scenario import Scenario, load_contracts, load_scenario
from .settlement.rules import settle

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


def _settle_and_write(folder: RunFolder, experience: xr.Dataset, contracts: dict[str, Contract],
                      discount_rate_pct: float) -> tuple[xr.Dataset, pd.DataFrame, dict[str, float]]:
    t0 = time.perf_counter()
    settlement = settle(experience, contracts, discount_rate_pct)
    t1 = time.perf_counter()
    summary = summarize(settlement)
    t2 = time.perf_counter()
    try:
        settlement.to_netcdf(folder.path("settlement.nc"), engine=NETCDF_ENGINE)
        summary.to_csv(folder.path("summary.csv"), index=False, float_format="%.6g")
    except OSError as err:
        raise RunError(f"cannot write results into {folder.partial}: {err.strerror or err}") from None
    return settlement, summary, {"settle": t1 - t0, "summarize": t2 - t1,
                                 "write": time.perf_counter() - t2}


def _manifest_base(started: datetime) -> dict[str, Any]:
    return {"complete": True, "created_utc": started.isoformat(timespec="seconds"),
            "command": " ".join(sys.argv), "versions": package_versions(),
            "platform": platform.platform()}


def run_scenario(scenario: Scenario, out: str | Path, jobs: int = 1, force: bool = False,
                 progress: bool = False, on_block: Callable[[int], None] | None = None) -> RunResult:
    """Simulate, settle and summarise ``scenario`` into the folder ``out``.

    The folder appears only when complete; an interrupted run is resumed by
    calling again with the same arguments.
    """
    started = datetime.now(timezone.utc)
    t0 = time.perf_counter()
    folder = RunFolder(out, run_key(scenario), force=force)
    experience = simulate_experience(scenario, jobs=jobs, store=folder, progress=progress,
                                     on_block=on_block)
    simulate_s = time.perf_counter() - t0
    plan = program_plan(scenario)
    try:
        experience.to_netcdf(folder.path("experience.nc"), engine=NETCDF_ENGINE)
        folder.path("scenario.toml").write_text(scenario.source_text)
        if plan is not None:
            plan.monthly_table(scenario.term.first_year).to_csv(
                folder.path("program_operations.csv"), index=False, float_format="%.6g")
    except OSError as err:
        raise RunError(f"cannot write results into {folder.partial}: {err.strerror or err}") from None
    settlement, summary, timings = _settle_and_write(
        folder, experience, scenario.contracts(), scenario.valuation.discount_rate_pct)
    simulated = member_years(scenario, scenario.run.trials)
    manifest = _manifest_base(started) | {
        "scenario": {"name": scenario.name, "file": scenario.source_name,
                     "sha256": scenario.sha256, "text": scenario.source_text},
        "seed": scenario.run.seed,
        "trials": scenario.run.trials,
        "trials_per_block": scenario.run.trials_per_block,
        "engine": "{} ({})".format(*resolve_engine(scenario)),
        "jobs": jobs,
        "blocks_resumed": folder.resumed_blocks,
        "member_years": simulated,
        "timings_s": {"simulate": round(simulate_s, 3)} | {k: round(v, 3) for k, v in timings.items()}
                     | {"total": round(time.perf_counter() - t0, 3)}
                     | ({} if plan is None else {"program_discrete_event": round(plan.operations.seconds, 3)}),
        "member_years_per_second": round(simulated / max(simulate_s, 1e-9)),
    }
    write_json(folder.path("manifest.json"), manifest)
    return RunResult(folder.complete(), experience, settlement, summary, manifest)


def settle_stored_run(run_dir: str | Path, contract_file: str | Path, out: str | Path | None = None,
                      force: bool = False) -> RunResult:
    """Settle new contract terms on the experience of a finished run, without simulating.

    Results go to ``out`` (default ``RUN_DIR/settlements/<contract file name>``).
    """
    started = datetime.now(timezone.utc)
    t0 = time.perf_counter()
    run_dir, contract_file = Path(run_dir), Path(contract_file)
    scenario, experience = _stored_inputs(run_dir)
    contracts = load_contracts(contract_file, scenario)
    _check_attachments(contracts, experience, contract_file)
    text = contract_file.read_text(encoding="utf-8")
    out = Path(out) if out else run_dir / "settlements" / contract_file.stem
    folder = RunFolder(out, {"contract_sha256": hashlib.sha256(text.encode()).hexdigest()}, force=force)
    folder.path("contract.toml").write_text(text)
    settlement, summary, timings = _settle_and_write(
        folder, experience, contracts, scenario.valuation.discount_rate_pct)
    manifest = _manifest_base(started) | {
        "run": str(run_dir.resolve()),
        "scenario": {"name": scenario.name, "sha256": scenario.sha256},
        "contract": {"file": str(contract_file), "sha256": folder.key["contract_sha256"], "text": text},
        "variants": list(contracts),
        "notes": fixed_premium_notes(scenario.contract, contracts.values()),
        "trials": experience.sizes["trial"],
        "timings_s": {k: round(v, 3) for k, v in timings.items()}
                     | {"total": round(time.perf_counter() - t0, 3)},
    }
    write_json(folder.path("manifest.json"), manifest)
    return RunResult(folder.complete(), experience, settlement, summary, manifest)


@dataclass(frozen=True)
class StoredRun:
    scenario: Scenario
    experience: xr.Dataset
    settlement: xr.Dataset


def open_run(folder: str | Path) -> StoredRun:
    """Load a finished run (or a ``settlements/NAME`` folder inside one) for analysis."""
    folder = Path(folder)
    run_dir = folder.parents[1] if folder.parent.name == "settlements" else folder
    if not (folder / "settlement.nc").is_file():
        raise RunError(f"{folder} is not a complete vbcsim run (missing {folder / 'settlement.nc'})")
    return StoredRun(*_stored_inputs(run_dir),
                     xr.load_dataset(folder / "settlement.nc", engine=NETCDF_ENGINE))


def _stored_inputs(run_dir: Path) -> tuple[Scenario, xr.Dataset]:
    """The scenario and experience of a finished run."""
    needed = [run_dir / "manifest.json", run_dir / "scenario.toml", run_dir / "experience.nc"]
    missing = [str(p) for p in needed if not p.is_file()]
    if missing:
        raise RunError(f"{run_dir} is not a complete vbcsim run (missing {', '.join(missing)})")
    scenario = load_scenario(run_dir / "scenario.toml")
    experience = xr.load_dataset(run_dir / "experience.nc", engine=NETCDF_ENGINE)
    if "segment_members" not in experience:  # stored before the members were recorded
        members = [scenario.segments[str(s)].members for s in experience["segment"].values]
        experience["segment_members"] = ("segment", np.array(members, float))
    return scenario, experience


def _check_attachments(contracts: dict[str, Contract], experience: xr.Dataset, source: Path) -> None:
    available = {float(a) for a in experience["attachment"].values}
    for label, contract in contracts.items():
        for name, terms in contract.segments.items():
            if terms.stop_loss is not None and terms.stop_loss.attachment_usd not in available:
                where = "contract" if label == "base" else f"variants.{label}"
                raise ScenarioError(str(source), [(
                    f"{where}.segments.{name}.stop_loss.attachment_usd",
                    f"{terms.stop_loss.attachment_usd:,.0f} was not simulated in this run; "
                    f"available: {', '.join(f'{a:,.0f}' for a in sorted(available))}")])

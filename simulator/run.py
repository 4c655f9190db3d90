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
from .analysis.sources import DEFAULT_TRIALS as SOURCES_TRIALS, risk_sources, summary_rows
from .capital.stored import capital_summary, load_capital, variant_charts
from .capital.terms import CapitalTerms
from .settlement.contract import Contract, fixed_premium_notes
from .experience.engine import member_years, resolve_engine, simulate_experience, trials_per_block
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
    capital: pd.DataFrame | None = None


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
                      discount_rate_pct: float, replicate_trials: int | None = None
                      ) -> tuple[xr.Dataset, pd.DataFrame, dict[str, float]]:
    t0 = time.perf_counter()
    settlement = settle(experience, contracts, discount_rate_pct)
    t1 = time.perf_counter()
    summary = summarize(settlement, replicate_trials)
    t2 = time.perf_counter()
    try:
        settlement.to_netcdf(folder.path("settlement.nc"), engine=NETCDF_ENGINE)
    except OSError as err:
        raise RunError(f"cannot write results into {folder.partial}: {err.strerror or err}") from None
    _write_summary(folder, summary)
    return settlement, summary, {"settle": t1 - t0, "summarize": t2 - t1,
                                 "write": time.perf_counter() - t2}


def _replicate_trials(scenario: Scenario) -> int | None:
    """Trials per randomised quasi-Monte Carlo replicate, or None for pseudo-random sampling."""
    return scenario.systemic.sobol_points if scenario.systemic.sampling == "sobol" else None


def _write_summary(folder: RunFolder, summary: pd.DataFrame) -> None:
    try:
        summary.to_csv(folder.path("summary.csv"), index=False, float_format="%.6g")
    except OSError as err:
        raise RunError(f"cannot write results into {folder.partial}: {err.strerror or err}") from None


def _manifest_base(started: datetime) -> dict[str, Any]:
    return {"complete": True, "created_utc": started.isoformat(timespec="seconds"),
            "command": " ".join(sys.argv), "versions": package_versions(),
            "platform": platform.platform()}


def run_scenario(scenario: Scenario, out: str | Path, jobs: int = 1, force: bool = False,
                 progress: bool = False, on_block: Callable[[int], None] | None = None,
                 sources_trials: int = SOURCES_TRIALS) -> RunResult:
    """Simulate, settle and summarise ``scenario`` into the folder ``out``.

    The folder appears only when complete; an interrupted run is resumed by
    calling again with the same arguments. ``sources_trials`` (0: none; at most the run's
    trials) are the trials of the decomposition of the risk by source (:mod:`simulator.analysis.sources`), whose rows
    are added to ``summary.csv``.
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
        folder, experience, scenario.contracts(), scenario.valuation.discount_rate_pct,
        _replicate_trials(scenario))
    t_capital = time.perf_counter()
    capital = _capital_and_write(folder, scenario.capital, settlement, scenario.contracts())
    if capital is not None:
        timings["capital"] = time.perf_counter() - t_capital
    if sources_trials:
        t_sources = time.perf_counter()
        summary = pd.concat([summary, summary_rows(risk_sources(
            scenario, min(sources_trials, scenario.run.trials)))],
                            ignore_index=True)
        _write_summary(folder, summary)
        timings["risk_sources"] = time.perf_counter() - t_sources
    simulated = member_years(scenario, scenario.run.trials)
    manifest = _manifest_base(started) | {
        "scenario": {"name": scenario.name, "file": scenario.source_name,
                     "sha256": scenario.sha256, "text": scenario.source_text,
                     "overrides": list(scenario.overrides)},
        "seed": scenario.run.seed,
        "trials": scenario.run.trials,
        "trials_per_block": trials_per_block(scenario),
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
    return RunResult(folder.complete(), experience, settlement, summary, manifest, capital)


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
        folder, experience, contracts, scenario.valuation.discount_rate_pct, _replicate_trials(scenario))
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


# -- capital, cash and survival (simulator.capital) ------------------------------------------
def _capital_and_write(folder: RunFolder, terms: CapitalTerms | None, settlement: xr.Dataset,
                       contracts: dict[str, Contract]) -> pd.DataFrame | None:
    """With a ``[capital]`` table: every variant's capital figures, written to capital.csv."""
    if terms is None:
        return None
    table = capital_summary(settlement, terms, contracts)
    try:
        table.to_csv(folder.path("capital.csv"), index=False, float_format="%.10g")
    except OSError as err:
        raise RunError(f"cannot write results into {folder.partial}: {err.strerror or err}") from None
    return table


@dataclass(frozen=True)
class CapitalResult:
    out: Path
    summary: pd.DataFrame
    terms: CapitalTerms
    trials: int
    seconds: float


def capital_stored_run(run_dir: str | Path, contract_file: str | Path | None = None,
                       capital_file: str | Path | None = None, out: str | Path | None = None,
                       force: bool = False) -> CapitalResult:
    """Capital figures, the fan chart and the ruin curve of a stored run, without simulating.

    ``run_dir`` is a run or a ``settlements/NAME`` folder in one; ``contract_file`` settles
    new terms on its experience first; ``capital_file`` replaces the scenario's ``[capital]``.
    Results go to ``out`` (default ``RUN_DIR/capital/<capital file name, or 'scenario'>``).
    """
    t0 = time.perf_counter()
    run_dir = Path(run_dir)
    stored = open_run(run_dir)
    scenario = stored.scenario
    terms = load_capital(capital_file, scenario) if capital_file else scenario.capital
    if terms is None:
        raise RunError(f"{run_dir}: the scenario has no [capital] table; give --capital FILE")
    if contract_file:
        contracts = load_contracts(contract_file, scenario)
        _check_attachments(contracts, stored.experience, Path(contract_file))
        settlement = settle(stored.experience, contracts, scenario.valuation.discount_rate_pct)
    else:
        contracts = stored_contracts(run_dir, scenario)
        settlement = stored.settlement
    summary = capital_summary(settlement, terms, contracts)
    name = Path(capital_file).stem if capital_file else "scenario"
    if contract_file:
        name += f"_{Path(contract_file).stem}"
    key = {"capital": terms.model_dump_json(), "contract": str(contract_file)}
    folder = RunFolder(Path(out) if out else run_dir / "capital" / name, key, force=force)
    summary.to_csv(folder.path("capital.csv"), index=False, float_format="%.10g")
    _capital_charts(folder, settlement, terms, contracts, summary)
    return CapitalResult(folder.complete(), summary, terms, settlement.sizes["trial"],
                         time.perf_counter() - t0)


def stored_contracts(folder: str | Path, scenario: Scenario) -> dict[str, Contract]:
    """The contract variants settled in ``folder``: a settlements/NAME folder's own contract
    file, else the run's scenario."""
    own = Path(folder) / "contract.toml"
    return load_contracts(own, scenario) if own.is_file() else scenario.contracts()


def _capital_charts(folder: RunFolder, settlement: xr.Dataset, terms: CapitalTerms,
                    contracts: dict[str, Contract], summary: pd.DataFrame, variant: str = "base") -> None:
    """The base variant's capital fan chart and ruin curve, as PNG files (and the curve as CSV)."""
    fan, ruin, curve = variant_charts(settlement, terms, summary, contracts[variant].payment_lag_months,
                                      variant)
    curve.to_csv(folder.path("ruin_curve.csv"), index=False, float_format="%.10g")
    fan.savefig(folder.path("capital_fan.png"), dpi=110)
    ruin.savefig(folder.path("ruin_curve.png"), dpi=110)

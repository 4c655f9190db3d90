"""The pipeline into a results folder: a full run, or new terms settled on a stored run."""

from __future__ import annotations

import functools
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

import pandas as pd
import xarray as xr

from .analysis.risk import summarize
from .analysis.sources import DEFAULT_TRIALS as SOURCES_TRIALS, configuration_gains, decompose, summary_rows
from .capital.stored import capital_summary, load_capital, variant_charts
from .capital.terms import CapitalTerms
from .core.background import Background
from .core.errors import RunError, ScenarioError
from .core.resources import processor
from .experience.engine import member_years, resolve_engine, simulate_experience, trials_per_block
from .experience.programs import program_plan
from .experience.streams import MEMBER_STREAM_LAYOUT
from .experience.workers import forked
from .rundir import RunFolder, StoredRun, check_out_path, open_run
from .rundir.estimate import check_resources
from .scenario import Scenario, load_contracts
from .settlement.contract import Contract, fixed_premium_notes
from .settlement.rules import OUTPUTS, settle

PACKAGES = ("vbcsim", "numpy", "scipy", "numba", "llvmlite", "xarray", "pandas", "pydantic", "joblib",
            "netCDF4")
NETCDF_ENGINE = "netcdf4"
__all__ = ["RunResult", "StoredRun", "open_run", "run_scenario", "settle_stored_run"]


@dataclass(frozen=True)
class RunResult:
    out: Path
    experience: xr.Dataset
    settlement: xr.Dataset
    summary: pd.DataFrame
    manifest: dict[str, Any]
    capital: pd.DataFrame | None = None


@functools.cache  # reading package metadata takes a tenth of a second; it does not change
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
    key = {"scenario_sha256": scenario.sha256, "seed": scenario.run.seed,
           "trials": scenario.run.trials, "trials_per_block": scenario.run.trials_per_block,
           "engine": scenario.run.engine, "vbcsim": package_versions()["vbcsim"]}
    if resolve_engine(scenario)[0] == "member":
        key["member_stream_layout"] = MEMBER_STREAM_LAYOUT
    return key


def _settle_and_write(folder: RunFolder, experience: xr.Dataset, contracts: dict[str, Contract],
                      discount_rate_pct: float, replicate_trials: int | None = None
                      ) -> tuple[xr.Dataset, pd.DataFrame, dict[str, float]]:
    t0 = time.perf_counter()
    settlement = settle(experience, contracts, discount_rate_pct)
    t1 = time.perf_counter()
    summary = summarize(settlement, replicate_trials)
    t2 = time.perf_counter()
    with folder.write("settlement.nc") as tmp:
        settlement.to_netcdf(tmp, engine=NETCDF_ENGINE)
    _write_summary(folder, summary)
    return settlement, summary, {"settle": t1 - t0, "summarize": t2 - t1,
                                 "write": time.perf_counter() - t2}


def _replicate_trials(scenario: Scenario) -> int | None:
    """Trials per randomised quasi-Monte Carlo replicate, or None for pseudo-random sampling."""
    return scenario.systemic.sobol_points if scenario.systemic.sampling == "sobol" else None


def _write_summary(folder: RunFolder, summary: pd.DataFrame) -> None:
    with folder.write("summary.csv") as tmp:
        summary.to_csv(tmp, index=False, float_format="%.6g")


def _manifest_base(started: datetime) -> dict[str, Any]:
    return {"complete": True, "created_utc": started.isoformat(timespec="seconds"),
            "command": " ".join(sys.argv), "versions": package_versions(),
            "platform": platform.platform(), "processor": processor()}


def run_scenario(scenario: Scenario, out: str | Path, jobs: int = 1, force: bool = False,
                 progress: bool = False, on_block: Callable[[int], None] | None = None,
                 scheduler: str | None = None, check_resources_first: bool = True,
                 sources_trials: int = SOURCES_TRIALS) -> RunResult:
    """Simulate, settle and summarise ``scenario`` into the folder ``out``.

    The folder appears only when complete; an interrupted run is resumed by
    calling again with the same arguments. ``sources_trials`` (0: none; at most the run's
    trials) are the trials of the decomposition of the risk by source (:mod:`simulator.analysis.sources`), whose rows
    are added to ``summary.csv``.

    Parameters
    ----------
    scheduler
        Address of a dask scheduler (dask backend); never taken from the scenario.
    check_resources_first
        Refuse, before simulating, a run that needs more memory or disk than there is.
    """
    started = datetime.now(timezone.utc)
    t0 = time.perf_counter()
    if check_resources_first:  # before anything is written
        check_resources(scenario, check_out_path(out), jobs, len(OUTPUTS))
    folder = RunFolder(out, run_key(scenario), force=force)
    try:
        if folder.is_complete():  # killed during its finish: only the move into place remains
            return _stored_result(folder.complete())
        experience = simulate_experience(scenario, jobs=jobs, store=folder, progress=progress,
                                         on_block=on_block, scheduler=scheduler)
        simulate_s = time.perf_counter() - t0
        t_sources = time.perf_counter()
        sources = _start_risk_sources(scenario, sources_trials, jobs) if sources_trials else None
        plan = program_plan(scenario)
        with folder.write("experience.nc") as tmp:
            experience.to_netcdf(tmp, engine=NETCDF_ENGINE)
        with folder.write("scenario.toml") as tmp:
            tmp.write_text(scenario.source_text, encoding="utf-8")
        if plan is not None:
            with folder.write("program_operations.csv") as tmp:
                plan.monthly_table(scenario.term.first_year).to_csv(tmp, index=False, float_format="%.6g")
        settlement, summary, timings = _settle_and_write(
            folder, experience, scenario.contracts(), scenario.valuation.discount_rate_pct,
            _replicate_trials(scenario))
        t_capital = time.perf_counter()
        capital = _capital_and_write(folder, scenario.capital, settlement, scenario.contracts())
        if capital is not None:
            timings["capital"] = time.perf_counter() - t_capital
        if sources is not None:
            summary = pd.concat([summary, summary_rows(decompose(*sources.result()))], ignore_index=True)
            _write_summary(folder, summary)
            timings["risk_sources"] = time.perf_counter() - t_sources  # (beside the items above)
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
        return RunResult(folder.complete(manifest), experience, settlement, summary, manifest, capital)
    finally:
        folder.release()


def _start_risk_sources(scenario: Scenario, trials: int, jobs: int) -> Background:
    """The decomposition of the risk by source, simulated on the run's forked workers while
    this process writes and settles the run (else when its result is asked for)."""
    call = functools.partial(configuration_gains, scenario, min(trials, scenario.run.trials), jobs)
    return Background(call, scenario.run.backend == "local" and forked(jobs))


def _stored_result(out: Path) -> RunResult:
    """The result of a run already written (its finish interrupted and now done)."""
    stored = open_run(out)
    summary = pd.read_csv(out / "summary.csv")
    capital = pd.read_csv(out / "capital.csv") if (out / "capital.csv").is_file() else None
    return RunResult(out, stored.experience, stored.settlement, summary, stored.manifest, capital)


def settle_stored_run(run_dir: str | Path, contract_file: str | Path, out: str | Path | None = None,
                      force: bool = False) -> RunResult:
    """Settle new contract terms on the experience of a finished run, without simulating.

    Results go to ``out`` (default ``RUN_DIR/settlements/<contract file name>``).
    """
    started = datetime.now(timezone.utc)
    t0 = time.perf_counter()
    run_dir, contract_file = Path(run_dir), Path(contract_file)
    stored = open_run(run_dir, settlement=False)
    scenario, experience = stored.scenario, stored.experience
    contracts = load_contracts(contract_file, scenario)
    _check_attachments(contracts, experience, contract_file)
    text = contract_file.read_text(encoding="utf-8")
    if out is None:
        if contract_file.stem in ("", ".", ".."):
            raise RunError(f"{contract_file}: cannot name a results folder after this file; "
                           "rename it or give --out")
        out = run_dir / "settlements" / contract_file.stem
    folder = RunFolder(out, {"contract_sha256": hashlib.sha256(text.encode()).hexdigest()}, force=force)
    try:
        if folder.is_complete():  # killed during its finish: only the move into place remains
            return _stored_result(folder.complete())
        with folder.write("contract.toml") as tmp:
            tmp.write_text(text, encoding="utf-8")
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
        return RunResult(folder.complete(manifest), experience, settlement, summary, manifest)
    finally:
        folder.release()


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
    with folder.write("capital.csv") as tmp:
        table.to_csv(tmp, index=False, float_format="%.10g")
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
    if not folder.is_complete():  # (complete: a rerun after a kill at the very end)
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

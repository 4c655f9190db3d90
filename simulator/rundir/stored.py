"""Reading a stored run: the one door every command that reads a results folder goes through.

:func:`open_run` verifies the folder against its manifest (every file's sha256, no
symlinks, nothing truncated), checks each NetCDF file's dimensions against the
manifest and the scenario *before* loading it and that loading it fits in
memory, and refuses NaN where a settled or simulated figure must be a number.
Anything wrong is one :class:`RunError` line naming the file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from ..core.errors import RunError
from ..core.resources import available_memory_bytes, gib
from ..scenario import Scenario, load_scenario
from .manifest import verify_folder

NETCDF_ENGINE = "netcdf4"
MEMORY_SHARE = 0.5
"""Largest share of the available memory a stored dataset may take when loaded."""
MUST_BE_NUMBERS = {"experience.nc": ("member_months", "allowed_usd"),
                   "settlement.nc": ("provider_gain_usd", "pv_gain_usd")}


@dataclass(frozen=True)
class StoredRun:
    scenario: Scenario
    experience: xr.Dataset | None
    settlement: xr.Dataset | None
    folder: Path = Path(".")
    manifest: dict[str, Any] = field(default_factory=dict)


def run_folder_of(folder: str | Path) -> Path:
    """The run folder of ``folder`` (itself, or the run a ``settlements/NAME`` folder is in)."""
    folder = Path(folder)
    return folder.parents[1] if folder.parent.name == "settlements" else folder


def verify_run(folder: str | Path) -> dict[str, Any]:
    """Verify a results folder (and, for ``settlements/NAME``, its run) before reading it.

    Returns
    -------
    dict
        The manifest of ``folder``.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise RunError(f"{folder} is not a complete vbcsim run (not a folder)")
    manifest = verify_folder(folder)
    run_dir = run_folder_of(folder)
    if run_dir != folder:
        verify_folder(run_dir)
    return manifest


def open_run(folder: str | Path, experience: bool = True, settlement: bool = True) -> StoredRun:
    """Verify and load a finished run (or a ``settlements/NAME`` folder inside one).

    Parameters
    ----------
    experience, settlement
        Which datasets to load (the other is ``None``).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise RunError(f"{folder} is not a complete vbcsim run (not a folder)")
    manifest = verify_folder(folder)
    run_dir = run_folder_of(folder)
    run_manifest = manifest if run_dir == folder else verify_folder(run_dir)
    for name in ("scenario.toml", "experience.nc"):
        if name not in run_manifest["files"]:
            raise RunError(f"{run_dir} is not a complete vbcsim run (its manifest lists no {name})")
    scenario = load_scenario(run_dir / "scenario.toml")
    trials = run_manifest.get("trials")
    expected = {"trial": trials if isinstance(trials, int) else -1, "year": scenario.term.years,
                "segment": len(scenario.segments)}
    exp = load_netcdf(run_dir, "experience.nc", run_manifest, expected) if experience else None
    if exp is not None and "segment_members" not in exp:  # stored before members were recorded
        members = [scenario.segments[str(s)].members for s in exp["segment"].values]
        exp["segment_members"] = ("segment", np.array(members, float))
    settled = None
    if settlement:
        if "settlement.nc" not in manifest["files"]:
            raise RunError(f"{folder} holds no settlement.nc (its manifest lists none)")
        settled = load_netcdf(folder, "settlement.nc", manifest, expected)
    return StoredRun(scenario, exp, settled, folder, manifest)


def _header(path: Path) -> tuple[dict[str, int], int]:
    """Dimension sizes and the bytes the variables take when loaded, from the file's header."""
    import netCDF4

    try:
        with netCDF4.Dataset(path) as nc:
            sizes = {name: len(dim) for name, dim in nc.dimensions.items()}
            need = 0
            for var in nc.variables.values():
                itemsize = var.dtype.itemsize if hasattr(var.dtype, "itemsize") else 64
                need += int(np.prod([sizes[d] for d in var.dimensions], dtype=float)) * itemsize
    except Exception as err:  # noqa: BLE001 - the library raises many types for a bad file
        raise RunError(f"{path}: not a readable NetCDF file ({type(err).__name__}: {err})") from None
    return sizes, need


def load_netcdf(folder: Path, name: str, manifest: dict[str, Any], expected: dict[str, int]
                ) -> xr.Dataset:
    """Load a verified NetCDF file of a results folder, after checking its size.

    Its dimensions must match those the manifest records and ``expected``, and the loaded
    data must fit in :data:`MEMORY_SHARE` of the available memory.
    """
    path = folder / name
    recorded = manifest["files"][name].get("sizes") or {}
    sizes, need = _header(path)  # from the header alone: nothing is allocated before the checks
    wrong = {d: n for d, n in sizes.items() if recorded.get(d, n) != n or expected.get(d, n) != n}
    if wrong or any(recorded[d] for d in set(recorded) - set(sizes)):
        raise RunError(f"{path}: dimensions {sizes} do not match the run (manifest: {recorded}; "
                       f"scenario and trials: {expected}); refusing to load it")
    have = available_memory_bytes()
    if need > MEMORY_SHARE * have:
        raise RunError(f"{path}: loading it would take {gib(need)} of memory, more than half of "
                       f"the {gib(have)} available; refusing to load it")
    try:
        with xr.open_dataset(path, engine=NETCDF_ENGINE) as ds:
            ds.load()
    except Exception as err:  # noqa: BLE001 - the library raises many types for a bad file
        raise RunError(f"{path}: cannot read its data ({type(err).__name__}: {err})") from None
    for var in MUST_BE_NUMBERS.get(name, ()):
        if var not in ds:
            raise RunError(f"{path}: has no variable {var}; not a file vbcsim wrote")
        bad = int(np.isnan(ds[var].values).sum()) if ds[var].dtype.kind == "f" else 0
        if bad:
            raise RunError(f"{path}: {var} is NaN in {bad} place(s); refusing to use it")
    return ds

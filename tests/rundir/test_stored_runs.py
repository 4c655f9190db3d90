"""A stored run is verified before it is read: every command refuses a tampered folder with
one line, never a traceback or exit 0 (issue 14, points 6 and 12; the stored-run fuzz)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import netCDF4
import numpy as np
import pytest

from conftest import small_dict, write_toml
from simulator.cli import EXIT_INTERNAL, main
from simulator.rundir import manifest as manifest_module
from simulator.rundir import open_run, stored as stored_module

FILES = ["manifest.json", "experience.nc", "settlement.nc", "summary.csv", "scenario.toml",
         "program_operations.csv", "capital.csv"]
COMMANDS = ["compare", "settle", "report", "breakeven", "sweep", "capital"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Two small finished runs of different scenarios (made once for the module)."""
    root = tmp_path_factory.mktemp("stored")
    made = []
    for name, members in (("a", {"ppo": 150, "hmo": 100, "medicare": 80}),
                          ("b", {"ppo": 120, "hmo": 90, "medicare": 70})):
        scenario = write_toml(root / f"{name}.toml", small_dict(members=members, years=2, trials=4,
                                                                trials_per_block=2))
        assert main(["run", str(scenario), "--out", str(root / name), "--quiet", "--jobs", "1"]) == 0
        made.append(root / name)
    (root / "contract.toml").write_text("[contract]\n[variants.half]\nsegments.ppo.surplus_share_pct = 50\n")
    return root, made[0], made[1]


def command(name: str, run_dir: Path, contract: Path) -> list[str]:
    return {"compare": ["compare", str(run_dir)],
            "settle": ["settle", str(run_dir), "--contract", str(contract), "--quiet"],
            "report": ["report", str(run_dir)],
            "breakeven": ["breakeven", str(run_dir), "--term", "segments.*.budget_pmpm",
                          "--between", "100", "3000", "--mean", "0"],
            "sweep": ["sweep", str(run_dir), "--term", "segments.ppo.surplus_share_pct=50:100:2"],
            "capital": ["capital", str(run_dir)],
            }[name]


def test_an_intact_run_is_read_by_every_command(runs, tmp_path, capsys):
    root, a, _ = runs
    copy = tmp_path / "a"
    shutil.copytree(a, copy)
    for name in COMMANDS:
        assert main(command(name, copy, root / "contract.toml")) == 0, name
    stored = open_run(copy / "settlements" / "contract")
    assert list(stored.settlement["variant"].values) == ["base", "half"]


# -- the fuzz: every file of a results folder, damaged in every way ---------------------------
def _flip(data: bytes, at: float) -> bytes:
    i = min(int(len(data) * at), len(data) - 1)
    return data[:i] + bytes([data[i] ^ 0xFF]) + data[i + 1:]


def _nan_inject(path: Path) -> None:
    if path.suffix == ".nc":
        with netCDF4.Dataset(path, "r+") as nc:
            var = next(v for v in nc.variables.values()
                       if v.dtype == np.float64 and v.ndim >= 2 and v.size)
            values = var[:]
            values.flat[0] = np.nan
            var[:] = values
    else:
        text = path.read_text()
        digits = next(i for i, c in enumerate(text) if c.isdigit() and i > 2)
        path.write_text(text[:digits] + "nan" + text[digits + 1:])


def _mutate(path: Path, how: str, other_run: Path, scratch: Path) -> None:
    data = path.read_bytes()
    if how.startswith("truncate"):
        keep = {"truncate_0": 0, "truncate_tenth": len(data) // 10, "truncate_half": len(data) // 2,
                "truncate_1": len(data) - 1}[how]
        path.write_bytes(data[:keep])
    elif how.startswith("flip"):
        at = {"flip_start": 0.02, "flip_quarter": 0.25, "flip_mid": 0.5, "flip_three_quarters": 0.75,
              "flip_end": 0.999}[how]
        path.write_bytes(_flip(data, at))
    elif how == "append":
        path.write_bytes(data + b"\n")
    elif how == "zero_block":
        i = len(data) // 3
        path.write_bytes(data[:i] + b"\0" * min(4096, len(data) - i) + data[i + 4096:])
    elif how == "symlink_to_copy":  # same bytes, but a link: still refused
        (scratch / path.name).write_bytes(data)
        path.unlink()
        path.symlink_to(scratch / path.name)
    elif how == "delete":
        path.unlink()
    elif how == "directory":
        path.unlink()
        path.mkdir()
    elif how == "swap_other_run":
        shutil.copy(other_run / path.name, path)
    elif how == "swap_in_run":
        partner = "settlement.nc" if path.name != "settlement.nc" else "experience.nc"
        shutil.copy(path.parent / partner, path)
    elif how == "nan_inject":
        _nan_inject(path)
    else:
        raise AssertionError(how)


MUTATIONS = ["truncate_0", "truncate_tenth", "truncate_half", "truncate_1", "flip_start",
             "flip_quarter", "flip_mid", "flip_three_quarters", "flip_end",
             "append", "zero_block", "symlink_to_copy", "delete", "directory", "swap_other_run",
             "swap_in_run", "nan_inject", "nan_inject_settlements"]
CASES = [(f, m) for f in FILES for m in MUTATIONS if m != "nan_inject_settlements"] + \
        [(f, "nan_inject_settlements") for f in ("settlement.nc", "summary.csv", "manifest.json")]


@pytest.mark.parametrize("name,how", CASES)
def test_a_tampered_run_is_refused_with_one_line(runs, tmp_path, capsys, name, how):
    root, a, b = runs
    folder = tmp_path / "run"
    shutil.copytree(a, folder)
    target = folder / name
    if how == "nan_inject_settlements":  # damage a settle output folder, read through it
        assert main(command("settle", folder, root / "contract.toml")) == 0
        target = folder / "settlements" / "contract" / name
        how = "nan_inject" if name != "manifest.json" else "flip_mid"
        folder = target.parent
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    _mutate(target, how, b, scratch)
    capsys.readouterr()
    which = COMMANDS[CASES.index((name, how if folder.name == "run" else "nan_inject_settlements"))
                     % len(COMMANDS)]
    if folder.name != "run" and which in ("settle", "sweep", "breakeven"):
        which = "compare"  # these take the run folder itself
    code = main(command(which, folder, root / "contract.toml"))
    err = capsys.readouterr().err
    assert code not in (0, EXIT_INTERNAL), (which, err)
    assert err.startswith("vbcsim: error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err


# -- a crafted NetCDF file must not make vbcsim allocate a huge array -------------------------
def _crafted(folder: Path, trials: int) -> None:
    """Replace settlement.nc by a small file declaring ``trials`` trials, and re-sign the
    manifest so that the checksums match (a deliberate forgery)."""
    path = folder / "settlement.nc"
    path.unlink()
    with netCDF4.Dataset(path, "w") as nc:
        for dim, n in (("variant", 2), ("trial", trials), ("year", 2), ("segment", 3)):
            nc.createDimension(dim, n)
        nc.createVariable("provider_gain_usd", "f8", ("variant", "trial", "year", "segment"),
                          zlib=True, chunksizes=(1, min(trials, 1000), 1, 1))
        # an index coordinate, which xarray would load on opening the file
        nc.createVariable("trial", "i8", ("trial",), zlib=True, chunksizes=(min(trials, 1000),))
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest_module.write_manifest(folder, manifest)


def test_a_crafted_netcdf_with_other_dimensions_is_refused_before_loading(runs, tmp_path, capsys):
    folder = tmp_path / "run"
    shutil.copytree(runs[1], folder)
    _crafted(folder, 10**9)
    assert (folder / "settlement.nc").stat().st_size < 100_000
    assert main(["compare", str(folder)]) == 3
    assert "do not match the run" in capsys.readouterr().err


def test_a_crafted_netcdf_too_big_for_memory_is_refused_before_loading(runs, tmp_path, capsys,
                                                                      monkeypatch):
    folder = tmp_path / "run"
    shutil.copytree(runs[1], folder)
    _crafted(folder, 4)  # the run's own sizes: only the memory check stands in the way
    monkeypatch.setattr(stored_module, "available_memory_bytes", lambda: 1000)
    assert main(["compare", str(folder)]) == 3
    assert "loading it would take" in capsys.readouterr().err


@pytest.mark.parametrize("which", COMMANDS)
@pytest.mark.parametrize("name,how", [("experience.nc", "truncate_half"),
                                      ("settlement.nc", "symlink_to_copy")])
def test_every_command_refuses_a_truncated_or_symlinked_netcdf(runs, tmp_path, capsys, which, name, how):
    root, a, b = runs
    folder = tmp_path / "run"
    shutil.copytree(a, folder)
    (tmp_path / "scratch").mkdir()
    _mutate(folder / name, how, b, tmp_path / "scratch")
    assert main(command(which, folder, root / "contract.toml")) == 3
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(folder / name) in err

"""The manifest of a results folder: vbcsim's marker, and the checksums of its files.

``manifest.json`` carries a format tag (:data:`FORMAT`), the sha256 and size of
every data file of the folder (and the dimensions of each NetCDF file), and a
sha256 of its own text. It is the one mark by which vbcsim recognises a folder
it made: only such a folder is ever replaced or deleted, and only the files the
manifest (or vbcsim's own naming) accounts for; a folder holding anything else
is left alone with an error naming what is there. Before any command reads a
run, :func:`verify_folder` checks every file against the manifest.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
from pathlib import Path
from typing import Any

from ..core.errors import RunError
from ..core.files import write_text

FORMAT = "vbcsim-results/1"
MANIFEST = "manifest.json"
KEY_FILE = "run-key.json"
LOCK_FILE = ".lock"
BLOCKS = "blocks"
SELF_HASH = "manifest_sha256"
DERIVED_FILES = {"report.html", "summary.xlsx"}
"""Written into a finished run folder later (``vbcsim report``)."""
NESTED_FOLDERS = {"settlements", "sweeps", "capital"}
"""Hold results folders of their own (``vbcsim settle``, ``sweep``, ``capital``)."""
BOOKKEEPING = {MANIFEST, KEY_FILE, LOCK_FILE}
TEMPORARY = re.compile(r"^\..+\.tmp$")
BLOCK_FILE = re.compile(r"^(block-\d{6}\.npz|\.block-\d{6}\.npz(\.\d+\.\d+)?\.tmp)$")
"""A checkpoint block, or one being written (named as :func:`simulator.core.files.replace_file`
names its temporary file), which a kill can leave behind."""
_HASH_LINE = re.compile(r'\n "manifest_sha256": "([0-9a-f]{64})"\n}\n\Z')
_ZERO = "0" * 64
_CHUNK = 1 << 20


def file_sha256(path: Path) -> str:
    """sha256 of a regular file, read without following a symlink."""
    h = hashlib.sha256()
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    with os.fdopen(fd, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def netcdf_sizes(path: Path) -> dict[str, int]:
    """Dimension sizes from a NetCDF file's header (no data read)."""
    import netCDF4

    with netCDF4.Dataset(path) as nc:
        return {name: len(dim) for name, dim in nc.dimensions.items()}


def describe_files(folder: Path) -> dict[str, dict[str, Any]]:
    """Checksum, size (and NetCDF dimensions) of every data file directly in ``folder``."""
    files = {}
    for path in sorted(folder.iterdir()):
        name = path.name
        if name in BOOKKEEPING or TEMPORARY.match(name) or not path.is_file() or path.is_symlink():
            continue
        entry: dict[str, Any] = {"bytes": path.stat().st_size, "sha256": file_sha256(path)}
        if name.endswith(".nc"):
            entry["sizes"] = netcdf_sizes(path)
        files[name] = entry
    return files


def write_manifest(folder: Path, manifest: dict[str, Any]) -> dict[str, Any]:
    """Write ``manifest.json`` with the format tag, every data file's checksum and its own."""
    manifest = {k: v for k, v in manifest.items() if k != SELF_HASH}
    manifest = {"format": FORMAT} | manifest | {"files": describe_files(folder)}
    text = json.dumps(manifest | {SELF_HASH: _ZERO}, indent=1, default=str) + "\n"
    digest = hashlib.sha256(text.encode()).hexdigest()
    write_text(folder, MANIFEST, text[: -len(_ZERO) - 4] + digest + text[-4:])
    return manifest


def _regular(path: Path) -> os.stat_result | None:
    try:
        info = os.lstat(path)
    except OSError:
        return None
    return info if stat.S_ISREG(info.st_mode) else None


def read_manifest(folder: Path) -> dict[str, Any] | None:
    """The manifest of ``folder`` if it is intact and vbcsim's; otherwise ``None``."""
    try:
        return _checked_manifest(folder)
    except RunError:
        return None


def _checked_manifest(folder: Path) -> dict[str, Any]:
    path = folder / MANIFEST
    if _regular(path) is None:
        what = "a symbolic link" if path.is_symlink() else "missing"
        raise RunError(f"{folder} is not a complete vbcsim results folder ({path} is {what})")
    try:
        text = path.read_text(encoding="utf-8")
        found = _HASH_LINE.search(text)
        if found is None:
            raise ValueError("no checksum")
        blank = text[: found.start(1)] + _ZERO + text[found.end(1):]
        if hashlib.sha256(blank.encode()).hexdigest() != found.group(1):
            raise ValueError("checksum mismatch")
        manifest = json.loads(text)
    except (OSError, UnicodeDecodeError, ValueError, RecursionError):
        raise RunError(f"{path}: damaged or edited (its checksum does not match); this folder "
                       "cannot be trusted: run the scenario again") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT \
            or not isinstance(manifest.get("files"), dict):
        raise RunError(f"{path}: not a manifest this vbcsim version wrote (format "
                       f"{manifest.get('format') if isinstance(manifest, dict) else None!r}, "
                       f"expected {FORMAT!r}): run the scenario again")
    return manifest


def verify_folder(folder: str | Path) -> dict[str, Any]:
    """Check a results folder against its manifest; return the manifest.

    Raises
    ------
    RunError
        One line naming the first file that is missing, a symlink, truncated, or changed.
    """
    folder = Path(folder)
    manifest = _checked_manifest(folder)
    for name, entry in manifest["files"].items():
        path = folder / name
        if not isinstance(entry, dict) or "/" in name or name in ("", ".", "..") \
                or not isinstance(entry.get("bytes"), int) or not isinstance(entry.get("sha256"), str):
            raise RunError(f"{folder / MANIFEST}: malformed entry for {name!r}")
        if path.is_symlink():
            raise RunError(f"{path} is a symbolic link, not the file the run wrote; refusing to read it")
        info = _regular(path)
        if info is None:
            raise RunError(f"{path} is missing (the run wrote it); this folder is incomplete")
        if info.st_size != entry.get("bytes"):
            raise RunError(f"{path} is {info.st_size:,} bytes, the run wrote {entry.get('bytes'):,}: "
                           "truncated or replaced; refusing to read it")
        if file_sha256(path) != entry.get("sha256"):
            raise RunError(f"{path} does not match its checksum in the manifest (changed since the "
                           "run wrote it, or swapped with another run's); refusing to read it")
    return manifest


# -- what vbcsim may delete ------------------------------------------------------------
LEGACY_FILES = {"experience.nc", "settlement.nc", "summary.csv", "scenario.toml",
                "program_operations.csv", "contract.toml", "sweep.csv", "frontier.png", "capital.csv",
                "ruin_curve.csv", "capital_fan.png", "ruin_curve.png"}
"""What a results folder of a vbcsim before format tags could hold (so ``--force`` can
replace one after an upgrade; such a folder is never read)."""


def _legacy_manifest(folder: Path) -> dict[str, Any] | None:
    """The manifest of a results folder written before format tags, recognised by its keys."""
    try:
        data = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError):
        return None
    if _regular(folder / MANIFEST) is None or not isinstance(data, dict) \
            or data.get("complete") is not True or "format" in data \
            or not isinstance(data.get("versions"), dict) or "vbcsim" not in data["versions"]:
        return None
    return {"files": {name: {} for name in LEGACY_FILES}}


def foreign_entries(folder: Path) -> list[str] | None:
    """Entries of a finished results folder that vbcsim did not write (relative paths), or
    ``None`` if the folder is not a vbcsim results folder at all."""
    manifest = read_manifest(folder) or _legacy_manifest(folder)
    if manifest is None:
        return None
    known = set(manifest["files"]) | BOOKKEEPING | DERIVED_FILES
    foreign = []
    for path in sorted(folder.iterdir()):
        name = path.name
        if path.is_symlink():
            foreign.append(name)
        elif name in NESTED_FOLDERS and path.is_dir():
            for child in sorted(path.iterdir()):
                if _is_partial(child):  # an interrupted settle or sweep
                    inner = partial_foreign_entries(child)
                else:
                    inner = None if child.is_symlink() or not child.is_dir() else foreign_entries(child)
                foreign += [f"{name}/{child.name}"] if inner is None else \
                    [f"{name}/{child.name}/{x}" for x in inner]
        elif name == BLOCKS and path.is_dir():
            foreign += [f"{name}/{c.name}" for c in sorted(path.iterdir()) if not BLOCK_FILE.match(c.name)]
        elif not (path.is_file() and (name in known or TEMPORARY.match(name))):
            foreign.append(name)
    return foreign


def partial_foreign_entries(folder: Path) -> list[str]:
    """Entries of an unfinished run folder that vbcsim does not write there."""
    foreign = []
    for path in sorted(folder.iterdir()):
        name = path.name
        if path.is_symlink():
            foreign.append(name)
        elif name == BLOCKS and path.is_dir():
            foreign += [f"{name}/{c.name}" for c in sorted(path.iterdir())
                        if c.is_symlink() or not c.is_file() or not BLOCK_FILE.match(c.name)]
        elif not path.is_file():
            foreign.append(name)
    return foreign


def remove_results(folder: Path) -> None:
    """Delete a results folder vbcsim made, file by file; anything else is left (and reported)."""
    foreign = foreign_entries(folder)
    if foreign is None or foreign:
        raise RunError(refusal(folder, foreign))
    for path in sorted(folder.iterdir()):
        if path.is_dir():
            if path.name == BLOCKS:
                for child in path.iterdir():
                    child.unlink()
                path.rmdir()
            else:
                for child in sorted(path.iterdir()):
                    remove_partial(child) if _is_partial(child) else remove_results(child)
                path.rmdir()
        elif path.name != MANIFEST:
            path.unlink()
    (folder / MANIFEST).unlink(missing_ok=True)  # last: the mark goes with the folder
    folder.rmdir()


def _is_partial(folder: Path) -> bool:
    return folder.name.endswith(".partial") and folder.is_dir() and not folder.is_symlink() \
        and (folder / KEY_FILE).is_file()


def remove_partial(folder: Path) -> None:
    """Delete an unfinished run folder vbcsim made (checkpoints and results so far)."""
    foreign = partial_foreign_entries(folder)
    if foreign:
        raise RunError(refusal(folder, foreign))
    blocks = folder / BLOCKS
    if blocks.is_dir():
        for path in blocks.iterdir():
            path.unlink()
        blocks.rmdir()
    for path in folder.iterdir():
        if path.name != KEY_FILE:
            path.unlink()
    (folder / KEY_FILE).unlink()  # last: the mark goes with the folder
    folder.rmdir()


def refusal(folder: Path, foreign: list[str] | None) -> str:
    """Why vbcsim will not replace or delete ``folder``."""
    if foreign is None:
        listing = ", ".join(sorted(p.name for p in folder.iterdir())[:5]) or "nothing"
        return (f"{folder} was not made by vbcsim (no intact {MANIFEST}; it holds {listing}); "
                "vbcsim never replaces or deletes it: choose another --out")
    shown = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5 else "")
    return (f"{folder} holds files vbcsim did not write ({shown}); vbcsim will not delete "
            "them: move them elsewhere or choose another --out")

"""The results folder of a run: checkpoints, manifest, and an atomic finish.

A run writes into ``<out>.partial/``: a ``run-key.json`` that identifies the
run (scenario hash, seed, trials, engine, vbcsim version), then one ``.npz``
per finished block of trials. When every stage is done the datasets, the
summary and ``manifest.json`` are written there, the checkpoints removed,
and the folder renamed to ``<out>``. A folder named ``<out>`` is therefore
always complete; an interrupted run leaves only ``<out>.partial``, which the
same command resumes and a different one refuses to touch.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from .core.errors import RunError
from .experience.dataset import ExperienceBlock

PARTIAL_SUFFIX = ".partial"


class RunFolder:
    """A run's output location, prepared for writing.

    Parameters
    ----------
    out
        Final folder of the run.
    key
        What identifies the run; a partial folder with another key is not resumed.
    force
        Replace an existing complete run, and discard a mismatched partial one.
    """

    def __init__(self, out: str | Path, key: dict[str, Any], force: bool = False):
        self.out = Path(out)
        self.partial = self.out.with_name(self.out.name + PARTIAL_SUFFIX)
        self.key = key
        self.force = force
        self.resumed_blocks = 0
        self._prepare()

    # -- set-up -----------------------------------------------------------------
    def _prepare(self) -> None:
        if self.out.exists() and not self.force:
            raise RunError(f"{self.out} already holds a run; choose another --out or add --force")
        if self.partial.exists():
            found = self._read_key()
            if found != self.key:
                if not self.force:
                    diff = sorted(k for k in set(found) | set(self.key) if found.get(k) != self.key.get(k))
                    raise RunError(f"{self.partial} holds an unfinished run of something else "
                                   f"(differs in: {', '.join(diff)}); cannot resume it. "
                                   "Use another --out, or --force to discard it")
                shutil.rmtree(self.partial)
        try:
            self.partial.mkdir(parents=True, exist_ok=True)
            _atomic_write_text(self.partial / "run-key.json", json.dumps(self.key, indent=1))
        except OSError as err:
            raise RunError(f"cannot write to {self.partial}: {err.strerror or err}") from None

    def _read_key(self) -> dict[str, Any]:
        try:
            return json.loads((self.partial / "run-key.json").read_text())
        except (OSError, ValueError):
            return {}

    # -- block checkpoints (the engine's BlockStore) --------------------------------
    def _block_path(self, index: int) -> Path:
        return self.partial / "blocks" / f"block-{index:06d}.npz"

    def finished(self) -> dict[int, ExperienceBlock]:
        (self.partial / "blocks").mkdir(exist_ok=True)
        blocks = {}
        for path in sorted((self.partial / "blocks").glob("block-*.npz")):
            with np.load(path) as data:
                blocks[int(path.stem.split("-")[1])] = {k: data[k] for k in data.files}
        self.resumed_blocks = len(blocks)
        return blocks

    def save(self, index: int, block: ExperienceBlock) -> None:
        path = self._block_path(index)
        tmp = path.with_name(f".{path.name}.tmp")  # not matched by finished() until renamed
        try:
            with open(tmp, "wb") as f:
                np.savez(f, **block)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except OSError as err:
            raise RunError(f"cannot write checkpoint {path}: {err.strerror or err}") from None

    # -- finishing -----------------------------------------------------------------
    def path(self, name: str) -> Path:
        """Where a result file goes before the run is complete."""
        return self.partial / name

    def complete(self) -> Path:
        """Drop the checkpoints and move the finished run into place."""
        shutil.rmtree(self.partial / "blocks", ignore_errors=True)
        (self.partial / "run-key.json").unlink(missing_ok=True)
        if self.out.exists():
            trash = self.out.with_name(self.out.name + ".replaced")
            shutil.rmtree(trash, ignore_errors=True)
            os.replace(self.out, trash)
            shutil.rmtree(trash)
        os.replace(self.partial, self.out)
        return self.out


def _atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def write_json(path: Path, data: dict[str, Any]) -> None:
    _atomic_write_text(path, json.dumps(data, indent=1, default=str) + "\n")

"""Writing a results folder: a locked partial folder, checkpoints, and a kill-safe finish.

A run writes into ``<out>.partial/``, which it locks for its whole life (a
second run of the same ``--out`` is refused): a ``run-key.json`` identifying
the run (scenario hash, seed, trials, engine, vbcsim version), then one
``.npz`` per finished block of trials, each carrying the run key's hash, its
trial range and a checksum. When every stage is done the results and the
manifest are written there, and the folder is renamed to ``<out>``.

Every step of the finish leaves a state the same command completes without
recomputing: a partial folder with an intact manifest is simply moved into
place; an old run being replaced (``--force``) is moved to ``<out>.replaced``
and deleted only after the new one is in place. vbcsim replaces or deletes
only folders it made, and in them only the files it wrote
(:mod:`simulator.rundir.manifest`).
"""

from __future__ import annotations

import fcntl
import hashlib
import io
import json
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np

from ..core.errors import RunError
from ..core.files import replace_file, target_in, write_bytes, write_error, write_text
from ..experience.dataset import ExperienceBlock
from .manifest import (BLOCK_FILE, BLOCKS, KEY_FILE, LOCK_FILE, MANIFEST, TEMPORARY,
                       foreign_entries, partial_foreign_entries, read_manifest, refusal,
                       remove_results, write_manifest)

PARTIAL_SUFFIX = ".partial"
REPLACED_SUFFIX = ".replaced"
PARTIAL_FORMAT = "vbcsim-partial/1"


def check_out_path(out: str | Path) -> Path:
    """``out`` if it can name a new results folder; else a :class:`RunError` saying why."""
    out = Path(out)
    if out.name in ("", ".", ".."):
        raise RunError(f"--out {str(out)!r} does not name a new folder (it is the current folder "
                       "or a parent of one); give a folder name such as results/my_run")
    if out.is_symlink():
        raise RunError(f"--out {out} is a symbolic link; vbcsim writes only into a real folder: "
                       "give the folder's own path or another name")
    if out.exists() and not out.is_dir():
        raise RunError(f"--out {out} is a file, not a folder; choose another --out")
    return out


class RunFolder:
    """A run's output location, locked and prepared for writing.

    Parameters
    ----------
    out
        Final folder of the run.
    key
        What identifies the run; a partial folder with another key is not resumed.
    force
        Replace an existing complete run vbcsim made, and discard a mismatched partial one.
    """

    def __init__(self, out: str | Path, key: dict[str, Any], force: bool = False):
        self.out = check_out_path(out)
        self.partial = self.out.with_name(self.out.name + PARTIAL_SUFFIX)
        self.replaced = self.out.with_name(self.out.name + REPLACED_SUFFIX)
        self.key = key
        self.force = force
        self.resumed_blocks = 0
        self.rejected_blocks = 0
        self._ranges: list[range] = []
        self._lock_fd: int | None = None
        self._done_at_out = self._finished_at_out()
        if self._done_at_out:  # killed after the final move: only the clean-up remains
            self._lock(self.out)
            return
        self._check_out()
        if self.replaced.exists() or self.replaced.is_symlink():
            foreign = foreign_entries(self.replaced) if self.replaced.is_dir() \
                and not self.replaced.is_symlink() else None
            if foreign is None or foreign:
                raise RunError(refusal(self.replaced, foreign))
        fresh = not self.partial.exists()
        try:
            self._open_partial()
            self._recover_replaced()
        except BaseException:
            if fresh and self._lock_fd is not None:  # ours alone: leave no trace of it
                for name in (KEY_FILE, LOCK_FILE):
                    (self.partial / name).unlink(missing_ok=True)
                try:
                    self.partial.rmdir()
                except OSError:
                    pass
            self.release()
            raise

    # -- set-up -----------------------------------------------------------------
    def _check_out(self) -> None:
        if not self.out.is_dir() or not any(self.out.iterdir()):
            return  # nothing there, or an empty folder (replaced by the final rename)
        foreign = foreign_entries(self.out)
        if foreign is None or foreign:
            raise RunError(refusal(self.out, foreign))
        if not self.force:
            raise RunError(f"{self.out} already holds a run; choose another --out or add --force")

    def _open_partial(self) -> None:
        if self.partial.is_symlink() or (self.partial.exists() and not self.partial.is_dir()):
            raise RunError(f"{self.partial} is in the way (not a folder vbcsim made); move it or "
                           "choose another --out")
        if self.partial.is_dir() and not (self.partial / KEY_FILE).is_file() \
                and any(p.name != LOCK_FILE for p in self.partial.iterdir()):
            raise RunError(refusal(self.partial, None))
        try:
            self.partial.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise RunError(f"cannot write to {self.partial}: {err.strerror or err}") from None
        self._lock(self.partial)
        found = self._read_key()
        if found is not None and found != self.key:
            if not self.force:
                diff = sorted(k for k in set(found) | set(self.key) if found.get(k) != self.key.get(k))
                raise RunError(f"{self.partial} holds an unfinished run of something else "
                               f"(differs in: {', '.join(diff)}); cannot resume it. "
                               "Use another --out, or --force to discard it")
            self._clear_partial()
        if found != self.key:
            write_text(self.partial, KEY_FILE, json.dumps(
                {"format": PARTIAL_FORMAT, "key": self.key}, indent=1, default=str))

    def _lock(self, folder: Path) -> None:
        """Hold an exclusive lock on ``folder`` until :meth:`release` (or the process ends)."""
        try:
            fd = os.open(target_in(folder, LOCK_FILE),
                         os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o644)
        except OSError as err:
            raise RunError(f"cannot write to {folder}: {err.strerror or err}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise RunError(f"another run is writing {self.out} (its folder {folder} is "
                           "locked); wait for it to finish or choose another --out") from None
        self._lock_fd = fd

    def _finished_at_out(self) -> bool:
        """Whether ``out`` holds this very run, moved into place by a run killed just after."""
        return (self.out.is_dir() and not self.out.is_symlink()
                and self._read_key(self.out) == self.key and read_manifest(self.out) is not None)

    def _read_key(self, folder: Path | None = None) -> dict[str, Any] | None:
        try:
            data = json.loads(((folder or self.partial) / KEY_FILE).read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            return {"run-key.json": "unreadable"}
        if isinstance(data, dict) and data.get("format") == PARTIAL_FORMAT:
            return data.get("key")
        return data if isinstance(data, dict) else {"run-key.json": "unreadable"}

    def _clear_partial(self) -> None:
        """Delete what a discarded unfinished run wrote (never anything else)."""
        foreign = partial_foreign_entries(self.partial)
        if foreign:
            raise RunError(refusal(self.partial, foreign))
        blocks = self.partial / BLOCKS
        if blocks.is_dir():
            for path in blocks.iterdir():
                path.unlink()
            blocks.rmdir()
        for path in self.partial.iterdir():
            if path.name != LOCK_FILE:
                path.unlink()

    def _recover_replaced(self) -> None:
        """A ``--force`` run killed during its finish left ``OUT.replaced``: finish the job."""
        if not (self.replaced.exists() or self.replaced.is_symlink()):
            return
        if self.out.exists():
            _note(f"removing {self.replaced}, left by an interrupted --force run "
                  f"({self.out} holds the run that replaced it)")
            remove_results(self.replaced)
        elif read_manifest(self.partial) is None:
            _note(f"restoring {self.out} from {self.replaced}, left by an interrupted --force run")
            if foreign_entries(self.replaced) is None:
                raise RunError(refusal(self.replaced, None))
            os.rename(self.replaced, self.out)
            self._check_out()

    def release(self) -> None:
        """Release the lock on the partial folder (done by :meth:`complete`)."""
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    # -- block checkpoints (the engine's BlockStore) --------------------------------
    def _key_sha256(self) -> str:
        return hashlib.sha256(json.dumps(self.key, sort_keys=True, default=str).encode()).hexdigest()

    def finished(self, ranges: list[range]) -> dict[int, ExperienceBlock]:
        """Checkpointed blocks of this run; a block of another run, of another trial range, or
        damaged is not used (it is simulated again and its file replaced)."""
        self._ranges = list(ranges)
        folder = self.partial / BLOCKS
        if folder.is_symlink() or (folder.exists() and not folder.is_dir()):
            raise RunError(f"{folder} is not the folder vbcsim made for checkpoints (a symbolic "
                           "link or a file); vbcsim never writes through one")
        folder.mkdir(exist_ok=True)
        blocks = {}
        for path in sorted(folder.glob("block-*.npz")):
            index = int(path.stem.split("-")[1]) if BLOCK_FILE.match(path.name) else -1
            block = self._load_block(path, index) if 0 <= index < len(self._ranges) else None
            if block is None:
                self.rejected_blocks += 1
                if path.is_symlink():
                    path.unlink()  # the link only (its target is left alone); never written through
            else:
                blocks[index] = block
        if self.rejected_blocks:
            _note(f"{self.rejected_blocks} checkpoint block(s) in {folder} belong to another run, "
                  "another trial range, or are damaged: simulating them again")
        self.resumed_blocks = len(blocks)
        return blocks

    def _load_block(self, path: Path, index: int) -> ExperienceBlock | None:
        if path.is_symlink() or not path.is_file():
            return None
        trials = self._ranges[index]
        try:
            with np.load(path, allow_pickle=False) as data:
                block = {k: data[k] for k in data.files}
        except Exception:  # noqa: BLE001 - any damage (zip, header, data) means: simulate again
            return None
        meta = {k: block.pop(k, None) for k in ("__run_key__", "__trials__", "__sha256__")}
        if any(v is None for v in meta.values()) or str(meta["__run_key__"]) != self._key_sha256() \
                or list(np.asarray(meta["__trials__"]).ravel()) != [trials.start, trials.stop] \
                or str(meta["__sha256__"]) != _block_sha256(block) \
                or any(np.ndim(a) == 0 or len(a) != len(trials) for a in block.values()):
            return None
        return block

    def save(self, index: int, block: ExperienceBlock) -> None:
        trials = self._ranges[index] if index < len(self._ranges) else None
        extra = {"__run_key__": np.array(self._key_sha256()), "__sha256__": np.array(_block_sha256(block)),
                 "__trials__": np.array([] if trials is None else [trials.start, trials.stop])}
        (self.partial / BLOCKS).mkdir(exist_ok=True)
        # The zip is built in memory and written at once (the same bytes in a third of the time
        # of its many small writes to a file), and not flushed to disk: a block that a crash
        # left torn fails its checksum and is simulated again.
        data = io.BytesIO()
        np.savez(data, **block, **extra)
        write_bytes(self.partial / BLOCKS, f"block-{index:06d}.npz", data.getvalue(), durable=False)

    # -- finishing -----------------------------------------------------------------
    def path(self, name: str) -> Path:
        """Where a result file goes before the run is complete (never a symlink)."""
        return target_in(self.partial, name)

    def write(self, name: str):
        """Context manager: a temporary path that becomes ``name`` in the partial folder."""
        return replace_file(self.partial, name)

    def is_complete(self) -> bool:
        """Whether the partial folder already holds this run's complete results (a kill
        during the finish): then only :meth:`complete` remains."""
        return self._done_at_out or (self._read_key() == self.key
                                     and read_manifest(self.partial) is not None)

    def complete(self, manifest: dict[str, Any] | None = None) -> Path:
        """Write the manifest, drop the checkpoints and move the run into place.

        Each step leaves a state the same command finishes without recomputing: results and
        manifest first, then the checkpoints go, then an old run (``--force``) is moved aside,
        the new one moved into place, the old one deleted, and last the run key, which until
        then tells the same command that only this finish remains.

        Parameters
        ----------
        manifest
            What the manifest records besides the files' checksums (``None``: keep one written
            before an interruption, else a bare one).
        """
        try:
            if not self._done_at_out:
                self._write_manifest(manifest)
                self._drop_blocks()
                self._move_old_run_aside()
                try:
                    os.rename(self.partial, self.out)
                except OSError as err:
                    raise RunError(f"cannot move {self.partial} to {self.out}: {err.strerror or err} "
                                   f"({self.out} appeared during the run?); the finished results "
                                   f"stay in {self.partial}") from None
            if self.replaced.exists() or self.replaced.is_symlink():
                try:
                    remove_results(self.replaced)
                except (RunError, OSError) as err:
                    _note(f"kept {self.replaced}: {err}")
            for name in (KEY_FILE, LOCK_FILE):  # last: until then the same command finishes here
                (self.out / name).unlink(missing_ok=True)
        finally:
            self.release()
        return self.out

    def _write_manifest(self, manifest: dict[str, Any] | None) -> None:
        if manifest is None and read_manifest(self.partial) is not None:
            return  # written before an interruption
        try:
            write_manifest(self.partial, (manifest or {}) | {"complete": True})
        except OSError as err:
            raise write_error(self.partial / MANIFEST, err) from None

    def _drop_blocks(self) -> None:
        blocks = self.partial / BLOCKS
        if blocks.is_symlink():
            raise RunError(f"{blocks} is a symbolic link, not the folder vbcsim made; remove it "
                           "and run the same command again")
        if blocks.is_dir():
            for path in blocks.iterdir():
                if BLOCK_FILE.match(path.name) or TEMPORARY.match(path.name):
                    path.unlink()
            blocks.rmdir()

    def _move_old_run_aside(self) -> None:
        if not (self.out.exists() or self.out.is_symlink()):
            return
        if self.out.is_dir() and not self.out.is_symlink() and not any(self.out.iterdir()):
            return  # an empty folder: the rename replaces it
        foreign = foreign_entries(self.out) if self.out.is_dir() and not self.out.is_symlink() else None
        if foreign is None or foreign:
            raise RunError(refusal(self.out, foreign) + f"; the finished results stay in {self.partial}")
        if not self.force:
            raise RunError(f"{self.out} appeared during the run and holds another run; the finished "
                           f"results stay in {self.partial} (add --force to replace it)")
        if self.replaced.exists():
            remove_results(self.replaced)
        os.rename(self.out, self.replaced)


def _block_sha256(block: ExperienceBlock) -> str:
    h = hashlib.sha256()
    for name in sorted(block):
        array = np.ascontiguousarray(block[name])
        h.update(f"{name}:{array.dtype.str}:{array.shape}".encode())
        h.update(array.tobytes())
    return h.hexdigest()


def _note(text: str) -> None:
    print(f"vbcsim: note: {text}", file=sys.stderr)


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Write ``data`` as JSON to ``path`` safely (kept for callers of the old helper)."""
    write_text(path.parent, path.name, json.dumps(data, indent=1, default=str) + "\n")

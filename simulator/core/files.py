"""Writing files safely inside a folder: never through a symlink, never outside it.

Every file vbcsim writes goes through :func:`replace_file` (or the helpers on
it): the content is written to a new temporary file created exclusively
(``O_EXCL | O_NOFOLLOW``) in the same folder, flushed to disk, and renamed
over the target with ``os.replace``, so a reader sees the old file or the
whole new one, a planted symlink is refused rather than followed, and a
name that would leave the folder (``..``, a path separator) is refused.
A file that carries its own checksum and can be made again (a run's block
checkpoint) may skip the flush: one torn by a crash is detected and redone.
A full disk or an unwritable folder becomes a :class:`RunError` naming
the file.
"""

from __future__ import annotations

import errno
import json
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .errors import RunError

_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)


def target_in(folder: str | Path, name: str) -> Path:
    """The path of file ``name`` directly inside ``folder``; refuses names that leave it
    and a symlink (or anything but a regular file) already at that place."""
    if not name or name in (".", "..") or "/" in name or os.sep in name or "\0" in name:
        raise RunError(f"refusing to write {name!r}: not a plain file name inside {folder}")
    path = Path(folder) / name
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return path
    if not stat.S_ISREG(info.st_mode):
        what = "a symbolic link" if stat.S_ISLNK(info.st_mode) else "not a regular file"
        raise RunError(f"refusing to write {path}: it is {what} (vbcsim never writes through one)")
    return path


def write_error(path: Path, err: BaseException) -> RunError:
    """One clear line for a failed write (full disk, no permission, ...)."""
    code = getattr(err, "errno", None)
    if code in (errno.ENOSPC, errno.EDQUOT):
        return RunError(f"cannot write {path}: the disk is full; free some space and run the "
                        "same command again")
    reason = getattr(err, "strerror", None) or str(err) or type(err).__name__
    return RunError(f"cannot write {path}: {reason}")


@contextmanager
def replace_file(folder: str | Path, name: str, *, durable: bool = True) -> Iterator[Path]:
    """Yield a fresh temporary path in ``folder``; on success it replaces ``folder/name``.

    The temporary file is created exclusively and without following links; the
    caller writes it by path (e.g. ``to_netcdf``). On any error it is removed and
    the target left as it was. ``durable=False`` skips flushing it to disk before the
    rename (only for a file whose damage by a crash its reader detects and repairs; a disk
    that fills up only when the data is flushed is then reported by a later durable write).
    """
    target = target_in(folder, name)
    tmp, fd = None, -1
    for attempt in range(100):
        candidate = target.with_name(f".{name}.{os.getpid()}.{attempt}.tmp")
        try:
            fd = os.open(candidate, _FLAGS, 0o644)
            tmp = candidate
            break
        except FileExistsError:
            continue
        except OSError as err:
            raise write_error(target, err) from None
    if tmp is None:
        raise RunError(f"cannot write {target}: too many stale temporary files beside it")
    os.close(fd)
    try:
        yield tmp
        if durable:
            _fsync(tmp)
        target_in(folder, name)  # nothing planted meanwhile
        os.replace(tmp, target)
    except BaseException as err:
        tmp.unlink(missing_ok=True)
        if isinstance(err, (OSError, RuntimeError)) and not isinstance(err, RunError):
            raise write_error(target, err) from None
        raise


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_bytes(folder: str | Path, name: str, data: bytes, *, durable: bool = True) -> Path:
    """Write ``data`` to ``folder/name`` atomically and safely; return the path
    (``durable``: as for :func:`replace_file`)."""
    with replace_file(folder, name, durable=durable) as tmp:
        with open(tmp, "r+b") as f:
            f.write(data)
    return Path(folder) / name


def write_text(folder: str | Path, name: str, text: str) -> Path:
    """Write UTF-8 ``text`` to ``folder/name`` atomically and safely; return the path."""
    return write_bytes(folder, name, text.encode("utf-8"))


def write_json(folder: str | Path, name: str, data: dict[str, Any]) -> Path:
    """Write ``data`` as indented JSON to ``folder/name`` atomically and safely."""
    return write_text(folder, name, json.dumps(data, indent=1, default=str) + "\n")

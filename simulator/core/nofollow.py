"""Write a file into a folder atomically, never through a symbolic link.

Reports and charts are written into folders a user may share or receive
(a results folder can be copied from anywhere), so a planted link named
``report.html`` must not make vbcsim write somewhere else. The data goes to
a new temporary file created in the folder with ``O_EXCL | O_NOFOLLOW`` and is
renamed over the name; an existing symlink or non-file at the name is refused.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from .errors import RunError


def write_bytes_nofollow(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically; refuse if ``path`` is a link or not a plain file.

    Raises
    ------
    RunError
        ``path`` is a symlink, a folder or another non-file, or cannot be written.
    """
    path = Path(path)
    if path.name in ("", ".", ".."):
        raise RunError(f"{path}: expected a file name")
    try:
        dir_fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    except OSError as err:
        raise RunError(f"cannot write {path}: {err.strerror or err}") from None
    tmp = f".{path.name}.{os.getpid()}.tmp"
    try:
        _refuse_non_file(path, dir_fd)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644, dir_fd=dir_fd)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path.name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    except OSError as err:
        try:
            os.unlink(tmp, dir_fd=dir_fd)
        except OSError:
            pass
        raise RunError(f"cannot write {path}: {err.strerror or err}") from None
    finally:
        os.close(dir_fd)
    return path


def _refuse_non_file(path: Path, dir_fd: int) -> None:
    try:
        mode = os.stat(path.name, dir_fd=dir_fd, follow_symlinks=False).st_mode
    except FileNotFoundError:
        return
    if stat.S_ISLNK(mode):
        raise RunError(f"{path} is a symbolic link; vbcsim does not write through links "
                       "(remove it, or choose another --out)")
    if not stat.S_ISREG(mode):
        raise RunError(f"{path} exists and is not a plain file; remove it or choose another --out")

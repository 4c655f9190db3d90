"""Safe writing: atomic, never through a symlink, never outside the folder, clear errors."""

from __future__ import annotations

import errno
import os

import pytest

from simulator.core.errors import RunError
from simulator.core.files import replace_file, write_text


def test_write_replaces_atomically_and_leaves_no_temporary(tmp_path):
    write_text(tmp_path, "a.txt", "one")
    write_text(tmp_path, "a.txt", "two")
    assert (tmp_path / "a.txt").read_text() == "two"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt"]


def test_a_symlink_at_the_target_is_refused_and_its_target_untouched(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "a.txt").symlink_to(victim)
    with pytest.raises(RunError, match="symbolic link"):
        write_text(tmp_path / "out", "a.txt", "overwrite")
    assert victim.read_text() == "precious"
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.txt"]


@pytest.mark.parametrize("name", ["../escape.txt", "..", "sub/x.txt", ""])
def test_a_name_leaving_the_folder_is_refused(tmp_path, name):
    (tmp_path / "out").mkdir()
    with pytest.raises(RunError, match="not a plain file name"):
        write_text(tmp_path / "out", name, "x")
    assert not (tmp_path / "escape.txt").exists()


def test_a_full_disk_is_one_clear_error_and_the_old_file_survives(tmp_path):
    write_text(tmp_path, "a.txt", "old")
    with pytest.raises(RunError, match="a.txt: the disk is full"):
        with replace_file(tmp_path, "a.txt") as tmp:
            tmp.write_text("partial")
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    assert (tmp_path / "a.txt").read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt"]

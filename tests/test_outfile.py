"""Atomic output: all or nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.errors import InputError
from gateway.outfile import write_atomic


def test_writes_the_whole_file(tmp_path: Path) -> None:
    target = tmp_path / "out.xml"
    write_atomic(target, b"<a/>")
    assert target.read_bytes() == b"<a/>"
    write_atomic(target, b"<b/>")
    assert target.read_bytes() == b"<b/>"
    assert [p.name for p in tmp_path.iterdir()] == ["out.xml"]


def test_missing_directory_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="does not exist"):
        write_atomic(tmp_path / "nope" / "out.xml", b"x")


def test_failure_leaves_the_old_file_and_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "out.xml"
    target.write_bytes(b"old")
    target_dir_as_file = tmp_path / "dir"
    target_dir_as_file.mkdir()
    with pytest.raises(InputError):
        write_atomic(target_dir_as_file, b"new")  # cannot replace a directory with a file
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dir", "out.xml"]

"""Files are written whole or not at all, with the mode any other file would get."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from perfaudit.errors import UsageError
from perfaudit.fileio import atomic_write, read_input, unwritable, write_all


def test_a_written_file_has_the_usual_mode(tmp_path: Path) -> None:
    target = tmp_path / "deep" / "report.html"
    atomic_write(target, b"<html></html>")
    mask = os.umask(0)
    os.umask(mask)
    assert target.read_bytes() == b"<html></html>"
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~mask


def test_a_failed_write_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "report.json"
    target.write_text("old", encoding="utf-8")

    def disk_full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(OSError):
        atomic_write(target, b"new")
    assert target.read_text(encoding="utf-8") == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]


def test_a_path_that_cannot_be_written_is_named_before_a_run(tmp_path: Path) -> None:
    a_file = tmp_path / "file"
    a_file.write_text("x")
    assert unwritable(tmp_path) == "it is a folder"
    assert unwritable(a_file / "deeper" / "report.json") == f"{a_file} is a file, not a folder"
    assert unwritable(tmp_path / "new" / "folder" / "report.json") == ""  # created on write


def test_a_folder_created_for_a_report_is_said(tmp_path: Path) -> None:
    target = tmp_path / "reports" / "run.json"
    written, failure = write_all([(target, "JSON report", lambda p: atomic_write(p, b"{}"))])
    assert failure is None
    assert written == [f"JSON report: {target} (created the folder {target.parent})"]


@pytest.mark.parametrize("special", ["/dev/zero", "folder"])
def test_only_a_regular_file_is_read(tmp_path: Path, special: str) -> None:
    """Issue 17 #1: `perfaudit view /dev/zero` read until the OOM killer came."""
    path = tmp_path if special == "folder" else Path(special)
    with pytest.raises(UsageError, match="not a regular file"):
        read_input(path, "a JSON report")


def test_a_file_past_the_limit_is_refused_with_both_sizes(tmp_path: Path) -> None:
    big = tmp_path / "big.collapsed"
    big.write_bytes(b"x" * (3 * 2**20))
    with pytest.raises(UsageError, match=r"is 3 MiB; perfaudit reads a profile of at most 2 MiB"):
        read_input(big, "a profile", limit=2 * 2**20)
    assert read_input(big, "a profile", limit=4 * 2**20) == b"x" * (3 * 2**20)

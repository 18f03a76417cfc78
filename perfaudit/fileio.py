"""Write files whole or not at all."""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

from perfaudit.errors import UsageError

# A file a command was asked to write: where (None: not asked), what it is, how to write it.
FileJob = tuple[Path | None, str, Callable[[Path], None]]


def write_all(jobs: Iterable[FileJob]) -> tuple[list[str], UsageError | None]:
    """Write each file asked for, whole or not at all; one failing does not stop the
    others. Returns "label: path" for each written, and the first failure as one sentence."""
    written: list[str] = []
    failure: UsageError | None = None
    for path, label, write in jobs:
        if path is None:
            continue
        created = "" if path.parent.exists() else f" (created the folder {path.parent})"
        try:
            write(path)
            written.append(f"{label}: {path}{created}")
        except OSError as exc:  # named by the user's path, not our temporary file's
            failure = failure or UsageError(
                f"Cannot write {path}: {exc.strerror or exc}.",
                remedy="Choose a path you can write to.",
            )
    return written, failure


def unwritable(path: Path) -> str:
    """Why `path` cannot be written, or "": checked before a run, so that minutes of
    measuring are not lost to a mistyped path. (A missing folder is created.)"""
    if path.is_dir():
        return "it is a folder"
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        return f"{folder} is a file, not a folder"
    if not os.access(folder, os.W_OK | os.X_OK):
        return f"no permission to write in {folder}"
    return ""


# What perfaudit reads whole: its own reports, sessions, baselines, profiles (view) and
# body files. A bound, so that `perfaudit view /dev/zero` is a sentence, not the OOM killer.
READ_LIMIT = 256 * 2**20


def regular_file_size(path: Path, what: str) -> int:
    """The size of `path`; UsageError (one sentence, exit 2) when it is not a regular file
    (a folder, a device such as /dev/zero, a pipe). OSError when it cannot be read."""
    info = os.stat(path)
    if not stat.S_ISREG(info.st_mode):
        raise UsageError(
            f"{path} is not a regular file (a folder, a device or a pipe).",
            remedy=f"Pass {what}.",
        )
    return info.st_size


def read_input(path: Path, what: str, limit: int = READ_LIMIT) -> bytes:
    """The bytes of a regular file of at most `limit` bytes; UsageError (one sentence, exit
    2) for a device, a pipe, a folder, or a file too big. OSError when it cannot be read."""
    size = regular_file_size(path, what)
    if size > limit:
        raise UsageError(
            f"{path} is {size / 2**20:,.0f} MiB; perfaudit reads {what} of at most "
            f"{limit / 2**20:,.0f} MiB.",
            remedy="Pass a smaller file (a shorter recording, fewer routes).",
        )
    with open(path, "rb") as stream:
        data = stream.read(limit + 1)
    if len(data) > limit:  # it grew while being read
        raise UsageError(f"{path} grew past {limit / 2**20:,.0f} MiB while being read.")
    return data


def atomic_write(path: Path, data: bytes) -> None:
    """Write `data` to `path` through a temporary file and a rename, so a reader (or a
    crash) never sees half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        # mkstemp makes the file private (0600); a report gets the usual mode (0644 with
        # the common umask), as `open(path, "w")` would have given it.
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask

"""Which Python runs the app: the one its project uses, not the one perfaudit is installed
in, so that the app is measured with its own packages at their own versions."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

from perfaudit.errors import UsageError

VENV_FOLDERS = (".venv", "venv")  # uv's default, and most tools'


@dataclass(frozen=True, slots=True)
class Interpreter:
    path: Path
    chosen_by: str  # why this one: "--python", "$VIRTUAL_ENV", "/app/.venv", "perfaudit's own"


def find_interpreter(explicit: Path | None, app_dir: Path) -> Interpreter:
    """`--python`; else the active virtualenv; else `.venv/` or `venv/` in the app's folder
    or a parent of it; else the interpreter perfaudit itself runs on."""
    if explicit is not None:
        return Interpreter(_checked(explicit), "--python")
    active = os.environ.get("VIRTUAL_ENV")
    if active and (python := _venv_python(Path(active))):
        return Interpreter(python, "$VIRTUAL_ENV")
    for folder in (app_dir.resolve(), *app_dir.resolve().parents):
        for name in VENV_FOLDERS:
            if python := _venv_python(folder / name):
                return Interpreter(python, str(folder / name))
    return Interpreter(Path(sys.executable), "perfaudit's own")


def _venv_python(venv: Path) -> Path | None:
    for candidate in (venv / "bin" / "python", venv / "Scripts" / "python.exe"):
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


def _checked(path: Path) -> Path:
    if path.is_dir() and (python := _venv_python(path)):
        return python  # --python .venv: the virtualenv's interpreter
    if not path.is_file() or not os.access(path, os.X_OK):
        raise UsageError(
            f"--python {path} is not a Python interpreter.",
            remedy="Pass the app's interpreter, e.g. --python .venv/bin/python.",
        )
    return path

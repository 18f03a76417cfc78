"""Public FastAPI projects nobody here wrote, set up as their READMEs say, each in a
virtualenv of its own, audited by the real CLI through the agent.

They are slow (package installs, real hashing, real databases) and need the projects'
sources: `pytest -m corpus`, which CI runs only with PERFAUDIT_CORPUS=1. The sources come
from bare git mirrors in $PERFAUDIT_MIRROR (default /work/.mirror, where the search tool's
`fetch` puts them, as `owner+name/repo`); a project that is not there is skipped, with the
reason. Checkouts and venvs are built once into $PERFAUDIT_CORPUS_DIR (default .corpus/).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.unit.test_architecture import find_python

REPO = Path(__file__).resolve().parents[2]
MIRROR = Path(os.environ.get("PERFAUDIT_MIRROR", "/work/.mirror"))
CORPUS = Path(os.environ.get("PERFAUDIT_CORPUS_DIR", REPO / ".corpus"))

pytestmark = pytest.mark.corpus


def checkout(repository: str, commit: str) -> Path:
    """The project's files at `commit`, extracted once from its mirror."""
    name = repository.replace("/", "+")
    target = CORPUS / name / commit[:8]
    if target.is_dir():
        return target
    git_dir = next(
        (p for p in (MIRROR / name / "repo", MIRROR / name) if (p / "HEAD").exists()), None
    )
    if git_dir is None:
        pytest.skip(f"{repository} is not in {MIRROR}: bring it with the search tool's fetch")
    partial = target.with_name(target.name + ".part")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    archive = subprocess.run(
        ["git", "--git-dir", str(git_dir), "archive", commit], capture_output=True, check=True
    )
    subprocess.run(["tar", "-x", "-C", str(partial)], input=archive.stdout, check=True)
    partial.rename(target)
    return target


def venv(name: str, version: str, *requirements: str) -> Path:
    """The python of a virtualenv with `requirements`, built once (from the package index)."""
    folder = CORPUS / "venvs" / f"{name}-{version}"
    python, complete = folder / "bin" / "python", folder / ".complete"
    if complete.exists():
        return python
    base = find_python(version)
    if base is None:
        pytest.skip(f"no Python {version} here for {name}")
    shutil.rmtree(folder, ignore_errors=True)
    subprocess.run([base, "-m", "venv", str(folder)], check=True)
    pip = [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    built = subprocess.run([*pip, *requirements], capture_output=True, text=True, check=False)
    if built.returncode != 0:
        pytest.fail(f"pip install for {name} failed: {built.stderr[-2000:]}")
    complete.touch()
    return python


@dataclass(frozen=True)
class Audit:
    code: int
    stdout: str
    stderr: str
    report: dict[str, Any]

    @property
    def findings(self) -> list[dict[str, Any]]:
        return list(self.report["findings"])

    def first(self, *, at_least: str = "low") -> dict[str, Any]:
        order = ["info", "low", "medium", "high", "critical"]
        ranked = [f for f in self.findings if order.index(f["severity"]) >= order.index(at_least)]
        assert ranked, f"no finding at {at_least} or above: {self.stdout[-3000:]}"
        return ranked[0]

    def advice(self) -> str:
        return "\n".join(f["suggestion"] for f in self.findings)


def audit(
    cwd: Path, python: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 900
) -> Audit:
    report = cwd / ".perfaudit-corpus.json"
    report.unlink(missing_ok=True)
    proc = subprocess.run(
        [sys.executable, "-m", "perfaudit", "profile", *args, "-q", "--python", str(python),
         "--json", str(report)],
        check=False, cwd=cwd, capture_output=True, text=True, timeout=timeout,
        env={**os.environ, "COLUMNS": "150", "NO_COLOR": "1", **(env or {})},
    )  # fmt: skip
    assert report.exists(), f"exit {proc.returncode}: {proc.stderr[-3000:]}"
    return Audit(proc.returncode, proc.stdout, proc.stderr, json.loads(report.read_text()))

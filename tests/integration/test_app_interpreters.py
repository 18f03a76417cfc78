"""perfaudit, installed in its own virtualenv, audits apps in virtualenvs of their own — an
old stack (Python 3.10, FastAPI 0.95, pydantic v1, AnyIO 3) and a current one — and leaves
each exactly as it found it. The app venvs are built once (from the package index) into
.app-venvs/ and reused by later runs."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import FAST_WITH_MEMORY, REPO
from tests.unit.test_architecture import find_python

pytestmark = pytest.mark.integration
VENVS = REPO / ".app-venvs"
STACKS = {
    "legacy": ("3.10", ["fastapi==0.95.2", "pydantic<2", "anyio<4", "uvicorn==0.22.0"]),
    "current": ("3.13", ["fastapi", "uvicorn"]),
}


def app_python(stack: str) -> Path:
    version, requirements = STACKS[stack]
    venv = VENVS / f"{stack}-{version}"
    python = venv / "bin" / "python"
    if python.exists():
        return python
    base = find_python(version)
    if base is None:
        pytest.skip(f"no Python {version} here to build the {stack} app's virtualenv")
    subprocess.run([base, "-m", "venv", str(venv)], check=True)
    install = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    built = subprocess.run([*install, *requirements], capture_output=True, text=True, check=False)
    if built.returncode != 0:
        subprocess.run(["rm", "-rf", str(venv)], check=False)
        pytest.fail(f"could not build the {stack} venv: {built.stderr[-1500:]}")
    return python


def freeze(python: Path) -> str:
    return subprocess.run(
        [str(python), "-m", "pip", "freeze", "--all"], capture_output=True, text=True, check=True
    ).stdout


@pytest.mark.parametrize("stack", ["legacy", "current"])
def test_an_app_venv_is_audited_and_left_untouched(perfaudit: Any, stack: str) -> None:
    python = app_python(stack)
    before = freeze(python)

    result = perfaudit(
        "profile",
        "sample_apps.pricing:app",
        "/quotes/featured",
        "--python",
        str(python),
        *FAST_WITH_MEMORY,
    )

    assert result.code == 0, result.stderr
    assert result.finding_ids()[0] == "event-loop-blocked"
    # The memory phase runs there too (tracemalloc of 3.10 and 3.13), with no false leak.
    [memory] = result.report["memory"]
    assert memory["peak_bytes_per_request"] > 0
    assert not {"memory-growth", "allocation-heavy"} & set(result.finding_ids())
    environment = result.report["environment"]
    assert environment["interpreter"] == str(python)
    assert environment["python"].startswith(STACKS[stack][0])
    if stack == "legacy":
        assert environment["pydantic"].startswith("1.")
        assert environment["fastapi"] == "0.95.2"
        assert environment["anyio"].startswith("3.")
    assert freeze(python) == before
    assert not list(python.parent.parent.rglob("perfaudit*"))


def test_a_ci_config_names_the_app_interpreter(perfaudit: Any, tmp_path: Path) -> None:
    """`target: {python: …}` in a CI config: in-process scenarios run in that Python."""
    python = app_python("legacy")
    config = tmp_path / "perf.yaml"
    config.write_text(
        json.dumps(
            {
                "target": {
                    "app": "sample_apps.pricing:app",
                    "app_dir": str(REPO),
                    "python": str(python),
                },
                "defaults": {"requests": 20, "warmup": 2},
                "scenarios": [{"name": "quote", "routes": ["/quote/A1"]}],
            }
        )
    )
    result = perfaudit("ci", "--config", str(config), "-q", json_report=False)

    assert result.code in (0, 1), result.stderr
    assert "GET /quote/{sku}" in result.stdout
    assert "Python 3.10" in result.stdout and str(python) in result.stdout

"""The dependency rules of DESIGN §1, checked on the source: a stage imports only what it
may, and each third-party dependency enters through one module."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "perfaudit"


def imports_of(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def modules(stage: str) -> list[Path]:
    return sorted((PACKAGE / stage).rglob("*.py"))


def perfaudit_imports(path: Path) -> set[str]:
    return {name for name in imports_of(path) if name.startswith("perfaudit")}


@pytest.mark.parametrize(
    ("stage", "allowed"),
    [
        ("model", ("perfaudit.model",)),
        ("analysis", ("perfaudit.model", "perfaudit.analysis")),
        ("formats", ("perfaudit.model", "perfaudit.fileio", "perfaudit.formats")),
        ("capture", ("perfaudit.model", "perfaudit.capture", "perfaudit.errors")),
    ],
)
def test_stage_imports_only_what_it_may(stage: str, allowed: tuple[str, ...]) -> None:
    for path in modules(stage):
        bad = {name for name in perfaudit_imports(path) if not name.startswith(allowed)}
        assert not bad, f"{path.relative_to(PACKAGE)} imports {bad}"


def test_model_uses_only_the_standard_library() -> None:
    import sys

    for path in modules("model"):
        third_party = {
            name
            for name in imports_of(path)
            if not name.startswith("perfaudit")
            and name.split(".")[0] not in sys.stdlib_module_names
        }
        assert not third_party, f"{path.name} imports {third_party}"


def test_nothing_imports_the_cli() -> None:
    for path in PACKAGE.rglob("*.py"):
        if "cli" in path.relative_to(PACKAGE).parts or path.name == "__main__.py":
            continue
        assert not any(n.startswith("perfaudit.cli") for n in perfaudit_imports(path)), path


@pytest.mark.parametrize(
    ("dependency", "homes"),
    [
        (
            "rich",
            (
                "render/terminal.py",
                "render/compare.py",
                "render/verdict_terminal.py",
                "render/waterfall_terminal.py",
                "render/memory_terminal.py",
                "render/view.py",
                "cli/console.py",
            ),
        ),
        ("cProfile", ("agent/capture/tracing.py",)),
        ("typer", ("cli/",)),
        ("aiohttp", ("load/engine.py",)),
        ("locust", ()),  # only ever run as a subprocess: it monkey-patches with gevent
        ("gevent", ()),
    ],
)
def test_each_dependency_enters_through_one_place(dependency: str, homes: tuple[str, ...]) -> None:
    users = {
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        if any(name.split(".")[0] == dependency for name in imports_of(path))
    }
    strays = {user for user in users if not user.startswith(homes)}
    assert not strays, f"{dependency} imported by {strays}"


AGENT_CHECK = """
import importlib, pkgutil, sys
import perfaudit.agent
for info in pkgutil.walk_packages(perfaudit.agent.__path__, "perfaudit.agent."):
    importlib.import_module(info.name)
outside = sorted({
    name.split(".")[0] for name in sys.modules
    if name.split(".")[0] not in sys.stdlib_module_names and not name.startswith("perfaudit")
    and not name.startswith("_")
})
print(" ".join(outside))
"""


def _agent_imports(python: str) -> str:
    """Import every module of the agent with `python -S` (no site-packages at all), from
    the repository: what it needs beyond the standard library fails or is listed."""
    result = subprocess.run(
        [python, "-S", "-c", AGENT_CHECK],
        cwd=PACKAGE.parent,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout.strip()


def test_the_agent_imports_only_the_standard_library() -> None:
    """The agent runs in the app's interpreter, where only the app's packages are: it may
    import the app's (anyio, starlette…) only inside the functions that use them."""
    assert _agent_imports(sys.executable) == ""


def test_the_agent_imports_on_the_oldest_python_it_supports() -> None:
    python = find_python("3.10")
    if python is None:
        pytest.skip("no Python 3.10 here (CI has it through pyenv)")
    assert _agent_imports(python) == ""


def find_python(version: str) -> str | None:
    """An interpreter of that version that runs: on PATH, or one of pyenv's (as .ci/run)."""
    candidates = [f"python{version}"]
    if shutil.which("pyenv"):
        root = subprocess.run(["pyenv", "root"], capture_output=True, text=True, check=False)
        versions = Path(root.stdout.strip()) / "versions"
        candidates += [str(p) for p in sorted(versions.glob(f"{version}*/bin/python{version}"))]
    for candidate in candidates:
        try:
            runs = subprocess.run([candidate, "-c", "pass"], capture_output=True, check=False)
        except OSError:
            continue
        if runs.returncode == 0:
            return candidate
    return None


def test_every_superseded_id_is_a_rule() -> None:
    """`supersedes=` names findings by id: a misspelt id would silently replace nothing."""
    from perfaudit.analysis.rules import all_rules

    ids = {rule.id for rule in all_rules()}
    for path in modules("analysis/rules"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.keyword) and node.arg == "supersedes":
                tuples = [t for t in ast.walk(node.value) if isinstance(t, ast.Tuple)]
                named = {c.value for t in tuples for c in t.elts if isinstance(c, ast.Constant)}
                assert named <= ids, f"{path.name} supersedes unknown ids {named - ids}"


def test_every_rule_says_what_it_needs() -> None:
    """A rule declares the evidence it reads (`needs`): the attach report lists, from it,
    the rules that samples cannot feed."""
    from perfaudit.analysis.needs import Needs
    from perfaudit.analysis.rules import all_rules

    for rule in all_rules():
        assert isinstance(rule.needs, Needs), rule.id


def test_rules_share_helpers_through_analysis_not_through_each_other() -> None:
    for path in modules("analysis/rules"):
        siblings = {n for n in perfaudit_imports(path) if n.startswith("perfaudit.analysis.rules.")}
        assert not siblings, f"{path.name} imports {siblings}: move the helper to analysis/"


def test_every_experiment_tests_a_rule() -> None:
    """An experiment is found by module name: its finding id must be a rule's."""
    from perfaudit.agent.verify.experiments import all_experiments
    from perfaudit.analysis.rules import all_rules

    ids = {rule.id for rule in all_rules()}
    experiments = all_experiments()
    assert len(experiments) >= 7
    assert {e.finding_id for e in experiments} <= ids

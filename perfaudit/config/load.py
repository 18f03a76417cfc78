"""Find and load a CI config: YAML, or the [tool.perfaudit] table of a TOML file."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from perfaudit.config.model import CiConfig, RouteBudget
from perfaudit.config.nodes import Reader, Source
from perfaudit.config.toml_source import read_toml
from perfaudit.config.validate import build_config
from perfaudit.config.yaml_source import read_yaml
from perfaudit.errors import UsageError

CONFIG_NAMES = ("perfaudit.yaml", "perfaudit.yml", ".perfaudit.yaml")
_YAML_SUFFIXES = (".yaml", ".yml")


def load_config(path: Path) -> CiConfig:
    """Read, validate and resolve a config file; UsageError (exit 2) names file, line, key."""
    suffix = path.suffix.lower()
    if suffix not in (*_YAML_SUFFIXES, ".toml"):
        raise UsageError(
            f"{path}: not a config file (expected .yaml, .yml or .toml).",
            remedy="Pass a YAML config, or a pyproject.toml with a [tool.perfaudit] table.",
        )
    text = _read(path)
    if suffix == ".toml":
        source = Source(path, prefix="tool.perfaudit")
        root = read_toml(text, source)
    else:
        source = Source(path)
        root = read_yaml(text, source)
    return build_config(Reader(source), root)


def find_config(cwd: Path) -> Path | None:
    """The config `perfaudit ci` uses when none is named: the first of CONFIG_NAMES in
    `cwd`, then its pyproject.toml if that has a [tool.perfaudit] table."""
    for name in CONFIG_NAMES:
        if (cwd / name).is_file():
            return cwd / name
    pyproject = cwd / "pyproject.toml"
    if pyproject.is_file() and _has_perfaudit_table(pyproject):
        return pyproject
    return None


def unmatched_budget_routes(config: CiConfig, measured: Iterable[str]) -> tuple[RouteBudget, ...]:
    """Route budgets that name none of the `measured` routes ("GET /quotes/{sku}")."""
    seen = set(measured)
    return tuple(rb for rb in config.budgets.routes if rb.route not in seen)


def check_budget_routes(config: CiConfig, measured: Iterable[str]) -> None:
    """After the run, when route templates are known: a budget for a route nobody measured
    is a typo or a stale config, never a silent pass."""
    routes = sorted(set(measured))
    unmatched = unmatched_budget_routes(config, routes)
    if unmatched:
        budget = unmatched[0]
        raise UsageError(
            f"{budget.origin}: the budget for {budget.route} names no route that was measured.",
            remedy=f"Measured: {', '.join(routes) or 'none'}. "
            "Fix the route, or add it to a scenario.",
        )


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(
            f"{path}: no such config file.", remedy="Check the path given to --config."
        ) from None
    except UnicodeDecodeError as exc:
        raise UsageError(f"{path}: not UTF-8 text ({exc.reason}).") from None
    except OSError as exc:
        raise UsageError(f"{path}: cannot read it: {exc.strerror}.") from None


def _has_perfaudit_table(path: Path) -> bool:
    import tomllib

    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return False  # `perfaudit ci` then says there is no config; a broken file is not ours
    tool = document.get("tool")
    return isinstance(tool, dict) and isinstance(tool.get("perfaudit"), dict)

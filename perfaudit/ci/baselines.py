"""Baselines for `perfaudit ci`: a previous run's document (one report per scenario) or
any perfaudit JSON report (one report for every scenario)."""

from __future__ import annotations

import json
from pathlib import Path

from perfaudit.ci.document import CI_DOCUMENT_MODE
from perfaudit.config import CiConfig
from perfaudit.errors import UsageError
from perfaudit.fileio import read_input
from perfaudit.formats.report_json import ReportFormatError, parse_report
from perfaudit.model.saved_report import SavedReport

Baselines = dict[str, SavedReport]  # scenario name → its report ("" → every scenario's)


def load_baselines(
    config: CiConfig, override: Path | None
) -> tuple[Baselines | None, tuple[str, ...]]:
    """Scenario name → its baseline report ("" → one report for every scenario)."""
    path = override or config.baseline
    if path is None:
        return None, ()
    if not path.exists():
        if override is not None:
            raise UsageError(
                f"The baseline {path} does not exist.",
                remedy="Write one with `perfaudit baseline update`, or check the path.",
            )
        return None, (f"No baseline at {path} yet: write one with `perfaudit baseline update`.",)
    return read_baselines(path), ()


def read_baselines(path: Path) -> Baselines:
    """A `perfaudit ci` document (one report per scenario) or any perfaudit JSON report."""
    try:
        data = json.loads(read_input(path, "a baselines file").decode("utf-8"))
        if isinstance(data, dict) and data.get("mode") == CI_DOCUMENT_MODE:
            return {
                str(item["name"]): parse_report(item["report"], source=f"{path} [{item['name']}]")
                for item in data["scenarios"]
            }
        return {"": parse_report(data, source=str(path))}
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UsageError(
            f"Cannot read the baseline {path}: {exc}.",
            remedy="Check the path, or write a new baseline.",
        ) from None
    except (ReportFormatError, KeyError, TypeError) as exc:
        raise UsageError(
            f"The baseline {path} is not a perfaudit report: {exc}.",
            remedy="Write a new one with `perfaudit baseline update`.",
        ) from None


def baseline_for(baselines: Baselines | None, scenario: str) -> SavedReport | None:
    if baselines is None:
        return None
    return baselines.get(scenario) or baselines.get("")


def baseline_label(
    config: CiConfig, override: Path | None, baselines: Baselines | None
) -> str | None:
    path = override or config.baseline
    return str(path) if path is not None and baselines is not None else None

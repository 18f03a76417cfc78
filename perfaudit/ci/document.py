"""The JSON document of a `perfaudit ci` run: report-shaped at the top, each scenario's
whole report under `scenarios`, the verdict beside them (docs/report-schema.md)."""

from __future__ import annotations

from typing import Any

from perfaudit import __version__
from perfaudit.analysis.verdict import Change, Check, Verdict
from perfaudit.config import CiConfig
from perfaudit.render.json_report import report_to_dict

CI_DOCUMENT_MODE = "ci"


def ci_document(config: CiConfig, verdict: Verdict, started_at: str) -> dict[str, Any]:
    """Report-shaped at the top (routes, hotspots, findings and memory of every scenario,
    each with its scenario's name), each scenario's whole report under `scenarios`, and
    the verdict."""
    scenarios: list[dict[str, Any]] = [
        {"name": s.name, "report": report_to_dict(s.report)} for s in verdict.scenarios
    ]
    first = scenarios[0]["report"] if scenarios else {}
    return {
        "schema_version": 1,
        "tool": {"name": "perfaudit", "version": __version__},
        "target": _target_label(config),
        "mode": CI_DOCUMENT_MODE,
        "started_at": started_at,
        "environment": first.get("environment", {}),
        "routes": _tagged(scenarios, "routes"),
        "hotspots": _tagged(scenarios, "hotspots"),
        "findings": _tagged(scenarios, "findings"),
        "memory": _tagged(scenarios, "memory"),  # so `compare` reads a ci run's memory too
        "scenarios": scenarios,
        "verdict": _verdict_dict(verdict),
    }


def _tagged(scenarios: list[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    return [{**item, "scenario": s["name"]} for s in scenarios for item in s["report"][key]]


def _target_label(config: CiConfig) -> str:
    target = config.target
    for attribute in ("app", "url", "command"):
        value = getattr(target, attribute, None)
        if value:
            return str(value)
    return str(getattr(target, "pid", ""))


def _verdict_dict(verdict: Verdict) -> dict[str, Any]:
    return {
        "passed": verdict.passed,
        "baseline": verdict.baseline,
        "checks": [_check_dict(check) for check in verdict.checks],
        "changes": [
            {"scenario": s.name, **_change_dict(change)}
            for s in verdict.scenarios
            for change in s.changes
        ],
        "new_findings": [
            {"scenario": s.name, "id": f.id, "route": f.route, "severity": f.severity.label}
            for s in verdict.scenarios
            for f in s.new_findings
        ],
        "ignored_findings": [
            {"scenario": s.name, "id": f.id, "route": f.route, "reason": reason}
            for s in verdict.scenarios
            for f, reason in s.ignored_findings
        ],
        "notes": list(verdict.notes),
    }


def _check_dict(check: Check) -> dict[str, Any]:
    return {
        "scenario": check.scenario,
        "name": check.name,
        "kind": check.kind,
        "route": check.route,
        "passed": check.passed,
        "measured": check.measured,
        "limit": check.limit,
        "detail": check.detail,
    }


def _change_dict(change: Change) -> dict[str, Any]:
    return {
        "route": change.route,
        "metric": change.metric,
        "baseline": round(change.baseline, 4),
        "current": round(change.current, 4),
        "ratio": round(change.ratio, 4),
        "ci_low": round(change.ci_low, 4),
        "ci_high": round(change.ci_high, 4),
        "confidence": change.confidence,
        "p_value": change.p_value,
        "regressed": change.regressed,
        "improved": change.improved,
        "note": change.note,
    }

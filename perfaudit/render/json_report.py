"""The report as versioned JSON (schema in docs/report-schema.md). Keys are a contract:
add freely, rename none."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from perfaudit.analysis.findings import Finding
from perfaudit.analysis.report import REPORT_SCHEMA_VERSION, Report, RouteSummary
from perfaudit.fileio import atomic_write
from perfaudit.model.codec import to_jsonable


def report_to_dict(report: Report) -> dict[str, Any]:
    session = report.session
    env = session.environment
    return {
        "schema_version": REPORT_SCHEMA_VERSION,
        "tool": {"name": "perfaudit", "version": session.tool_version},
        "target": session.target,
        "mode": session.mode,
        "started_at": session.started_at,
        "environment": {
            "python": env.python,
            "loop": env.loop,
            "platform": env.platform,
            "fastapi": env.packages.get("fastapi"),  # contract keys: null when not installed
            "starlette": env.packages.get("starlette"),
            **env.packages,
        },
        "settings": to_jsonable(session.settings),
        "phases": {
            "latency": "measured phase, no profiler attached",
            "hotspots": f"profiled phase ({session.settings.profiler}), one request at a time",
        },
        "stopped_early": session.stopped_early or None,
        "routes": [_route(r) for r in report.routes],
        "hotspots": [asdict(h) for h in report.hotspots],
        "route_hotspots": {
            route: [asdict(h) for h in spots] for route, spots in report.route_hotspots.items()
        },
        "findings": [_finding(f) for f in report.findings],
        "skipped_routes": [asdict(s) for s in report.skipped],
        "notes": list(session.notes),
    }


def render_json(report: Report) -> str:
    return json.dumps(report_to_dict(report), indent=2) + "\n"


def write_json(report: Report, path: Path) -> None:
    atomic_write(path, render_json(report).encode("utf-8"))


def _route(route: RouteSummary) -> dict[str, Any]:
    latency = asdict(route.latency_ms) if route.latency_ms else None
    return {
        "method": route.method,
        "path": route.path,
        "urls": list(route.urls),
        "requests": route.requests,
        "errors": route.errors,
        "timeouts": route.timeouts,
        "status_counts": route.status_counts,
        "throughput_rps": round(route.throughput_rps, 2),
        "concurrency": route.concurrency,
        "latency_ms": {k: round(v, 4) for k, v in latency.items()} if latency else None,
        "background_ms": round(route.background_ms, 4) if route.background_ms else None,
        "error_sample": to_jsonable(route.error_sample),
        "completed": route.completed,
    }


def _finding(finding: Finding) -> dict[str, Any]:
    return {
        "id": finding.id,
        "severity": finding.severity.label,
        "title": finding.title,
        "route": finding.route,
        "location": asdict(finding.location) if finding.location else None,
        "evidence": finding.evidence,
        "suggestion": finding.suggestion,
        "estimated_gain": asdict(finding.estimated_gain) if finding.estimated_gain else None,
        "score": round(finding.score, 4),
    }

"""`perfaudit view FILE --html OUT`: any file `view` reads, as the HTML report.

A session is analysed again; a saved JSON report keeps its own routes, latency samples and
findings (shown as they were, not re-judged); a .pstats, speedscope or collapsed file has
only a profile, so its page has flame graphs and hotspots but no latency.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

from perfaudit.analysis.findings import Finding, Gain, Severity
from perfaudit.analysis.report import Report, build_report
from perfaudit.capture.environment import describe_environment
from perfaudit.formats.profile_files import ProfileFile
from perfaudit.model import CodeLocation, RouteKey, RouteMeasurement, RunSettings, Session


def report_for_html(viewed: ProfileFile) -> Report:
    if viewed.session is not None:
        return build_report(viewed.session)
    session = _bare_session(viewed)
    if viewed.report is None:
        return build_report(session)
    document = json.loads(Path(viewed.path).read_text(encoding="utf-8"))
    measured = replace(session, measurements=_measurements(document))
    return replace(build_report(measured), findings=_findings(document))


def _bare_session(viewed: ProfileFile) -> Session:
    return Session(
        target=viewed.path,
        mode="view",
        started_at="",
        tool_version="",
        app_root=str(Path.cwd()),
        environment=describe_environment("asyncio"),
        settings=RunSettings(
            requests=None,
            duration_s=None,
            concurrency=0,
            warmup=0,
            timeout_s=0.0,
            profile_requests=0,
            profiler=viewed.description,
        ),
        measurements=(),
        profiles=viewed.profiles,
        notes=(f"Shown from {viewed.description}: {viewed.path}.",),
    )


def _measurements(document: dict[str, Any]) -> tuple[RouteMeasurement, ...]:
    """The routes of a saved report, from the latency samples it kept."""
    routes = []
    for route in document.get("routes", []):
        samples = tuple(ms / 1000.0 for ms in route.get("latency_samples_ms", ()))
        rps = route.get("throughput_rps") or 0.0
        requests = int(route.get("requests", len(samples)))
        routes.append(
            RouteMeasurement(
                route=RouteKey(route["method"], route["path"]),
                urls=tuple(route.get("urls", ())),
                concurrency=int(route.get("concurrency", 1)),
                wall_s=requests / rps if rps else 0.0,
                durations_s=samples,
                background_s=(),
                status_counts=dict(route.get("status_counts", {})),
                errors=int(route.get("errors", 0)),
            )
        )
    return tuple(routes)


def _findings(document: dict[str, Any]) -> tuple[Finding, ...]:
    return tuple(_finding(item) for item in document.get("findings", []))


def _finding(item: dict[str, Any]) -> Finding:
    location = item.get("location")
    gain = item.get("estimated_gain")
    return Finding(
        id=str(item["id"]),
        severity=Severity.parse(str(item["severity"])),
        title=str(item.get("title", "")),
        route=item.get("route"),
        location=CodeLocation(**location) if location else None,
        evidence=dict(item.get("evidence") or {}),
        suggestion=str(item.get("suggestion", "")),
        estimated_gain=Gain(**gain) if gain else None,
    )

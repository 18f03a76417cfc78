"""A live Report seen the way a saved one is read back, so a run can be compared with a
baseline file without writing itself out first (the `ci` command)."""

from __future__ import annotations

from dataclasses import asdict

from perfaudit.analysis.findings import Finding
from perfaudit.analysis.hotspots import Hotspot
from perfaudit.analysis.report import Report, RouteSummary
from perfaudit.model import RouteMeasurement, RouteMemory
from perfaudit.model.saved_report import (
    SavedFinding,
    SavedHotspot,
    SavedMemory,
    SavedReport,
    SavedRoute,
)


def saved_from_report(report: Report, *, source: str = "current run") -> SavedReport:
    session = report.session
    measurements = {f"{m.route.method} {m.route.template}": m for m in session.measurements}
    return SavedReport(
        source=source,
        target=session.target,
        mode=session.mode,
        tool_version=session.tool_version,
        routes=tuple(_route(r, measurements.get(r.label)) for r in report.routes),
        hotspots=tuple(_hotspot(h) for h in report.hotspots),
        route_hotspots={
            label: tuple(_hotspot(h) for h in spots)
            for label, spots in report.route_hotspots.items()
        },
        findings=tuple(_finding(f) for f in report.findings),
        memory=tuple(_memory(m) for m in session.memory),
    )


def _route(route: RouteSummary, measurement: RouteMeasurement | None) -> SavedRoute:
    samples = sorted(d * 1000.0 for d in measurement.durations_s) if measurement else []
    return SavedRoute(
        method=route.method,
        path=route.path,
        requests=route.requests,
        errors=route.errors,
        throughput_rps=route.throughput_rps,
        latency_ms=asdict(route.latency_ms) if route.latency_ms else {},
        samples_ms=tuple(samples),
        samples_total=len(samples),
        rss_bytes=(measurement.rss_bytes or None) if measurement else None,
    )


def _memory(memory: RouteMemory) -> SavedMemory:
    """As the JSON report writes it (render/json_memory.py), so both compare alike."""
    return SavedMemory(
        route=str(memory.route),
        peak_bytes_per_request=memory.peak_bytes,
        retained_bytes_per_1k_requests=round(memory.retained_bytes_per_request * 1000),
        response_bytes_per_request=memory.response_bytes,
        rss_before_bytes=memory.rss_before_bytes or None,
        rss_after_bytes=memory.rss_after_bytes or None,
    )


def _hotspot(spot: Hotspot) -> SavedHotspot:
    return SavedHotspot(
        function=spot.function,
        file=spot.file,
        line=spot.line,
        owner=spot.owner,
        self_share=spot.self_share,
        cumulative_share=spot.cumulative_share,
        route=spot.route,
    )


def _finding(finding: Finding) -> SavedFinding:
    loc = finding.location
    return SavedFinding(
        id=finding.id,
        severity=finding.severity.label,
        title=finding.title,
        route=finding.route,
        function=loc.function if loc else None,
        file=loc.file if loc else None,
        line=loc.line if loc else None,
    )

"""The JSON report's memory keys (docs/report-schema.md, `memory` and `process_memory`):
every size in bytes, its unit and what it is counted per in its name, `null` where the
kernel's figure is not known."""

from __future__ import annotations

from typing import Any

from perfaudit.analysis.paths import display_path, displayed
from perfaudit.model import (
    AllocationSite,
    CodeLocation,
    GrowingContainer,
    RouteMemory,
    SamplingRun,
    Session,
)
from perfaudit.render.memory_text import process_rss


def memory_list(session: Session) -> list[dict[str, Any]]:
    return [_route_memory(m, session.app_root) for m in session.memory]


def _route_memory(memory: RouteMemory, app_root: str) -> dict[str, Any]:
    return {
        "route": str(memory.route),
        "requests": memory.requests,
        "warmup_requests": memory.warmup_requests,
        "peak_requests": memory.peak_requests,
        "peak_bytes_per_request": memory.peak_bytes,
        "response_bytes_per_request": round(memory.response_bytes, 1),
        "retained_bytes_per_request": round(memory.retained_bytes_per_request, 1),
        "retained_bytes_per_1k_requests": round(memory.retained_bytes_per_request * 1000),
        "settled_bytes": memory.settled_bytes,
        "traced_growth_bytes": list(memory.traced_growth),
        "rss_before_bytes": memory.rss_before_bytes or None,
        "rss_after_bytes": memory.rss_after_bytes or None,
        "wall_s": round(memory.wall_s, 3),
        "traceback_depth": memory.traceback_depth,
        "note": memory.note or None,
        "peak_sites": [_site(s, app_root, growth=False) for s in memory.peak_sites],
        "growth_sites": [_site(s, app_root, growth=True) for s in memory.growth_sites],
        "containers": [_container(c, app_root) for c in memory.containers],
    }


def _site(site: AllocationSite, app_root: str, *, growth: bool) -> dict[str, Any]:
    shown: dict[str, Any] = {
        **_location(site.location, app_root),
        "owner": site.owner,
        "code": site.code or None,
        "bytes_per_request": round(site.bytes, 1),
        "blocks_per_request": round(site.blocks, 2),
        "stack": [_frame(frame, app_root) for frame in site.stack],
    }
    if growth:  # a peak site has no halves: it is one request's
        shown["halves_bytes"] = list(site.halves)
    return shown


def _container(container: GrowingContainer, app_root: str) -> dict[str, Any]:
    return {
        "name": container.name,
        "kind": container.kind,
        "type": container.type_name,
        "items_before": container.items_before,
        "items_after": container.items_after,
        "requests": container.requests,
        "items_per_request": round(container.items_per_request, 3),
        "bound": container.bound,
        "location": _location_or_none(container.location, app_root),
        "allocated_at": _location_or_none(container.allocated_at, app_root),
    }


def _location(location: CodeLocation, app_root: str) -> dict[str, Any]:
    shown = displayed(location, app_root)
    return {"file": shown.file, "line": shown.line, "function": shown.function}


def _location_or_none(location: CodeLocation | None, app_root: str) -> dict[str, Any] | None:
    return _location(location, app_root) if location is not None else None


def _frame(frame: str, app_root: str) -> str:
    """A stack frame shown as locations are: "/srv/app/main.py:12" → "main.py:12"."""
    file, _, line = frame.rpartition(":")
    return f"{display_path(file, app_root)}:{line}" if file and line.isdigit() else frame


def process_memory_list(run: SamplingRun | None) -> list[dict[str, Any]]:
    if run is None:
        return []
    commands = {p.pid: p.command for p in run.processes}
    series = {s.pid: s for s in run.memory}
    return [
        {
            "pid": p.pid,
            "command": commands.get(p.pid),
            "interval_s": series[p.pid].interval_s,
            "duration_s": round(p.seconds, 3),
            "rss_start_bytes": p.start,
            "rss_end_bytes": p.end,
            "rss_peak_bytes": p.peak,
            # Last: a long array that people reading the file scroll past.
            "rss_samples_bytes": list(series[p.pid].rss_bytes),
        }
        for p in process_rss(run.memory)
    ]

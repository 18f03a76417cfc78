"""Read a saved JSON report (docs/report-schema.md) back into what a comparison needs.

Only the keys baselines use are read, and unknown keys are ignored (the schema adds keys
freely). Anything else wrong raises ReportFormatError with one sentence naming the key.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from perfaudit.fileio import read_input
from perfaudit.model.saved_report import (
    SavedFinding,
    SavedHotspot,
    SavedMemory,
    SavedReport,
    SavedRoute,
)

SUPPORTED_SCHEMA_VERSION = 1


class ReportFormatError(ValueError):
    """The file is not a perfaudit JSON report this version can read."""


def read_report_file(path: Path) -> SavedReport:
    """OSError when the file cannot be read; ReportFormatError when it is not a report."""
    raw = read_input(path, "a JSON report")
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ReportFormatError(f"it is not valid JSON ({_reason(exc)})") from None
    return parse_report(data, source=str(path))


def parse_report(data: object, *, source: str) -> SavedReport:
    if not isinstance(data, dict) or "schema_version" not in data:
        raise ReportFormatError("it has no schema_version: not a perfaudit JSON report")
    version = data["schema_version"]
    if version != SUPPORTED_SCHEMA_VERSION:
        raise ReportFormatError(
            f"its schema_version is {version!r}; this perfaudit reads version "
            f"{SUPPORTED_SCHEMA_VERSION}"
        )
    tool = _get(data, "tool", dict, "", required=False)
    if tool.get("name", "perfaudit") != "perfaudit":
        raise ReportFormatError(f"it was written by {tool.get('name')!r}, not perfaudit")
    return SavedReport(
        source=source,
        target=str(data.get("target", "")),
        mode=str(data.get("mode", "")),
        tool_version=str(tool.get("version", "")),
        routes=tuple(_route(r, f"routes[{i}]") for i, r in enumerate(_list(data, "routes"))),
        hotspots=_hotspots(_list(data, "hotspots", required=False), "hotspots"),
        route_hotspots={
            str(label): _hotspots(spots, f"route_hotspots[{label!r}]")
            for label, spots in _get(data, "route_hotspots", dict, "", required=False).items()
        },
        findings=tuple(
            _finding(f, f"findings[{i}]")
            for i, f in enumerate(_list(data, "findings", required=False))
        ),
        # Absent in reports written before the memory phase: nothing to compare then.
        memory=tuple(
            _memory(m, f"memory[{i}]") for i, m in enumerate(_list(data, "memory", required=False))
        ),
    )


def _route(item: object, where: str) -> SavedRoute:
    route = _object(item, where)
    latency = route.get("latency_ms") or {}
    samples = route.get("latency_samples_ms") or []
    if not isinstance(latency, dict) or not isinstance(samples, list):
        raise ReportFormatError(f"{where}.latency_ms or .latency_samples_ms has the wrong type")
    return SavedRoute(
        method=_get(route, "method", str, where),
        path=_get(route, "path", str, where),
        requests=_get(route, "requests", int, where),
        errors=_get(route, "errors", int, where, required=False) or 0,
        throughput_rps=_number(route.get("throughput_rps", 0.0), f"{where}.throughput_rps"),
        latency_ms={str(k): _number(v, f"{where}.latency_ms.{k}") for k, v in latency.items()},
        samples_ms=tuple(
            sorted(_number(v, f"{where}.latency_samples_ms[{i}]") for i, v in enumerate(samples))
        ),
        samples_total=_get(route, "latency_samples_total", int, where, required=False)
        or len(samples),
        rss_bytes=_get(route, "rss_bytes", int, where, required=False),
    )


def _memory(item: object, where: str) -> SavedMemory:
    memory = _object(item, where)
    return SavedMemory(
        route=_get(memory, "route", str, where),
        peak_bytes_per_request=_number(
            memory.get("peak_bytes_per_request", 0), f"{where}.peak_bytes_per_request"
        ),
        retained_bytes_per_1k_requests=_number(
            memory.get("retained_bytes_per_1k_requests", 0),
            f"{where}.retained_bytes_per_1k_requests",
        ),
        response_bytes_per_request=_number(
            memory.get("response_bytes_per_request", 0), f"{where}.response_bytes_per_request"
        ),
        rss_before_bytes=_get(memory, "rss_before_bytes", int, where, required=False),
        rss_after_bytes=_get(memory, "rss_after_bytes", int, where, required=False),
    )


def _hotspots(items: object, where: str) -> tuple[SavedHotspot, ...]:
    if not isinstance(items, list):
        raise ReportFormatError(f"{where} is not a list")
    return tuple(
        _hotspot(_object(h, f"{where}[{i}]"), f"{where}[{i}]") for i, h in enumerate(items)
    )


def _hotspot(spot: dict[str, Any], where: str) -> SavedHotspot:
    return SavedHotspot(
        function=_get(spot, "function", str, where),
        file=_get(spot, "file", str, where),
        line=_get(spot, "line", int, where, required=False) or 0,
        owner=str(spot.get("owner", "")),
        self_share=_number(spot.get("self_share", 0.0), f"{where}.self_share"),
        cumulative_share=_number(spot.get("cumulative_share", 0.0), f"{where}.cumulative_share"),
        route=spot.get("route") if isinstance(spot.get("route"), str) else None,
        scenario=spot.get("scenario") if isinstance(spot.get("scenario"), str) else None,
    )


def _finding(item: object, where: str) -> SavedFinding:
    finding = _object(item, where)
    location = finding.get("location")
    loc = location if isinstance(location, dict) else {}
    route = finding.get("route")
    return SavedFinding(
        id=_get(finding, "id", str, where),
        severity=str(finding.get("severity", "")),
        title=str(finding.get("title", "")),
        route=route if isinstance(route, str) else None,
        function=loc.get("function") if isinstance(loc.get("function"), str) else None,
        file=loc.get("file") if isinstance(loc.get("file"), str) else None,
        line=loc.get("line") if isinstance(loc.get("line"), int) else None,
    )


def _object(item: object, where: str) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise ReportFormatError(f"{where} is not an object")
    return item


def _list(data: dict[str, Any], key: str, *, required: bool = True) -> list[Any]:
    value = _get(data, key, list, "", required=required)
    return value if value is not None else []


def _get(data: dict[str, Any], key: str, kind: type, where: str, *, required: bool = True) -> Any:
    """data[key] checked against `kind`; an absent optional key gives an empty value."""
    name = f"{where}.{key}" if where else key
    if key not in data or data[key] is None:
        if required:
            raise ReportFormatError(f"{name} is missing")
        return kind() if kind in (dict, list) else None
    value = data[key]
    # bool is an int to Python, never to a report.
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ReportFormatError(f"{name} should be {_TYPE_NAMES.get(kind, kind.__name__)}")
    return value


def _number(value: object, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ReportFormatError(f"{where} should be a finite number")
    return float(value)


def _reason(exc: Exception) -> str:
    if isinstance(exc, json.JSONDecodeError):
        return f"{exc.msg} at line {exc.lineno}"
    return "not UTF-8 text"


_TYPE_NAMES = {str: "a string", int: "an integer", list: "a list", dict: "an object"}

"""The report as versioned JSON (schema in docs/report-schema.md). Keys are a contract:
add freely, rename none."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from perfaudit.analysis.findings import Finding, MeasuredGain
from perfaudit.analysis.measured import describe
from perfaudit.analysis.report import REPORT_SCHEMA_VERSION, Report, RouteSummary
from perfaudit.analysis.signature import median_ms
from perfaudit.analysis.stats import LatencySummary
from perfaudit.analysis.waterfall import Waterfall
from perfaudit.fileio import atomic_write
from perfaudit.model import LoadSummary, PoolEvidence, RouteMeasurement, RouteProbe, Session
from perfaudit.model.codec import to_jsonable
from perfaudit.render.json_memory import memory_list, process_memory_list

# Raw latencies kept per route (for baselines and `perfaudit compare`): enough for a rank
# test and a bootstrap, while a long `--duration` run does not write megabytes.
SAMPLES_KEPT = 20_000


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
            "interpreter": env.interpreter or None,
            "fastapi": env.packages.get("fastapi"),  # contract keys: null when not installed
            "starlette": env.packages.get("starlette"),
            **env.packages,
            "declared_server": to_jsonable(env.declared) if env.declared else None,
        },
        "settings": to_jsonable(session.settings),
        "phases": _phases(session),
        "load": _load(session.load),
        "sampling": _sampling(report),
        "stopped_early": session.stopped_early or None,
        "interrupted": session.interrupted,
        "routes": _routes(report),
        "hotspots": [asdict(h) for h in report.hotspots],
        "route_hotspots": {
            route: [asdict(h) for h in spots] for route, spots in report.route_hotspots.items()
        },
        "route_probes": [_probe(p) for p in session.probes],
        "waterfalls": [_waterfall(w) for w in report.waterfalls],
        "memory": memory_list(session),
        "process_memory": process_memory_list(session.sampling),
        "findings": [_finding(f) for f in report.findings],
        "skipped_routes": [asdict(s) for s in report.skipped],
        "notes": list(session.notes),
    }


def _waterfall(w: Waterfall) -> dict[str, Any]:
    load = w.under_load
    return {
        "route": w.route,
        "request_ms": _ms(w.request_ms),
        "cpu_ms": _ms(w.cpu_ms),
        "database_ms": _ms(w.database_ms),
        "database_in_process": w.database_in_process,
        "waiting_ms": _ms(w.waiting_ms),
        "under_load": None
        if load is None
        else {
            "concurrency": load.concurrency,
            "request_ms": _ms(load.request_ms),
            "pool_wait_ms": _ms(load.pool_wait_ms),
        },
    }


def _sampling(report: Report) -> dict[str, Any] | None:
    run = report.session.sampling
    if run is None:
        return None
    return {
        "tool": run.tool,
        "pid": run.pid,
        "rate_hz": run.rate_hz,
        "duration_s": run.duration_s,
        "samples": run.samples,
        "errors": run.errors,
        "processes": [
            {"pid": p.pid, "command": p.command, "threads": len(p.threads), "samples": p.samples}
            for p in run.processes
        ],
        "ended_early": run.ended_early or None,
        "rules_not_run": report.not_run,
    }


def render_json(report: Report) -> str:
    return json.dumps(report_to_dict(report), indent=2) + "\n"


def write_json(report: Report, path: Path) -> None:
    atomic_write(path, render_json(report).encode("utf-8"))


def _phases(session: Session) -> dict[str, str]:
    if session.load is not None:
        return {"latency": "from outside the server, over HTTP, while the load engine ran"}
    phases = {
        "latency": "measured phase, no profiler attached",
        "hotspots": f"profiled phase ({session.settings.profiler}), one request at a time",
        "route_probes": "probe phase: concurrent load with the loop watchdog, threadpool "
        "sampler and probe requests, no profiler",
    }
    if session.memory:
        phases["memory"] = "memory phase: tracemalloc, after every latency was measured"
    return phases


def _load(load: LoadSummary | None) -> dict[str, Any] | None:
    if load is None:
        return None
    return {
        "engine": load.engine,
        "client": load.client,
        "model": load.model,
        "connections": load.connections,
        "rate": load.rate,
        "processes": load.processes,
        "wall_s": round(load.wall_s, 4),
        "client_cpu_s": round(load.client_cpu_s, 4),
        "client_cpu_share": round(load.client_cpu_share, 4),
        "client_bound": load.client_bound,
        "late_requests": load.late,
        "resolution_ms": load.resolution_ms,
    }


def _latency(summary: LatencySummary | None) -> dict[str, float] | None:
    return {k: round(v, 4) for k, v in asdict(summary).items()} if summary else None


def _routes(report: Report) -> list[dict[str, Any]]:
    measurements = {f"{m.route.method} {m.route.template}": m for m in report.session.measurements}
    return [_route(r, measurements) for r in report.routes]


def kept_samples_ms(durations_s: tuple[float, ...], limit: int = SAMPLES_KEPT) -> list[float]:
    """Every latency in ms (3 decimals: a microsecond), sorted; beyond `limit`, an evenly
    spaced subset of the sorted samples, both extremes kept, so quantiles are preserved."""
    ordered = sorted(round(d * 1000.0, 3) for d in durations_s)
    n = len(ordered)
    if n <= limit:
        return ordered
    step = (n - 1) / (limit - 1)
    return [ordered[round(i * step)] for i in range(limit)]


def _samples(measurement: RouteMeasurement | None) -> dict[str, Any]:
    durations = measurement.durations_s if measurement else ()
    kept = kept_samples_ms(durations)
    return {
        "latency_samples_ms": kept,
        "latency_samples_kept": len(kept),
        "latency_samples_total": len(durations),
    }


def _route(route: RouteSummary, measurements: dict[str, RouteMeasurement]) -> dict[str, Any]:
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
        "latency_ms": _latency(route.latency_ms),
        "latency_uncorrected_ms": _latency(route.latency_uncorrected_ms),
        "background_ms": round(route.background_ms, 4) if route.background_ms else None,
        "error_sample": to_jsonable(route.error_sample),
        "completed": route.completed,
        "rss_bytes": _rss_bytes(measurements.get(route.label)),
        # Last: a long array that people reading the file scroll past.
        **_samples(measurements.get(route.label)),
    }


def _rss_bytes(measurement: RouteMeasurement | None) -> int | None:
    """The app process's RSS after the route's measured phase; null where not known."""
    return (measurement.rss_bytes or None) if measurement else None


def _probe(probe: RouteProbe) -> dict[str, Any]:
    latency = LatencySummary.of(probe.durations_s)
    loop = probe.loop
    pool = probe.threadpool
    return {
        "route": str(probe.route),
        "concurrency": probe.concurrency,
        "requests": len(probe.durations_s),
        "throughput_rps": round(probe.throughput_rps, 2),
        "throughput_one_at_a_time_rps": round(probe.single_throughput_rps, 2),
        "latency_ms": {k: round(v, 4) for k, v in asdict(latency).items()} if latency else None,
        "other_request_ms": {
            "idle_p50": _ms(median_ms(probe.probe_idle_s)),
            "under_load_p50": _ms(median_ms(probe.probe_loaded_s)),
            "under_load_max": _ms(max(probe.probe_loaded_s, default=0.0) * 1000),
        },
        "loop": {
            "heartbeat_ms": loop.heartbeat_s * 1000,
            "heartbeats": loop.heartbeats,
            "lag_ms_buckets": loop.lag_ms_buckets,
            "max_lag_ms": _ms(loop.max_lag_s * 1000),
            "blocked_share": round(loop.blocked_s / probe.wall_s, 4) if probe.wall_s else 0.0,
            "watchdog_cpu_share": round(loop.watchdog_cpu_s / probe.wall_s, 4)
            if probe.wall_s
            else 0.0,
        },
        "threadpool": None
        if pool is None
        else {
            "total_tokens": pool.total_tokens,
            "saturated_share": round(pool.saturated_samples / pool.samples, 4),
            "max_borrowed": pool.max_borrowed,
            "max_waiting": pool.max_waiting,
            "thread_hop_ms": _ms(pool.hop_s * 1000) if pool.hop_s is not None else None,
        },
        "connection_pools": [_connection_pool(p) for p in probe.pools],
    }


def _connection_pool(pool: PoolEvidence) -> dict[str, Any]:
    return {
        "kind": pool.kind,
        "size": pool.size,
        "max_overflow": pool.max_overflow,
        "timeout_s": pool.timeout_s,
        "checkouts": pool.checkouts,
        "waited": pool.waited,
        "wait_ms": _ms(pool.wait_s * 1000),
        "max_wait_ms": _ms(pool.max_wait_s * 1000),
        "held_ms_per_checkout": _ms(pool.held_s / pool.returned * 1000) if pool.returned else None,
        "timeouts": pool.timeouts,
        "still_waiting": pool.stuck,
    }


def _ms(value: float | None) -> float | None:
    return round(value, 3) if value is not None else None


def _finding(finding: Finding) -> dict[str, Any]:
    return {
        "id": finding.id,
        "severity": finding.severity.label,
        "near_severity": finding.near.label if finding.near else None,
        "title": finding.title,
        "route": finding.route,
        "location": asdict(finding.location) if finding.location else None,
        "evidence": finding.evidence,
        "suggestion": finding.suggestion,
        "estimated_gain": asdict(finding.estimated_gain) if finding.estimated_gain else None,
        "score": round(finding.score, 4),
        "measured": _measured(finding.measured),
    }


def _measured(gain: MeasuredGain | None) -> dict[str, Any] | None:
    if gain is None:
        return None
    return {**asdict(gain), "summary": describe(gain)}

"""The Report: what renderers show. Built from a Session by running every rule."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from perfaudit.analysis.context import AnalysisContext, RouteView
from perfaudit.analysis.findings import Finding, Severity, drop_superseded, rank
from perfaudit.analysis.hotspots import Hotspot, overall_hotspots, route_hotspots
from perfaudit.analysis.measured import attach_measured
from perfaudit.analysis.paths import displayed
from perfaudit.analysis.rules import all_rules, not_run_from_samples
from perfaudit.analysis.stats import LatencySummary
from perfaudit.analysis.waterfall import Waterfall, waterfall
from perfaudit.model import ErrorSample, RouteMeasurement, Session, SkippedRoute

REPORT_SCHEMA_VERSION = 1
HOTSPOTS_KEPT = 25


@dataclass(frozen=True, slots=True)
class RouteSummary:
    method: str
    path: str
    urls: tuple[str, ...]
    requests: int
    errors: int
    timeouts: int
    status_counts: dict[str, int]
    throughput_rps: float
    concurrency: int
    latency_ms: LatencySummary | None
    background_ms: float | None  # mean per request, when the app ran background tasks
    error_sample: ErrorSample | None
    completed: bool
    # Load's open model: latency from each request's actual send, beside the corrected one.
    latency_uncorrected_ms: LatencySummary | None = None

    def throughput_text(self, decimals: int) -> str:
        """Throughput as the tables show it: "–" when every request failed (a rate of
        errors is no throughput)."""
        if self.requests and self.errors >= self.requests:
            return "–"
        return f"{self.throughput_rps:,.{decimals}f}"

    @property
    def label(self) -> str:
        return f"{self.method} {self.path}"


@dataclass(frozen=True, slots=True)
class Report:
    session: Session
    routes: tuple[RouteSummary, ...]
    hotspots: tuple[Hotspot, ...]
    route_hotspots: dict[str, tuple[Hotspot, ...]]
    findings: tuple[Finding, ...]
    skipped: tuple[SkippedRoute, ...]
    # Attach sessions: rule id → why samples could not show what it looks for.
    not_run: dict[str, str] = field(default_factory=dict)
    waterfalls: tuple[Waterfall, ...] = ()  # where each route's time goes

    @property
    def worst_severity(self) -> Severity | None:
        return max((f.severity for f in self.findings), default=None)

    @property
    def nothing_measured(self) -> bool:
        """Routes were driven and every request to every one of them failed."""
        return bool(self.routes) and all(_all_failed(route) for route in self.routes)


# What a route whose every request failed still reports: why it failed, and the run's notes.
ABOUT_FAILURES = frozenset({"route-errors", "measurement-quality"})


def build_report(session: Session) -> Report:
    ctx = AnalysisContext(session)
    failed = {str(v.route) for v in ctx.routes if v.measurement and _all_failed(v.measurement)}
    findings: list[Finding] = []
    for rule in all_rules():
        findings.extend(rule.check(ctx))
    # The timings and profile of failed requests describe the failure, not the route.
    findings = [f for f in findings if f.route not in failed or f.id in ABOUT_FAILURES]
    profiles = tuple(p for p in session.profiles if str(p.route) not in failed)
    calls = {e.route: e.calls for e in session.evidence if e.calls is not None}
    return Report(
        session=session,
        routes=tuple(
            _summary(view, session.app_root) for view in ctx.routes if view.measurement is not None
        ),
        hotspots=tuple(overall_hotspots(profiles, session.app_root, calls)[:HOTSPOTS_KEPT]),
        route_hotspots={
            str(p.route): tuple(
                route_hotspots(p, session.app_root, calls.get(p.route))[:HOTSPOTS_KEPT]
            )
            for p in profiles
        },
        findings=tuple(rank(attach_measured(drop_superseded(findings), session.experiments))),
        skipped=session.skipped,
        not_run=not_run_from_samples(session) if session.sampling else {},
        waterfalls=tuple(
            w for view in ctx.routes if str(view.route) not in failed and (w := waterfall(view))
        ),
    )


def _all_failed(route: RouteMeasurement | RouteSummary) -> bool:
    attempts = route.requests + route.timeouts if route.requests else route.timeouts
    return route.errors > 0 and route.errors >= max(attempts, sum(route.status_counts.values()))


def _displayed(sample: ErrorSample | None, app_root: str) -> ErrorSample | None:
    """The sample with its location relative to the app, as findings show it."""
    if sample is None or sample.location is None:
        return sample
    loc = sample.location
    shown = displayed(loc, app_root)
    return replace(sample, location=shown)


def _summary(view: RouteView, app_root: str) -> RouteSummary:
    m = view.measurement
    assert m is not None
    background = sum(m.background_s) / len(m.background_s) * 1000 if m.background_s else 0.0
    return RouteSummary(
        method=view.route.method,
        path=view.route.template,
        urls=m.urls,
        requests=m.requests,
        errors=m.errors,
        timeouts=m.timeouts,
        status_counts=m.status_counts,
        throughput_rps=view.throughput_rps,
        concurrency=m.concurrency,
        latency_ms=view.latency,
        background_ms=background if background >= 0.05 else None,
        error_sample=_displayed(m.error_sample, app_root),
        completed=m.completed,
        latency_uncorrected_ms=LatencySummary.of(m.uncorrected_s),
    )

"""measurement-quality: notes about perfaudit's own measurement (always `info`)."""

from __future__ import annotations

from collections.abc import Iterator

from perfaudit.analysis.context import AnalysisContext, RouteView
from perfaudit.analysis.findings import Finding, Severity
from perfaudit.analysis.needs import SAMPLES_SUFFICE
from perfaudit.analysis.sampling import PROFILER as SAMPLED
from perfaudit.model import RouteProbe

MIN_SAMPLES = 30
MIN_PROFILED = 20
BACKGROUND_NOTE_MS = 1.0


class MeasurementQuality:
    id = "measurement-quality"
    needs = SAMPLES_SUFFICE
    title = "Notes on how far to trust this run's numbers"
    explanation = (
        "perfaudit reports when its own measurement is thin: too few requests for stable "
        "percentiles, a profiled phase too short to attribute time, a run stopped early, or "
        "background tasks whose time an in-process call includes.\n\n"
        "Example: GET /health measured 10 requests: p99 is the maximum of 10 samples; "
        "pass -n 200 or --duration 10."
    )

    def check(self, ctx: AnalysisContext) -> Iterator[Finding]:
        if ctx.session.stopped_early:
            yield self._note(
                None,
                f"The run stopped early: {ctx.session.stopped_early}.",
                "The numbers cover only what ran before it stopped.",
            )
        for view in ctx.routes:
            yield from self._route_notes(view)

    def _route_notes(self, view: RouteView) -> Iterator[Finding]:
        m, p = view.measurement, view.profile
        if m is not None and 0 < m.requests < MIN_SAMPLES:
            yield self._note(
                view,
                f"{view.route}: only {m.requests} requests measured",
                "Percentiles from so few samples are rough: pass -n 200 or --duration 10.",
            )
        # A profile from py-spy's samples counts no requests: its note is the sample count.
        if p is not None and p.profiler != SAMPLED and p.requests < MIN_PROFILED:
            yield self._note(
                view,
                f"{view.route}: only {p.requests} requests were profiled",
                "Shares from so few requests are rough: pass --profile-requests 100.",
            )
        # Only where the route itself answered: a route that always fails has route-errors.
        if view.probe is not None and m is not None and m.errors < 0.5 * max(m.requests, 1):
            yield from self._probe_notes(view, view.probe)
        if m is not None and m.background_s:
            mean_ms = 1000 * sum(m.background_s) / len(m.background_s)
            if mean_ms >= BACKGROUND_NOTE_MS:
                yield self._note(
                    view,
                    f"{view.route}: {_after_response(view)} ran {mean_ms:.1f} ms per request "
                    "after the response",
                    "Latency excludes it (a client would not wait for it); throughput includes "
                    "it, as a single worker would.",
                )

    def _probe_notes(self, view: RouteView, probe: RouteProbe) -> Iterator[Finding]:
        """A probe whose requests did not succeed saw the failure, not the route: say so,
        or its silence reads as "nothing blocks"."""
        counts = probe.status_counts
        attempts = sum(counts.values())
        failed = sum(n for status, n in counts.items() if not _ok(status))
        if counts and not probe.durations_s:
            yield self._note(
                view,
                f"{view.route}: the probe phase completed no request in {probe.wall_s:.0f} s "
                f"at {probe.concurrency} concurrent requests",
                "Every request under load waited past --timeout: something they share ran out "
                "(a connection pool smaller than the threadpool's 40 threads, a lock). The "
                "route works one request at a time but not under this concurrency.",
            )
        elif attempts and failed >= 0.5 * attempts:
            top = max((s for s in counts if not _ok(s)), key=lambda s: counts[s])
            why = " (HTTP 429: rate-limited)" if top == "429" else f" ({top})"
            yield self._note(
                view,
                f"{view.route}: {failed} of {attempts} requests of the probe phase failed{why}",
                "The probes (loop watchdog, threadpool) measured the failures, not the route: "
                "their silence does not mean nothing blocks. Run with fewer requests, or turn "
                "the limit off for the run.",
            )

    def _note(self, view: RouteView | None, title: str, suggestion: str) -> Finding:
        return Finding(
            id=self.id,
            severity=Severity.INFO,
            title=title,
            route=str(view.route) if view else None,
            location=None,
            evidence={},
            suggestion=suggestion,
        )


def _ok(status: str) -> bool:
    return status.isdigit() and 0 < int(status) < 400


def _after_response(view: RouteView) -> str:
    """What ran after the response, by name: FastAPI runs BackgroundTasks and the code
    after the `yield` of yield dependencies (a DB session's close) once the response is
    sent. Without the route table (an old session): say both."""
    declared = view.declaration.after_response if view.declaration else None
    if declared is None:
        return "background tasks or yield-dependency teardown"
    tasks = "BackgroundTasks" in declared
    teardown = [f"{name}()" for name in declared if name != "BackgroundTasks"]
    names = ", ".join(teardown)
    if tasks and teardown:
        return f"BackgroundTasks and the teardown of {names}"
    if teardown:
        return f"the teardown of yield dependencies {names} (their code after `yield`)"
    return "BackgroundTasks" if tasks else "work after the response"


RULE = MeasurementQuality()

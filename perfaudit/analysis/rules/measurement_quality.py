"""measurement-quality: notes about perfaudit's own measurement (always `info`)."""

from __future__ import annotations

from collections.abc import Iterator

from perfaudit.analysis.context import AnalysisContext, RouteView
from perfaudit.analysis.findings import Finding, Severity
from perfaudit.analysis.needs import SAMPLES_SUFFICE
from perfaudit.analysis.sampling import PROFILER as SAMPLED

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

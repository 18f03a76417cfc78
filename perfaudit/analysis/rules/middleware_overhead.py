"""middleware-overhead: the app's own middleware, BaseHTTPMiddleware and
`@app.middleware("http")` above all, costs a large share of a route's latency, as
measured by running the route with and without it."""

from __future__ import annotations

import statistics
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from perfaudit.analysis.context import AnalysisContext, RouteView
from perfaudit.analysis.findings import Finding, Gain, Grading, Severity
from perfaudit.analysis.needs import Needs
from perfaudit.analysis.paths import displayed
from perfaudit.model import CodeLocation, MiddlewareEvidence, MiddlewareLayer

# (severity, minimum share of the route's latency, minimum ms added per request). A
# fraction of a millisecond matters on a cheap route: it is most of what the route costs,
# so most of its throughput.
GRADES = ((Severity.HIGH, 0.5, 2.0), (Severity.MEDIUM, 0.25, 0.1), (Severity.LOW, 0.1, 0.05))


@dataclass(frozen=True, slots=True)
class Comparison:
    """The route's latency with and without the middleware, from interleaved rounds."""

    with_ms: float  # medians
    without_ms: float
    with_iqr: tuple[float, float]
    without_iqr: tuple[float, float]
    rounds: int
    rounds_slower: int  # rounds in which the route was slower with the middleware

    @property
    def added_ms(self) -> float:
        return self.with_ms - self.without_ms

    @property
    def share(self) -> float:
        return min(max(self.added_ms / self.with_ms, 0.0), 1.0) if self.with_ms > 0 else 0.0

    @property
    def consistent(self) -> bool:
        """Slower with the middleware in (nearly) every round, not only on the whole."""
        return self.added_ms > 0 and self.rounds_slower >= max(1, self.rounds - 1)


def compare(evidence: MiddlewareEvidence) -> Comparison:
    size = evidence.round_size or max(len(evidence.with_s), 1)
    with_rounds = _rounds(evidence.with_s, size)
    without_rounds = _rounds(evidence.without_s, size)
    pairs = list(zip(with_rounds, without_rounds, strict=False))
    return Comparison(
        with_ms=statistics.median(evidence.with_s) * 1000,
        without_ms=statistics.median(evidence.without_s) * 1000,
        with_iqr=_iqr_ms(evidence.with_s),
        without_iqr=_iqr_ms(evidence.without_s),
        rounds=len(pairs),
        rounds_slower=sum(statistics.median(w) > statistics.median(wo) for w, wo in pairs),
    )


def _rounds(durations: Sequence[float], size: int) -> list[Sequence[float]]:
    return [durations[i : i + size] for i in range(0, len(durations), size)]


def _iqr_ms(durations: Sequence[float]) -> tuple[float, float]:
    if len(durations) < 2:
        return durations[0] * 1000, durations[0] * 1000
    q1, _, q3 = statistics.quantiles(durations, n=4)
    return q1 * 1000, q3 * 1000


class MiddlewareOverhead:
    id = "middleware-overhead"
    needs = Needs(in_process="needs the route timed with and without its middleware, in-process")
    title = "The app's middleware costs a large share of the route's latency"
    explanation = (
        'Starlette\'s BaseHTTPMiddleware, which `@app.middleware("http")` also uses, runs '
        "the rest of the app in a new task and passes the response back through memory "
        "streams: on a cheap route each layer can cost more than the route itself. "
        "perfaudit runs the route alternately through the whole app and through the same app "
        "with the user's middleware removed (Starlette's own layers kept), in interleaved "
        "rounds, one request at a time, and compares the medians. The difference is what "
        "the middleware costs; the finding names the layers and where they are defined.\n\n"
        "Example: RequestIdMiddleware, AuditMiddleware and add_timing_header (all "
        "BaseHTTPMiddleware) make GET /orders/recent take 1.0 ms instead of 0.12 ms: 88% of "
        "its latency. Rewritten as pure ASGI middleware (a class with `async def "
        "__call__(self, scope, receive, send)` that wraps `send` to add headers), the same "
        "three took 0.15 ms. Drop the ones nobody reads."
    )

    def check(self, ctx: AnalysisContext) -> Iterator[Finding]:
        for view in ctx.routes:
            evidence = view.evidence.middleware if view.evidence else None
            if evidence is None or not evidence.with_s or not evidence.without_s:
                continue
            # A route that fails without its middleware (auth setting request.state)
            # cannot be compared without it.
            if evidence.errors_without > evidence.errors_with:
                continue
            finding = self._finding(ctx, view, evidence, compare(evidence))
            if finding is not None:
                yield finding

    def _finding(
        self,
        ctx: AnalysisContext,
        view: RouteView,
        evidence: MiddlewareEvidence,
        comparison: Comparison,
    ) -> Finding | None:
        grading = Grading(comparison.share, comparison.added_ms, GRADES)
        severity = grading.severity if comparison.consistent else None
        if severity is None:
            return None
        layers = _layers(evidence)
        base_http = [layer for layer in layers if layer.kind == "base-http"]
        target = next((la for la in (*base_http, *layers) if la.location is not None), None)
        location = _location(target, ctx.session.app_root) if target else None
        share = comparison.share
        return Finding(
            id=self.id,
            severity=severity,
            grading=grading,
            title=f"{_count(layers, base_http)} add {comparison.added_ms:.2f} ms to "
            f"{view.route} ({share:.0%} of its latency)",
            route=str(view.route),
            location=location,
            evidence=_evidence(evidence, comparison, base_http),
            suggestion=_suggestion(layers, base_http),
            estimated_gain=Gain(latency_ms=round(comparison.added_ms, 3), share=round(share, 4)),
            impact=share,
            confidence=0.8 if base_http else 0.5,
        )


def _layers(evidence: MiddlewareEvidence) -> tuple[MiddlewareLayer, ...]:
    """Per-layer details; a session without them knows only the names."""
    if evidence.details:
        return evidence.details
    return tuple(MiddlewareLayer(name, "unknown", None) for name in evidence.layers)


def _location(layer: MiddlewareLayer, app_root: str) -> CodeLocation | None:
    loc = layer.location
    return displayed(loc, app_root) if loc else None


def _count(layers: Sequence[MiddlewareLayer], base_http: Sequence[MiddlewareLayer]) -> str:
    if base_http and len(base_http) == len(layers):
        noun = "BaseHTTPMiddleware layer" if len(layers) == 1 else "BaseHTTPMiddleware layers"
        return f"{len(layers)} {noun}"
    return f"The app's {len(layers)} middleware layer" + ("s" if len(layers) > 1 else "")


def _evidence(
    evidence: MiddlewareEvidence, c: Comparison, base_http: Sequence[MiddlewareLayer]
) -> dict[str, float | int | str]:
    return {
        "layers": " > ".join(evidence.layers),
        "base_http_layers": len(base_http),
        "with_middleware_p50_ms": round(c.with_ms, 3),
        "without_middleware_p50_ms": round(c.without_ms, 3),
        "with_middleware_iqr_ms": f"{c.with_iqr[0]:.3f}-{c.with_iqr[1]:.3f}",
        "without_middleware_iqr_ms": f"{c.without_iqr[0]:.3f}-{c.without_iqr[1]:.3f}",
        "added_ms": round(c.added_ms, 3),
        "share_of_latency": round(c.share, 4),
        "after_response_added_ms": round(_after_ms(evidence), 3),
        "rounds_slower_with_middleware": f"{c.rounds_slower}/{c.rounds}",
        "requests_each": min(len(evidence.with_s), len(evidence.without_s)),
    }


def _after_ms(evidence: MiddlewareEvidence) -> float:
    """Loop time added after the response is sent (BaseHTTPMiddleware's task teardown):
    no client waits for it, but the worker does it before serving anyone else."""
    if not evidence.with_after_s or not evidence.without_after_s:
        return 0.0
    added = statistics.median(evidence.with_after_s) - statistics.median(evidence.without_after_s)
    return max(added * 1000, 0.0)


def _suggestion(layers: Sequence[MiddlewareLayer], base_http: Sequence[MiddlewareLayer]) -> str:
    if not base_http:
        names = ", ".join(layer.name for layer in layers)
        return (
            f"The measured cost is the work {names} do on every request: make it cheaper "
            "(skip it for routes that do not need it), or remove the layers nobody relies on."
        )
    names = ", ".join(layer.name for layer in base_http)
    return (
        f"Rewrite {names} as pure ASGI middleware: a class taking `app`, with `async def "
        "__call__(self, scope, receive, send)` that handles `scope['type'] == 'http'` and wraps "
        "`send` to read or add headers on `http.response.start`. That skips "
        "BaseHTTPMiddleware's extra task and memory streams on every request. Remove any "
        "layer nobody relies on, and fold small ones (a request id, a timing header) into one."
    )


RULE = MiddlewareOverhead()

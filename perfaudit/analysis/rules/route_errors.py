"""route-errors: requests that failed, so their latency says little."""

from __future__ import annotations

import re
from collections.abc import Iterator

from perfaudit.analysis.context import AnalysisContext
from perfaudit.analysis.findings import HALF_IS_HIGH, Finding, Grading, Severity
from perfaudit.analysis.needs import Needs
from perfaudit.analysis.paths import displayed
from perfaudit.model import CodeLocation, ErrorSample, RouteMeasurement

NOT_FOUND_BODY = '{"detail":"NotFound"}'  # Starlette's answer when no route matches
ADVICE_BY_STATUS = {
    401: 'The route needs credentials: pass them with -H "Authorization: Bearer …".',
    403: "The route refused the request: pass the credentials or role it needs with -H.",
    405: 'The route does not accept this method: name the right one, e.g. "POST /path".',
    422: "The request does not validate: give the parameters or body the route needs "
    "(query string, -d JSON, --form, -H).",
    409: "The route refused a request it had already seen (a duplicate): make each request "
    'differ with {n} or {uuid}, e.g. -d \'{"email": "u{n}@example.com"}\'.',
    429: "The app rate-limited perfaudit's requests (HTTP 429, a limiter such as slowapi): "
    "send fewer (-n, --warmup 0), or turn the limiter off for the run (a setting your app "
    "reads); the latency of refused requests says nothing about the route.",
}
# An exception saying a service the app needs is not there.
UNREACHABLE = re.compile(
    r"connection refused|could not connect|connect call failed|name or service not known|"
    r"no route to host|server closed the connection",
    re.IGNORECASE,
)
# A refusal of a request that worked the first time: the same e-mail, name or key again.
DUPLICATE = re.compile(r"already|exist|duplicate|unique|taken", re.IGNORECASE)


class RouteErrors:
    id = "route-errors"
    needs = Needs(requests="needs perfaudit's own requests to the server")
    title = "Requests to a route failed"
    explanation = (
        "Some requests answered with an HTTP error status, raised an exception, or timed "
        "out. Latency measured on failing requests says little about the route, so fix the "
        "request (or the handler) first.\n\n"
        "Example: GET /orders/{order_id} raised KeyError at app/orders.py:41 in 200 of 200 "
        "requests."
    )

    def check(self, ctx: AnalysisContext) -> Iterator[Finding]:
        for view in ctx.routes:
            m = view.measurement
            if m is None or not m.errors:
                continue
            yield self._finding(m, ctx.session.app_root)

    def _finding(self, m: RouteMeasurement, app_root: str) -> Finding:
        # Over HTTP a refused or reset request has no duration, only a status count.
        attempts = max(m.requests + m.timeouts, sum(m.status_counts.values()), 1)
        rate = min(m.errors / attempts, 1.0)
        sample = m.error_sample or ErrorSample(kind="http-status", message="failed")
        location = None
        if sample.location is not None:
            loc = sample.location
            location = displayed(loc, app_root)
        grading = Grading(rate, 0.0, HALF_IS_HIGH)
        return Finding(
            id=self.id,
            severity=grading.severity or Severity.MEDIUM,
            grading=grading,
            title=f"{m.route} failed {m.errors} of {attempts} requests: {_what(sample)}",
            route=str(m.route),
            location=location,
            evidence={
                "errors": m.errors,
                "timeouts": m.timeouts,
                "requests": attempts,
                "error_rate": round(rate, 4),
                "sample": sample.message[:300],
            },
            suggestion=_advice(sample, m, location),
            impact=rate,
            confidence=1.0,
            details=(sample.traceback,) if sample.traceback else (),
        )


def _what(sample: ErrorSample) -> str:
    """The error's own words first: "OperationalError: connection … refused"."""
    if sample.kind == "timeout":
        return "timed out"
    first_line = sample.message.strip().splitlines()[0] if sample.message.strip() else ""
    if sample.kind in ("exception", "transport"):
        return first_line[:140] or "an exception"
    return first_line[:140] or f"HTTP {sample.status}"


def _advice(sample: ErrorSample, m: RouteMeasurement, location: CodeLocation | None) -> str:
    where = f" at {location.file}:{location.line}" if location else ""
    if sample.kind == "timeout":
        return (
            f"The handler did not answer in time{where}: find what it waits for (a lock, a "
            "network call without a timeout, a blocking call in async code), or raise --timeout "
            "if it is just slow."
        )
    if sample.kind == "exception" and UNREACHABLE.search(sample.message):
        return (
            f"The handler could not reach a service it needs{where} "
            f"({sample.message.splitlines()[0][:160]}): is the database (or the service it "
            "calls) running, and reachable with the settings this run used? Start it and run "
            "again: the timings of failed requests say nothing about the route."
        )
    if sample.kind == "exception":
        return f"The handler raised {sample.message}{where}: fix it (traceback in the JSON report)."
    if sample.kind == "transport":  # a live server, from `perfaudit load`
        return (
            f"Requests got no HTTP answer ({sample.message[:120]}): check that the server stays "
            "up under this load (its logs, memory, worker restarts) and accepts this many "
            "connections (its backlog, a proxy's limits)."
        )
    return _status_advice(sample, m)


def _status_advice(sample: ErrorSample, m: RouteMeasurement) -> str:
    if sample.status == 404:
        if NOT_FOUND_BODY in sample.message.replace(" ", ""):
            return (
                "No route matches this path: check it against the app's routes "
                "(a typo, or a missing prefix)."
            )
        return (
            f"The handler answered {sample.message[:120]}: the thing it looks up does not "
            f"exist for {', '.join(m.urls)}. Profile with an id that exists."
        )
    some_passed = m.errors < max(m.requests, 1)
    if sample.status == 400 and (some_passed or DUPLICATE.search(sample.message)):
        return ADVICE_BY_STATUS[409]
    if sample.status in ADVICE_BY_STATUS:
        return ADVICE_BY_STATUS[sample.status or 0]
    urls = ", ".join(m.urls)
    return f"The route answered {sample.message[:120]} for {urls}: check the request and handler."


RULE = RouteErrors()

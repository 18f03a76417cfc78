"""sync-logging: log records are formatted, written and flushed inside the request (on the
event loop for `async def` routes), and that takes a large share of its time."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from perfaudit.analysis.context import AnalysisContext, RouteView
from perfaudit.analysis.findings import Finding, Gain, Grading, Severity
from perfaudit.analysis.groups import (
    Entry,
    by_app_function,
    entries,
    largest_inclusive_s,
    profiler_shares_threads,
)
from perfaudit.analysis.needs import Needs
from perfaudit.model import FunctionId, RouteProfile

LOGGING_FILES = ("/logging/__init__.py", "/logging/handlers.py")
# A QueueListener writes on its own thread, off the request path (a profiler that sees
# every thread, as on 3.12+, still records it).
OFF_PATH = frozenset({"_monitor"})
API = frozenset({"debug", "info", "warning", "error", "exception", "critical", "log", "_log"})
# (severity, minimum share of route time, minimum ms per request). Lower than a CPU
# hotspot's bar: the fix removes nearly all of it without touching what the route does.
GRADES = ((Severity.HIGH, 0.4, 1.0), (Severity.MEDIUM, 0.2, 0.3), (Severity.LOW, 0.1, 0.2))


def is_logging(function: FunctionId) -> bool:
    return function.file.endswith(LOGGING_FILES)


class SyncLogging:
    id = "sync-logging"
    needs = Needs(latency="needs each route's latency: drive load at the server (with --app)")
    title = "Logging is written synchronously on the request path"
    explanation = (
        "Every log record a request emits is formatted (timestamp, caller lookup), then "
        "written and flushed by each handler before the call returns: StreamHandler and "
        "FileHandler flush after every record. In an `async def` route that happens on the "
        "event loop, so many records per request (DEBUG in a loop) slow that request and "
        "every other one. perfaudit measures the share of the route's profiled time spent "
        "inside logging calls and names the app function that makes them.\n\n"
        "Example: `price_cart` logs a DEBUG line per cart line through a FileHandler, 82 "
        "records (and flushes) per request: 82% of GET /carts/{cart_id}/total. Attach a "
        "`logging.handlers.QueueHandler` to the logger and let a `QueueListener` own the "
        "file handler (it writes on its own thread), set INFO in production, and keep "
        "per-item DEBUG logging out of hot loops."
    )

    def check(self, ctx: AnalysisContext) -> Iterator[Finding]:
        for view in ctx.routes:
            finding = self._check_route(ctx, view)
            if finding is not None:
                yield finding

    def _check_route(self, ctx: AnalysisContext, view: RouteView) -> Finding | None:
        profile = view.profile
        if profile is None or view.latency is None or profile.request_time_s <= 0:
            return None
        cost = measure(profile, shared_stack=profiler_shares_threads(ctx.session))
        share = min(cost.total_s / profile.request_time_s, 1.0)
        gain_ms = view.cost_ms(cost.total_s)
        grading = Grading(share, gain_ms, GRADES)
        severity = grading.severity
        if severity is None:
            return None
        location = ctx.location(cost.top) if cost.top else None
        return Finding(
            id=self.id,
            severity=severity,
            grading=grading,
            title=f"Logging takes {share:.0%} of {view.route} ({gain_ms:.1f} ms per request), "
            f"written synchronously on the request path",
            route=str(view.route),
            location=location,
            evidence={
                "share_of_route_time": round(share, 4),
                "ms_per_request": round(gain_ms, 3),
                **cost.evidence(profile.requests),
                "route_mean_ms": round(view.latency.mean, 3),
                "profiled_requests": profile.requests,
            },
            suggestion=_suggestion(f"{location.function}()" if location else "The route", view)
            + (ECHO if _sqlalchemy_logs(cost) else ""),
            estimated_gain=Gain(latency_ms=round(gain_ms, 3), share=round(share, 4)),
            impact=share,
            confidence=0.85,
            # The time a hotspot or a blocked loop found in the logging function is this.
            supersedes=("cpu-hotspot", "event-loop-blocked"),
        )


@dataclass(frozen=True, slots=True)
class LoggingCost:
    calls: tuple[Entry, ...]  # calls into logging from outside it, on the request path
    by_function: dict[FunctionId, float]  # their time, per app function making them
    flushes: int
    floor_s: float  # on 3.12+, the largest Logger method's own total (see profiler_shares_threads)

    @property
    def total_s(self) -> float:
        return max(sum(e.caller.cumulative_s for e in self.calls), self.floor_s)

    @property
    def top(self) -> FunctionId | None:
        return max(self.by_function, key=lambda f: self.by_function[f], default=None)

    def evidence(self, requests: int) -> dict[str, float | int | str]:
        top_share = self.by_function[self.top] / self.total_s if self.top and self.total_s else 0
        return {
            "log_calls_per_request": round(sum(e.caller.calls for e in self.calls) / requests, 1),
            "flushes_per_request": round(self.flushes / requests, 1),
            "top_function_share": round(top_share, 4),
        }


def measure(profile: RouteProfile, *, shared_stack: bool = False) -> LoggingCost:
    calls = [e for e in entries(profile, is_logging) if e.function.function.name not in OFF_PATH]
    # The Logger methods an app calls (never a QueueListener's thread, which calls handlers).
    api = [fn for fn in profile.functions if is_logging(fn.function) and fn.function.name in API]
    # StreamHandler and FileHandler flush after every record.
    flushes = sum(
        fn.calls
        for fn in profile.functions
        if is_logging(fn.function) and fn.function.name == "flush"
    )
    return LoggingCost(
        tuple(calls),
        by_app_function(profile, calls),
        flushes,
        largest_inclusive_s(api) if shared_stack else 0.0,
    )


# SQLAlchemy's `echo=True` logs every statement (and its parameters) through logging.
ECHO = (
    " Most of it is SQLAlchemy logging its statements: `create_engine(..., echo=True)` (or "
    "the `sqlalchemy.engine` logger at INFO) formats every statement and its parameters on "
    "the request path; turn it off outside debugging."
)


def _sqlalchemy_logs(cost: LoggingCost) -> bool:
    """Whether SQLAlchemy makes most of the log calls (its engine's echo)."""
    echoed = [e for e in cost.calls if "/sqlalchemy/" in e.caller.caller.file]
    return sum(e.caller.cumulative_s for e in echoed) >= 0.5 * cost.total_s > 0


def _suggestion(where: str, view: RouteView) -> str:
    on_loop = view.endpoint_async is True
    blocking = " on the event loop, where it also holds up every other request" if on_loop else ""
    return (
        f"{where} logs synchronously{blocking}: each record is formatted, written and flushed "
        "before the request goes on. Put a `logging.handlers.QueueHandler` on the logger and "
        "move the real handlers to a `QueueListener` (started in the lifespan, stopped at "
        "shutdown) so the writing happens on its own thread; log at INFO or above in "
        "production; and keep per-item DEBUG records out of loops on the request path."
    )


RULE = SyncLogging()

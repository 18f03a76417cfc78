"""What the latency phase measured, per route: raw facts, no statistics."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Owner = str  # "app" | "framework" | "library" | "stdlib" | "perfaudit"
# What went wrong with a request: an exception in the app, an HTTP error status, no answer
# within --timeout, or no HTTP answer at all (over a socket: refused, reset).
ErrorKind = Literal["exception", "http-status", "timeout", "transport"]


@dataclass(frozen=True, slots=True)
class RouteKey:
    """A route template with its method: all requests to `/items/1` and `/items/2` are
    measured together as `GET /items/{item_id}`."""

    method: str
    template: str

    def __str__(self) -> str:
        # A sampled stack's route without the app's route table has no method: it is
        # named after its endpoint function.
        return f"{self.method} {self.template}" if self.method else self.template


@dataclass(frozen=True, slots=True)
class CodeLocation:
    file: str
    line: int
    function: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line} in {self.function}"


@dataclass(frozen=True, slots=True)
class RouteDeclaration:
    """How the app declares a driven route, from its route table: the facts advice must fit
    (no "make it `def`" for a `def` route, no "declare a type" where one is declared)."""

    route: RouteKey
    endpoint: CodeLocation | None
    endpoint_async: bool | None  # None: no Python function to inspect
    response_model: str = ""  # the declared response type (response_model or -> T); "" none
    uses_threadpool: bool = False  # a `def` endpoint or dependency
    # What runs after the response is sent: "BackgroundTasks", and the yield dependencies
    # whose teardown (after their `yield`) runs then, e.g. "get_db".
    after_response: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ErrorSample:
    """One failed request, kept as an example of its kind."""

    kind: ErrorKind
    message: str
    status: int | None = None
    location: CodeLocation | None = None
    traceback: str = ""


@dataclass(frozen=True, slots=True)
class RouteMeasurement:
    """The measured (unprofiled) phase of one route.

    `durations_s[i]` runs from the start of request i to the end of its response body;
    `background_s[i]` is the time the app kept working after that (BackgroundTasks), which
    an in-process call waits for but a client of a live server would not.
    """

    route: RouteKey
    urls: tuple[str, ...]  # the request URLs that fell under this template
    concurrency: int
    wall_s: float
    durations_s: tuple[float, ...]
    background_s: tuple[float, ...]
    status_counts: dict[str, int]
    errors: int = 0
    timeouts: int = 0
    error_sample: ErrorSample | None = None
    completed: bool = True
    # Load's open model: `durations_s` run from each request's intended send time, these
    # from its actual send (what a client blind to coordinated omission reports).
    uncorrected_s: tuple[float, ...] = ()
    # In-process runs: the app's process CPU time (every thread) over the phase; None where
    # not measured (a live server, or a session saved before it was kept).
    cpu_s: float | None = None
    # In-process runs: the app process's resident memory at the end of the phase, in bytes
    # (0 where not known).
    rss_bytes: int = 0

    @property
    def requests(self) -> int:
        return len(self.durations_s)

    def merged_with(self, other: RouteMeasurement) -> RouteMeasurement:
        """Two request URLs under one template (/orders/1, /orders/999) are one route."""
        statuses = dict(self.status_counts)
        for status, count in other.status_counts.items():
            statuses[status] = statuses.get(status, 0) + count
        sample = self.error_sample
        if other.error_sample and (
            sample is None
            or (sample.kind != "exception" and other.error_sample.kind == "exception")
        ):
            sample = other.error_sample
        return RouteMeasurement(
            route=self.route,
            urls=tuple(dict.fromkeys(self.urls + other.urls)),
            concurrency=self.concurrency,
            wall_s=self.wall_s + other.wall_s,
            durations_s=self.durations_s + other.durations_s,
            background_s=self.background_s + other.background_s,
            status_counts=statuses,
            errors=self.errors + other.errors,
            timeouts=self.timeouts + other.timeouts,
            error_sample=sample,
            completed=self.completed and other.completed,
            uncorrected_s=self.uncorrected_s + other.uncorrected_s,
            rss_bytes=max(self.rss_bytes, other.rss_bytes),
        )


@dataclass(frozen=True, slots=True)
class SkippedRoute:
    """A route that discovery found but could not drive, with the reason."""

    route: str
    reason: str


DEFAULT_DB_RTT_MS = 0.5  # a database in the same cloud region


@dataclass(frozen=True, slots=True)
class RunSettings:
    requests: int | None
    duration_s: float | None
    concurrency: int
    warmup: int
    timeout_s: float
    profile_requests: int
    profiler: str = "cprofile"
    lifespan: bool = True
    notes: tuple[str, ...] = field(default=())
    # The network round trip to a client-server database in production (--db-rtt-ms): a
    # database on this machine answers without one, so N+1 queries look cheaper here.
    db_rtt_ms: float = DEFAULT_DB_RTT_MS
    # In-process runs: whether the memory phase ran (--no-memory skips it).
    memory: bool = False

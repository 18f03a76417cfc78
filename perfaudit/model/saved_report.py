"""What a comparison needs from a report: the part of a saved JSON report (or of a live
one) that baselines and `perfaudit compare` read. Not a Session: a report is derived data,
and only these facts are read back from it."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class SavedRoute:
    method: str
    path: str
    requests: int
    errors: int
    throughput_rps: float
    latency_ms: dict[str, float]  # p50, p95, mean… as the report wrote them; {} when null
    # Raw per-request latencies (ms), sorted. Empty when the report predates them. When the
    # report kept a subset (`samples_total` > len), it is an evenly spaced one of the sorted
    # samples, so quantiles hold.
    samples_ms: tuple[float, ...] = ()
    samples_total: int = 0
    # The app process's resident memory after the route's measured phase; None when the
    # report does not know it (a live server, a report written before it was kept).
    rss_bytes: int | None = None

    @property
    def label(self) -> str:
        return f"{self.method} {self.path}"


@dataclass(frozen=True, slots=True)
class SavedHotspot:
    function: str
    file: str
    line: int
    owner: str
    self_share: float
    cumulative_share: float
    route: str | None = None
    scenario: str | None = None  # a `perfaudit ci` document's: which scenario's profile

    @property
    def key(self) -> tuple[str | None, str, int, str]:
        """Which function this is: one file holds several of one name (fastapi/routing.py's
        `app`s), and each scenario of a ci run has its own profile."""
        return self.scenario, self.file, self.line, self.function


@dataclass(frozen=True, slots=True)
class SavedFinding:
    id: str
    severity: str
    title: str
    route: str | None
    function: str | None  # location.function; None when the finding has no location
    file: str | None = None
    line: int | None = None

    @property
    def key(self) -> tuple[str, str | None, str | None]:
        """What makes a finding "the same" across runs: lines move, titles carry numbers."""
        return (self.id, self.route, self.function)


@dataclass(frozen=True, slots=True)
class SavedMemory:
    """A route's memory phase as the report wrote it (`memory[*]`), in bytes."""

    route: str  # "GET /items/{item_id}"
    peak_bytes_per_request: float
    retained_bytes_per_1k_requests: float
    response_bytes_per_request: float = 0.0
    rss_before_bytes: int | None = None
    rss_after_bytes: int | None = None


@dataclass(frozen=True, slots=True)
class SavedReport:
    source: str  # the file it was read from, or "current run"
    target: str
    mode: str
    tool_version: str
    routes: tuple[SavedRoute, ...]
    hotspots: tuple[SavedHotspot, ...] = ()
    route_hotspots: dict[str, tuple[SavedHotspot, ...]] = field(default_factory=dict)
    findings: tuple[SavedFinding, ...] = ()
    memory: tuple[SavedMemory, ...] = ()  # empty when the run had no memory phase

    def route(self, label: str) -> SavedRoute | None:
        return next((r for r in self.routes if r.label == label), None)

    def memory_of(self, label: str) -> SavedMemory | None:
        return next((m for m in self.memory if m.route == label), None)

"""The CI config (`perfaudit ci --config FILE`) as typed, frozen data.

Everything here is validated and resolved: paths are absolute (relative ones were taken
relative to the config file), scenario settings have their defaults merged in, routes are
split into method, path and query. Each part remembers its `Origin`, so a check that can
only run later (a budget naming a route nobody measured) still points at the right line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal
from urllib.parse import urlencode

from perfaudit.analysis.findings import Severity
from perfaudit.load.plan import RequestSpec
from perfaudit.load.scenario import LoadPlan, Target

RegressionMetric = Literal["p50_ms", "p95_ms", "mean_ms"]
LatencyKey = Literal["p50_ms", "p90_ms", "p95_ms", "p99_ms", "max_ms", "mean_ms"]
LATENCY_KEYS: tuple[LatencyKey, ...] = ("p50_ms", "p90_ms", "p95_ms", "p99_ms", "max_ms", "mean_ms")
MemoryKey = Literal["max_alloc_kb_per_request", "max_growth_kb_per_1k_requests", "max_rss_mb"]
MEMORY_KEYS: tuple[MemoryKey, ...] = (
    "max_alloc_kb_per_request",
    "max_growth_kb_per_1k_requests",
    "max_rss_mb",
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Origin:
    """Where a value was written: `perf.yaml:14: scenarios[1].routes[0]`."""

    file: Path
    line: int
    key_path: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.key_path}"


_NOWHERE = Origin(file=Path("<built>"), line=0, key_path="")


# --- targets: exactly one per config ------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class AppTarget:
    """An ASGI app driven in-process, as `perfaudit profile` does."""

    app: str  # "module:attr"
    factory: bool = False
    app_dir: Path = Path(".")
    lifespan: bool = True
    python: Path | None = None  # the app's interpreter (else found as `profile` finds it)


@dataclass(frozen=True, slots=True, kw_only=True)
class RoutesFrom:
    """`routes_from:` beside a server target: the app imported (no lifespan, no requests)
    for its route table, so paths sent over HTTP are named by template (`/orders/7` →
    `GET /orders/{order_id}`) and budgets can name templates."""

    app: str  # "module:attr"
    factory: bool = False
    app_dir: Path = Path(".")
    python: Path | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class UrlTarget:
    """A server that is already running, driven over HTTP by the load engine."""

    url: str
    routes_from: RoutesFrom | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class SpawnTarget:
    """A server perfaudit starts (and stops) itself, as `perfaudit attach --spawn` does."""

    command: str
    url: str  # where it answers once started
    routes_from: RoutesFrom | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class PidTarget:
    """A running server process to sample (as `perfaudit attach PID`), loaded at `url`."""

    pid: int
    url: str
    routes_from: RoutesFrom | None = None


TargetConfig = AppTarget | UrlTarget | SpawnTarget | PidTarget


# --- scenarios ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class RouteConfig:
    method: str  # upper case, one of perfaudit.load.plan.METHODS
    path: str  # "/quote/SKU007": a concrete path, not a template
    query: str = ""
    headers: tuple[tuple[str, str], ...] = ()
    json_body: str | None = None  # JSON text, already validated
    form: tuple[tuple[str, str], ...] = ()
    weight: float = 1.0  # share of a url target's requests
    origin: Origin = field(default=_NOWHERE, compare=False)

    @property
    def url(self) -> str:
        return f"{self.path}?{self.query}" if self.query else self.path

    def __str__(self) -> str:
        return f"{self.method} {self.url}"

    def body(self) -> tuple[bytes, str] | None:
        """The encoded body and its content type, or None."""
        if self.json_body is not None:
            return self.json_body.encode(), "application/json"
        if self.form:
            return urlencode(self.form).encode(), "application/x-www-form-urlencoded"
        return None

    def _headers_with_type(self) -> tuple[tuple[str, str], ...]:
        body = self.body()
        if body is None or any(name.lower() == "content-type" for name, _ in self.headers):
            return self.headers
        return (*self.headers, ("content-type", body[1]))

    def request_spec(self) -> RequestSpec:
        """What an in-process run sends (perfaudit.load.plan)."""
        body = self.body()
        content = body[0] if body else b""
        return RequestSpec(self.method, self.path, self.query, self._headers_with_type(), content)

    def load_target(self, base_url: str) -> Target:
        """What the HTTP load engine sends, at `base_url` (a url, spawn or pid target's)."""
        body = self.body()
        content = body[0] if body else b""
        url = base_url.rstrip("/") + self.url
        return Target(url, self.method, self._headers_with_type(), content, self.weight)


@dataclass(frozen=True, slots=True, kw_only=True)
class Scenario:
    name: str
    routes: tuple[RouteConfig, ...]  # empty: every GET route without parameters (in-process)
    requests: int | None = 100  # per route; None when `duration_s` bounds the run
    duration_s: float | None = None
    concurrency: int = 1
    warmup: int = 10
    timeout_s: float = 30.0
    origin: Origin = field(default=_NOWHERE, compare=False)

    def request_specs(self) -> tuple[RequestSpec, ...]:
        return tuple(route.request_spec() for route in self.routes)

    def load_plan(self, base_url: str) -> LoadPlan:
        """The scenario as one weighted mix of requests against a live server."""
        return LoadPlan(
            targets=tuple(route.load_target(base_url) for route in self.routes),
            connections=self.concurrency,
            duration_s=self.duration_s,
            requests=self.requests,
            timeout_s=self.timeout_s,
        )


# --- budgets, ignores, regression, reports -----------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Budget:
    """Limits on one route (or on every route, for the global budget); None: no limit."""

    p50_ms: float | None = None
    p90_ms: float | None = None
    p95_ms: float | None = None
    p99_ms: float | None = None
    max_ms: float | None = None
    mean_ms: float | None = None
    min_rps: float | None = None
    max_error_rate: float | None = None  # 0..1
    max_severity: Severity | None = None  # findings above it fail the build
    # Memory (KiB and MiB of 1,024): a request's peak allocation, what 1,000 requests
    # leave behind, the app process's resident memory.
    max_alloc_kb_per_request: float | None = None
    max_growth_kb_per_1k_requests: float | None = None
    max_rss_mb: float | None = None

    def latency_limits(self) -> tuple[tuple[LatencyKey, float], ...]:
        """The latency limits that are set, in percentile order."""
        limits = ((key, getattr(self, key)) for key in LATENCY_KEYS)
        return tuple((key, value) for key, value in limits if value is not None)

    def memory_limits(self) -> tuple[tuple[MemoryKey, float], ...]:
        """The memory limits that are set, in MEMORY_KEYS order."""
        limits = ((key, getattr(self, key)) for key in MEMORY_KEYS)
        return tuple((key, value) for key, value in limits if value is not None)

    def over(self, base: Budget) -> Budget:
        """This budget, with `base`'s limits where this one sets none."""
        names = (*LATENCY_KEYS, "min_rps", "max_error_rate", "max_severity", *MEMORY_KEYS)
        merged = {
            n: getattr(self, n) if getattr(self, n) is not None else getattr(base, n) for n in names
        }
        return Budget(**merged)


@dataclass(frozen=True, slots=True, kw_only=True)
class RouteBudget:
    route: str  # "GET /quotes/{sku}": method and route template, as reports name routes
    budget: Budget
    origin: Origin = field(default=_NOWHERE, compare=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class Budgets:
    overall: Budget = Budget()  # the config's `budgets.global`: applies to every route
    routes: tuple[RouteBudget, ...] = ()

    def for_route(self, route: str) -> Budget:
        """The limits for `route` ("GET /quotes/{sku}"): its own, then the global ones."""
        own = next((rb.budget for rb in self.routes if rb.route == route), None)
        return own.over(self.overall) if own else self.overall


@dataclass(frozen=True, slots=True, kw_only=True)
class IgnoreRule:
    id: str  # a finding id from the catalog
    reason: str
    route: str | None = None  # "GET /health": only there; None: everywhere
    origin: Origin = field(default=_NOWHERE, compare=False)

    def matches(self, finding_id: str, route: str | None) -> bool:
        return finding_id == self.id and (self.route is None or self.route == route)


@dataclass(frozen=True, slots=True, kw_only=True)
class Regression:
    min_effect: float = 0.10  # relative change that may fail a build
    confidence: float = 0.95
    metric: RegressionMetric = "p50_ms"


@dataclass(frozen=True, slots=True, kw_only=True)
class Reports:
    json: Path | None = None
    markdown: Path | None = None
    junit: Path | None = None
    html: Path | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class CiConfig:
    path: Path  # the config file
    target: TargetConfig
    scenarios: tuple[Scenario, ...]
    budgets: Budgets = Budgets()
    ignore: tuple[IgnoreRule, ...] = ()
    baseline: Path | None = None
    regression: Regression = Regression()
    reports: Reports = Reports()
    verify: bool = False  # in-process targets: `--verify`'s experiments (perfaudit/agent/verify/)

    def ignore_reason(self, finding_id: str, route: str | None) -> str | None:
        """The config's reason to ignore this finding, or None when it counts."""
        rule = next((r for r in self.ignore if r.matches(finding_id, route)), None)
        return rule.reason if rule else None

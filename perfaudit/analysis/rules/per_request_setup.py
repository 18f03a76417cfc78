"""per-request-setup: settings, regexes, templates, type adapters or config files are built
again in every request (or dependency) instead of once."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from perfaudit.analysis.context import AnalysisContext, RouteView, app_caller
from perfaudit.analysis.findings import Finding, Gain, Severity, grade
from perfaudit.analysis.needs import Needs
from perfaudit.model import FunctionId, FunctionStats, RouteProfile

# Built about once per request or more: "per request". (A lower count is a cache that
# misses sometimes, not setup.)
MIN_CALLS_PER_REQUEST = 0.9
# (severity, minimum share of route time, minimum ms per request). Lower in ms than
# cpu-hotspot's: the fix is one line and the work is pure waste.
GRADES = ((Severity.HIGH, 0.3, 1.0), (Severity.MEDIUM, 0.1, 0.2), (Severity.LOW, 0.02, 0.05))


@dataclass(frozen=True, slots=True)
class Setup:
    label: str  # what users call it
    file_suffixes: tuple[str, ...]  # where its code lives
    names: tuple[str, ...]
    advice: str


SETTINGS_ADVICE = (
    "decorate the settings dependency with `@functools.lru_cache` (FastAPI's settings "
    "pattern: `@lru_cache def get_settings() -> Settings: return Settings()`), or build the "
    "settings once at startup, so the environment and the .env file are read and validated "
    "once, not on every request"
)
BUILD_ONCE = (
    "build it once, at module level or in the lifespan, and reuse it: each construction "
    "builds a new validator and serializer"
)
CONFIG_ADVICE = (
    "read and parse the file once at startup (module level, the lifespan, or an "
    "`@lru_cache` loader) and reuse the result; reload it explicitly when it changes"
)
MODEL_ADVICE = (
    "load it once in the lifespan (kept on app.state or yielded as state) and share it "
    "between requests"
)
SETUPS = (
    Setup(
        "pydantic-settings BaseSettings()",
        ("/pydantic_settings/main.py",),
        ("__init__",),
        SETTINGS_ADVICE,
    ),
    Setup(
        "python-dotenv (.env file read)",
        ("/dotenv/main.py",),
        ("dotenv_values", "load_dotenv"),
        SETTINGS_ADVICE,
    ),
    Setup("pydantic TypeAdapter()", ("/pydantic/type_adapter.py",), ("__init__",), BUILD_ONCE),
    # A new jinja2 Environment (or Jinja2Templates, or Template(source)) compiles its
    # templates again: the compilation is the cost, and what the profile shows.
    Setup(
        "jinja2 template compilation (a new Environment or Template)",
        ("/jinja2/environment.py",),
        ("compile",),
        "create one `Jinja2Templates(directory=…)` (or `jinja2.Environment`) at module level "
        "and reuse it: its compiled templates are cached with it",
    ),
    # re caches compiled patterns: only a miss reaches the compiler.
    Setup(
        "re.compile (a cache miss: the pattern is compiled again)",
        ("/re/_compiler.py",),
        ("compile",),
        "compile the pattern once at module level (`PATTERN = re.compile(...)`) and use it; "
        "a pattern built per request (an f-string) misses re's cache every time",
    ),
    Setup("json.load (a file parsed)", ("/json/__init__.py",), ("load",), CONFIG_ADVICE),
    Setup("yaml.load / yaml.safe_load", ("/yaml/__init__.py",), ("load",), CONFIG_ADVICE),
    Setup("tomllib.load", ("/tomllib/_parser.py",), ("load",), CONFIG_ADVICE),
    Setup("configparser read", ("/configparser.py",), ("read",), CONFIG_ADVICE),
    Setup("joblib.load (a model loaded)", ("/joblib/numpy_pickle.py",), ("load",), MODEL_ADVICE),
    Setup("torch.load (a model loaded)", ("/torch/serialization.py",), ("load",), MODEL_ADVICE),
    Setup("pickle.load", ("~",), ("<built-in method _pickle.load>",), MODEL_ADVICE),
)


@dataclass(frozen=True, slots=True)
class SetupSite:
    setup: Setup
    constructor: FunctionStats
    caller: FunctionId  # the nearest app function above it


class PerRequestSetup:
    id = "per-request-setup"
    needs = Needs(in_process="needs calls per request, which samples do not count")
    title = "Settings, templates, regexes or adapters are rebuilt on every request"
    explanation = (
        "Objects that depend on nothing in the request — settings read from the environment "
        "and a .env file (pydantic-settings), pydantic TypeAdapters, jinja2 environments and "
        "their compiled templates, compiled regexes, parsed config files (JSON, YAML, TOML), "
        "models loaded from disk — are built again in every request or dependency. The "
        "profiled phase counts their constructions per request, their share of the route's "
        "time, and the app function that makes them.\n\n"
        "Example: the `get_settings()` dependency returns `Settings()` without "
        "`@lru_cache`: GET /features builds a BaseSettings and reads .env on every request, "
        "1.0 per request and 85% of the route's time. Decorate get_settings with "
        "`@functools.lru_cache` (FastAPI's settings pattern), or build the settings once in "
        "the lifespan."
    )

    def check(self, ctx: AnalysisContext) -> Iterator[Finding]:
        for view in ctx.routes:
            if view.profile is None or view.profile.request_time_s <= 0:
                continue
            for site in setup_sites(view.profile):
                finding = self._finding(ctx, view, site)
                if finding is not None:
                    yield finding

    def _finding(self, ctx: AnalysisContext, view: RouteView, site: SetupSite) -> Finding | None:
        profile = view.profile
        assert profile is not None
        built = site.constructor
        share = min(built.cumulative_s / profile.request_time_s, 1.0)
        mean_ms = (
            view.latency.mean if view.latency else profile.request_time_s / profile.requests * 1000
        )
        gain_ms = share * mean_ms
        severity = grade(share, gain_ms, GRADES)
        if severity is None:
            return None
        per_request = built.calls / profile.requests
        location = ctx.location(site.caller)
        where = f"{location.function}()"
        return Finding(
            id=self.id,
            severity=severity,
            title=f"{where} builds a {site.setup.label} on every request to {view.route} "
            f"({per_request:.1f} per request, {share:.0%} of its time)",
            route=str(view.route),
            location=location,
            evidence={
                "built": site.setup.label,
                "constructions_per_request": round(per_request, 2),
                "ms_per_construction": round(gain_ms / per_request, 3),
                "share_of_route_time": round(share, 4),
                "ms_per_request": round(gain_ms, 3),
                "profiled_requests": profile.requests,
            },
            suggestion=f"In {where} (line {location.line}): {site.setup.advice}.",
            estimated_gain=Gain(latency_ms=round(gain_ms, 3), share=round(share, 4)),
            impact=share,
            confidence=0.9,
            # The construction is the work a hotspot at the same function would report.
            supersedes=("cpu-hotspot",),
        )


def setup_sites(profile: RouteProfile) -> list[SetupSite]:
    """Constructions made about once per request or more, one per app function (the
    costliest: a BaseSettings reads its .env file through python-dotenv, one finding)."""
    sites: dict[FunctionId, SetupSite] = {}
    if profile.requests == 0:
        return []
    for setup, fn in _constructions(profile):
        if fn.calls / profile.requests < MIN_CALLS_PER_REQUEST:
            continue
        caller = app_caller(profile, fn.function)
        if caller is not None and caller not in sites:
            sites[caller] = SetupSite(setup, fn, caller)
    return list(sites.values())


def _constructions(profile: RouteProfile) -> Iterator[tuple[Setup, FunctionStats]]:
    for fn in sorted(profile.functions, key=lambda f: f.cumulative_s, reverse=True):
        for setup in SETUPS:
            if fn.function.name in setup.names and fn.function.file.endswith(setup.file_suffixes):
                yield setup, fn


RULE = PerRequestSetup()

"""The caching rules on hand-built sessions: cacheable-call (repeats from the call tracer,
cost from the profile) with its guards, and per-request-setup (constructions per request
from the profile); how each supersedes cpu-hotspot at the same function."""

from __future__ import annotations

import dataclasses
import sysconfig
from collections.abc import Sequence
from typing import Any

import pytest
from probe_builders import route_probe
from unit_builders import (
    app_fid,
    builtin_fid,
    edge,
    fn,
    lib_fid,
    measurement,
    profile,
    session,
)

from perfaudit.analysis.context import AnalysisContext
from perfaudit.analysis.findings import Finding, Severity
from perfaudit.analysis.report import build_report
from perfaudit.analysis.rules.cacheable_call import RULE as CACHEABLE_CALL
from perfaudit.analysis.rules.per_request_setup import RULE as PER_REQUEST_SETUP
from perfaudit.model import (
    CallEvidence,
    CallRecord,
    CodeLocation,
    FunctionId,
    FunctionStats,
    RouteEvidence,
    RouteKey,
    Session,
)

QUOTES = RouteKey("GET", "/quotes")
FEATURES = RouteKey("GET", "/features")
STDLIB = sysconfig.get_paths()["stdlib"]

ENDPOINT = app_fid("quotes", module="app/shipping.py", line=60)
QUOTE_FOR = app_fid("quote_for", module="app/shipping.py", line=50)
RATE_TABLE = app_fid("rate_table", module="app/shipping.py", line=37)
ROUND = builtin_fid("<built-in method builtins.round>")


def findings(rule: Any, s: Session) -> list[Finding]:
    return list(rule.check(AnalysisContext(s)))


def location_of(fid: FunctionId) -> CodeLocation:
    return CodeLocation(fid.file, fid.line, fid.name)


def record(
    fid: FunctionId,
    *,
    calls: int = 40,
    distinct: int = 2,
    same_result: bool = True,
    **extra: Any,
) -> CallRecord:
    """The tracer's view of `fid`: `calls` calls over 20 requests, `distinct` argument sets,
    every other call a repeat."""
    return CallRecord(
        function=location_of(fid),
        calls=calls,
        total_s=0.3,
        distinct_args=distinct,
        repeated_calls=calls - distinct,
        same_result=same_result,
        fingerprinted_calls=calls,
        **extra,
    )


def traced_session(
    functions: Sequence[FunctionStats],
    records: Sequence[CallRecord],
    *,
    route: RouteKey = QUOTES,
    endpoint: FunctionId = ENDPOINT,
) -> Session:
    """`route`: 100 measured requests of 20 ms; 50 profiled requests taking 1.0 s; 20 traced
    requests; its endpoint is `endpoint`."""
    base = session(measurements=[measurement(route)], profiles=[profile(route, functions)])
    probe = route_probe(route, endpoint=location_of(endpoint), endpoint_async=False)
    evidence = RouteEvidence(route, calls=CallEvidence(20, tuple(records)))
    return dataclasses.replace(base, probes=(probe,), evidence=(evidence,))


def shipping(
    *, callee: FunctionId = ROUND, callee_owner: str = "stdlib", callee_s: float = 0.04
) -> list[FunctionStats]:
    """quotes → quote_for (2 per request) → rate_table (2 per request) → `callee`:
    rate_table holds 84% of the route's profiled second."""
    return [
        fn(ENDPOINT, "app", self_s=0.01, cumulative_s=0.9, calls=50),
        fn(QUOTE_FOR, "app", self_s=0.01, cumulative_s=0.85, calls=100,
           callers=[edge(ENDPOINT, 0.85)]),
        fn(RATE_TABLE, "app", self_s=0.84 - callee_s, cumulative_s=0.84, calls=100,
           callers=[edge(QUOTE_FOR, 0.84)]),
        fn(callee, callee_owner, self_s=callee_s, calls=100, callers=[edge(RATE_TABLE, callee_s)]),
    ]  # fmt: skip


def shipping_records(**extra: Any) -> list[CallRecord]:
    return [
        record(ENDPOINT, calls=20, distinct=1),
        record(QUOTE_FOR, **extra),
        record(RATE_TABLE, **extra),
    ]


# -- cacheable-call ------------------------------------------------------------------------


def test_cacheable_call_names_the_function_with_its_repeats_and_cost() -> None:
    [finding] = findings(CACHEABLE_CALL, traced_session(shipping(), shipping_records()))

    assert finding.id == "cacheable-call"
    assert finding.severity is Severity.HIGH
    assert finding.route == "GET /quotes"
    # The narrowest cache that holds the time: rate_table, not quote_for above it.
    assert finding.location == CodeLocation("app/shipping.py", 37, "rate_table")
    assert finding.evidence["repeat_ratio"] == pytest.approx(0.95)
    assert finding.evidence["distinct_args"] == 2
    assert finding.evidence["calls_per_request"] == 2
    assert finding.evidence["share_of_route_time"] == pytest.approx(0.84)
    assert finding.evidence["ms_per_request"] == pytest.approx(16.8)  # 84% of 20 ms
    assert finding.evidence["ms_per_call"] == pytest.approx(8.4)
    assert finding.estimated_gain is not None
    assert finding.estimated_gain.share == pytest.approx(0.84 * 0.95, abs=1e-4)
    assert finding.supersedes == ("cpu-hotspot",)
    assert "candidate" in finding.title


def test_cacheable_call_suggests_lru_cache_ttl_and_redis_with_invalidation() -> None:
    [finding] = findings(CACHEABLE_CALL, traced_session(shipping(), shipping_records()))

    suggestion = finding.suggestion
    assert "@functools.lru_cache(maxsize=128)" in suggestion
    assert "cachetools.TTLCache" in suggestion
    assert "Redis" in suggestion
    assert "rate_table.cache_clear()" in suggestion
    assert "95%" in suggestion
    assert "candidate" in suggestion


def test_cacheable_call_supersedes_cpu_hotspot_at_the_same_function() -> None:
    report = build_report(traced_session(shipping(), shipping_records()))

    assert report.findings[0].id == "cacheable-call"
    assert report.findings[0].location is not None
    assert report.findings[0].location.function == "rate_table"
    assert "cpu-hotspot" not in {f.id for f in report.findings}


@pytest.mark.parametrize(
    ("why", "extra"),
    [
        ("different results for the same arguments", {"same_result": False}),
        ("it takes the request", {"context_args": ("request: Request",)}),
        ("it takes a database session", {"context_args": ("db: Session",)}),
        ("it runs for its effects", {"returns_none": True}),
        ("its arguments rarely repeat", {"distinct": 30}),
    ],
)
def test_cacheable_call_guards_on_the_tracers_evidence(why: str, extra: dict[str, Any]) -> None:
    s = traced_session(shipping(), shipping_records(**extra))

    assert findings(CACHEABLE_CALL, s) == [], why


@pytest.mark.parametrize(
    ("callee", "owner"),
    [
        (builtin_fid("<built-in method _hashlib.pbkdf2_hmac>"), "stdlib"),
        (lib_fid("hashpw", module="bcrypt/__init__.py"), "library"),
        (lib_fid("hash", module="argon2/_password_hasher.py"), "library"),
    ],
)
def test_cacheable_call_never_suggests_caching_a_password_hash(
    callee: FunctionId, owner: str
) -> None:
    s = traced_session(
        shipping(callee=callee, callee_owner=owner, callee_s=0.8), shipping_records()
    )

    assert findings(CACHEABLE_CALL, s) == []


@pytest.mark.parametrize(
    "io",
    [
        "<built-in method time.sleep>",
        "<method 'execute' of 'sqlite3.Connection' objects>",
        "<method 'read' of '_io.TextIOWrapper' objects>",
        "<method 'recv_into' of '_socket.socket' objects>",
    ],
)
def test_cacheable_call_leaves_out_functions_doing_io(io: str) -> None:
    s = traced_session(shipping(callee=builtin_fid(io), callee_s=0.6), shipping_records())

    assert findings(CACHEABLE_CALL, s) == []


def test_cacheable_call_ignores_a_light_edge_from_another_threads_wait() -> None:
    # On 3.12 one cProfile sees every thread: a worker's idle wait can gain a light caller
    # edge from whatever ran meanwhile. The heaviest path decides where waiting belongs.
    wait = FunctionId(f"{STDLIB}/threading.py", 320, "wait")
    lock = builtin_fid("<method 'acquire' of '_thread.lock' objects>")
    functions = [
        *shipping(),
        fn(wait, "stdlib", self_s=0.01, cumulative_s=0.5, calls=30),
        fn(
            lock, "stdlib", self_s=0.5, calls=30, callers=[edge(wait, 0.45), edge(RATE_TABLE, 0.05)]
        ),
    ]

    [finding] = findings(CACHEABLE_CALL, traced_session(functions, shipping_records()))

    assert finding.location is not None
    assert finding.location.function == "rate_table"


def test_cacheable_call_share_is_never_below_the_hotspots() -> None:
    # A cumulative time under-counted (3.12, threads) while self and callee times add up.
    functions = shipping()
    functions[1] = dataclasses.replace(functions[1], cumulative_s=0.35)
    functions[2] = dataclasses.replace(functions[2], self_s=0.2, cumulative_s=0.3)
    functions[3] = dataclasses.replace(
        functions[3], self_s=0.4, cumulative_s=0.4, callers=(edge(RATE_TABLE, 0.4),)
    )

    [finding] = findings(CACHEABLE_CALL, traced_session(functions, shipping_records()))

    assert finding.evidence["share_of_route_time"] == pytest.approx(0.6)  # as cpu-hotspot's
    assert finding.severity is Severity.HIGH


def test_cacheable_call_never_names_the_endpoint() -> None:
    # Only the endpoint repeats (the same URL every time): that is the route, not a cache.
    s = traced_session(shipping(), [record(ENDPOINT, calls=20, distinct=1)])

    assert findings(CACHEABLE_CALL, s) == []


def test_cacheable_call_needs_a_share_of_the_route() -> None:
    cheap = [
        fn(ENDPOINT, "app", self_s=0.9, cumulative_s=0.99, calls=50),
        fn(RATE_TABLE, "app", self_s=0.05, calls=100, callers=[edge(ENDPOINT, 0.05)]),
    ]

    assert findings(CACHEABLE_CALL, traced_session(cheap, [record(RATE_TABLE)])) == []


def test_cacheable_call_needs_the_tracers_evidence() -> None:
    s = session(measurements=[measurement(QUOTES)], profiles=[profile(QUOTES, shipping())])

    assert findings(CACHEABLE_CALL, s) == []


def test_cacheable_call_prefers_the_caller_over_a_helper_called_in_its_loop() -> None:
    # build_rates calls row_price 2,000 times per call: cache build_rates, not each row.
    build = app_fid("build_rates", module="app/shipping.py", line=20)
    row = app_fid("row_price", module="app/shipping.py", line=10)
    functions = [
        fn(ENDPOINT, "app", self_s=0.01, cumulative_s=0.9, calls=50),
        fn(build, "app", self_s=0.1, cumulative_s=0.85, calls=50, callers=[edge(ENDPOINT, 0.85)]),
        fn(row, "app", self_s=0.75, calls=100_000, callers=[edge(build, 0.75)]),
    ]
    records = [record(build, calls=20, distinct=1), record(row, calls=2_000, distinct=1_000)]

    [finding] = findings(CACHEABLE_CALL, traced_session(functions, records))

    assert finding.location is not None
    assert finding.location.function == "build_rates"


def test_cacheable_call_on_a_coroutine_caches_the_awaited_result() -> None:
    records = [record(ENDPOINT, calls=20, distinct=1), record(RATE_TABLE, coroutine=True)]

    [finding] = findings(CACHEABLE_CALL, traced_session(shipping(), records))

    assert "alru_cache" in finding.suggestion
    assert "@functools.lru_cache(" not in finding.suggestion


def test_cacheable_call_names_unhashable_and_uncompared_arguments() -> None:
    records = [
        record(RATE_TABLE, unhashable_args=("bands: list",), opaque_args=("carrier: Carrier",))
    ]

    [finding] = findings(CACHEABLE_CALL, traced_session(shipping(), records))

    assert "bands: list" in finding.suggestion
    assert "hashable" in finding.suggestion
    assert "carrier: Carrier" in finding.suggestion


# -- per-request-setup ---------------------------------------------------------------------

GET_SETTINGS = app_fid("get_settings", module="app/config.py", line=30)
FEATURES_ENDPOINT = app_fid("features", module="app/main.py", line=12)
BASE_SETTINGS_INIT = lib_fid("__init__", module="pydantic_settings/main.py", line=221)
DOTENV_VALUES = lib_fid("dotenv_values", module="dotenv/main.py", line=438)


def settings_profile(*, calls: int = 50) -> list[FunctionStats]:
    """features → get_settings → BaseSettings.__init__ → dotenv_values, `calls` times over
    50 requests: the settings take 85% of the route."""
    return [
        fn(FEATURES_ENDPOINT, "app", self_s=0.01, cumulative_s=0.9, calls=50),
        fn(GET_SETTINGS, "app", self_s=0.01, cumulative_s=0.86, calls=calls,
           callers=[edge(FEATURES_ENDPOINT, 0.86)]),
        fn(BASE_SETTINGS_INIT, "library", self_s=0.2, cumulative_s=0.85, calls=calls,
           callers=[edge(GET_SETTINGS, 0.85)]),
        fn(DOTENV_VALUES, "library", self_s=0.1, cumulative_s=0.3, calls=calls,
           callers=[edge(BASE_SETTINGS_INIT, 0.3)]),
    ]  # fmt: skip


def settings_session(functions: Sequence[FunctionStats]) -> Session:
    return traced_session(
        functions,
        [record(GET_SETTINGS, calls=20, distinct=1)],  # it repeats, too
        route=FEATURES,
        endpoint=FEATURES_ENDPOINT,
    )


def test_per_request_setup_names_settings_rebuilt_in_a_dependency() -> None:
    [finding] = findings(PER_REQUEST_SETUP, settings_session(settings_profile()))

    assert finding.id == "per-request-setup"
    assert finding.severity is Severity.HIGH
    assert finding.route == "GET /features"
    assert finding.location == CodeLocation("app/config.py", 30, "get_settings")
    assert finding.evidence["built"] == "pydantic-settings BaseSettings()"
    assert finding.evidence["constructions_per_request"] == 1
    assert finding.evidence["share_of_route_time"] == pytest.approx(0.85)
    assert finding.evidence["ms_per_request"] == pytest.approx(17.0)
    assert "@lru_cache" in finding.suggestion
    assert "get_settings()" in finding.suggestion
    assert finding.estimated_gain is not None
    assert finding.estimated_gain.share == pytest.approx(0.85)


def test_per_request_setup_outranks_and_replaces_the_broader_findings() -> None:
    report = build_report(settings_session(settings_profile()))

    assert report.findings[0].id == "per-request-setup"
    about_it = {
        f.id for f in report.findings if f.location and f.location.function == "get_settings"
    }
    assert about_it == {"per-request-setup"}  # not also cpu-hotspot, nor cacheable-call


def test_per_request_setup_in_a_comprehension_is_charged_to_the_function_holding_it() -> None:
    """Python 3.11 profiles `[Settings() for …]` as its own `<listcomp>`: the finding (and
    `--verify`, which patches functions) needs the function a user can change."""
    listcomp = app_fid("<listcomp>", module="app/config.py", line=31)
    built_in_a_comprehension = [
        fn(FEATURES_ENDPOINT, "app", self_s=0.01, cumulative_s=0.9, calls=50),
        fn(GET_SETTINGS, "app", self_s=0.01, cumulative_s=0.86, calls=50,
           callers=[edge(FEATURES_ENDPOINT, 0.86)]),
        fn(listcomp, "app", self_s=0.01, cumulative_s=0.85, calls=50,
           callers=[edge(GET_SETTINGS, 0.85)]),
        fn(BASE_SETTINGS_INIT, "library", self_s=0.2, cumulative_s=0.85, calls=50,
           callers=[edge(listcomp, 0.85)]),
    ]  # fmt: skip

    [finding] = findings(PER_REQUEST_SETUP, settings_session(built_in_a_comprehension))

    assert finding.location == CodeLocation("app/config.py", 30, "get_settings")


def test_per_request_setup_ignores_settings_built_once() -> None:
    # Built once over 50 requests: a cached get_settings, or the first request's.
    assert findings(PER_REQUEST_SETUP, settings_session(settings_profile(calls=1))) == []


@pytest.mark.parametrize(
    ("built", "label", "advice"),
    [
        (lib_fid("__init__", module="pydantic/type_adapter.py"), "TypeAdapter", "once"),
        (lib_fid("compile", module="jinja2/environment.py"), "jinja2", "Jinja2Templates"),
        (FunctionId(f"{STDLIB}/re/_compiler.py", 740, "compile"), "re.compile", "module level"),
        (FunctionId(f"{STDLIB}/json/__init__.py", 274, "load"), "json.load", "startup"),
        (lib_fid("load", module="yaml/__init__.py"), "yaml", "startup"),
        (FunctionId(f"{STDLIB}/tomllib/_parser.py", 57, "load"), "tomllib", "startup"),
        (lib_fid("load", module="joblib/numpy_pickle.py"), "joblib", "lifespan"),
        (builtin_fid("<built-in method _pickle.load>"), "pickle", "lifespan"),
    ],
)
def test_per_request_setup_knows_each_kind_of_setup(
    built: FunctionId, label: str, advice: str
) -> None:
    render = app_fid("render_page", module="app/pages.py", line=8)
    functions = [
        fn(render, "app", self_s=0.05, cumulative_s=0.6, calls=50),
        fn(built, "library", self_s=0.5, calls=50, callers=[edge(render, 0.5)]),
    ]
    s = session(measurements=[measurement(QUOTES)], profiles=[profile(QUOTES, functions)])

    [finding] = findings(PER_REQUEST_SETUP, s)

    assert label in str(finding.evidence["built"])
    assert advice in finding.suggestion
    assert finding.location == CodeLocation("app/pages.py", 8, "render_page")


def test_per_request_setup_needs_an_app_function_to_point_at() -> None:
    framework = lib_fid("solve", module="fastapi/dependencies/utils.py")
    functions = [
        fn(framework, "framework", self_s=0.05, cumulative_s=0.6, calls=50),
        fn(BASE_SETTINGS_INIT, "library", self_s=0.5, calls=50, callers=[edge(framework, 0.5)]),
    ]
    s = session(measurements=[measurement(QUOTES)], profiles=[profile(QUOTES, functions)])

    assert findings(PER_REQUEST_SETUP, s) == []


def test_per_request_setup_grades_a_small_share_low() -> None:
    functions = [
        fn(GET_SETTINGS, "app", self_s=0.01, cumulative_s=0.05, calls=50),
        fn(
            BASE_SETTINGS_INIT, "library", self_s=0.04, calls=50, callers=[edge(GET_SETTINGS, 0.04)]
        ),
    ]
    s = session(measurements=[measurement(QUOTES)], profiles=[profile(QUOTES, functions)])

    [finding] = findings(PER_REQUEST_SETUP, s)

    assert finding.severity is Severity.LOW

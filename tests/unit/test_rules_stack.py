"""The stack rules on hand-built sessions: slow-serialization, sync-logging,
middleware-overhead and default-event-loop — when they fire, when they do not, what they
suggest, and what they supersede."""

from __future__ import annotations

import dataclasses
import sysconfig
from collections.abc import Sequence

import pytest
from probe_builders import route_probe
from unit_builders import (
    APP_ROOT,
    SITE,
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
from perfaudit.analysis.findings import Finding, Severity, drop_superseded, rank
from perfaudit.analysis.report import build_report
from perfaudit.analysis.rules.cpu_hotspot import RULE as CPU_HOTSPOT
from perfaudit.analysis.rules.default_event_loop import RULE as DEFAULT_EVENT_LOOP
from perfaudit.analysis.rules.middleware_overhead import RULE as MIDDLEWARE_OVERHEAD
from perfaudit.analysis.rules.slow_serialization import RULE as SLOW_SERIALIZATION
from perfaudit.analysis.rules.sync_logging import RULE as SYNC_LOGGING
from perfaudit.model import (
    CodeLocation,
    DeclaredServer,
    FunctionId,
    FunctionStats,
    MiddlewareEvidence,
    MiddlewareLayer,
    RouteDeclaration,
    RouteEvidence,
    RouteKey,
    Session,
)

STDLIB = sysconfig.get_paths()["stdlib"]
FEED = RouteKey("GET", "/feed")
CART = RouteKey("GET", "/carts/{cart_id}/total")
ORDERS = RouteKey("GET", "/orders/recent")


def findings(rule: object, s: Session) -> list[Finding]:
    return list(rule.check(AnalysisContext(s)))  # type: ignore[attr-defined]


def framework(name: str, module: str, line: int = 100) -> FunctionId:
    return lib_fid(name, module=module, line=line)


def stdlib(name: str, module: str, line: int = 100) -> FunctionId:
    return FunctionId(f"{STDLIB}/{module}", line, name)


def profiled(route: RouteKey, functions: Sequence[FunctionStats]) -> Session:
    """50 profiled requests over 1.0 s; 100 measured requests of 20 ms."""
    return session(measurements=[measurement(route)], profiles=[profile(route, functions)])


# -- slow-serialization ------------------------------------------------------------------

ENDPOINT = app_fid("latest_posts", module="app/feed.py", line=50)
RUN_ENDPOINT = framework("run_endpoint_function", "fastapi/routing.py", 372)
HANDLER = framework("app", "fastapi/routing.py", 438)
SERIALIZE = framework("serialize_response", "fastapi/routing.py", 329)
ENCODER = framework("jsonable_encoder", "fastapi/encoders.py", 129)
RESPONSE_INIT = framework("__init__", "starlette/responses.py", 189)
RENDER = framework("render", "starlette/responses.py", 199)
DUMPS = stdlib("dumps", "json/__init__.py", 183)
SERIALIZE_JSON = framework("serialize_json", "fastapi/_compat/v2.py", 215)
DUMP_JSON = framework("dump_json", "pydantic/type_adapter.py", 599)
TO_JSON = builtin_fid(
    "<method 'to_json' of 'pydantic_core._pydantic_core.SchemaSerializer' objects>"
)


def endpoint(self_s: float = 0.02) -> list[FunctionStats]:
    return [
        fn(HANDLER, "framework", self_s=0.01, cumulative_s=0.99, calls=50),
        fn(RUN_ENDPOINT, "framework", self_s=0.0, cumulative_s=self_s, calls=50,
           callers=[edge(HANDLER, self_s)]),
        fn(ENDPOINT, "app", self_s=self_s, calls=50, callers=[edge(RUN_ENDPOINT, self_s)]),
    ]  # fmt: skip


def untyped(encoder_s: float = 0.85, render_s: float = 0.05) -> list[FunctionStats]:
    """No response type: serialize_response → jsonable_encoder (recursive), then
    JSONResponse.render → json.dumps."""
    return [
        *endpoint(),
        fn(SERIALIZE, "framework", self_s=0.0, cumulative_s=encoder_s, calls=50,
           callers=[edge(HANDLER, encoder_s)]),
        fn(ENCODER, "framework", self_s=encoder_s / 2, cumulative_s=encoder_s, calls=90_000,
           callers=[edge(SERIALIZE, encoder_s), edge(ENCODER, encoder_s * 0.95)]),
        fn(RESPONSE_INIT, "framework", self_s=0.0, cumulative_s=render_s, calls=50,
           callers=[edge(HANDLER, render_s)]),
        fn(RENDER, "framework", self_s=0.0, cumulative_s=render_s, calls=50,
           callers=[edge(RESPONSE_INIT, render_s)]),
        fn(DUMPS, "stdlib", self_s=render_s, calls=50, callers=[edge(RENDER, render_s)]),
    ]  # fmt: skip


def typed(total_s: float = 0.6) -> list[FunctionStats]:
    """A declared type: serialize_response → serialize_json → TypeAdapter.dump_json →
    pydantic-core's to_json (a general serialiser under the response path)."""
    return [
        *endpoint(),
        fn(SERIALIZE, "framework", self_s=0.0, cumulative_s=total_s, calls=50,
           callers=[edge(HANDLER, total_s)]),
        fn(SERIALIZE_JSON, "framework", self_s=0.0, cumulative_s=total_s, calls=50,
           callers=[edge(SERIALIZE, total_s)]),
        fn(DUMP_JSON, "framework", self_s=0.0, cumulative_s=total_s, calls=50,
           callers=[edge(SERIALIZE_JSON, total_s)]),
        fn(TO_JSON, "framework", self_s=total_s, calls=50, callers=[edge(DUMP_JSON, total_s)]),
    ]  # fmt: skip


def test_slow_serialization_fires_on_jsonable_encoder_and_says_what_share_and_ms() -> None:
    [finding] = findings(SLOW_SERIALIZATION, profiled(FEED, untyped()))

    assert finding.id == "slow-serialization"
    assert finding.severity is Severity.HIGH
    assert finding.route == "GET /feed"
    # The recursive calls and render → json.dumps are counted once each.
    assert finding.evidence["share_of_route_time"] == pytest.approx(0.9)
    assert finding.evidence["ms_per_request"] == pytest.approx(18.0)  # 90% of 20 ms
    assert finding.evidence["jsonable_encoder_share"] == pytest.approx(0.85 / 0.9, abs=1e-3)
    assert finding.evidence["profiled_ms_per_request"] == pytest.approx(18.0)
    assert "90%" in finding.title and "18.0 ms" in finding.title
    assert finding.estimated_gain is not None and finding.estimated_gain.share == pytest.approx(0.9)


def test_slow_serialization_points_at_the_endpoint_and_suggests_a_return_type() -> None:
    [finding] = findings(SLOW_SERIALIZATION, profiled(FEED, untyped()))

    # No probe: the endpoint is what run_endpoint_function called.
    assert finding.location == CodeLocation("app/feed.py", 50, "latest_posts")
    assert "jsonable_encoder" in finding.suggestion
    assert "response_model" in finding.suggestion and "-> list[" in finding.suggestion
    assert "paginate" in finding.suggestion


def test_slow_serialization_prefers_the_probe_endpoint() -> None:
    base = profiled(FEED, untyped())
    at = CodeLocation(f"{APP_ROOT}/app/routes/feed.py", 12, "feed_page")
    s = dataclasses.replace(base, probes=(route_probe(FEED, endpoint=at),))

    [finding] = findings(SLOW_SERIALIZATION, s)

    assert finding.location == CodeLocation("app/routes/feed.py", 12, "feed_page")


def test_slow_serialization_with_a_declared_type_counts_pydantic_once_and_advises_less_data() -> (
    None
):
    [finding] = findings(SLOW_SERIALIZATION, profiled(FEED, typed(0.6)))

    # dump_json sits under serialize_response (through serialize_json): not counted twice.
    assert finding.evidence["share_of_route_time"] == pytest.approx(0.6)
    assert finding.evidence["jsonable_encoder_share"] == 0
    assert "paginate" in finding.suggestion
    assert "response_model" not in finding.suggestion
    assert finding.confidence < 0.8


def declared(s: Session, route: RouteKey, response_model: str, pydantic: str = "2.9.2") -> Session:
    """The session with the route table's declaration and pydantic's version."""
    environment = dataclasses.replace(
        s.environment, packages={**s.environment.packages, "pydantic": pydantic}
    )
    declaration = RouteDeclaration(route, None, endpoint_async=False, response_model=response_model)
    return dataclasses.replace(s, environment=environment, declarations=(declaration,))


def test_slow_serialization_believes_the_route_table_over_the_encoder_share() -> None:
    """FastAPI before 0.100 runs jsonable_encoder over a declared response_model too: the
    profile looks untyped, but the route declares its type."""
    s = declared(profiled(FEED, untyped()), FEED, "List[NoteDB]")

    [finding] = findings(SLOW_SERIALIZATION, s)

    assert "no declared type" not in finding.suggestion
    assert "`List[NoteDB]`" in finding.suggestion
    assert finding.evidence["response_model"] == "List[NoteDB]"


def test_slow_serialization_on_pydantic_v1_does_not_promise_rust() -> None:
    s = declared(profiled(FEED, untyped()), FEED, "List[NoteDB]", pydantic="1.10.27")

    [finding] = findings(SLOW_SERIALIZATION, s)

    assert "pydantic v1" in finding.suggestion
    assert "cannot move this to Rust" in finding.suggestion
    assert "pydantic v2" in finding.suggestion and "paginate" in finding.suggestion
    assert finding.evidence["pydantic"] == "1.10.27"


@pytest.mark.parametrize(
    ("functions", "durations_ms"),
    [
        (untyped(encoder_s=0.2, render_s=0.02), (20.0,) * 100),  # 22%: below the bar
        (untyped(), (0.3,) * 100),  # 90% of a 0.3 ms route: 0.27 ms, too little to matter
    ],
)
def test_slow_serialization_is_quiet_on_small_shares_and_cheap_routes(
    functions: list[FunctionStats], durations_ms: tuple[float, ...]
) -> None:
    s = session(
        measurements=[measurement(FEED, durations_ms=durations_ms)],
        profiles=[profile(FEED, functions)],
    )

    assert findings(SLOW_SERIALIZATION, s) == []


def test_slow_serialization_counts_the_apps_own_json_dumps_but_not_a_log_formatters() -> None:
    build = app_fid("build_payload", module="app/feed.py", line=30)
    formatter = stdlib("format", "logging/__init__.py", 674)
    functions = [
        *endpoint(),
        fn(build, "app", self_s=0.0, cumulative_s=0.5, calls=50),
        fn(formatter, "stdlib", self_s=0.0, cumulative_s=0.4, calls=50),
        fn(DUMPS, "stdlib", self_s=0.9, calls=100,
           callers=[edge(build, 0.5), edge(formatter, 0.4)]),
    ]  # fmt: skip

    [finding] = findings(SLOW_SERIALIZATION, profiled(FEED, functions))

    assert finding.evidence["share_of_route_time"] == pytest.approx(0.5)


def test_slow_serialization_supersedes_the_hotspot_only_when_the_app_serialises() -> None:
    framework_side = findings(SLOW_SERIALIZATION, profiled(FEED, untyped()))[0]
    build = app_fid("build_payload", module="app/feed.py", line=70)
    own = [
        *endpoint(),
        fn(build, "app", self_s=0.02, cumulative_s=0.82, calls=50,
           callers=[edge(ENDPOINT, 0.82)]),
        fn(ENCODER, "framework", self_s=0.8, calls=50, callers=[edge(build, 0.8)]),
    ]  # fmt: skip
    app_side = findings(SLOW_SERIALIZATION, profiled(FEED, own))[0]

    assert framework_side.supersedes == ()
    # The app serialises in its own helper: that is the code to open.
    assert app_side.location == CodeLocation("app/feed.py", 70, "build_payload")
    assert app_side.supersedes == ("cpu-hotspot", "event-loop-blocked")
    # The hotspot at build_payload() is jsonable_encoder's time: it is dropped.
    hotspots = findings(CPU_HOTSPOT, profiled(FEED, own))
    assert [f.location.function for f in hotspots if f.location] == ["build_payload"]
    assert drop_superseded([*hotspots, app_side]) == [app_side]


def corrupted_on_312(functions: list[FunctionStats]) -> list[FunctionStats]:
    """As 3.12's one-stack profiler can leave them when another thread runs meanwhile:
    the functions' own totals intact, their call edges cut short."""
    return [
        dataclasses.replace(
            f,
            callers=tuple(
                dataclasses.replace(e, cumulative_s=e.cumulative_s / 10) for e in f.callers
            ),
        )
        for f in functions
    ]


def on_python(s: Session, version: str) -> Session:
    return dataclasses.replace(s, environment=dataclasses.replace(s.environment, python=version))


@pytest.mark.parametrize(("version", "fires"), [("3.11.7", False), ("3.12.1", True)])
def test_slow_serialization_falls_back_on_own_totals_where_edges_are_unreliable(
    version: str, fires: bool
) -> None:
    s = on_python(profiled(FEED, corrupted_on_312(untyped())), version)

    found = findings(SLOW_SERIALIZATION, s)

    assert bool(found) is fires
    if found:
        assert found[0].evidence["share_of_route_time"] == pytest.approx(0.85)
        # jsonable_encoder ran once per value: the untyped path, whatever its edges say.
        assert found[0].evidence["jsonable_encoder_calls_per_request"] == 1800
        assert "response_model" in found[0].suggestion


# -- sync-logging ------------------------------------------------------------------------

PRICE_CART = app_fid("price_cart", module="app/checkout.py", line=45)
LOG_DEBUG = stdlib("debug", "logging/__init__.py", 1467)
HANDLE = stdlib("handle", "logging/__init__.py", 1636)
FLUSH = stdlib("flush", "logging/__init__.py", 1095)
MONITOR = stdlib("_monitor", "logging/handlers.py", 1557)
THREAD_RUN = stdlib("run", "threading.py", 975)


def logging_profile(logging_s: float = 0.75, flushes: int = 2750) -> list[FunctionStats]:
    """price_cart() makes 55 DEBUG calls per request, which take `logging_s` of 1.0 s."""
    return [
        fn(PRICE_CART, "app", self_s=0.05, cumulative_s=0.05 + logging_s, calls=50),
        fn(LOG_DEBUG, "stdlib", self_s=0.1, cumulative_s=logging_s, calls=2750,
           callers=[edge(PRICE_CART, logging_s, calls=2750)]),
        fn(HANDLE, "stdlib", self_s=0.2, cumulative_s=logging_s - 0.1, calls=2750,
           callers=[edge(LOG_DEBUG, logging_s - 0.1, calls=2750)]),
        fn(FLUSH, "stdlib", self_s=0.3, calls=flushes,
           callers=[edge(HANDLE, 0.3, calls=flushes)]),
    ]  # fmt: skip


def test_sync_logging_fires_at_the_function_that_logs() -> None:
    [finding] = findings(SYNC_LOGGING, profiled(CART, logging_profile()))

    assert finding.id == "sync-logging"
    assert finding.severity is Severity.HIGH
    assert finding.route == "GET /carts/{cart_id}/total"
    assert finding.location == CodeLocation("app/checkout.py", 45, "price_cart")
    assert finding.evidence["share_of_route_time"] == pytest.approx(0.75)
    assert finding.evidence["ms_per_request"] == pytest.approx(15.0)
    assert finding.evidence["log_calls_per_request"] == 55
    assert finding.evidence["flushes_per_request"] == 55
    assert "QueueHandler" in finding.suggestion and "QueueListener" in finding.suggestion
    assert "INFO" in finding.suggestion


def test_sync_logging_on_an_async_route_says_it_holds_up_the_loop() -> None:
    base = profiled(CART, logging_profile())
    on_loop = dataclasses.replace(base, probes=(route_probe(CART, endpoint_async=True),))
    in_thread = dataclasses.replace(base, probes=(route_probe(CART, endpoint_async=False),))

    assert "event loop" in findings(SYNC_LOGGING, on_loop)[0].suggestion
    assert "event loop" not in findings(SYNC_LOGGING, in_thread)[0].suggestion


def test_sync_logging_supersedes_the_hotspot_at_the_same_function() -> None:
    s = profiled(CART, logging_profile())
    [hotspot] = findings(CPU_HOTSPOT, s)
    [logging] = findings(SYNC_LOGGING, s)

    assert hotspot.location == logging.location  # same route and function: dropped
    assert [f.id for f in build_report(s).findings if f.severity >= Severity.MEDIUM] == [
        "sync-logging"
    ]


def test_sync_logging_falls_back_on_the_logger_calls_own_total_on_312() -> None:
    s = profiled(CART, corrupted_on_312(logging_profile()))

    assert findings(SYNC_LOGGING, on_python(s, "3.11.7")) == []
    [finding] = findings(SYNC_LOGGING, on_python(s, "3.12.1"))
    assert finding.evidence["share_of_route_time"] == pytest.approx(0.75)


def test_sync_logging_is_quiet_when_logging_is_cheap() -> None:
    assert findings(SYNC_LOGGING, profiled(CART, logging_profile(logging_s=0.05))) == []


def test_sync_logging_ignores_a_queue_listener_writing_on_its_own_thread() -> None:
    functions = [
        *logging_profile(logging_s=0.02, flushes=100),
        fn(THREAD_RUN, "stdlib", self_s=0.0, cumulative_s=0.6, calls=1),
        fn(MONITOR, "stdlib", self_s=0.0, cumulative_s=0.6, calls=1,
           callers=[edge(THREAD_RUN, 0.6)]),
    ]  # fmt: skip

    assert findings(SYNC_LOGGING, profiled(CART, functions)) == []


def test_sync_logging_credits_a_librarys_logging_to_the_app_function_calling_it() -> None:
    client_send = lib_fid("send", module="httpx/_client.py", line=900)
    fetch = app_fid("fetch_prices", module="app/checkout.py", line=70)
    functions = [
        fn(fetch, "app", self_s=0.05, cumulative_s=0.65, calls=50),
        fn(client_send, "library", self_s=0.1, cumulative_s=0.6, calls=50,
           callers=[edge(fetch, 0.6)]),
        fn(LOG_DEBUG, "stdlib", self_s=0.5, calls=500, callers=[edge(client_send, 0.5)]),
    ]  # fmt: skip

    [finding] = findings(SYNC_LOGGING, profiled(CART, functions))

    assert finding.location == CodeLocation("app/checkout.py", 70, "fetch_prices")


# -- middleware-overhead -----------------------------------------------------------------

REQUEST_ID = MiddlewareLayer(
    "RequestIdMiddleware",
    "base-http",
    CodeLocation(f"{APP_ROOT}/app/middleware.py", 12, "RequestIdMiddleware"),
)
TIMING = MiddlewareLayer(
    "add_timing_header",
    "base-http",
    CodeLocation(f"{APP_ROOT}/app/main.py", 30, "add_timing_header"),
)
CORS = MiddlewareLayer(
    "CORSMiddleware",
    "asgi",
    CodeLocation(f"{SITE}/starlette/middleware/cors.py", 17, "CORSMiddleware"),
)


def middleware_evidence(
    with_ms: Sequence[float],
    without_ms: Sequence[float],
    *,
    layers: Sequence[MiddlewareLayer] = (REQUEST_ID, TIMING),
    round_size: int = 5,
    errors_without: int = 0,
) -> MiddlewareEvidence:
    return MiddlewareEvidence(
        layers=tuple(layer.name for layer in layers),
        with_s=tuple(ms / 1000 for ms in with_ms),
        without_s=tuple(ms / 1000 for ms in without_ms),
        details=tuple(layers),
        round_size=round_size,
        with_after_s=(0.0002,) * len(with_ms),
        without_after_s=(0.0,) * len(without_ms),
        errors_without=errors_without,
    )


def middleware_session(evidence: MiddlewareEvidence, route: RouteKey = ORDERS) -> Session:
    base = session(measurements=[measurement(route, durations_ms=(0.7,) * 100)])
    return dataclasses.replace(base, evidence=(RouteEvidence(route, middleware=evidence),))


CHEAP = middleware_evidence([0.70, 0.72, 0.68, 0.71, 0.69] * 6, [0.10, 0.11, 0.09, 0.10, 0.12] * 6)


def test_middleware_overhead_compares_the_medians_and_names_the_layers() -> None:
    [finding] = findings(MIDDLEWARE_OVERHEAD, middleware_session(CHEAP))

    assert finding.id == "middleware-overhead"
    assert finding.severity is Severity.MEDIUM
    assert finding.route == "GET /orders/recent"
    assert finding.evidence["with_middleware_p50_ms"] == pytest.approx(0.70)
    assert finding.evidence["without_middleware_p50_ms"] == pytest.approx(0.10)
    assert finding.evidence["added_ms"] == pytest.approx(0.60)
    assert finding.evidence["share_of_latency"] == pytest.approx(0.6 / 0.7, abs=1e-4)
    assert finding.evidence["layers"] == "RequestIdMiddleware > add_timing_header"
    assert finding.evidence["rounds_slower_with_middleware"] == "6/6"
    assert finding.evidence["after_response_added_ms"] == pytest.approx(0.2)
    assert "with_middleware_iqr_ms" in finding.evidence
    assert "2 BaseHTTPMiddleware layers add 0.60 ms" in finding.title
    assert finding.estimated_gain is not None
    assert finding.estimated_gain.latency_ms == pytest.approx(0.6)


def test_middleware_overhead_points_at_the_outermost_layer_and_suggests_pure_asgi() -> None:
    [finding] = findings(MIDDLEWARE_OVERHEAD, middleware_session(CHEAP))

    assert finding.location == CodeLocation("app/middleware.py", 12, "RequestIdMiddleware")
    assert "RequestIdMiddleware, add_timing_header" in finding.suggestion
    assert "pure ASGI" in finding.suggestion


def test_middleware_overhead_names_only_the_base_http_layers_to_rewrite() -> None:
    evidence = middleware_evidence([0.7] * 30, [0.1] * 30, layers=(CORS, TIMING), round_size=5)

    [finding] = findings(MIDDLEWARE_OVERHEAD, middleware_session(evidence))

    assert finding.location == CodeLocation("app/main.py", 30, "add_timing_header")
    assert "Rewrite add_timing_header as pure ASGI" in finding.suggestion
    assert "CORSMiddleware" not in finding.suggestion


def test_middleware_overhead_of_pure_asgi_layers_advises_less_work() -> None:
    evidence = middleware_evidence([0.7] * 30, [0.1] * 30, layers=(CORS,))

    [finding] = findings(MIDDLEWARE_OVERHEAD, middleware_session(evidence))

    assert "pure ASGI" not in finding.suggestion
    assert finding.confidence < 0.8


@pytest.mark.parametrize(
    "evidence",
    [
        # A slow route: 0.6 ms of 50 ms is noise-level.
        middleware_evidence([50.6] * 30, [50.0] * 30),
        # Faster in some rounds, slower in others: noise, not a cost.
        middleware_evidence(
            [0.2] * 5 + [0.05] * 5 + [0.2] * 5 + [0.05] * 5 + [0.2] * 5 + [0.05] * 5,
            [0.1] * 30,
        ),
        # Without its middleware the route fails (it needs request.state set by one).
        middleware_evidence([0.7] * 30, [0.1] * 30, errors_without=30),
    ],
    ids=["slow-route", "inconsistent", "fails-without"],
)
def test_middleware_overhead_is_quiet_when_the_difference_does_not_hold(
    evidence: MiddlewareEvidence,
) -> None:
    assert findings(MIDDLEWARE_OVERHEAD, middleware_session(evidence)) == []


def test_middleware_overhead_reads_an_older_session_without_layer_details() -> None:
    bare = dataclasses.replace(CHEAP, details=(), round_size=0, with_after_s=(), without_after_s=())

    [finding] = findings(MIDDLEWARE_OVERHEAD, middleware_session(bare))

    assert finding.location is None
    assert finding.evidence["layers"] == "RequestIdMiddleware > add_timing_header"


# -- default-event-loop ------------------------------------------------------------------


def with_environment(
    s: Session,
    *,
    loop: str = "asyncio",
    mode: str = "profile",
    platform: str = "Linux-x86_64",
    **packages: str,
) -> Session:
    env = dataclasses.replace(s.environment, loop=loop, platform=platform, packages=packages)
    return dataclasses.replace(s, environment=env, mode=mode)


def test_default_event_loop_reports_a_missing_httptools_at_low() -> None:
    s = with_environment(session(), uvicorn="0.30.0", uvloop="0.21.0")

    [finding] = findings(DEFAULT_EVENT_LOOP, s)

    assert finding.severity is Severity.LOW
    assert finding.impact == 0.0
    assert finding.estimated_gain is None  # not measured in-process
    assert "h11" in finding.title and "httptools" in finding.title
    assert finding.evidence["httptools"] == "not installed"
    assert "uvicorn[standard]" in finding.suggestion


@pytest.mark.parametrize(
    ("s", "expected"),
    [
        (with_environment(session(), uvicorn="0.30", uvloop="0.21", httptools="0.6"), []),
        # No uvicorn: another server, other knobs.
        (with_environment(session(), fastapi="0.115"), []),
        # uvloop does not exist on Windows: only httptools is asked for.
        (with_environment(session(), platform="Windows-10", uvicorn="0.30"), ["httptools"]),
        (with_environment(session(), uvicorn="0.30", httptools="0.6"), ["uvloop"]),
    ],
    ids=["all-installed", "no-uvicorn", "windows", "no-uvloop"],
)
def test_default_event_loop_names_only_what_is_missing(s: Session, expected: list[str]) -> None:
    found = findings(DEFAULT_EVENT_LOOP, s)

    assert [f.title.rsplit(": ", 1)[1].removesuffix(" not installed") for f in found] == (
        [", ".join(expected)] if expected else []
    )


def with_declared(s: Session, *, uvloop: bool, httptools: bool) -> Session:
    declared = DeclaredServer("requirements.txt", "uvicorn==0.30.1", uvloop, httptools)
    return dataclasses.replace(s, environment=dataclasses.replace(s.environment, declared=declared))


def test_default_event_loop_follows_the_apps_requirements_over_what_is_installed_here() -> None:
    """The developer's machine has uvicorn[standard]; the image built from requirements.txt
    gets plain uvicorn: the file decides."""
    here = with_environment(session(), uvicorn="0.30", uvloop="0.21", httptools="0.6")

    [finding] = findings(DEFAULT_EVENT_LOOP, with_declared(here, uvloop=False, httptools=False))

    assert finding.severity is Severity.LOW
    assert finding.title == (
        "requirements.txt installs uvicorn without uvloop or httptools: it would serve this "
        "app on asyncio's event loop and the h11 HTTP parser"
    )
    assert finding.evidence["requirement"] == "uvicorn==0.30.1"
    assert finding.evidence["installed_here"] == "uvloop 0.21, httptools 0.6"
    assert "instead of `uvicorn==0.30.1`" in finding.suggestion


def test_default_event_loop_is_quiet_when_the_requirements_bring_both() -> None:
    """uvicorn[standard] in the file: nothing to say, even if this machine lacks them."""
    here = with_environment(session(), uvicorn="0.30")

    assert findings(DEFAULT_EVENT_LOOP, with_declared(here, uvloop=True, httptools=True)) == []


def test_default_event_loop_names_only_what_the_requirements_miss() -> None:
    here = with_environment(session(), uvicorn="0.30")

    [finding] = findings(DEFAULT_EVENT_LOOP, with_declared(here, uvloop=True, httptools=False))

    assert finding.title.startswith("requirements.txt installs uvicorn without httptools:")
    assert finding.title.endswith("on the h11 HTTP parser")


def test_default_event_loop_in_attach_mode_reports_the_loop_the_server_used() -> None:
    s = with_environment(
        session(), loop="asyncio", mode="attach", uvicorn="0.30", uvloop="0.21", httptools="0.6"
    )

    [finding] = findings(DEFAULT_EVENT_LOOP, s)

    assert finding.title == (
        "uvicorn ran this app on asyncio's event loop: uvloop is installed but was not used"
    )
    assert "--loop uvloop" in finding.suggestion


def test_default_event_loop_never_outranks_a_measured_finding() -> None:
    s = with_environment(profiled(CART, logging_profile(logging_s=0.12)), uvicorn="0.30")

    ranked = [(f.id, f.severity) for f in build_report(s).findings]

    assert ranked[0][0] == "sync-logging"
    assert ("default-event-loop", Severity.LOW) in ranked
    low = [fid for fid, severity in ranked if severity is Severity.LOW]
    assert low[-1] == "default-event-loop"


def test_default_event_loop_ranks_below_another_low_finding() -> None:
    other = Finding(
        id="trivial-sync-route", severity=Severity.LOW, title="", route=None, location=None,
        evidence={}, suggestion="", impact=0.05, confidence=0.6,
    )  # fmt: skip
    [loop] = findings(DEFAULT_EVENT_LOOP, with_environment(session(), uvicorn="0.30"))

    assert rank([loop, other]) == [other, loop]


def test_slow_serialization_says_when_it_held_the_event_loop() -> None:
    from probe_builders import FRAMEWORK_TAIL, lib_frame, stack

    encoding = stack(
        lib_frame("fastapi/encoders.py", "jsonable_encoder", line=300, owner="framework"),
        lib_frame("fastapi/routing.py", "serialize_response", line=140, owner="framework"),
        *FRAMEWORK_TAIL,
        wall_s=0.9,
        cpu_s=0.9,
    )
    base = profiled(FEED, untyped())
    s = dataclasses.replace(base, probes=(route_probe(FEED, stacks=[encoding]),))

    [finding] = findings(SLOW_SERIALIZATION, s)

    assert finding.evidence["loop_blocked_share"] == pytest.approx(0.9)
    assert "the loop was stuck serialising 90% of the time" in finding.suggestion


def test_sync_logging_names_sqlalchemy_s_echo_when_it_does_the_logging() -> None:
    execute = lib_fid("_execute_context", module="sqlalchemy/engine/base.py", line=1800)
    log_info = stdlib("info", "logging/__init__.py", 1479)
    functions = [
        fn(PRICE_CART, "app", self_s=0.05, cumulative_s=0.8, calls=50),
        fn(execute, "library", self_s=0.05, cumulative_s=0.75, calls=500,
           callers=[edge(PRICE_CART, 0.75, calls=500)]),
        fn(log_info, "stdlib", self_s=0.7, cumulative_s=0.7, calls=1000,
           callers=[edge(execute, 0.7, calls=1000)]),
    ]  # fmt: skip

    [finding] = findings(SYNC_LOGGING, profiled(CART, functions))

    assert "echo=True" in finding.suggestion


def test_sync_logging_of_the_app_s_own_says_nothing_of_echo() -> None:
    [finding] = findings(SYNC_LOGGING, profiled(CART, logging_profile()))

    assert "echo=True" not in finding.suggestion

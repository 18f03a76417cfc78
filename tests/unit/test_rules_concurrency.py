"""The concurrency rules on hand-built probe evidence: event-loop-blocked, sync-db-driver,
client-per-request, threadpool-saturation, trivial-sync-route, cpu-hotspot's handling of
waiting time, and how a narrower finding supersedes a broader one."""

from __future__ import annotations

import dataclasses
from dataclasses import replace

import pytest
from probe_builders import (
    FRAMEWORK_TAIL,
    app_frame,
    lib_frame,
    probe_session,
    route_probe,
    stack,
    stdlib_frame,
    threadpool,
)
from unit_builders import (
    APP_ROOT,
    app_fid,
    builtin_fid,
    edge,
    fn,
    lib_fid,
    measurement,
    profile,
)

from perfaudit.analysis.context import AnalysisContext, app_caller
from perfaudit.analysis.findings import Finding, Severity, drop_superseded
from perfaudit.analysis.report import build_report
from perfaudit.analysis.rules.client_per_request import RULE as CLIENT_PER_REQUEST
from perfaudit.analysis.rules.cpu_hotspot import RULE as CPU_HOTSPOT
from perfaudit.analysis.rules.event_loop_blocked import RULE as EVENT_LOOP_BLOCKED
from perfaudit.analysis.rules.sync_db_driver import RULE as SYNC_DB_DRIVER
from perfaudit.analysis.rules.threadpool_saturation import RULE as THREADPOOL_SATURATION
from perfaudit.analysis.rules.trivial_sync_route import RULE as TRIVIAL_SYNC_ROUTE
from perfaudit.model import (
    CodeLocation,
    FunctionStats,
    RouteDeclaration,
    RouteKey,
    RouteProfile,
    SampledStack,
    Session,
    StackFrame,
)

STOCK = RouteKey("GET", "/stock/{sku}")
SEARCH = RouteKey("GET", "/products/search")
RATES = RouteKey("GET", "/rates/{currency}")
EXPORTS = RouteKey("GET", "/exports/{export_id}")
FLAGS = RouteKey("GET", "/flags")

SLEEP = "<built-in method time.sleep>"
PBKDF2 = "<built-in method _hashlib.pbkdf2_hmac>"
SQLITE_EXECUTE = "<method 'execute' of 'sqlite3.Connection' objects>"


def findings(rule: object, s: Session) -> list[Finding]:
    return list(rule.check(AnalysisContext(s)))  # type: ignore[attr-defined]


# -- event-loop-blocked -------------------------------------------------------------------

ENDPOINT = app_frame("get_stock", line=40, code="level = fetch_stock_level(sku)")
REQUESTS_GET = (
    stdlib_frame("socket.py", "readinto", line=706),
    lib_frame("urllib3/connectionpool.py", "urlopen", line=790),
    lib_frame("requests/adapters.py", "send", line=486),
    lib_frame("requests/sessions.py", "request", line=589),
    lib_frame("requests/api.py", "request", line=59),
    lib_frame("requests/api.py", "get", line=73),
)
SUBPROCESS_RUN = (
    stdlib_frame("selectors.py", "select", line=415),
    stdlib_frame("subprocess.py", "_communicate", line=2060),
    stdlib_frame("subprocess.py", "communicate", line=1209),
    stdlib_frame("subprocess.py", "run", line=550),
)


def blocked_in(
    function: str,
    *,
    code: str,
    line: int = 24,
    below: tuple[StackFrame, ...] = (),
    wall_s: float = 0.9,
    cpu_s: float = 0.0,
) -> SampledStack:
    """The loop stuck in `function` at `line`, with `below` (library frames, innermost
    first) under it, and the endpoint and framework above it."""
    here = app_frame(function, line=line, code=code)
    return stack(*below, here, ENDPOINT, *FRAMEWORK_TAIL, wall_s=wall_s, cpu_s=cpu_s)


def loop_session(
    *stacks: SampledStack,
    profiled: list[FunctionStats] | None = None,
    wall_s: float = 1.0,
    requests: int = 100,
    route: RouteKey = STOCK,
) -> Session:
    profiles = [profile(route, profiled)] if profiled is not None else []
    probe = route_probe(route, stacks=stacks, wall_s=wall_s, requests=requests)
    return probe_session([probe], profiles=profiles, measurements=[measurement(route)])


def calling(function: str, callee: str, *, line: int = 20) -> list[FunctionStats]:
    """A profile in which app function `function` spends its time in built-in `callee`."""
    caller = app_fid(function, module="app/stock.py", line=line)
    return [
        fn(caller, "app", self_s=0.01, cumulative_s=0.81, calls=50),
        fn(builtin_fid(callee), "stdlib", self_s=0.8, calls=50, callers=[edge(caller, 0.8)]),
    ]


def test_event_loop_blocked_names_the_line_and_the_http_call() -> None:
    s = loop_session(
        blocked_in(
            "fetch_stock_level",
            code="resp = requests.get(url, timeout=5)",
            below=REQUESTS_GET,
            wall_s=0.9,
        )
    )

    [finding] = findings(EVENT_LOOP_BLOCKED, s)

    assert finding.id == "event-loop-blocked"
    assert finding.severity is Severity.HIGH
    assert finding.route == "GET /stock/{sku}"
    # The innermost app frame, not the endpoint above it.
    assert finding.location == CodeLocation("app/stock.py", 24, "fetch_stock_level")
    assert finding.evidence["kind"] == "http"
    assert finding.evidence["blocking_call"] == "requests.get"
    assert finding.evidence["source_line"] == "resp = requests.get(url, timeout=5)"
    assert finding.evidence["blocked_share"] == pytest.approx(0.9)
    assert finding.evidence["blocked_ms_per_request"] == pytest.approx(9.0)
    assert finding.evidence["other_request_idle_ms"] == pytest.approx(0.2)
    assert finding.evidence["other_request_under_load_ms"] == pytest.approx(50.0)
    assert "requests.get" in finding.title
    assert "`resp = requests.get(url, timeout=5)`" in finding.suggestion
    assert "AsyncClient" in finding.suggestion
    assert finding.estimated_gain is not None
    assert finding.estimated_gain.share == pytest.approx(0.9)
    assert finding.supersedes == ("cpu-hotspot",)


def test_event_loop_blocked_picks_the_line_that_held_the_loop_longest() -> None:
    s = loop_session(
        blocked_in("fetch_stock_level", line=22, code="url = build_url(sku)", wall_s=0.2),
        blocked_in(
            "fetch_stock_level",
            line=24,
            code="resp = requests.get(url, timeout=5)",
            below=REQUESTS_GET,
            wall_s=0.6,
        ),
    )

    [finding] = findings(EVENT_LOOP_BLOCKED, s)

    assert finding.location == CodeLocation("app/stock.py", 24, "fetch_stock_level")
    assert finding.evidence["source_line"] == "resp = requests.get(url, timeout=5)"
    assert finding.evidence["blocked_share"] == pytest.approx(0.8)  # both lines count


def test_event_loop_blocked_classifies_subprocess_from_library_frames() -> None:
    s = loop_session(
        blocked_in(
            "render_thumbnail",
            code="subprocess.run(cmd, check=True)",
            below=SUBPROCESS_RUN,
        )
    )

    [finding] = findings(EVENT_LOOP_BLOCKED, s)

    assert finding.evidence["kind"] == "subprocess"
    assert finding.evidence["blocking_call"] == "subprocess.run"
    assert "create_subprocess_exec" in finding.suggestion


@pytest.mark.parametrize(
    ("callee", "kind", "call"),
    [
        (SLEEP, "sleep", "time.sleep"),
        (PBKDF2, "hash", "_hashlib.pbkdf2_hmac"),
    ],
)
def test_event_loop_blocked_classifies_from_the_builtins_the_profile_saw(
    callee: str, kind: str, call: str
) -> None:
    # The source line alone says nothing: the profile tells what the function calls.
    blocked = blocked_in("check_login", line=24, code="result = slow_step(user, value)")
    with_profile = loop_session(blocked, profiled=calling("check_login", callee))

    [finding] = findings(EVENT_LOOP_BLOCKED, with_profile)
    [unclassified] = findings(EVENT_LOOP_BLOCKED, loop_session(blocked))

    assert (finding.evidence["kind"], finding.evidence["blocking_call"]) == (kind, call)
    assert unclassified.evidence["kind"] == "other"


def test_a_password_hash_on_the_loop_is_offloaded_never_cached() -> None:
    s = loop_session(
        blocked_in("verify_password", code="digest = derive(password, salt)"),
        profiled=calling("verify_password", PBKDF2),
    )

    [finding] = findings(EVENT_LOOP_BLOCKED, s)

    suggestion = finding.suggestion.lower()
    assert finding.evidence["kind"] == "hash"
    assert "lru_cache" not in suggestion
    assert "never cache" in suggestion
    assert "cache it" not in suggestion.replace("never cache it", "")
    assert "to_thread.run_sync" in suggestion


@pytest.mark.parametrize(
    ("code", "kind", "call"),
    [
        ("time.sleep(0.2)", "sleep", "time.sleep"),
        ("out = subprocess.check_output(['git', 'log'])", "subprocess", None),
        ("resp = requests.post(url, json=body)", "http", None),
        ("rows = cur.fetchall()", "db", None),
        ("data = open(path).read()", "file", "file I/O"),
    ],
)
def test_event_loop_blocked_classifies_from_the_source_line(
    code: str, kind: str, call: str | None
) -> None:
    s = loop_session(blocked_in("handler", code=code))
    rule = SYNC_DB_DRIVER if kind == "db" else EVENT_LOOP_BLOCKED

    [finding] = findings(rule, s)

    assert finding.evidence["kind"] == kind
    # With no better name for the call, the finding shows the line itself.
    assert finding.evidence["blocking_call"] == (call or code)


@pytest.mark.parametrize(("cpu_s", "kind"), [(0.85, "cpu"), (0.3, "other")])
def test_event_loop_blocked_classifies_cpu_work_by_the_loop_threads_cpu(
    cpu_s: float, kind: str
) -> None:
    s = loop_session(
        blocked_in("tariff_table", code="total += rate * weight", wall_s=0.9, cpu_s=cpu_s)
    )

    [finding] = findings(EVENT_LOOP_BLOCKED, s)

    assert finding.evidence["kind"] == kind
    assert finding.evidence["cpu_share_while_blocked"] == pytest.approx(cpu_s / 0.9, abs=1e-3)
    if kind == "cpu":
        assert finding.evidence["blocking_call"] == "CPU-bound Python"
        # Pure CPU work is a cpu-hotspot too: that finding is kept, not superseded.
        assert finding.supersedes == ()
        assert "burning CPU" in finding.suggestion


@pytest.mark.parametrize(
    ("wall_s", "requests", "why"),
    [
        (0.1, 10, "10% of the time (under 15%), although 10 ms per request"),
        (0.5, 1000, "50% of the time, but 0.5 ms per request (under 2 ms)"),
    ],
)
def test_event_loop_blocked_stays_quiet_under_the_thresholds(
    wall_s: float, requests: int, why: str
) -> None:
    s = loop_session(
        blocked_in("handler", code="time.sleep(0.01)", wall_s=wall_s), requests=requests
    )

    assert findings(EVENT_LOOP_BLOCKED, s) == [], why


def test_event_loop_blocked_is_medium_below_half_the_time() -> None:
    s = loop_session(blocked_in("handler", code="time.sleep(0.01)", wall_s=0.3))

    [finding] = findings(EVENT_LOOP_BLOCKED, s)

    assert finding.severity is Severity.MEDIUM


def test_event_loop_blocked_ignores_the_framework_s_plumbing() -> None:
    framework_only = stack(*FRAMEWORK_TAIL, wall_s=0.9, cpu_s=0.9)

    assert findings(EVENT_LOOP_BLOCKED, loop_session(framework_only)) == []


def awaitable(frame: StackFrame) -> StackFrame:
    return dataclasses.replace(frame, awaitable=True)


# fastapi-users' login: its own `async def` endpoint verifies the password with Argon2
# (pwdlib), synchronously; no frame of the app's is on the loop's stack meanwhile.
LIBRARY_LOGIN = (
    lib_frame("pwdlib/hashers/argon2.py", "verify", line=58),
    lib_frame("pwdlib/_hash.py", "verify_and_update", line=100),
    lib_frame("fastapi_users/password.py", "verify_and_update", line=40),  # sync helper
    dataclasses.replace(
        lib_frame("fastapi_users/manager.py", "authenticate", line=645), awaitable=True
    ),
    dataclasses.replace(
        lib_frame("fastapi_users/router/auth.py", "login", line=44), awaitable=True
    ),
    *FRAMEWORK_TAIL,
)


def test_blocking_inside_a_library_names_the_library_call_and_its_endpoint() -> None:
    s = loop_session(stack(*LIBRARY_LOGIN, wall_s=0.95, cpu_s=0.95))

    [finding] = findings(EVENT_LOOP_BLOCKED, s)

    assert finding.severity is Severity.HIGH
    assert finding.location == CodeLocation("fastapi_users/router/auth.py", 44, "login")
    assert "pwdlib._hash.verify_and_update in fastapi_users's login()" in finding.title
    assert finding.evidence["kind"] == "hash"
    assert finding.evidence["blocking_code_owner"] == "library"
    assert "never cache" in finding.suggestion
    # The library function that makes the call is the one to override (fastapi-users'
    # BaseUserManager.authenticate calls the helper synchronously).
    assert "fastapi_users.manager.authenticate() calls pwdlib._hash.verify_and_update" in (
        finding.suggestion
    )
    assert "override fastapi_users.manager.authenticate()" in finding.suggestion
    assert "anyio.to_thread.run_sync" in finding.suggestion
    assert "source_line" not in finding.evidence  # no line of the app's to show
    assert "perfaudit" not in finding.suggestion + str(finding.location)


def test_the_framework_serialising_on_the_loop_is_left_to_slow_serialization() -> None:
    encoding = (
        lib_frame("fastapi/encoders.py", "jsonable_encoder", line=300, owner="framework"),
        lib_frame("fastapi/encoders.py", "jsonable_encoder", line=280, owner="framework"),
        lib_frame("fastapi/routing.py", "serialize_response", line=140, owner="framework"),
        *FRAMEWORK_TAIL,
    )
    s = loop_session(stack(*encoding, wall_s=0.95, cpu_s=0.95))

    assert findings(EVENT_LOOP_BLOCKED, s) == []


def test_event_loop_blocked_groups_by_function() -> None:
    s = loop_session(
        blocked_in("fetch_stock_level", code="time.sleep(0.05)", wall_s=0.6),
        stack(
            app_frame("log_access", line=90, code="time.sleep(0.01)", module="app/audit.py"),
            ENDPOINT,
            *FRAMEWORK_TAIL,
            wall_s=0.2,
        ),
    )

    found = findings(EVENT_LOOP_BLOCKED, s)

    assert [(f.location.function if f.location else "") for f in found] == [
        "fetch_stock_level",
        "log_access",
    ]
    assert [f.severity for f in found] == [Severity.HIGH, Severity.MEDIUM]


def test_event_loop_blocked_names_the_function_around_a_comprehension() -> None:
    comprehension = app_frame("<listcomp>", line=24, code="rows = [requests.get(u) for u in urls]")
    enclosing = app_frame("fetch_all", line=24, code="rows = [requests.get(u) for u in urls]")
    s = loop_session(stack(*REQUESTS_GET, comprehension, enclosing, ENDPOINT, wall_s=0.9))

    [finding] = findings(EVENT_LOOP_BLOCKED, s)

    assert finding.location is not None
    assert finding.location.function == "fetch_all"


# -- sync-db-driver -----------------------------------------------------------------------


def test_sqlite_on_the_loop_is_a_sync_db_driver_finding_not_event_loop_blocked() -> None:
    s = loop_session(
        blocked_in("search_products", line=31, code="rows = conn.query(sql, (pattern,))"),
        profiled=calling("search_products", SQLITE_EXECUTE, line=28),
        route=SEARCH,
    )

    assert findings(EVENT_LOOP_BLOCKED, s) == []
    [finding] = findings(SYNC_DB_DRIVER, s)

    assert finding.id == "sync-db-driver"
    assert finding.severity is Severity.HIGH
    assert finding.route == "GET /products/search"
    assert finding.location == CodeLocation("app/stock.py", 31, "search_products")
    assert finding.evidence["kind"] == "db"
    assert "aiosqlite" in finding.suggestion
    assert "create_async_engine" in finding.suggestion
    assert set(finding.supersedes) == {"cpu-hotspot", "event-loop-blocked"}


def test_sync_sqlalchemy_frames_are_a_sync_db_driver_finding() -> None:
    session_execute = (
        lib_frame("sqlalchemy/engine/default.py", "do_execute", line=941),
        lib_frame("sqlalchemy/engine/base.py", "_execute_context", line=1843),
        lib_frame("sqlalchemy/orm/session.py", "execute", line=2306),
    )
    s = loop_session(
        blocked_in("list_orders", code="orders = db.scalars(stmt).all()", below=session_execute)
    )

    assert findings(EVENT_LOOP_BLOCKED, s) == []
    [finding] = findings(SYNC_DB_DRIVER, s)

    assert finding.location is not None
    assert finding.location.function == "list_orders"
    assert finding.evidence["blocking_call"] == "sqlalchemy.orm.session.execute"


def test_sync_db_driver_stays_quiet_under_the_thresholds() -> None:
    s = loop_session(
        blocked_in("search_products", code="rows = cur.fetchall()", wall_s=0.1), requests=10
    )

    assert findings(SYNC_DB_DRIVER, s) == []


# -- client-per-request -------------------------------------------------------------------


def rates_profile(*, constructions: int, init_s: float = 0.4, requests: int = 50) -> RouteProfile:
    """fetch_rate (app) → make_client (a library helper) → httpx2's Client.__init__, which is
    also called once, more cheaply, straight from another app function (warm_up): the app
    function to blame is the one up the *heaviest* caller edges."""
    fetch_rate = app_fid("fetch_rate", module="app/rates.py", line=30)
    warm_up = app_fid("warm_up", module="app/rates.py", line=12)
    make_client = lib_fid("make_client", module="ratelib/client.py", line=10)
    init = lib_fid("__init__", module="httpx2/_client.py", line=1400)
    load_certs = builtin_fid("<method 'load_verify_locations' of '_ssl._SSLContext' objects>")
    functions = [
        fn(fetch_rate, "app", self_s=0.01, cumulative_s=init_s + 0.05, calls=requests),
        fn(warm_up, "app", self_s=0.001, cumulative_s=0.02, calls=1),
        fn(
            make_client,
            "library",
            self_s=0.001,
            cumulative_s=init_s * 0.95,
            calls=constructions,
            callers=[edge(fetch_rate, init_s * 0.95, calls=constructions)],
        ),
        fn(
            init,
            "library",
            self_s=0.002,
            cumulative_s=init_s,
            calls=constructions + 1,
            callers=[
                edge(make_client, init_s * 0.95, calls=constructions),
                edge(warm_up, init_s * 0.05, calls=1),
            ],
        ),
        fn(
            load_certs,
            "stdlib",
            self_s=init_s * 0.9,
            calls=constructions + 1,
            callers=[edge(init, init_s * 0.9, calls=constructions + 1)],
        ),
    ]
    return profile(RATES, functions, requests=requests, request_time_s=1.0)


def rates_session(*, constructions: int, init_s: float = 0.4) -> Session:
    return probe_session(
        [],
        profiles=[rates_profile(constructions=constructions, init_s=init_s)],
        measurements=[measurement(RATES)],
    )


def test_app_caller_follows_the_heaviest_caller_edges() -> None:
    prof = rates_profile(constructions=50)
    init = lib_fid("__init__", module="httpx2/_client.py", line=1400)

    caller = app_caller(prof, init)

    assert caller is not None
    assert caller.name == "fetch_rate"


def test_client_per_request_names_the_app_function_behind_library_frames() -> None:
    [finding] = findings(CLIENT_PER_REQUEST, rates_session(constructions=50))

    assert finding.id == "client-per-request"
    assert finding.severity is Severity.HIGH  # 40% of the route's time
    assert finding.route == "GET /rates/{currency}"
    assert finding.location == CodeLocation("app/rates.py", 30, "fetch_rate")
    assert finding.evidence["constructor"] == "httpx.AsyncClient / httpx.Client"
    assert finding.evidence["constructions_per_request"] == pytest.approx(1.02)
    assert finding.evidence["share_of_route_time"] == pytest.approx(0.4)
    assert "lifespan" in finding.suggestion
    assert "fetch_rate()" in finding.suggestion


def test_client_per_request_ignores_an_occasional_client() -> None:
    # 4 constructions (+1 from warm_up) over 50 requests: 0.1 per request.
    assert findings(CLIENT_PER_REQUEST, rates_session(constructions=4)) == []


@pytest.mark.parametrize(
    ("init_s", "severity"),
    [(0.3, Severity.HIGH), (0.1, Severity.MEDIUM), (0.02, Severity.LOW)],
)
def test_client_per_request_severity_follows_its_share(init_s: float, severity: Severity) -> None:
    [finding] = findings(CLIENT_PER_REQUEST, rates_session(constructions=50, init_s=init_s))

    assert finding.severity is severity
    assert finding.evidence["share_of_route_time"] == pytest.approx(init_s)


def test_client_per_request_counts_sqlite_connections() -> None:
    handler = app_fid("search_products", module="app/catalog.py", line=20)
    connect = builtin_fid("<built-in method _sqlite3.connect>")
    functions = [
        fn(handler, "app", self_s=0.05, cumulative_s=0.5, calls=50),
        fn(connect, "stdlib", self_s=0.2, calls=50, callers=[edge(handler, 0.2, calls=50)]),
    ]
    s = probe_session([], profiles=[profile(SEARCH, functions)], measurements=[measurement(SEARCH)])

    [finding] = findings(CLIENT_PER_REQUEST, s)

    assert finding.evidence["constructor"] == "sqlite3.connect"
    assert finding.location == CodeLocation("app/catalog.py", 20, "search_products")
    assert "pool" in finding.suggestion


# -- threadpool-saturation ----------------------------------------------------------------

EXPORT_ENDPOINT = CodeLocation(f"{APP_ROOT}/app/exports.py", 50, "export")
WORKER_TAIL = (
    app_frame("export", line=52, code="url = upload_to_storage(data)", module="app/exports.py"),
    lib_frame("anyio/_backends/_asyncio.py", "run", line=1000, owner="framework"),
    stdlib_frame("threading.py", "_bootstrap_inner", line=1045),
)


def held_by_upload(wall_s: float) -> SampledStack:
    return stack(
        stdlib_frame("ssl.py", "read", line=1134),
        app_frame("upload_to_storage", line=33, code="client.put(blob)", module="app/exports.py"),
        *WORKER_TAIL,
        wall_s=wall_s,
    )


def exports_session(
    *,
    worker_stacks: tuple[SampledStack, ...],
    user_concurrency: int = 1,
    saturated: int = 80,
    requests: int = 1000,
) -> Session:
    pool = threadpool(saturated=saturated, waiting=70, max_waiting=20, worker_stacks=worker_stacks)
    probe = route_probe(
        EXPORTS,
        wall_s=1.0,
        requests=requests,
        concurrency=60,
        endpoint=EXPORT_ENDPOINT,
        endpoint_async=False,
        pool=pool,
        single_ms=31.0,
        loaded_ms=61.0,
        probe_loaded_ms=0.3,  # the loop stays free
    )
    return probe_session([probe], measurements=[measurement(EXPORTS)], concurrency=user_concurrency)


def test_threadpool_saturation_locates_where_worker_threads_are_held() -> None:
    # 40 threads × 1 s of capacity, 32 thread-seconds seen inside upload_to_storage.
    s = exports_session(worker_stacks=(held_by_upload(30.0), held_by_upload(2.0)))

    [finding] = findings(THREADPOOL_SATURATION, s)

    assert finding.id == "threadpool-saturation"
    assert finding.route == "GET /exports/{export_id}"
    assert finding.location == CodeLocation("app/exports.py", 33, "upload_to_storage")
    assert finding.severity is Severity.MEDIUM  # only beyond the user's own concurrency
    assert finding.evidence["thread_tokens"] == 40
    assert finding.evidence["saturated_share"] == pytest.approx(0.8)
    assert finding.evidence["max_waiting"] == 20
    assert finding.evidence["thread_occupancy"] == pytest.approx(0.8)
    assert finding.evidence["p50_one_at_a_time_ms"] == pytest.approx(31.0)
    assert finding.evidence["p50_under_load_ms"] == pytest.approx(61.0)
    assert finding.evidence["expected_step"] == 2  # ceil(60 / 40)
    assert "total_tokens" in finding.suggestion
    assert finding.estimated_gain is not None
    assert finding.estimated_gain.latency_ms == pytest.approx(30.0)


def test_no_threadpool_saturation_when_threads_do_not_run_in_parallel() -> None:
    """40 threads serve 40 requests/s where one thread alone serves 32: the work holds the
    GIL (or one lock), so raising the limiter would only add waiting threads; the CPU work
    itself is what other findings report."""
    s = exports_session(worker_stacks=(held_by_upload(32.0),), user_concurrency=100, requests=40)

    assert findings(THREADPOOL_SATURATION, s) == []


def test_threadpool_saturation_is_high_when_the_users_own_load_exceeds_the_pool() -> None:
    s = exports_session(worker_stacks=(held_by_upload(32.0),), user_concurrency=100)

    [finding] = findings(THREADPOOL_SATURATION, s)

    assert finding.severity is Severity.HIGH
    assert "your load" in finding.title


def test_threadpool_saturation_at_exactly_the_pool_size_is_not_high() -> None:
    s = exports_session(worker_stacks=(held_by_upload(32.0),), user_concurrency=40)

    [finding] = findings(THREADPOOL_SATURATION, s)

    assert finding.severity is Severity.MEDIUM


def test_threadpool_saturation_ignores_a_queue_of_trivial_jobs() -> None:
    # Saturated and queueing, but no worker was ever seen inside app code: each job is
    # tiny and the queue is hand-off overhead (trivial-sync-route's case, not this one).
    assert findings(THREADPOOL_SATURATION, exports_session(worker_stacks=())) == []


def test_threadpool_saturation_needs_saturation() -> None:
    s = exports_session(worker_stacks=(held_by_upload(32.0),), saturated=10)

    assert findings(THREADPOOL_SATURATION, s) == []


# -- trivial-sync-route -------------------------------------------------------------------

FLAGS_ENDPOINT = CodeLocation(f"{APP_ROOT}/app/flags.py", 10, "list_flags")


def flags_session(
    *,
    endpoint_async: bool = False,
    endpoint_s: float = 0.0005,
    line: int = 10,
    callees: tuple[str, ...] = (),
) -> Session:
    """list_flags takes `endpoint_s` over 50 profiled requests (0.01 ms each by default);
    a hop to a worker thread costs 0.1 ms."""
    endpoint = app_fid("list_flags", module="app/flags.py", line=line)
    functions = [fn(endpoint, "app", self_s=endpoint_s, calls=50)]
    functions += [
        fn(builtin_fid(name), "stdlib", self_s=1e-6, calls=50, callers=[edge(endpoint, 1e-6)])
        for name in callees
    ]
    probe = route_probe(
        FLAGS,
        endpoint=FLAGS_ENDPOINT,
        endpoint_async=endpoint_async,
        pool=threadpool(hop_s=0.0001),
        single_ms=0.3,
        loaded_ms=0.5,
    )
    return probe_session(
        [probe],
        profiles=[profile(FLAGS, functions, request_time_s=0.015)],
        measurements=[measurement(FLAGS, durations_ms=[0.3] * 100)],
    )


def test_trivial_sync_route_fires_low_for_a_def_route_doing_almost_nothing() -> None:
    [finding] = findings(TRIVIAL_SYNC_ROUTE, flags_session())

    assert finding.id == "trivial-sync-route"
    assert finding.severity is Severity.LOW
    assert finding.route == "GET /flags"
    assert finding.location == CodeLocation("app/flags.py", 10, "list_flags")
    assert finding.evidence["endpoint_ms_per_request"] == pytest.approx(0.01)
    assert finding.evidence["thread_hop_ms"] == pytest.approx(0.1)
    assert "async def" in finding.suggestion


def test_trivial_sync_route_leaves_a_blocking_def_route_alone() -> None:
    # time.sleep(0) is cheap, but a `def` route that may block is right to be `def`.
    assert findings(TRIVIAL_SYNC_ROUTE, flags_session(callees=(SLEEP,))) == []


def test_trivial_sync_route_leaves_async_routes_alone() -> None:
    assert findings(TRIVIAL_SYNC_ROUTE, flags_session(endpoint_async=True)) == []


def test_trivial_sync_route_leaves_real_work_alone() -> None:
    # 2 ms per request of work: the hop is noise beside it.
    assert findings(TRIVIAL_SYNC_ROUTE, flags_session(endpoint_s=0.1)) == []


def test_trivial_sync_route_matches_the_endpoint_by_file_line_and_name() -> None:
    # Another list_flags (a different line) is not the endpoint: nothing to compare.
    assert findings(TRIVIAL_SYNC_ROUTE, flags_session(line=99)) == []


# -- cpu-hotspot and waiting --------------------------------------------------------------


def waiting_session(callee: str, *, via_comprehension: bool = False) -> Session:
    """fetch_all spends 0.01 s itself and 0.8 s in `callee` (of 1.0 s of request time),
    directly or through a list comprehension of its own."""
    fetch_all = app_fid("fetch_all", module="app/stock.py", line=20)
    functions = [fn(fetch_all, "app", self_s=0.01, cumulative_s=0.81, calls=50)]
    caller = fetch_all
    if via_comprehension:
        caller = app_fid("<listcomp>", module="app/stock.py", line=22)
        functions.append(
            fn(
                caller,
                "app",
                self_s=0.0,
                cumulative_s=0.8,
                calls=50,
                callers=[edge(fetch_all, 0.8)],
            )
        )
    functions.append(
        fn(builtin_fid(callee), "stdlib", self_s=0.8, calls=250, callers=[edge(caller, 0.8)])
    )
    return probe_session(
        [], profiles=[profile(STOCK, functions)], measurements=[measurement(STOCK)]
    )


def test_cpu_hotspot_ignores_time_spent_sleeping() -> None:
    assert findings(CPU_HOTSPOT, waiting_session(SLEEP)) == []


def test_cpu_hotspot_ignores_time_waiting_on_a_socket_below_a_library() -> None:
    fetch = app_fid("fetch_stock_level", module="app/stock.py", line=20)
    get = lib_fid("get", module="requests/api.py", line=73)
    recv = builtin_fid("<method 'recv_into' of '_socket.socket' objects>")
    functions = [
        fn(fetch, "app", self_s=0.01, cumulative_s=0.81, calls=50),
        fn(get, "library", self_s=0.05, cumulative_s=0.8, calls=50, callers=[edge(fetch, 0.8)]),
        fn(recv, "stdlib", self_s=0.75, calls=200, callers=[edge(get, 0.75)]),
    ]
    s = probe_session([], profiles=[profile(STOCK, functions)], measurements=[measurement(STOCK)])

    found = findings(CPU_HOTSPOT, s)

    # What is left is the library's own 0.05 s + 0.01 s: 6%, under the lowest grade.
    assert found == []


def test_cpu_hotspot_still_fires_on_cpu_self_time() -> None:
    busy = app_fid("tariff_table", module="app/stock.py", line=20)
    functions = [fn(busy, "app", self_s=0.7, calls=50)]
    s = probe_session([], profiles=[profile(STOCK, functions)], measurements=[measurement(STOCK)])

    [finding] = findings(CPU_HOTSPOT, s)

    assert finding.location == CodeLocation("app/stock.py", 20, "tariff_table")
    assert finding.severity is Severity.HIGH


def test_cpu_hotspot_counts_cpu_beside_the_sleep() -> None:
    # 0.6 s of CPU and 0.3 s asleep: the hotspot is the 60%, not 90%.
    handler = app_fid("handler", module="app/stock.py", line=20)
    functions = [
        fn(handler, "app", self_s=0.6, cumulative_s=0.9, calls=50),
        fn(builtin_fid(SLEEP), "stdlib", self_s=0.3, calls=50, callers=[edge(handler, 0.3)]),
    ]
    s = probe_session([], profiles=[profile(STOCK, functions)], measurements=[measurement(STOCK)])

    [finding] = findings(CPU_HOTSPOT, s)

    assert finding.evidence["share_of_route_time"] == pytest.approx(0.6)


def test_cpu_hotspot_ignores_sleeping_inside_a_comprehension() -> None:
    # The wait is credited to `<listcomp>`, whose time attributions fold into fetch_all:
    # the wait must be folded the same way (on 3.12 only generator expressions and
    # lambdas stay separate code objects; on 3.11 list comprehensions too).
    assert findings(CPU_HOTSPOT, waiting_session(SLEEP, via_comprehension=True)) == []


# -- superseding --------------------------------------------------------------------------


def finding_at(
    rule_id: str,
    severity: Severity,
    *,
    function: str = "search_products",
    route: str = "GET /products/search",
    supersedes: tuple[str, ...] = (),
    share: float = 0.0,
) -> Finding:
    return Finding(
        id=rule_id,
        severity=severity,
        title=f"{rule_id} at {function}",
        route=route,
        location=CodeLocation("app/catalog.py", 31, function),
        evidence={},
        suggestion="",
        impact=share,
        supersedes=supersedes,
    )


def test_a_narrower_finding_drops_the_broader_one() -> None:
    narrow = finding_at("sync-db-driver", Severity.HIGH, supersedes=("cpu-hotspot",))
    broad = finding_at("cpu-hotspot", Severity.HIGH)

    assert drop_superseded([broad, narrow]) == [narrow]


def test_a_more_severe_narrow_finding_drops_a_milder_broad_one() -> None:
    narrow = finding_at("sync-db-driver", Severity.HIGH, supersedes=("cpu-hotspot",))
    broad = finding_at("cpu-hotspot", Severity.MEDIUM)

    assert drop_superseded([broad, narrow]) == [narrow]


def test_a_less_severe_narrow_finding_replaces_the_broader_one_at_its_severity() -> None:
    """An unindexed scan ranked MEDIUM under a HIGH cpu-hotspot "cache it" of the same
    time: the narrower explanation leads, as severe as the time it explains."""
    narrow = finding_at("missing-index", Severity.MEDIUM, supersedes=("cpu-hotspot",), share=0.7)
    broad = finding_at("cpu-hotspot", Severity.HIGH, share=0.8)

    assert drop_superseded([broad, narrow]) == [replace(narrow, severity=Severity.HIGH)]


def test_a_less_severe_narrow_finding_of_a_sliver_of_the_time_keeps_the_broader_one() -> None:
    """A client built per request (1% of the time) does not explain a loop blocked for 90%
    of it in the same function."""
    narrow = finding_at(
        "client-per-request", Severity.LOW, supersedes=("event-loop-blocked",), share=0.01
    )
    broad = finding_at("event-loop-blocked", Severity.HIGH, share=0.9)

    assert drop_superseded([broad, narrow]) == [broad, narrow]


def test_a_more_severe_narrow_finding_keeps_its_own_severity() -> None:
    narrow = finding_at("sync-db-driver", Severity.HIGH, supersedes=("cpu-hotspot",))
    broad = finding_at("cpu-hotspot", Severity.LOW)

    assert drop_superseded([broad, narrow]) == [narrow]


@pytest.mark.parametrize(
    ("function", "route"),
    [("load_catalog", "GET /products/search"), ("search_products", "GET /products/{id}")],
)
def test_superseding_needs_the_same_function_and_route(function: str, route: str) -> None:
    narrow = finding_at("sync-db-driver", Severity.HIGH, supersedes=("cpu-hotspot",))
    elsewhere = finding_at("cpu-hotspot", Severity.HIGH, function=function, route=route)

    assert drop_superseded([elsewhere, narrow]) == [elsewhere, narrow]


def test_report_keeps_sync_db_driver_and_drops_the_cpu_hotspot_it_explains() -> None:
    s = loop_session(
        blocked_in("search_products", line=31, code="rows = conn.query(sql, (pattern,))"),
        profiled=calling("search_products", SQLITE_EXECUTE, line=28),
        route=SEARCH,
    )
    ids = [f.id for f in findings(CPU_HOTSPOT, s)]
    assert ids == ["cpu-hotspot"]  # sqlite's time is CPU to the profile…

    report = build_report(s)

    # … but the narrower finding explains it.
    assert [f.id for f in report.findings if f.severity >= Severity.MEDIUM] == ["sync-db-driver"]


def test_client_per_request_says_nothing_of_a_connection_that_costs_nothing() -> None:
    # 0.2% of the route: SQLite's connect, microseconds a request.
    assert findings(CLIENT_PER_REQUEST, rates_session(constructions=50, init_s=0.002)) == []


def sqlite_per_checkout() -> Session:
    """SQLAlchemy 1.4's NullPool (a file SQLite database) connecting on every checkout."""
    get_all = app_fid("get_all", module="app/api/crud.py", line=18)
    checkout = lib_fid("_do_get", module="sqlalchemy/pool/impl.py", line=240)
    connect = builtin_fid("<built-in method _sqlite3.connect>")
    functions = [
        fn(get_all, "app", self_s=0.01, cumulative_s=0.3, calls=50),
        fn(checkout, "library", self_s=0.0, cumulative_s=0.1, calls=50,
           callers=[edge(get_all, 0.1, calls=50)]),
        fn(connect, "stdlib", self_s=0.1, calls=50, callers=[edge(checkout, 0.1, calls=50)]),
    ]  # fmt: skip
    prof = profile(RATES, functions, requests=50, request_time_s=1.0)
    return probe_session([], profiles=[prof], measurements=[measurement(RATES)])


def test_a_connection_per_checkout_of_sqlalchemy_s_pool_is_not_a_missing_pool() -> None:
    [finding] = findings(CLIENT_PER_REQUEST, sqlite_per_checkout())

    assert "NullPool" in finding.suggestion and "QueuePool" in finding.suggestion
    assert "open a pool once at startup" not in finding.suggestion


def sleeping_endpoint(*, endpoint_async: bool, probe: bool) -> Session:
    """An endpoint that calls time.sleep itself: 1.0 s of the profiled 1.0 s."""
    handler = app_fid("sleeping_sync", module="app/profiler.py", line=66)
    sleep = builtin_fid("<built-in method time.sleep>")
    functions = [
        fn(handler, "app", self_s=0.0, cumulative_s=1.0, calls=2),
        fn(sleep, "stdlib", self_s=1.0, calls=2, callers=[edge(handler, 1.0, calls=2)]),
    ]
    route = RouteKey("GET", "/sleeping_sync")
    endpoint = CodeLocation(f"{APP_ROOT}/app/profiler.py", 66, "sleeping_sync")
    probes = [route_probe(route)] if probe else []  # a probe that saw nothing (429s)
    s = probe_session(
        probes,
        profiles=[profile(route, functions, requests=2, request_time_s=1.0)],
        measurements=[measurement(route, durations_ms=[500.0] * 2)],
    )
    declared = RouteDeclaration(route, endpoint, endpoint_async=endpoint_async)
    return dataclasses.replace(s, declarations=(declared,))


@pytest.mark.parametrize("probe", [True, False])
def test_a_blocking_call_in_an_async_endpoint_is_found_from_the_profile(probe: bool) -> None:
    """The probes may see nothing (skipped, or a rate limiter answering them 429): an
    `async def` endpoint calling time.sleep itself is on the loop all the same."""
    [finding] = findings(EVENT_LOOP_BLOCKED, sleeping_endpoint(endpoint_async=True, probe=probe))

    assert finding.severity is Severity.HIGH
    assert finding.location == CodeLocation("app/profiler.py", 66, "sleeping_sync")
    assert finding.evidence["blocking_call"] == "time.sleep"
    assert finding.evidence["source"] == "profile"
    assert "Replace `time.sleep(…)` with `await asyncio.sleep(…)`" in finding.suggestion


def test_a_def_endpoint_that_sleeps_is_not_on_the_loop() -> None:
    assert findings(EVENT_LOOP_BLOCKED, sleeping_endpoint(endpoint_async=False, probe=False)) == []

from __future__ import annotations

import dataclasses

import pytest
from unit_builders import (
    QUOTE,
    SITE,
    app_fid,
    builtin_fid,
    edge,
    fn,
    hotspot_session,
    lib_fid,
    measurement,
    profile,
    session,
)

from perfaudit.analysis.context import AnalysisContext
from perfaudit.analysis.findings import Finding, Severity, rank
from perfaudit.analysis.report import build_report
from perfaudit.analysis.rules import all_rules
from perfaudit.analysis.rules.cpu_hotspot import RULE as CPU_HOTSPOT
from perfaudit.analysis.rules.measurement_quality import RULE as MEASUREMENT_QUALITY
from perfaudit.analysis.rules.route_errors import RULE as ROUTE_ERRORS
from perfaudit.model import (
    CodeLocation,
    ErrorSample,
    FunctionId,
    RouteDeclaration,
    RouteKey,
    Session,
)


def findings(rule: object, s: Session) -> list[Finding]:
    return list(rule.check(AnalysisContext(s)))  # type: ignore[attr-defined]


def callee_session(handler: FunctionId, callee: FunctionId, callee_owner: str) -> Session:
    """The app function spends 0.05 s itself and 0.8 s in one callee (of 1.0 s)."""
    functions = [
        fn(handler, "app", self_s=0.05, cumulative_s=0.85, calls=50),
        fn(callee, callee_owner, self_s=0.8, calls=50, callers=[edge(handler, 0.8, calls=50)]),
    ]
    return session(measurements=[measurement(QUOTE)], profiles=[profile(QUOTE, functions)])


def test_rules_are_discovered() -> None:
    ids = {rule.id for rule in all_rules()}

    assert {"cpu-hotspot", "route-errors", "measurement-quality"} <= ids


# cpu-hotspot


def test_cpu_hotspot_fires_high_for_a_dominant_app_function() -> None:
    [finding] = findings(CPU_HOTSPOT, hotspot_session(app_self_s=0.7))

    assert finding.id == "cpu-hotspot"
    assert finding.severity is Severity.HIGH
    assert finding.route == "GET /quote/{sku}"
    assert finding.location is not None
    assert (finding.location.file, finding.location.line) == ("app/pricing.py", 12)
    assert finding.location.function == "tariff_table"
    assert finding.evidence["share_of_route_time"] == pytest.approx(0.7)
    assert finding.evidence["ms_per_request"] == pytest.approx(14.0)  # 70% of a 20 ms mean
    assert finding.evidence["calls_per_request"] == pytest.approx(1.0)
    assert finding.estimated_gain is not None
    assert finding.estimated_gain.latency_ms == pytest.approx(14.0)
    assert "tariff_table" in finding.title


@pytest.mark.parametrize(
    ("app_self_s", "severity"),
    [(0.3, Severity.MEDIUM), (0.15, Severity.LOW)],
)
def test_cpu_hotspot_grades_by_share(app_self_s: float, severity: Severity) -> None:
    [finding] = findings(CPU_HOTSPOT, hotspot_session(app_self_s=app_self_s))

    assert finding.severity is severity


def test_cpu_hotspot_is_silent_on_a_clean_profile() -> None:
    assert findings(CPU_HOTSPOT, hotspot_session(app_self_s=0.01)) == []


def test_cpu_hotspot_needs_big_ms_not_only_big_share() -> None:
    # 70% of a 1 ms route is 0.7 ms: at most low, never high.
    s = hotspot_session(app_self_s=0.7)
    fast = session(measurements=[measurement(QUOTE, durations_ms=[1.0] * 100)], profiles=s.profiles)

    [finding] = findings(CPU_HOTSPOT, fast)

    assert finding.severity is Severity.LOW


def test_cpu_hotspot_ignores_framework_time() -> None:
    framework_heavy = [
        fn(app_fid("handler"), "app", self_s=0.01, calls=50),
        fn(lib_fid("serialize_response", module="fastapi/routing.py"), "framework", self_s=0.9),
    ]
    s = session(measurements=[measurement(QUOTE)], profiles=[profile(QUOTE, framework_heavy)])

    assert findings(CPU_HOTSPOT, s) == []


def test_cpu_hotspot_attributes_library_time_to_the_app_caller() -> None:
    handler = app_fid("build_report", module="app/reports.py", line=30)
    render = lib_fid("render", module="jinja2/environment.py", line=1290)

    [finding] = findings(CPU_HOTSPOT, callee_session(handler, render, "library"))

    assert finding.severity is Severity.HIGH
    assert finding.location is not None
    assert finding.location.function == "build_report"
    assert finding.location.file == "app/reports.py"
    assert finding.evidence["share_of_route_time"] == pytest.approx(0.85)
    assert finding.evidence["self_share"] == pytest.approx(0.05)
    assert finding.evidence["top_callee"] == "render"
    assert finding.evidence["top_callee_share"] == pytest.approx(0.8)
    assert "render" in finding.suggestion


def test_cpu_hotspot_does_not_attribute_perfaudit_frames() -> None:
    handler = app_fid("handler")
    driver = FunctionId("/opt/perfaudit/load/driver.py", 200, "_worker")

    assert findings(CPU_HOTSPOT, callee_session(handler, driver, "perfaudit")) == []


@pytest.mark.parametrize("nested", ["<listcomp>", "<genexpr>", "<lambda>"])
def test_cpu_hotspot_charges_comprehensions_to_the_enclosing_function(nested: str) -> None:
    outer = app_fid("tariff_table", line=12)
    inner = app_fid(nested, line=14)
    functions = [
        fn(outer, "app", self_s=0.05, cumulative_s=0.65, calls=50),
        fn(inner, "app", self_s=0.6, calls=50, callers=[edge(outer, 0.6, calls=50)]),
    ]
    s = session(measurements=[measurement(QUOTE)], profiles=[profile(QUOTE, functions)])

    [finding] = findings(CPU_HOTSPOT, s)

    assert finding.location is not None
    assert (finding.location.function, finding.location.line) == ("tariff_table", 12)
    assert finding.evidence["share_of_route_time"] == pytest.approx(0.65)


def test_cpu_hotspot_survives_a_profile_with_no_request_time() -> None:
    # The audit keeps the profile of a route whose profiled requests all timed out (the driver
    # gave up): requests 0, request_time_s 0.0, but the functions that did return are there.
    timed_out = profile(
        QUOTE, [fn(app_fid("load_user"), "app", self_s=0.01)], requests=0, request_time_s=0.0
    )
    s = session(measurements=[measurement(QUOTE)], profiles=[timed_out])

    assert findings(CPU_HOTSPOT, s) == []


def test_cpu_hotspot_without_latency_phase_says_nothing() -> None:
    s = hotspot_session(app_self_s=0.9)

    assert findings(CPU_HOTSPOT, session(profiles=s.profiles)) == []


@pytest.mark.parametrize(
    "callee",
    [
        pytest.param(builtin_fid("<built-in method _hashlib.pbkdf2_hmac>"), id="pbkdf2"),
        pytest.param(builtin_fid("<built-in method _hashlib.scrypt>"), id="scrypt"),
        pytest.param(builtin_fid("<built-in method bcrypt._bcrypt.hashpw>"), id="bcrypt"),
    ],
)
def test_password_hash_is_never_suggested_for_caching(callee: FunctionId) -> None:
    handler = app_fid("hash_password", module="app/auth.py", line=8)

    [finding] = findings(CPU_HOTSPOT, callee_session(handler, callee, "stdlib"))

    text = finding.suggestion
    assert "never cache" in text
    assert "off the event loop" in text
    assert "lru_cache" not in text
    assert "TTLCache" not in text
    assert "Redis" not in text


def test_password_hash_through_a_library_method_is_never_suggested_for_caching() -> None:
    handler = app_fid("hash_password", module="app/auth.py", line=8)
    hasher = FunctionId(f"{SITE}/argon2/_password_hasher.py", 180, "hash")

    [finding] = findings(CPU_HOTSPOT, callee_session(handler, hasher, "library"))

    assert "lru_cache" not in finding.suggestion
    assert "never cache" in finding.suggestion


def test_cpu_hotspot_repeated_calls_suggest_hoisting() -> None:
    loop_body = app_fid("price_line")
    functions = [fn(loop_body, "app", self_s=0.8, calls=50 * 40)]
    s = session(measurements=[measurement(QUOTE)], profiles=[profile(QUOTE, functions)])

    [finding] = findings(CPU_HOTSPOT, s)

    assert finding.evidence["calls_per_request"] == pytest.approx(40.0)
    assert "40 times per request" in finding.suggestion


# route-errors


def test_route_errors_for_a_404() -> None:
    route = RouteKey("GET", "/itms")
    m = measurement(
        route,
        durations_ms=[1.0] * 40,
        errors=40,
        status_counts={"404": 40},
        error_sample=ErrorSample("http-status", 'HTTP 404: {"detail":"Not Found"}', 404),
    )

    [finding] = findings(ROUTE_ERRORS, session(measurements=[m]))

    assert finding.id == "route-errors"
    assert finding.severity is Severity.HIGH
    assert finding.route == "GET /itms"
    assert "HTTP 404" in finding.title
    assert "40 of 40" in finding.title
    assert finding.evidence["error_rate"] == 1.0
    assert "No route matches this path" in finding.suggestion
    assert finding.location is None


def test_route_errors_for_an_exception_names_the_location() -> None:
    route = RouteKey("GET", "/orders/{order_id}")
    sample = ErrorSample(
        kind="exception",
        message="KeyError: 'customer'",
        status=500,
        location=CodeLocation("/srv/shop/app/orders.py", 41, "get_order"),
        traceback="  File \"/srv/shop/app/orders.py\", line 41, in get_order\nKeyError: 'customer'",
    )
    m = measurement(route, durations_ms=[5.0] * 10, errors=3, error_sample=sample)

    [finding] = findings(ROUTE_ERRORS, session(measurements=[m]))

    assert finding.severity is Severity.MEDIUM  # 3 of 10
    assert "KeyError" in finding.title
    assert finding.location is not None
    assert (finding.location.file, finding.location.line) == ("app/orders.py", 41)
    assert finding.location.function == "get_order"
    assert "KeyError: 'customer'" in finding.suggestion
    assert "app/orders.py:41" in finding.suggestion
    assert finding.details == (sample.traceback,)


def test_route_errors_for_timeouts() -> None:
    m = measurement(
        RouteKey("GET", "/slow"),
        durations_ms=[],
        errors=3,
        timeouts=3,
        status_counts={"timeout": 3},
        error_sample=ErrorSample("timeout", "no response within 1 s (--timeout)"),
    )

    [finding] = findings(ROUTE_ERRORS, session(measurements=[m]))

    assert "timed out" in finding.title
    assert finding.severity is Severity.HIGH
    assert "--timeout" in finding.suggestion


def test_route_errors_silent_without_errors() -> None:
    assert findings(ROUTE_ERRORS, hotspot_session()) == []


# measurement-quality


def test_measurement_quality_notes_are_info() -> None:
    thin = session(
        measurements=[measurement(QUOTE, durations_ms=[3.0] * 10, background_ms=[2.0] * 10)],
        profiles=[profile(QUOTE, [fn(app_fid("f"), "app", self_s=0.01)], requests=5)],
        stopped_early="interrupted",
    )

    notes = findings(MEASUREMENT_QUALITY, thin)
    titles = " | ".join(n.title for n in notes)

    assert len(notes) == 4
    assert all(n.severity is Severity.INFO and n.id == "measurement-quality" for n in notes)
    assert "stopped early: interrupted" in titles
    assert "only 10 requests measured" in titles
    assert "only 5 requests were profiled" in titles
    assert "background tasks or yield-dependency teardown ran 2.0 ms" in titles


def test_measurement_quality_silent_on_a_solid_run() -> None:
    assert findings(MEASUREMENT_QUALITY, hotspot_session()) == []


def test_a_clean_app_yields_nothing_above_low() -> None:
    report = build_report(hotspot_session(app_self_s=0.01))

    assert all(f.severity <= Severity.LOW for f in report.findings)


# ranking


def finding(fid: str, severity: Severity, impact: float, confidence: float = 1.0) -> Finding:
    return Finding(
        id=fid,
        severity=severity,
        title=fid,
        route=None,
        location=None,
        evidence={},
        suggestion="",
        impact=impact,
        confidence=confidence,
    )


def test_rank_orders_by_severity_then_score() -> None:
    unranked = [
        finding("info-big", Severity.INFO, 1.0),
        finding("medium-small", Severity.MEDIUM, 0.1),
        finding("high-small", Severity.HIGH, 0.2),
        finding("medium-big", Severity.MEDIUM, 0.9, confidence=0.5),  # score 0.45
        finding("high-big", Severity.HIGH, 0.6, confidence=0.8),  # score 0.48
        finding("critical", Severity.CRITICAL, 0.01),
    ]

    ranked = [f.id for f in rank(unranked)]

    assert ranked == [
        "critical",
        "high-big",
        "high-small",
        "medium-big",
        "medium-small",
        "info-big",
    ]


def test_report_findings_are_ranked() -> None:
    errors = measurement(
        RouteKey("GET", "/broken"),
        durations_ms=[1.0] * 5,
        errors=1,
        error_sample=ErrorSample("http-status", "HTTP 500", 500),
    )
    base = hotspot_session(app_self_s=0.3)
    s = session(measurements=[*base.measurements, errors], profiles=base.profiles)

    severities = [f.severity for f in build_report(s).findings]

    assert severities == sorted(severities, reverse=True)
    assert len(severities) >= 3


@pytest.mark.parametrize(
    ("text", "expected"),
    [("high", Severity.HIGH), (" Medium ", Severity.MEDIUM), ("INFO", Severity.INFO)],
)
def test_severity_parse(text: str, expected: Severity) -> None:
    assert Severity.parse(text) is expected


def test_severity_parse_rejects_unknown_names() -> None:
    with pytest.raises(ValueError, match=r"'severe' is not a severity \(one of info, low, medium"):
        Severity.parse("severe")


def test_severity_label_and_order() -> None:
    assert Severity.CRITICAL.label == "critical"
    assert Severity.INFO < Severity.LOW < Severity.MEDIUM < Severity.HIGH < Severity.CRITICAL


def with_params(s: Session, name: str, params: tuple[str, ...]) -> Session:
    """The session with `params` recorded for the app function `name` (from its source)."""
    profiles = tuple(
        dataclasses.replace(
            p,
            functions=tuple(
                dataclasses.replace(f, params=params) if f.function.name == name else f
                for f in p.functions
            ),
        )
        for p in s.profiles
    )
    return dataclasses.replace(s, profiles=profiles)


@pytest.mark.parametrize("param", ["db_session: Session", "session: SessionDep", "db"])
def test_cpu_hotspot_never_suggests_caching_a_function_that_takes_a_db_session(
    param: str,
) -> None:
    s = with_params(hotspot_session(app_self_s=0.7), "tariff_table", (param, "limit: int"))

    [finding] = findings(CPU_HOTSPOT, s)

    assert "lru_cache" not in finding.suggestion
    assert f"Do not cache tariff_table(): it takes `{param}`" in finding.suggestion
    assert "paginate" in finding.suggestion
    assert finding.evidence["takes"] == param


def test_cpu_hotspot_may_suggest_caching_a_function_of_plain_values() -> None:
    s = with_params(hotspot_session(app_self_s=0.7), "tariff_table", ("sku: str", "qty: int"))

    [finding] = findings(CPU_HOTSPOT, s)

    assert "lru_cache" in finding.suggestion


def kdf_session(endpoint_async: bool) -> Session:
    login = app_fid("verify_password", module="app/core/security.py", line=29)
    kdf = lib_fid("verify", module="pwdlib/hashers/argon2.py", line=40)
    s = callee_session(login, kdf, "library")
    route = s.measurements[0].route
    return dataclasses.replace(
        s, declarations=(RouteDeclaration(route, None, endpoint_async=endpoint_async),)
    )


def test_a_password_hash_on_a_def_route_is_not_told_to_become_def() -> None:
    [finding] = findings(CPU_HOTSPOT, kdf_session(endpoint_async=False))

    assert "slow on purpose" in finding.suggestion and "never cache" in finding.suggestion
    assert "make the route `def`" not in finding.suggestion
    assert "already runs in the threadpool" in finding.suggestion
    # Nothing to remove: no promised gain, and at most low.
    assert finding.estimated_gain is None
    assert finding.severity is Severity.LOW


def test_a_password_hash_on_an_async_route_is_moved_off_the_loop() -> None:
    [finding] = findings(CPU_HOTSPOT, kdf_session(endpoint_async=True))

    assert "make the route `def`" in finding.suggestion
    assert finding.estimated_gain is None


def failing(route: RouteKey, sample: ErrorSample, failed: int = 20, of: int = 20) -> Session:
    status = str(sample.status or 500)
    counts = {status: failed, **({"200": of - failed} if of > failed else {})}
    m = measurement(
        route, durations_ms=[3.0] * of, errors=failed, status_counts=counts, error_sample=sample
    )
    return session(measurements=[m], profiles=[hotspot_session(app_self_s=0.7).profiles[0]])


def test_a_route_whose_every_request_failed_reports_only_why() -> None:
    """Its timings and profile describe the failure: no hotspot, no other finding."""
    sample = ErrorSample(
        "exception",
        'OperationalError: connection to server at "127.0.0.1", port 5432 failed: '
        "Connection refused",
        500,
    )
    report = build_report(failing(QUOTE, sample))

    assert {f.id for f in report.findings} <= {"route-errors", "measurement-quality"}
    [errors] = [f for f in report.findings if f.id == "route-errors"]
    assert "failed 20 of 20 requests: OperationalError: connection to server" in errors.title
    assert "is the database (or the service it calls) running" in errors.suggestion
    assert report.hotspots == ()
    assert report.nothing_measured


def test_a_route_that_failed_sometimes_keeps_its_findings() -> None:
    sample = ErrorSample("exception", "KeyError: 'x'", 500)
    report = build_report(failing(QUOTE, sample, failed=5, of=20))

    assert "cpu-hotspot" in {f.id for f in report.findings}
    assert not report.nothing_measured


@pytest.mark.parametrize(
    ("status", "message", "failed", "advice"),
    [
        (429, 'HTTP 429: {"error":"Rate limit exceeded: 5 per 1 minute"}', 20, "rate-limited"),
        (409, 'HTTP 409: {"detail":"conflict"}', 19, "{n} or {uuid}"),
        (400, 'HTTP 400: {"detail":"REGISTER_USER_ALREADY_EXISTS"}', 19, "{n} or {uuid}"),
    ],
)
def test_route_errors_explain_rate_limits_and_repeated_requests(
    status: int, message: str, failed: int, advice: str
) -> None:
    sample = ErrorSample("http-status", message, status)

    [finding] = findings(ROUTE_ERRORS, failing(QUOTE, sample, failed=failed))

    assert advice in finding.suggestion
    assert message.split(": ", 1)[1][:20] in finding.title


@pytest.mark.parametrize(
    ("after_response", "named"),
    [
        (("get_db",), "the teardown of yield dependencies get_db() (their code after `yield`)"),
        (("BackgroundTasks",), "BackgroundTasks ran"),
        (("BackgroundTasks", "get_db"), "BackgroundTasks and the teardown of get_db()"),
    ],
)
def test_work_after_the_response_is_named_by_what_ran(
    after_response: tuple[str, ...], named: str
) -> None:
    m = measurement(QUOTE, background_ms=[3.0] * 100)
    declaration = RouteDeclaration(QUOTE, None, endpoint_async=False, after_response=after_response)
    s = dataclasses.replace(session(measurements=[m]), declarations=(declaration,))

    titles = " | ".join(n.title for n in findings(MEASUREMENT_QUALITY, s))

    assert named in titles


def probed(status_counts: dict[str, int], durations: int) -> Session:
    from probe_builders import route_probe

    probe = dataclasses.replace(
        route_probe(QUOTE, requests=durations), status_counts=status_counts, wall_s=30.0
    )
    return dataclasses.replace(session(measurements=[measurement(QUOTE)]), probes=(probe,))


def test_a_rate_limited_probe_phase_is_noted() -> None:
    notes = findings(MEASUREMENT_QUALITY, probed({"200": 1, "429": 1324}, durations=1325))

    [note] = [n for n in notes if "probe phase failed" in n.title]
    assert "1324 of 1325" in note.title and "HTTP 429: rate-limited" in note.title


def test_a_probe_phase_that_completed_nothing_is_noted() -> None:
    notes = findings(MEASUREMENT_QUALITY, probed({"timeout": 60}, durations=0))

    [note] = [n for n in notes if "completed no request" in n.title]
    assert "connection pool" in note.suggestion


def test_a_healthy_probe_phase_adds_no_note() -> None:
    notes = findings(MEASUREMENT_QUALITY, probed({"200": 500}, durations=500))

    assert not [n for n in notes if "probe phase" in n.title]


def test_a_query_that_dominates_a_function_taking_a_session_gets_less_data_advice() -> None:
    """Seen on fastapi-crud-sync: `get_all(db_session)` spends its time in SQLAlchemy's
    Query.all(), once per request. "call it less often (once per request, or once at start-
    up)" fits neither; "all" alone did not say whose."""
    notes = RouteKey("GET", "/notes/")
    get_all = app_fid("get_all", module="app/api/crud.py", line=18)
    query_all = lib_fid("all", module="sqlalchemy/orm/query.py", line=2760)
    functions = [
        fn(get_all, "app", self_s=0.01, cumulative_s=0.6, calls=50),
        fn(query_all, "library", self_s=0.05, cumulative_s=0.58, calls=50,
           callers=[edge(get_all, 0.58)]),
    ]  # fmt: skip
    s = session(
        measurements=[measurement(notes, durations_ms=(20.0,) * 100)],
        profiles=[profile(notes, functions)],
    )
    s = with_params(s, "get_all", ("db_session: Session",))

    [finding] = findings(CPU_HOTSPOT, s)

    assert "all() of sqlalchemy/orm/query.py (" in finding.suggestion
    assert "paginate" in finding.suggestion
    assert "call it less often" not in finding.suggestion
    assert "Do not cache get_all(): it takes `db_session: Session`" in finding.suggestion


def test_a_route_whose_time_is_its_commit_gets_write_advice_not_fewer_rows() -> None:
    """fastapi-crud-sync's POST: one row inserted, most of the time in Session.commit."""
    handler = app_fid("post", module="app/api/crud.py", line=6)
    commit = lib_fid("commit", module="sqlalchemy/orm/session.py", line=1431)
    [finding] = findings(CPU_HOTSPOT, callee_session(handler, commit, "library"))
    assert "fetch fewer rows" not in finding.suggestion
    assert "journal_mode=WAL" in finding.suggestion
    assert "commit() of sqlalchemy/orm/session.py" in finding.suggestion

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from typing import Any

import pytest
from unit_builders import app_fid, builtin_fid, edge, fn, lib_fid, measurement, profile, session

from perfaudit.model import (
    CodeLocation,
    DeclaredServer,
    ErrorSample,
    RouteKey,
    RunSettings,
    Session,
    SessionFormatError,
    SkippedRoute,
)

ORDERS = RouteKey("GET", "/orders/{order_id}")
Corruption = Callable[[dict[str, Any]], object]


def full_session() -> Session:
    handler = app_fid("get_order", module="app/orders.py", line=41)
    query = lib_fid("execute", module="sqlalchemy/engine/base.py", line=1400)
    functions = [
        fn(handler, "app", self_s=0.01, cumulative_s=0.4, calls=20),
        fn(query, "library", self_s=0.3, calls=40, callers=[edge(handler, 0.3, calls=40)]),
        fn(
            builtin_fid("<built-in method time.sleep>"),
            "stdlib",
            self_s=0.05,
            callers=[edge(handler, 0.05), edge(query, 0.01, calls=3)],
        ),
    ]
    failing = measurement(
        ORDERS,
        durations_ms=[12.5, 13.25, 40.0],
        background_ms=[0.0, 1.5, 0.25],
        errors=1,
        timeouts=1,
        status_counts={"200": 2, "500": 1, "timeout": 1},
        error_sample=ErrorSample(
            kind="exception",
            message="KeyError: 'id'",
            status=500,
            location=CodeLocation("/srv/shop/app/orders.py", 41, "get_order"),
            traceback="  File \"/srv/shop/app/orders.py\", line 41\nKeyError: 'id'",
        ),
        url="/orders/7",
    )
    plain = measurement(
        RouteKey("GET", "/health"), error_sample=ErrorSample("http-status", "HTTP 404", 404)
    )
    return session(
        measurements=[failing, plain],
        profiles=[profile(ORDERS, functions, requests=20, request_time_s=0.5)],
        skipped=[SkippedRoute("POST /orders", "not a GET route (POST)")],
        stopped_early="interrupted",
        notes=["lifespan skipped"],
    )


def test_session_round_trips_through_json() -> None:
    original = full_session()

    restored = Session.from_json(original.to_json())

    assert restored == original
    # Tuples stay tuples (dataclass equality would not catch a list standing in for one).
    assert isinstance(restored.measurements[0].durations_s, tuple)
    assert isinstance(restored.profiles[0].functions[1].callers, tuple)
    assert (
        restored.profiles[0].functions[2].callers[1].caller
        == original.profiles[0].functions[1].function
    )
    assert restored.measurements[0].error_sample is not None
    assert restored.measurements[0].error_sample.location == CodeLocation(
        "/srv/shop/app/orders.py", 41, "get_order"
    )
    assert restored.measurements[1].error_sample == ErrorSample("http-status", "HTTP 404", 404)


def test_the_declared_server_round_trips_and_older_sessions_have_none() -> None:
    declared = DeclaredServer("requirements.txt", "uvicorn==0.30.1", uvloop=False, httptools=True)
    original = full_session()
    original = dataclasses.replace(
        original, environment=dataclasses.replace(original.environment, declared=declared)
    )

    assert Session.from_json(original.to_json()).environment.declared == declared
    older = json.loads(full_session().to_json())
    del older["environment"]["declared"]  # written before the field existed
    assert Session.from_json(json.dumps(older)).environment.declared is None


def test_session_json_is_versioned() -> None:
    document = json.loads(full_session().to_json())

    assert document["format"] == "perfaudit-session"
    assert document["version"] == 1
    assert document["target"] == "shop.main:app"


def test_round_trip_keeps_optional_settings() -> None:
    settings = RunSettings(
        requests=None,
        duration_s=2.5,
        concurrency=8,
        warmup=0,
        timeout_s=1.0,
        profile_requests=10,
        profiler="cprofile",
        lifespan=False,
        notes=("a", "b"),
    )
    original = dataclasses.replace(session(), settings=settings)

    restored = Session.from_json(original.to_json())

    assert restored.settings == settings
    assert restored.settings.requests is None


def _document() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(full_session().to_json())
    return loaded


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("this is not json", "not JSON"),
        ("{", "not JSON"),
        ("[1, 2, 3]", "not a perfaudit session"),
        ('{"format": "speedscope", "version": 1}', "not a perfaudit session"),
        ('{"version": 1}', "not a perfaudit session"),
    ],
)
def test_from_json_rejects_what_is_not_a_session(text: str, message: str) -> None:
    with pytest.raises(SessionFormatError, match=message):
        Session.from_json(text)


def test_from_json_rejects_another_version() -> None:
    document = _document()
    document["version"] = 99

    with pytest.raises(SessionFormatError, match=r"version 99 .*reads version 1"):
        Session.from_json(json.dumps(document))


def test_from_json_rejects_missing_version() -> None:
    document = _document()
    del document["version"]

    with pytest.raises(SessionFormatError, match="version"):
        Session.from_json(json.dumps(document))


@pytest.mark.parametrize(
    "corrupt",
    [
        pytest.param(lambda d: d.pop("target"), id="missing-field"),
        pytest.param(lambda d: d.update(measurements=5), id="measurements-not-a-list"),
        pytest.param(lambda d: d.update(environment=None), id="environment-null"),
        pytest.param(lambda d: d["measurements"][0].update(durations_s=["fast"]), id="bad-float"),
        pytest.param(lambda d: d["measurements"][0].update(durations_s=[None]), id="null-float"),
        pytest.param(
            lambda d: d["profiles"][0].update(functions=[{"owner": "app"}]), id="bad-function"
        ),
    ],
)
def test_from_json_rejects_malformed_content(corrupt: Corruption) -> None:
    document = _document()
    corrupt(document)

    with pytest.raises(SessionFormatError, match="malformed session"):
        Session.from_json(json.dumps(document))


@pytest.mark.parametrize(
    "corrupt",
    [
        pytest.param(lambda d: d["environment"].update(packages=[]), id="packages-list"),
        pytest.param(lambda d: d["measurements"][0].update(status_counts="200"), id="status-str"),
    ],
)
def test_from_json_rejects_a_mapping_that_is_not_an_object(corrupt: Corruption) -> None:
    document = _document()
    corrupt(document)

    with pytest.raises(SessionFormatError, match="malformed session"):
        Session.from_json(json.dumps(document))

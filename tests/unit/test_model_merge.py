"""Requests to two URLs under one template (/orders/1, /orders/999) merge into one route."""

from __future__ import annotations

import pytest
from unit_builders import app_fid, builtin_fid, edge, fn, measurement, profile

from perfaudit.model import ErrorSample, RouteKey

ORDER = RouteKey("GET", "/orders/{order_id}")


def test_measurements_merge() -> None:
    ok = measurement(ORDER, durations_ms=[10.0, 20.0], wall_s=1.0, url="/orders/1")
    missing = measurement(
        ORDER,
        durations_ms=[1.0],
        wall_s=0.5,
        url="/orders/999",
        errors=1,
        status_counts={"404": 1},
        error_sample=ErrorSample("http-status", "HTTP 404", 404),
    )

    merged = ok.merged_with(missing)

    assert merged.urls == ("/orders/1", "/orders/999")
    assert merged.requests == 3
    assert merged.durations_s == pytest.approx((0.01, 0.02, 0.001))
    assert merged.wall_s == pytest.approx(1.5)
    assert merged.status_counts == {"200": 2, "404": 1}
    assert merged.errors == 1
    assert merged.error_sample == ErrorSample("http-status", "HTTP 404", 404)
    assert merged.completed


def test_merge_keeps_each_url_once_and_prefers_an_exception_sample() -> None:
    http = ErrorSample("http-status", "HTTP 404", 404)
    exception = ErrorSample("exception", "KeyError: 'x'", 500)
    a = measurement(ORDER, url="/orders/1", errors=1, error_sample=http)
    b = measurement(ORDER, url="/orders/1", errors=1, error_sample=exception)

    merged = a.merged_with(b)

    assert merged.urls == ("/orders/1",)
    assert merged.status_counts == {"200": 200}
    assert merged.error_sample == exception
    assert b.merged_with(a).error_sample == exception


def test_profiles_merge_function_by_function() -> None:
    handler = app_fid("get_order")
    sleep = builtin_fid("<built-in method time.sleep>")
    first = profile(
        ORDER,
        [
            fn(handler, "app", self_s=0.1, calls=10),
            fn(sleep, "stdlib", self_s=0.2, calls=10, callers=[edge(handler, 0.2, calls=10)]),
        ],
        requests=10,
        request_time_s=0.5,
    )
    second = profile(
        ORDER,
        [fn(sleep, "stdlib", self_s=0.4, calls=5, callers=[edge(handler, 0.4, calls=5)])],
        requests=5,
        request_time_s=0.6,
    )

    merged = first.merged_with(second)
    by_name = {f.function.name: f for f in merged.functions}

    assert merged.requests == 15
    assert merged.request_time_s == pytest.approx(1.1)
    assert by_name["get_order"].calls == 10
    slept = by_name[sleep.name]
    assert (slept.calls, slept.self_s) == (15, pytest.approx(0.6))
    [caller] = slept.callers
    assert caller.caller == handler
    assert (caller.calls, caller.cumulative_s) == (15, pytest.approx(0.6))

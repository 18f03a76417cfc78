"""`perfaudit load` without a network: targets from the command line, an engine's result
turned into the shared report, and the one-sentence errors."""

from __future__ import annotations

import io
import json
import re

import pytest
from rich.console import Console

from perfaudit.analysis.report import build_report
from perfaudit.errors import TargetError, UsageError
from perfaudit.load.http_run import LoadOptions, _raise_if_unreachable, _session
from perfaudit.load.outcome import EngineResult, TargetTally
from perfaudit.load.scenario import LoadPlan, Target
from perfaudit.load.targets import build_targets, parse_weights
from perfaudit.render.json_report import report_to_dict
from perfaudit.render.terminal import render_terminal

BASE = "http://127.0.0.1:8000"


# -- targets ------------------------------------------------------------------------------


def test_targets_take_method_body_headers_and_weights() -> None:
    targets = build_targets(
        [f"{BASE}/items", f"POST {BASE}/orders"],
        data='{"sku": "A1"}',
        headers=["Authorization: Bearer t"],
        weights=parse_weights("3,1"),
    )
    items, orders = targets
    assert (items.method, items.url, items.body, items.weight) == ("GET", f"{BASE}/items", b"", 3)
    assert orders.method == "POST"
    assert orders.body == b'{"sku": "A1"}'
    assert ("content-type", "application/json") in orders.headers
    assert ("Authorization", "Bearer t") in orders.headers
    assert orders.weight == 1


@pytest.mark.parametrize(
    ("urls", "weights", "message"),
    [
        (["127.0.0.1:8000/items"], (), "not an http:// or https:// URL"),
        (["ftp://host/file"], (), "not an http:// or https:// URL"),
        (["FETCH http://h/x"], (), "not an HTTP method"),
        ([f"{BASE}/a", f"{BASE}/b"], (1.0,), "1 weights for 2 URLs"),
        ([f"{BASE}/a"], (0.0,), "must be positive"),
        ([], (), "No URL"),
    ],
)
def test_bad_targets_are_usage_errors(urls: list[str], weights: tuple[float, ...], message: str):
    with pytest.raises(UsageError, match=message):
        build_targets(urls, weights=weights)


def test_weights_must_be_numbers() -> None:
    with pytest.raises(UsageError, match="not a list of weights"):
        parse_weights("3,x")


def test_a_body_needs_a_method_that_sends_one() -> None:
    with pytest.raises(UsageError, match="no URL sends one"):
        build_targets([f"{BASE}/items"], data="{}")


@pytest.mark.parametrize(
    ("plan", "message"),
    [
        (LoadPlan((Target(BASE),), connections=0), "connections"),
        (LoadPlan((Target(BASE),), rate=0), "--rate"),
        (LoadPlan((Target(BASE),), duration_s=None), "Nothing bounds"),
        (LoadPlan((Target(BASE),), processes=0), "--processes"),
    ],
)
def test_impossible_plans_are_usage_errors(plan: LoadPlan, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        LoadOptions(plan).check()


# -- the engine's result as a session and a report ---------------------------------------


def _open_result() -> tuple[LoadOptions, EngineResult]:
    plan = LoadPlan(
        (Target(f"{BASE}/fast"), Target(f"{BASE}/broken")), connections=4, rate=100, duration_s=2
    )
    fast = TargetTally(
        durations_s=(0.010, 0.020, 0.030),
        uncorrected_s=(0.005, 0.006, 0.007),
        status_counts={"200": 3},
    )
    broken = TargetTally(
        durations_s=(0.001,),
        uncorrected_s=(0.001,),
        status_counts={"500": 1, "reset": 3},
        errors=4,
        error_sample="Server disconnected",
    )
    result = EngineResult(
        engine="builtin",
        client="aiohttp",
        tallies=(fast, broken),
        wall_s=2.0,
        cpu_s=1.9,
        processes=1,
        late=7,
    )
    return LoadOptions(plan), result


def test_each_target_becomes_a_route_measurement() -> None:
    options, result = _open_result()
    session = _session(options, result, "2026-11-25T00:00:00+00:00")
    fast, broken = session.measurements
    assert str(fast.route) == "GET /fast"  # one origin: paths are enough
    assert fast.durations_s == (0.010, 0.020, 0.030)
    assert fast.uncorrected_s == (0.005, 0.006, 0.007)
    assert broken.errors == 4
    assert broken.error_sample is not None
    assert broken.error_sample.kind == "transport"  # resets outnumber the 500
    assert "reset" in broken.error_sample.message
    assert session.load is not None
    assert session.load.client_bound  # 1.9 CPU-s in 2 s on one core
    assert session.mode == "load"


def test_the_report_shows_the_load_and_both_latencies() -> None:
    options, result = _open_result()
    report = build_report(_session(options, result, "2026-11-25T00:00:00+00:00"))
    document = report_to_dict(report)
    assert document["load"]["model"] == "open"
    assert document["load"]["late_requests"] == 7
    assert document["load"]["client_bound"] is True
    fast = document["routes"][0]
    assert fast["latency_ms"]["p50"] == pytest.approx(20.0)
    assert fast["latency_uncorrected_ms"]["p50"] == pytest.approx(6.0)
    assert [f["id"] for f in document["findings"] if f["severity"] != "info"] == ["route-errors"]
    assert "failed 4 of 4 requests" in document["findings"][0]["title"]
    json.dumps(document)  # serialisable as is
    out = io.StringIO()
    render_terminal(report, Console(file=out, width=100, no_color=True))
    text = out.getvalue()
    assert "open model, 100 requests/s asked for" in text
    assert "7 requests left late" in text
    assert "near its limit" in text
    assert "from the actual send" in text
    assert "p99.9 actual" in text


def test_a_server_that_never_answered_is_a_target_error() -> None:
    plan = LoadPlan((Target(f"{BASE}/"),))
    refused = TargetTally(
        durations_s=(), status_counts={"refused": 12}, errors=12, error_sample="Connect call failed"
    )
    result = EngineResult("builtin", "aiohttp", (refused,), wall_s=1.0, cpu_s=0.1, processes=1)
    with pytest.raises(
        TargetError, match=re.escape("Nothing is listening at http://127.0.0.1:8000")
    ):
        _raise_if_unreachable(plan, result)


def test_an_interrupted_run_is_reported_even_without_answers() -> None:
    plan = LoadPlan((Target(f"{BASE}/"),))
    refused = TargetTally(durations_s=(), status_counts={"refused": 2}, errors=2)
    result = EngineResult(
        "builtin", "aiohttp", (refused,), 1.0, 0.1, 1, stopped_early="interrupted (Ctrl-C)"
    )
    _raise_if_unreachable(plan, result)  # no exception: the partial report is wanted

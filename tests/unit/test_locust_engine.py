"""The Locust engine without running Locust: the generated locustfile (checked as Python
source, never imported: Locust patches the process with gevent), the command line, and
Locust's JSON statistics read back into per-target tallies."""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path
from typing import Any

import pytest

from perfaudit.errors import EXIT_USAGE, CaptureError, UsageError
from perfaudit.load.locust import (
    LocustExit,
    LocustRun,
    engine_result,
    locust_command,
    locustfile_for,
    run_locust,
    tallies_from_stats,
    task_weights,
)
from perfaudit.load.scenario import LoadPlan, Target
from perfaudit.model import INTERRUPTED
from perfaudit.progress import NoProgress

BASE = "http://127.0.0.1:8000"


def plan_of(*targets: Target, **options: Any) -> LoadPlan:
    return LoadPlan(targets=targets, **options)


def sent_requests(source: str) -> list[tuple[Any, ...]]:
    """The literal arguments of every `send(self, …)` call in a generated locustfile."""
    calls = [
        node
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "send"
    ]
    return [tuple(ast.literal_eval(arg) for arg in call.args[1:]) for call in calls]


def constants(source: str) -> dict[str, Any]:
    values = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
            name = node.targets[0].id
            if name.isupper():
                values[name] = ast.literal_eval(node.value)
    return values


def class_attribute(source: str, name: str) -> str:
    user = next(n for n in ast.parse(source).body if isinstance(n, ast.ClassDef))
    for node in user.body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == name:
            return ast.unparse(node.value)
    raise AssertionError(f"{name} not set on {user.name}")


# -- the locustfile -----------------------------------------------------------------------


def test_locustfile_is_python_with_one_fast_http_user_and_weighted_tasks() -> None:
    source = locustfile_for(
        plan_of(Target(f"{BASE}/hello", weight=3), Target(f"{BASE}/sleep/20", weight=1.5))
    )
    compile(source, "perfaudit_locustfile.py", "exec")
    assert "class PerfauditUser(FastHttpUser):" in source
    assert source.count("(FastHttpUser)") == 1
    assert "@task(2)\n    def target_0" in source
    assert "@task(1)\n    def target_1" in source
    assert class_attribute(source, "wait_time") == "constant(0)"
    assert class_attribute(source, "host") == repr(BASE)


def test_everything_embedded_is_escaped() -> None:
    path = "/a'b\"c/'''/\"\"\"?q=x'y&z=\\n"
    body = b'{"text": """it\'s \\ here"""}\n\x00'
    headers = (("X-Quote", "a'b\"c\\"), ("content-type", "application/json"))
    target = Target(f"{BASE}{path}", method="POST", headers=headers, body=body)
    source = locustfile_for(plan_of(target, Target(f"{BASE}/plain")))
    compile(source, "perfaudit_locustfile.py", "exec")
    first, second = sent_requests(source)
    assert first == ("POST", path, f"0 {path}", dict(headers), body)
    assert second == ("GET", "/plain", "1 /plain", {}, None)


def test_plan_limits_reach_the_locustfile() -> None:
    source = locustfile_for(
        plan_of(Target(f"{BASE}/x"), duration_s=2.5, requests=100, timeout_s=3), shares=4
    )
    values = constants(source)
    assert values["DURATION_S"] == 2.5
    assert (values["BUDGET"], values["SHARES"], values["TIMEOUT_S"]) == (100, 4, 3.0)
    unbounded = constants(locustfile_for(plan_of(Target(f"{BASE}/x"), duration_s=None)))
    assert unbounded["DURATION_S"] is None
    assert unbounded["BUDGET"] is None


def test_open_model_paces_each_user_at_its_share_of_the_rate() -> None:
    source = locustfile_for(plan_of(Target(f"{BASE}/x"), connections=10, rate=25.0))
    assert class_attribute(source, "wait_time") == "constant_throughput(2.5)"


def test_targets_must_share_one_host() -> None:
    plan = plan_of(Target(f"{BASE}/a"), Target("http://127.0.0.1:9000/b"))
    with pytest.raises(UsageError, match="one host") as caught:
        locustfile_for(plan)
    assert caught.value.exit_code == EXIT_USAGE
    assert "--engine builtin" in caught.value.remedy


def test_the_same_host_spelled_differently_is_one_host() -> None:
    plan = plan_of(Target("http://Example.com/a"), Target("HTTP://example.com:80/b"))
    compile(locustfile_for(plan), "perfaudit_locustfile.py", "exec")


@pytest.mark.parametrize(
    ("weights", "expected"),
    [
        ((1.0,), (1,)),
        ((3.0, 1.5), (2, 1)),
        ((2.0, 3.0, 5.0), (2, 3, 5)),
        ((0.001, 0.001), (1, 1)),
        ((1.0, 0.333), (3, 1)),
        ((1000.0, 1.0), (999, 1)),  # capped: Locust repeats each task `weight` times
    ],
)
def test_task_weights_are_whole_numbers_in_the_same_ratio(
    weights: tuple[float, ...], expected: tuple[int, ...]
) -> None:
    assert task_weights(weights) == expected


# -- the command line ---------------------------------------------------------------------


def test_local_command_line(tmp_path: Path) -> None:
    plan = plan_of(Target(f"{BASE}/x"), connections=7)
    command = locust_command(plan, tmp_path / "f.py", tmp_path / "stats", LocustRun(3))
    assert command[1:3] == ["-m", "locust"]
    text = " ".join(command)
    assert "--headless -u 7 -r 7 --host http://127.0.0.1:8000" in text
    assert f"--json-file {tmp_path / 'stats'}" in text
    assert "--processes 3" in text
    assert " --master " not in f"{text} "
    # The processes meet on a free port of their own, never Locust's fixed 5557.
    port = command[command.index("--master-bind-port") + 1]
    assert command[command.index("--master-port") + 1] == port
    assert port != "5557"


def test_master_command_line(tmp_path: Path) -> None:
    setup = LocustRun(1, master=True, expect_workers=2, bind_host="0.0.0.0", bind_port=6000)
    command = locust_command(plan_of(Target(f"{BASE}/x")), tmp_path / "f.py", tmp_path, setup)
    text = " ".join(command)
    assert "--master --expect-workers 2 --master-bind-host 0.0.0.0 --master-bind-port 6000" in text
    assert "--processes" not in text


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"master": True}, "needs workers"),
        ({"master": True, "expect_workers": 2, "processes": 2}, "--processes does not apply"),
        ({"master": True, "expect_workers": 20}, "need at least 20 connections"),
    ],
)
def test_impossible_setups_are_usage_errors(options: dict[str, Any], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        run_locust(plan_of(Target(f"{BASE}/x")), progress=NoProgress(), **options)


def test_missing_locust_is_a_capture_error(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "locust" else real(name)
    )
    with pytest.raises(CaptureError, match="Locust is not installed") as caught:
        run_locust(plan_of(Target(f"{BASE}/x")), progress=NoProgress())
    assert caught.value.remedy == "pip install 'perfaudit[locust]'"


# -- reading Locust's statistics back -----------------------------------------------------

# Captured from a 1 s run (3 users) on /hello, /status/503 and /sleep/300 with a 0.25 s
# timeout: Locust's --json-file document (num_reqs_per_sec/num_fail_per_sec trimmed) and
# the generated locustfile's sidecar.
CAPTURED_PLAN = plan_of(
    Target(f"{BASE}/hello"), Target(f"{BASE}/status/503"), Target(f"{BASE}/sleep/300")
)
CAPTURED_STATS: list[dict[str, Any]] = [
    {
        "name": "2 /sleep/300", "method": "GET",
        "last_request_timestamp": 1795646828.9412916, "start_time": 1795646828.4296758,
        "num_requests": 9, "num_none_requests": 0, "num_failures": 9,
        "total_response_time": 2348.9081140105554, "max_response_time": 293.2929430025979,
        "min_response_time": 251.2454890020308, "total_content_length": 0,
        "response_times": {"250": 7, "290": 2},
    },
    {
        "name": "1 /status/503", "method": "GET",
        "last_request_timestamp": 1795646828.9454727, "start_time": 1795646828.4337916,
        "num_requests": 3, "num_none_requests": 0, "num_failures": 3,
        "total_response_time": 4.217367993987864, "max_response_time": 2.532938997319434,
        "min_response_time": 0.8262599985755514, "total_content_length": 0,
        "response_times": {"3": 1, "1": 2},
    },
    {
        "name": "0 /hello", "method": "GET",
        "last_request_timestamp": 1795646828.9431841, "start_time": 1795646828.4343827,
        "num_requests": 5, "num_none_requests": 0, "num_failures": 0,
        "total_response_time": 9.821515996009111, "max_response_time": 3.3924819981621113,
        "min_response_time": 0.8249369966506492, "total_content_length": 85,
        "response_times": {"3": 1, "1": 1, "2": 3},
    },
]  # fmt: skip
CAPTURED_SIDECAR: dict[str, Any] = {
    "outcomes": {
        "2 /sleep/300": {"exc:TimeoutError": 9},
        "1 /status/503": {"503": 3},
        "0 /hello": {"200": 5},
    },
    "lost_ms": {"2 /sleep/300": {"250": 7, "290": 2}},
    "samples": {"2 /sleep/300": "TimeoutError: timed out", "1 /status/503": "HTTP 503"},
    "started_at": 1795646828.136356,
}


def test_histograms_expand_to_seconds_in_plan_order() -> None:
    hello, unavailable, slow = tallies_from_stats(CAPTURED_PLAN, CAPTURED_STATS, CAPTURED_SIDECAR)
    assert hello.durations_s == (0.001, 0.002, 0.002, 0.002, 0.003)
    assert hello.status_counts == {"200": 5}
    assert (hello.errors, hello.error_sample) == (0, "")
    assert unavailable.durations_s == (0.001, 0.001, 0.003)
    assert unavailable.status_counts == {"503": 3}
    assert unavailable.errors == 3
    assert unavailable.error_sample == "HTTP 503 Service Unavailable"
    # Timed out: no response, so no duration, though Locust's histogram counts them.
    assert slow.durations_s == ()
    assert slow.status_counts == {"timeout": 9}
    assert (slow.errors, slow.timeouts) == (9, 9)
    assert slow.error_sample == "TimeoutError: timed out"


def test_exception_names_map_to_transport_kinds() -> None:
    plan = plan_of(Target(f"{BASE}/x"))
    stats = [{"name": "0 /x", "num_requests": 9, "response_times": {"1": 4, "5": 5}}]
    outcomes = {
        "200": 4,
        "exc:ConnectionRefusedError": 1,
        "exc:ConnectionResetError": 1,
        "exc:HTTPConnectionClosed": 1,
        "exc:SSLCertVerificationError": 1,
        "exc:gaierror": 1,
        "exc:Timeout": 1,
        "exc:RetriesExceeded": 1,
    }
    lost = {"5": 5, "1": 2}  # more lost than kept in a bucket never goes negative
    extra = {"outcomes": {"0 /x": outcomes}, "lost_ms": {"0 /x": lost}, "samples": {}}
    (tally,) = tallies_from_stats(plan, stats, extra)
    assert tally.status_counts == {
        "200": 4, "refused": 1, "reset": 2, "tls": 1, "dns": 1, "timeout": 1, "other": 1,
    }  # fmt: skip
    assert (tally.errors, tally.timeouts) == (7, 1)
    assert tally.durations_s == (0.001, 0.001)


def test_without_the_sidecar_locusts_counts_say_ok_or_failed() -> None:
    _, unavailable, slow = tallies_from_stats(CAPTURED_PLAN, CAPTURED_STATS, None)
    assert unavailable.status_counts == {"other": 3}
    assert slow.status_counts == {"other": 9}
    (hello, _, _) = tallies_from_stats(CAPTURED_PLAN, CAPTURED_STATS, None)
    assert (hello.status_counts, hello.errors) == ({"2xx": 5}, 0)


def test_a_target_locust_never_sent_has_an_empty_tally() -> None:
    plan = plan_of(Target(f"{BASE}/a"), Target(f"{BASE}/b"))
    stats = [{"name": "0 /a", "num_requests": 1, "response_times": {"4": 1}}]
    _, never = tallies_from_stats(plan, stats, {"outcomes": {"0 /a": {"200": 1}}})
    assert (never.durations_s, never.status_counts, never.requests) == ((), {}, 0)


def test_engine_result_wall_time_resolution_and_notes() -> None:
    result = engine_result(
        CAPTURED_PLAN,
        CAPTURED_STATS,
        CAPTURED_SIDECAR,
        setup=LocustRun(2),
        cpu_s=1.5,
        ended=LocustExit(0),
    )
    assert result.engine == "locust"
    assert result.wall_s == pytest.approx(1795646828.9454727 - 1795646828.136356)
    assert (result.cpu_s, result.processes) == (1.5, 2)
    assert result.resolution_ms == 10.0  # 290 ms is in Locust's 10 ms buckets
    assert result.stopped_early == ""
    assert any(note.startswith("Locust rounds response times") for note in result.notes)
    # The sidecar counts CPU from the test's start in every process: it wins when there.
    measured = engine_result(
        CAPTURED_PLAN,
        CAPTURED_STATS,
        {**CAPTURED_SIDECAR, "cpu_s": 0.75},
        setup=LocustRun(2),
        cpu_s=1.5,
        ended=LocustExit(0),
    )
    assert measured.cpu_s == 0.75


def test_engine_result_when_interrupted_or_failing() -> None:
    open_plan = plan_of(Target(f"{BASE}/x"), rate=10.0)
    ended = LocustExit(2, interrupted=True, log_tail="boom")
    result = engine_result(open_plan, [], None, setup=LocustRun(1), cpu_s=0.0, ended=ended)
    assert result.stopped_early == INTERRUPTED
    assert result.tallies[0].requests == 0
    assert result.wall_s == 0.0
    assert result.resolution_ms == 1.0
    assert any("coordinated omission" in note for note in result.notes)
    failing = engine_result(
        CAPTURED_PLAN,
        CAPTURED_STATS,
        None,
        setup=LocustRun(1, master=True, expect_workers=3),
        cpu_s=0.0,
        ended=LocustExit(1, log_tail="first\nlast words"),
    )
    assert failing.processes == 3
    assert "Locust exited with code 1: last words" in failing.notes
    assert any("status counts are missing" in note for note in failing.notes)
    assert any("master" in note for note in failing.notes)

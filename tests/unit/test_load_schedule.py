"""The load engine's pure parts: which target goes next, how a plan splits across
processes, how failures are named, how process results merge, when the client is the
bottleneck."""

from __future__ import annotations

import errno
import signal
import socket
import ssl
import threading
from collections import Counter
from dataclasses import replace
from types import SimpleNamespace
from typing import Any

import aiohttp
import pytest

from perfaudit.load.engine import error_kind, interrupt_flag, planned_requests, weighted_order
from perfaudit.load.outcome import EngineResult, TargetTally
from perfaudit.load.processes import (
    apportion,
    auto_processes,
    client_bound,
    merge_results,
    split_plan,
)
from perfaudit.load.scenario import LoadPlan, Target

# What aiohttp's connector errors read from their connection key.
KEY: Any = SimpleNamespace(host="127.0.0.1", port=8000, is_ssl=False, ssl=True)


def plan(**changes: Any) -> LoadPlan:
    return replace(LoadPlan((Target("http://127.0.0.1:8000/"),)), **changes)


@pytest.mark.parametrize(
    ("weights", "count", "expected"),
    [
        ((1.0,), 10, [10]),
        ((3.0, 1.0), 400, [300, 100]),
        ((0.5, 0.25, 0.25), 100, [50, 25, 25]),
        ((1.0, 1000.0), 1001, [1, 1000]),  # a rare target still gets its turn
    ],
)
def test_weighted_order_gives_each_target_its_share(
    weights: tuple[float, ...], count: int, expected: list[int]
) -> None:
    counts = Counter(weighted_order(weights, count))
    assert [counts[i] for i in range(len(weights))] == expected


def test_weighted_order_interleaves_instead_of_bursting() -> None:
    order = weighted_order((3.0, 1.0), 40)
    assert max(len(run) for run in "".join(map(str, order)).split("1")) <= 3
    assert weighted_order((3.0, 1.0), 40) == order  # deterministic


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"rate": 100.0, "duration_s": 1.0}, 100),
        ({"rate": 100.0, "duration_s": 1.0, "requests": 30}, 30),
        ({"rate": 3.0, "duration_s": 0.5}, 2),  # due at 0 and 1/3 s
        ({"rate": 50.0, "duration_s": None, "requests": 7}, 7),
        ({"duration_s": None, "requests": 200}, 200),
        ({"duration_s": 5.0}, None),  # closed model: as many as it manages
    ],
)
def test_planned_requests(changes: dict[str, object], expected: int | None) -> None:
    assert planned_requests(plan(**changes)) == expected


def test_split_plan_shares_connections_rate_and_requests() -> None:
    shares = split_plan(plan(connections=10, rate=300.0, requests=1000, processes=3))
    assert [s.connections for s in shares] == [4, 3, 3]
    assert sum(s.rate or 0 for s in shares) == pytest.approx(300.0)
    assert [s.rate for s in shares] == pytest.approx([120.0, 90.0, 90.0])
    assert sum(s.requests or 0 for s in shares) == 1000
    assert all(s.processes == 1 and s.duration_s == 10.0 for s in shares)


def test_split_plan_never_leaves_a_process_idle() -> None:
    assert len(split_plan(plan(connections=2, processes=8))) == 2
    shares = split_plan(plan(connections=5, requests=4, processes=4, duration_s=None))
    assert [s.requests for s in shares] == [1, 1, 1, 1]
    assert [s.connections for s in shares] == [2, 1, 1, 1]


def test_split_plan_with_one_process_is_the_plan() -> None:
    original = plan(connections=10, rate=50.0)
    assert split_plan(original) == (original,)


@pytest.mark.parametrize(
    ("total", "weights", "expected"),
    [(10, [1, 1, 1], [4, 3, 3]), (7, [2, 1, 1], [3, 2, 2]), (0, [1, 2], [0, 0])],
)
def test_apportion_adds_up(total: int, weights: list[float], expected: list[int]) -> None:
    assert apportion(total, weights) == expected


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (TimeoutError(), "timeout"),
        (aiohttp.ServerTimeoutError("read timed out"), "timeout"),
        (aiohttp.ConnectionTimeoutError("connect timed out"), "timeout"),
        (
            aiohttp.ClientConnectorError(KEY, ConnectionRefusedError(errno.ECONNREFUSED, "no")),
            "refused",
        ),
        (ConnectionRefusedError(errno.ECONNREFUSED, "refused"), "refused"),
        (
            aiohttp.ClientConnectorDNSError(KEY, socket.gaierror(-2, "Name or service not known")),
            "dns",
        ),
        (socket.gaierror(-2, "Name or service not known"), "dns"),
        (aiohttp.ClientConnectorSSLError(KEY, ssl.SSLError(1, "wrong version number")), "tls"),
        (
            aiohttp.ClientConnectorCertificateError(
                KEY,
                ssl.SSLCertVerificationError(1, "certificate verify failed"),
            ),
            "tls",
        ),
        (ssl.SSLError(1, "record layer failure"), "tls"),
        (aiohttp.ServerDisconnectedError(), "reset"),
        (aiohttp.ClientOSError(errno.ECONNRESET, "Connection reset by peer"), "reset"),
        (aiohttp.ClientOSError(errno.EPIPE, "Broken pipe"), "reset"),
        (aiohttp.ClientPayloadError("Response payload is not completed"), "reset"),
        (ConnectionResetError(errno.ECONNRESET, "reset"), "reset"),
        (aiohttp.ClientOSError(errno.EHOSTUNREACH, "No route to host"), "other"),
        (ValueError("bad"), "other"),
    ],
)
def test_error_kind(exc: BaseException, kind: str) -> None:
    assert error_kind(exc) == kind


def result(**changes: Any) -> EngineResult:
    tally = TargetTally((0.1,), status_counts={"200": 1})
    return replace(
        EngineResult("builtin", "aiohttp", (tally,), wall_s=2.0, cpu_s=1.0, processes=1), **changes
    )


@pytest.mark.parametrize(
    ("wall_s", "cpu_s", "processes", "bound"),
    [
        (10.0, 8.0, 1, True),
        (10.0, 7.9, 1, False),
        (10.0, 16.0, 2, True),
        (10.0, 9.0, 2, False),
        (0.0, 0.0, 1, False),
    ],
)
def test_client_bound(wall_s: float, cpu_s: float, processes: int, bound: bool) -> None:
    assert client_bound(result(wall_s=wall_s, cpu_s=cpu_s, processes=processes)) is bound


def test_merge_results_adds_processes_up() -> None:
    first = result(
        tallies=(
            TargetTally((0.1, 0.2), (0.05, 0.1), {"200": 2, "reset": 1}, errors=1, error_sample=""),
            TargetTally((0.3,), (0.3,), {"503": 1}, errors=1, error_sample="HTTP 503"),
        ),
        wall_s=1.0,
        cpu_s=0.5,
        late=2,
    )
    second = result(
        tallies=(
            TargetTally((0.4,), (0.4,), {"200": 1, "timeout": 1}, errors=1, timeouts=1),
            TargetTally((), (), {}),
        ),
        wall_s=1.2,
        cpu_s=0.7,
        late=1,
        stopped_early="interrupted (Ctrl-C)",
    )
    merged = merge_results([first, second])
    assert merged.tallies[0].durations_s == (0.1, 0.2, 0.4)
    assert merged.tallies[0].uncorrected_s == (0.05, 0.1, 0.4)
    assert merged.tallies[0].status_counts == {"200": 3, "reset": 1, "timeout": 1}
    assert (merged.tallies[0].errors, merged.tallies[0].timeouts) == (2, 1)
    assert merged.tallies[1].status_counts == {"503": 1}
    assert merged.tallies[1].error_sample == "HTTP 503"
    assert (merged.wall_s, merged.processes) == (1.2, 2)
    assert merged.cpu_s == pytest.approx(1.2)
    assert merged.late == 3
    assert merged.stopped_early == "interrupted (Ctrl-C)"


def test_auto_processes_leaves_a_core() -> None:
    assert auto_processes() >= 1


def test_first_ctrl_c_sets_the_flag_and_the_second_interrupts() -> None:
    before = signal.getsignal(signal.SIGINT)
    with interrupt_flag() as interrupted:
        signal.raise_signal(signal.SIGINT)
        assert interrupted.is_set()
        with pytest.raises(KeyboardInterrupt):
            signal.raise_signal(signal.SIGINT)
    assert signal.getsignal(signal.SIGINT) is before


def test_interrupt_flag_off_the_main_thread_leaves_signals_alone() -> None:
    seen: list[object] = []

    def body() -> None:
        with interrupt_flag() as interrupted:
            seen.append(signal.getsignal(signal.SIGINT))
            seen.append(interrupted.is_set())

    before = signal.getsignal(signal.SIGINT)
    thread = threading.Thread(target=body)
    thread.start()
    thread.join()
    assert seen == [before, False]

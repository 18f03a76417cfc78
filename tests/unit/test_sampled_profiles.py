"""Per-route profiles built from py-spy's samples, in the shape the rules read."""

from __future__ import annotations

import pytest
from sampling_builders import (
    ON_LOOP,
    ON_WORKER,
    REQUEST,
    app,
    endpoint,
    lib,
    process,
    recorded,
    run,
    stack,
    std,
    thread,
)

from perfaudit.analysis.sampling import PROFILER, route_profiles
from perfaudit.model import FunctionId, FunctionStats, RouteKey, RouteProfile

RATES = RouteKey("GET", "/rates")
TABLE = [endpoint("GET", "/rates", "get_rates")]


def by_name(profile: RouteProfile, name: str) -> FunctionStats:
    return next(fn for fn in profile.functions if fn.function.name == name)


def rates_profile() -> RouteProfile:
    get_rates = app("get_rates", 12)
    loop = thread(
        "loop",
        stack(30, app("parse", 40), get_rates, *ON_LOOP),
        stack(10, app("parse", 41), get_rates, *ON_LOOP),
        stack(20, app("walk", 7), app("walk", 9), app("walk", 9), get_rates, *ON_LOOP),
    )
    (profile,) = route_profiles(run(process(loop), endpoints=TABLE), "/srv/app")
    return profile


def test_self_and_cumulative_time_come_from_the_samples() -> None:
    profile = rates_profile()
    assert (profile.route, profile.profiler) == (RATES, PROFILER)
    assert profile.request_time_s == pytest.approx(0.6)
    parse = by_name(profile, "parse")
    assert (parse.self_s, parse.cumulative_s) == (pytest.approx(0.4), pytest.approx(0.4))
    endpoint_fn = by_name(profile, "get_rates")
    assert (endpoint_fn.self_s, endpoint_fn.cumulative_s) == (0, pytest.approx(0.6))


def test_a_recursive_function_counts_once_per_stack() -> None:
    walk = by_name(rates_profile(), "walk")
    assert walk.cumulative_s == pytest.approx(0.2)
    assert walk.self_s == pytest.approx(0.2)


def test_caller_edges_come_from_adjacent_frames() -> None:
    profile = rates_profile()
    parse = by_name(profile, "parse")
    (edge,) = parse.callers
    assert edge.caller == by_name(profile, "get_rates").function
    assert edge.cumulative_s == pytest.approx(0.4)


def test_a_function_is_placed_at_its_most_sampled_line_and_counts_no_calls() -> None:
    parse = by_name(rates_profile(), "parse")
    assert parse.function.line == 40
    assert parse.calls == 0


def test_a_wait_in_c_code_is_recorded_as_the_builtin_cprofile_would_name() -> None:
    code = "time.sleep(0.2)"
    worker = thread("worker", stack(50, app("slow", 16, code), *ON_WORKER))
    (profile,) = route_profiles(run(process(worker)), "/srv/app")
    sleep = next(fn for fn in profile.functions if fn.function.file == "~")
    assert sleep.function == FunctionId("~", 0, "<built-in method time.sleep>")
    assert sleep.self_s == pytest.approx(0.5)
    assert by_name(profile, "slow").self_s == 0


def test_a_socket_read_below_a_library_is_a_waiting_builtin() -> None:
    frames = (
        std("socket.py", "SocketIO.readinto", 706),
        lib("requests/api.py", "get", 73),
        app("get_rates", 12, "return requests.get(URL).json()"),
        *ON_LOOP,
    )
    (profile,) = route_profiles(run(process(thread("loop", stack(8, *frames)))), "/srv/app")
    assert any("_socket.socket" in fn.function.name for fn in profile.functions)


def test_framework_work_joins_the_route_when_only_one_route_was_served() -> None:
    loop = thread("loop", stack(10, app("get_rates", 12), *ON_LOOP), stack(5, *REQUEST))
    (profile,) = route_profiles(run(process(loop), endpoints=TABLE), "/srv/app")
    assert profile.request_time_s == pytest.approx(0.15)


def test_requests_served_are_taken_when_known() -> None:
    loop = thread("loop", stack(10, app("get_rates", 12), *ON_LOOP))
    (profile,) = route_profiles(
        run(process(loop), endpoints=TABLE), "/srv/app", requests={RATES: 25}
    )
    assert profile.requests == 25


@pytest.mark.parametrize("server", ["asyncio", "uvloop"])
def test_a_recorded_time_sleep_on_the_loop_is_time_in_time_sleep(server: str) -> None:
    (profile,) = route_profiles(recorded(f"sleep_async_{server}"), "/srv/app")
    assert str(profile.route) == "sleep_async()"
    sleep = next(fn for fn in profile.functions if fn.function.file == "~")
    assert sleep.self_s / profile.request_time_s > 0.95
    assert by_name(profile, "sleep_async").function.line == 10


def test_a_recorded_clean_route_yields_no_profile() -> None:
    assert route_profiles(recorded("clean_asyncio"), "/srv/app") == ()

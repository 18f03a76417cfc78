"""Reading py-spy's stacks of a live server: idle or busy, which endpoint, which route."""

from __future__ import annotations

import pytest
from sampling_builders import (
    IN_DEPENDENCY,
    LOOP_BASE,
    LOOP_IDLE,
    ON_LOOP,
    ON_WORKER,
    REQUEST,
    WORKER_IDLE,
    app,
    endpoint,
    fw,
    process,
    recorded,
    run,
    stack,
    thread,
)

from perfaudit.analysis.sampling import (
    loop_activity,
    read_stack,
    route_names,
    server_stack,
    worker_load,
)
from perfaudit.model import RouteKey, StackFrame


def test_the_loop_waiting_in_the_selector_is_idle() -> None:
    assert read_stack(stack(5, *LOOP_IDLE), "loop").activity == "idle"


def test_a_worker_waiting_for_a_job_is_idle() -> None:
    assert read_stack(stack(5, *WORKER_IDLE), "worker").activity == "idle"


def test_the_framework_serving_a_request_is_busy_but_not_in_the_app() -> None:
    work = read_stack(stack(5, *REQUEST), "loop")
    assert (work.activity, work.entry, work.on_request_path) == ("server", None, True)


IMPORTING = (
    StackFrame("<frozen importlib._bootstrap>", 241, "_call_with_frames_removed", "stdlib"),
    StackFrame("<frozen importlib._bootstrap_external>", 940, "exec_module", "stdlib"),
    fw("uvicorn/importer.py", "import_from_string", 19),
    fw("uvicorn/workers.py", "UvicornWorker.run", 98),
)
LIFESPAN = (
    fw("starlette/routing.py", "Router.lifespan", 694),
    fw("uvicorn/lifespan/on.py", "LifespanOn.main", 86),
    *LOOP_BASE,
)


@pytest.mark.parametrize(
    "frames",
    [
        (app("<module>", 12, "from fastapi import FastAPI"), *IMPORTING),
        (app("write_log", 44, "log.write(line)"), app("lifespan", 60), *LIFESPAN),
    ],
    ids=["importing-the-app", "running-its-lifespan"],
)
def test_a_worker_starting_up_is_busy_serving_no_request(frames: tuple[StackFrame, ...]) -> None:
    """gunicorn's arbiter accepts connections before its workers have imported the app:
    their start-up is sampled too, and is no route's work, whatever app code it runs."""
    work = read_stack(stack(5, *frames), "loop")
    assert (work.activity, work.entry, work.on_request_path) == ("server", None, False)


def test_the_endpoint_is_the_app_frame_fastapi_called_on_the_loop() -> None:
    helper = app("load_rates", 40, "return requests.get(URL).json()", module="rates.py")
    work = read_stack(stack(5, helper, app("get_rates", 12), *ON_LOOP), "loop")
    assert work.activity == "app"
    assert work.entry is not None and work.entry.function == "get_rates"
    assert work.entry_kind == "endpoint"


def test_an_async_dependency_is_named_as_one() -> None:
    work = read_stack(stack(5, app("current_user", 8), *IN_DEPENDENCY), "loop")
    assert work.entry is not None and work.entry.function == "current_user"
    assert work.entry_kind == "dependency"


def test_the_endpoint_on_a_worker_is_the_first_app_frame_above_anyio() -> None:
    work = read_stack(stack(5, app("resize", 30), app("upload", 21), *ON_WORKER), "worker")
    assert work.entry is not None and work.entry.function == "upload"


def test_app_code_outside_a_handler_is_its_outermost_app_frame() -> None:
    middleware = app("add_timing", 5, module="middleware.py")
    work = read_stack(stack(5, app("log_it", 9), middleware, *REQUEST), "loop")
    assert work.entry is not None and (work.entry.function, work.entry_kind) == (
        "add_timing",
        "app",
    )


def test_routes_come_from_the_route_table_when_given() -> None:
    loop = thread("loop", stack(5, app("get_rates", 12), *ON_LOOP))
    sampled = run(process(loop), endpoints=[endpoint("GET", "/rates/{currency}", "get_rates")])
    names = route_names(sampled, "/srv/app")
    assert names.route(app("get_rates", 99)) == RouteKey("GET", "/rates/{currency}")


def test_without_the_table_a_route_is_named_after_its_endpoint() -> None:
    loop = thread("loop", stack(5, app("Views.get_rates", 12), *ON_LOOP))
    names = route_names(run(process(loop)), "/srv/app")
    route = names.route(app("Views.get_rates", 12))
    assert str(route) == "Views.get_rates()"


def test_endpoints_of_one_name_in_two_files_are_told_apart() -> None:
    loop = thread(
        "loop",
        stack(5, app("index", 3, module="users.py"), *ON_LOOP),
        stack(5, app("index", 3, module="orders.py"), *ON_LOOP),
    )
    names = route_names(run(process(loop)), "/srv/app")
    assert str(names.route(app("index", 3, module="orders.py"))) == "index() in orders.py"


@pytest.mark.parametrize("server", ["asyncio", "uvloop"])
def test_a_recorded_loop_blocked_by_time_sleep_is_in_the_app_nearly_all_the_time(
    server: str,
) -> None:
    (activity,) = loop_activity(recorded(f"sleep_async_{server}"))
    assert activity.app_share > 0.95


@pytest.mark.parametrize("server", ["asyncio", "uvloop"])
def test_a_recorded_clean_route_never_has_the_loop_in_app_code(server: str) -> None:
    (activity,) = loop_activity(recorded(f"clean_{server}"))
    assert activity.app == 0
    assert activity.idle > 0  # waiting in the selector (asyncio) or in uvloop's C loop


@pytest.mark.parametrize("server", ["asyncio", "uvloop"])
def test_recorded_workers_are_busy_in_the_sync_endpoint(server: str) -> None:
    (load,) = worker_load(recorded(f"sleep_sync_{server}"), "/srv/app")
    assert load.threads == 40
    assert load.held_at is not None and (load.held_at.function, load.held_at.line) == (
        "sleep_sync",
        16,
    )
    assert load.route == RouteKey("", "sleep_sync()")
    assert load.mean_busy > 30


@pytest.mark.parametrize(
    ("name", "loop", "http"),
    [("clean_asyncio", "asyncio", "h11"), ("clean_uvloop", "uvloop", "httptools")],
)
def test_the_loop_and_parser_are_read_from_the_frames(name: str, loop: str, http: str) -> None:
    seen = server_stack(recorded(name))
    assert (seen.server, seen.loop, seen.http) == ("uvicorn", loop, http)


def test_busy_workers_at_once_come_from_the_timelines() -> None:
    busy = stack(10, app("upload", 21), *ON_WORKER)
    idle = stack(10, *WORKER_IDLE)
    workers = [
        thread("worker", busy, idle, thread_id=1, timeline=[(0, 10), (1, 10)]),
        thread("worker", busy, idle, thread_id=2, timeline=[(1, 5), (0, 10), (1, 5)]),
    ]
    (load,) = worker_load(run(process(*workers)), "/srv/app")
    # ticks 0-4: one busy; 5-9: two; 10-14: one; 15-19: none
    assert load.busy_at_once == {0: 5, 1: 10, 2: 5}
    assert load.share_at_least(2) == pytest.approx(0.25)

"""`perfaudit attach`'s options, load targets, route templates, session JSON and the
terminal header, without py-spy (the integration tests run it for real)."""

from __future__ import annotations

import io
import re
import socket
import sys
import threading

import pytest
from rich.console import Console
from sampling_builders import ON_LOOP, attach_session, process, run, stack, thread
from unit_builders import measurement

from perfaudit.agent.routes import discover_routes
from perfaudit.analysis.report import build_report
from perfaudit.errors import EXIT_TARGET, EXIT_USAGE, TargetError, UsageError
from perfaudit.live.attach import AttachOptions, _absolute, _plan, by_template
from perfaudit.live.spawn import _answers, address_of, spawned_server
from perfaudit.model import RouteKey, Session
from perfaudit.render.json_report import report_to_dict
from perfaudit.render.terminal import render_terminal


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (AttachOptions(pid=None), "No process to attach to"),
        (AttachOptions(pid=1, spawn="uvicorn main:app"), "not both"),
        (AttachOptions(pid=1, duration_s=0), "--duration must be positive"),
        (AttachOptions(pid=1, load=("/items",)), "needs the server's address"),
    ],
)
def test_impossible_options_are_usage_errors(options: AttachOptions, message: str) -> None:
    with pytest.raises(UsageError, match=message) as caught:
        options.check()
    assert caught.value.exit_code == EXIT_USAGE


def test_full_urls_need_no_base_and_spawn_has_a_default_one() -> None:
    AttachOptions(pid=1, load=("http://127.0.0.1:9000/items",)).check()
    AttachOptions(pid=None, spawn="uvicorn main:app", load=("/items",)).check()


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("/items", "http://127.0.0.1:8000/items"),
        ("items?limit=5", "http://127.0.0.1:8000/items?limit=5"),
        ("POST /orders", "POST http://127.0.0.1:8000/orders"),
        ("http://10.0.0.2:81/x", "http://10.0.0.2:81/x"),
        ("DELETE http://10.0.0.2/x/1", "DELETE http://10.0.0.2/x/1"),
    ],
)
def test_load_routes_resolve_against_the_server(spec: str, expected: str) -> None:
    assert _absolute(spec, "http://127.0.0.1:8000") == expected


def test_the_load_plan_runs_as_long_as_the_recording() -> None:
    options = AttachOptions(pid=1, url="http://127.0.0.1:8001/", load=("/a", "POST /b"),
                            connections=7, duration_s=4)  # fmt: skip
    plan = _plan(options)
    assert [(t.method, t.url) for t in plan.targets] == [
        ("GET", "http://127.0.0.1:8001/a"),
        ("POST", "http://127.0.0.1:8001/b"),
    ]
    assert (plan.connections, plan.duration_s, plan.rate) == (7, 4, None)


def test_measured_urls_meet_the_route_templates() -> None:
    from fastapi import FastAPI

    app = FastAPI()

    @app.get("/items/{item_id}")
    async def read_item(item_id: int) -> dict[str, int]:
        return {"item_id": item_id}

    table = discover_routes(app)
    one = measurement(RouteKey("GET", "/items/1"), durations_ms=[1.0, 2.0])
    two = measurement(RouteKey("GET", "/items/2?x=1"), durations_ms=[3.0])
    merged = by_template((one, two), table)
    assert [(m.route, m.requests) for m in merged] == [(RouteKey("GET", "/items/{item_id}"), 3)]
    assert by_template((one,), None) == (one,)


def attach_report_session() -> Session:
    recording = run(process(thread("loop", stack(50, *ON_LOOP))))
    return attach_session(recording)


def test_the_json_report_describes_the_recording() -> None:
    document = report_to_dict(build_report(attach_report_session()))
    sampling = document["sampling"]
    assert document["mode"] == "attach"
    assert sampling["tool"].startswith("py-spy")
    assert sampling["samples"] == sum(p["samples"] for p in sampling["processes"])
    assert "missing-index" in sampling["rules_not_run"]


def test_the_terminal_header_says_what_py_spy_saw() -> None:
    out = io.StringIO()
    render_terminal(build_report(attach_report_session()), Console(file=out, width=100))
    text = out.getvalue()
    assert re.search(r"py-spy \S+ on PID \d+ at \d+ Hz", text)
    assert "Not checked from samples" in text
    assert "Calls/req" not in text  # samples count no calls


def test_spawn_needs_an_http_url() -> None:
    assert address_of("http://127.0.0.1:8123/x") == ("127.0.0.1", 8123)
    assert address_of("https://example.com") == ("example.com", 443)
    with pytest.raises(UsageError):
        address_of("127.0.0.1:8000")


def test_a_spawned_server_that_never_listens_is_stopped_with_its_output() -> None:
    command = f"{sys.executable} -c \"print('booting'); import time; time.sleep(60)\""
    never = spawned_server(command, "http://127.0.0.1:9", start_timeout_s=1.0)
    with pytest.raises(TargetError, match="did not answer") as caught, never:
        pass  # pragma: no cover - never reached
    assert caught.value.exit_code == EXIT_TARGET
    assert "booting" in caught.value.details


def test_a_server_is_ready_when_it_answers_not_when_its_socket_accepts() -> None:
    """gunicorn's arbiter listens before any worker can answer: a socket that only accepts
    (here: listens, never reads) is not ready; one that answers, even 404, is."""
    silent = socket.create_server(("127.0.0.1", 0))
    host, port = silent.getsockname()[:2]
    answering = socket.create_server(("127.0.0.1", 0))

    def answer() -> None:
        connection, _ = answering.accept()
        with connection:
            connection.recv(1024)
            connection.sendall(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n")

    worker = threading.Thread(target=answer, daemon=True)
    worker.start()
    with silent, answering:
        assert not _answers(f"http://{host}:{port}/", host, port)
        answer_port = answering.getsockname()[1]
        assert _answers(f"http://127.0.0.1:{answer_port}/health", "127.0.0.1", answer_port)
    worker.join(timeout=5)

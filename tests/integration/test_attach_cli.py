"""`perfaudit attach` on real uvicorn servers with py-spy: the planted finding ranks first
on its route template and function, one and several workers, --spawn, the clean app
stays clean, a saved session renders again, and each failure is one sentence with its
exit code. Every server is started on 127.0.0.1 and stopped by its PID."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import left_running, running_with
from tests.integration.live_server import free_port, live_server

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        shutil.which("py-spy", path=os.path.dirname(sys.executable)) is None
        and shutil.which("py-spy") is None,
        reason="py-spy is not installed (pip install 'perfaudit[attach]')",
    ),
]
SECONDS = "3"


def attach(perfaudit: Any, *args: str) -> Any:
    return perfaudit("attach", *args, "--duration", SECONDS, "-q", timeout=90)


def top(result: Any) -> dict[str, Any]:
    assert result.code == 0, result.stderr
    findings = result.report["findings"]
    assert findings, result.stdout
    return findings[0]  # type: ignore[no-any-return]


def test_blocked_loop_on_a_running_server_ranks_first(perfaudit: Any) -> None:
    with live_server("sample_apps.logs:app") as server:
        result = attach(
            perfaudit, str(server.process.pid), "--url", server.url,
            "--load", "/errors/count", "--load", "/health", "-c", "8",
            "--app", "sample_apps.logs:app",
        )  # fmt: skip
    first = top(result)
    assert (first["id"], first["route"]) == ("event-loop-blocked", "GET /errors/count")
    assert first["location"]["function"] == "count_errors"
    assert first["severity"] in ("high", "critical")
    report = result.report
    assert report["mode"] == "attach"
    assert report["sampling"]["samples"] > 100
    assert "n-plus-one-queries" in report["sampling"]["rules_not_run"]
    assert result.route("GET /errors/count")["requests"] > 0  # latency from outside
    # The load ends the recording as planned: no "stopped by the stop flag … partial".
    assert not report["stopped_early"], report["stopped_early"]
    assert "partial" not in result.stdout


def test_load_sends_bodies_forms_and_headers(perfaudit: Any) -> None:
    """Issue 16 #9: `attach --load` could send no body: a POST route got only 422s."""
    with live_server("sample_apps.orders:app") as server:
        result = attach(
            perfaudit, str(server.process.pid), "--url", server.url,
            "--load", "POST /orders", "-d", '{"sku": "A{n}", "qty": 2}',
            "-H", "X-Request-Id: {uuid}", "-c", "2", "--app", "sample_apps.orders:app",
        )  # fmt: skip
    assert result.code == 0, result.stderr
    created = result.route("POST /orders")
    assert created["requests"] > 0
    assert created["errors"] == 0, created


def test_spawn_starts_the_server_and_stops_it(perfaudit: Any, tmp_path: Path) -> None:
    port = free_port()
    command = (
        f"{sys.executable} -m uvicorn sample_apps.catalog_db:app --host 127.0.0.1 "
        f"--port {port} --no-access-log --log-level warning"
    )
    result = attach(
        perfaudit, "--spawn", command, "--url", f"http://127.0.0.1:{port}",
        "--load", "/products/search?q=lamp", "--app", "sample_apps.catalog_db:app",
    )  # fmt: skip
    first = top(result)
    assert (first["id"], first["route"]) == ("sync-db-driver", "GET /products/search")
    assert first["location"]["function"] == "search_products"
    assert _nothing_listens(port), "the spawned server outlived perfaudit"


def test_threadpool_saturation(perfaudit: Any) -> None:
    slow_region = {"EXPORTS_STORAGE_PUT_S": "0.2"}  # the pool, not the CPU, is the limit
    with live_server("sample_apps.exports:app", env=slow_region) as server:
        result = attach(
            perfaudit, str(server.process.pid), "--url", server.url,
            "--load", "/exports/7", "-c", "80", "--app", "sample_apps.exports:app",
        )  # fmt: skip
    first = top(result)
    assert (first["id"], first["route"]) == ("threadpool-saturation", "GET /exports/{export_id}")
    assert first["location"]["function"] == "upload_to_storage"


def test_two_workers_are_followed_and_pooled(perfaudit: Any) -> None:
    with live_server("sample_apps.logs:app", "--workers", "2") as server:
        time.sleep(1.0)  # both workers up
        result = attach(
            perfaudit, str(server.process.pid), "--subprocesses", "--url", server.url,
            "--load", "/errors/count", "-c", "8", "--app", "sample_apps.logs:app",
        )  # fmt: skip
    # The planted function ranks first. With two loops on two shared cores the share of
    # time each loop is blocked varies with the machine's load, and a CPU-bound scan is
    # then sometimes graded as a cpu-hotspot above it; both name count_errors.
    first = top(result)
    assert (first["route"], first["location"]["function"]) == ("GET /errors/count", "count_errors")
    blocked = [f for f in result.report["findings"] if f["id"] == "event-loop-blocked"]
    assert [(f["route"], f["location"]["function"]) for f in blocked] == [
        ("GET /errors/count", "count_errors")
    ]
    processes = result.report["sampling"]["processes"]
    serving = [p for p in processes if "spawn_main" in p["command"]]
    assert len(serving) == 2 and all(p["samples"] for p in serving), processes


def test_gunicorn_with_uvicorn_workers(perfaudit: Any) -> None:
    """gunicorn's arbiter binds the socket and answers connections' backlog before its
    workers have imported the app: --spawn starts recording while they boot. Their imports
    and lifespans (which write a 9 MB log here) must not show as a route's work."""
    pytest.importorskip("gunicorn")
    port = free_port()
    command = (
        f"{sys.executable} -m gunicorn -k uvicorn.workers.UvicornWorker -w 2 "
        f"-b 127.0.0.1:{port} sample_apps.logs:app"
    )
    result = attach(
        perfaudit, "--spawn", command, "--url", f"http://127.0.0.1:{port}", "--subprocesses",
        "--load", "/errors/count", "-c", "8", "--app", "sample_apps.logs:app",
    )  # fmt: skip
    first = top(result)
    assert (first["route"], first["location"]["function"]) == ("GET /errors/count", "count_errors")
    report = result.report
    assert {f["route"] for f in report["findings"]} <= {"GET /errors/count", None}
    start_up = {"<module>", "write_log", "_compile_bytecode", "exec_module"}
    assert not start_up & {h["function"] for h in report["hotspots"]}, report["hotspots"]
    processes = report["sampling"]["processes"]
    assert len(processes) == 3 and all(p["samples"] for p in processes), processes  # arbiter + 2
    assert _nothing_listens(port), "gunicorn outlived perfaudit"


def test_clean_app_stays_clean(perfaudit: Any) -> None:
    with live_server("sample_apps.clean:app") as server:
        result = attach(
            perfaudit, str(server.process.pid), "--url", server.url, "--load", "/items",
            "--load", "/health", "--app", "sample_apps.clean:app",
        )  # fmt: skip
    assert result.code == 0, result.stderr
    above_low = [
        (f["id"], f["severity"])
        for f in result.report["findings"]
        if f["severity"] not in ("low", "info")
    ]
    assert not above_low, result.stdout


def test_without_load_or_app_routes_are_named_after_their_endpoint(perfaudit: Any) -> None:
    with live_server("sample_apps.logs:app") as server, _background_load(server.url):
        result = attach(perfaudit, str(server.process.pid))
    first = top(result)
    assert first["id"] == "event-loop-blocked"
    assert first["route"] == "error_count()"  # the endpoint; count_errors is the location
    assert result.report["load"] is None


def test_saved_session_renders_again(perfaudit: Any, tmp_path: Path) -> None:
    session = tmp_path / "attach.session.json"
    with live_server("sample_apps.logs:app") as server:
        first = attach(
            perfaudit, str(server.process.pid), "--url", server.url,
            "--load", "/errors/count", "--save-session", str(session),
        )  # fmt: skip
    assert first.code == 0, first.stderr
    again = perfaudit("report", str(session))
    assert again.code == 0, again.stderr
    assert again.finding_ids() == first.finding_ids()


def _sampling(pid: int) -> bool:
    """py-spy is recording `pid` (its command line names it)."""
    for entry in Path("/proc").iterdir():
        try:
            command = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if command and command[0].endswith(b"py-spy") and str(pid).encode() in command:
            return True
    return False


def test_process_exiting_mid_recording_keeps_what_was_sampled(perfaudit: Any) -> None:
    with live_server("sample_apps.logs:app") as server:
        pid = server.process.pid

        def kill_once_sampled() -> None:  # on a busy machine the CLI starts slowly
            deadline = time.monotonic() + 60
            while not _sampling(pid) and time.monotonic() < deadline:
                time.sleep(0.1)
            time.sleep(1.0)
            server.kill()

        stopper = threading.Thread(target=kill_once_sampled, daemon=True)
        stopper.start()
        try:
            result = perfaudit("attach", str(pid), "--duration", "20", "-q", timeout=90)
        finally:
            stopper.join(timeout=60)
    assert result.code == 0, result.stderr
    assert "exited" in result.report["stopped_early"]
    assert result.report["sampling"]["samples"] > 0


def test_ctrl_c_keeps_the_partial_report(interrupt_after: Any) -> None:
    with live_server("sample_apps.logs:app") as server:
        # Time enough for start-up on a busy machine; the recording lasts up to 30 s.
        result = interrupt_after(
            6.0, "attach", str(server.process.pid), "--url", server.url,
            "--load", "/errors/count", "--duration", "30", "-q",
        )  # fmt: skip
    assert result.code == 130, result.stderr
    assert result.report is not None
    assert "Ctrl-C" in result.report["stopped_early"]
    assert result.report["sampling"]["samples"] > 0


def test_sigterm_stops_the_spawned_server_and_py_spy(
    interrupt_after: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 17 #2: `attach --spawn … & kill $!` left uvicorn and py-spy running, the port
    taken."""
    mark = f"PERFAUDIT_TEST_RUN={uuid.uuid4()}"
    monkeypatch.setenv(*mark.split("="))
    port = free_port()
    command = (
        f"{sys.executable} -m uvicorn sample_apps.logs:app --host 127.0.0.1 --port {port} "
        "--no-access-log --log-level warning"
    )

    def sampling() -> None:
        deadline = time.monotonic() + 60
        while not any(_is_py_spy(pid) for pid in running_with(mark)):
            assert time.monotonic() < deadline, "py-spy never started"
            time.sleep(0.1)
        time.sleep(1.0)

    result = interrupt_after(
        sampling, "attach", "--spawn", command, "--url", f"http://127.0.0.1:{port}",
        "--load", "/errors/count", "--duration", "30", "-q", signum=signal.SIGTERM,
    )  # fmt: skip

    assert result.code == 143, result.stderr
    assert result.report is not None and result.report["sampling"]["samples"] > 0
    assert left_running(mark) == []
    assert _nothing_listens(port)


def _is_py_spy(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].endswith(b"py-spy")
    except OSError:
        return False


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (("999999",), 3, "No process has PID 999999"),
        (("--spawn", f"{sys.executable} -c 'raise SystemExit(4)'"), 3, "exited with code 4"),
        (("1", "--spawn", "uvicorn main:app"), 2, "not both"),
        ((), 2, "No process to attach to"),
        (("1", "--load", "/items"), 2, "needs the server's address"),
        (("1", "-d", "{}"), 2, "there is no --load"),
    ],
)
def test_failures_are_one_sentence(
    perfaudit: Any, args: tuple[str, ...], code: int, message: str
) -> None:
    result = perfaudit("attach", *args, "--duration", "1", "-q", json_report=False, timeout=60)
    assert result.code == code, result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_not_a_python_process(perfaudit: Any) -> None:
    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        result = perfaudit(
            "attach", str(sleeper.pid), "--duration", "1", "-q", json_report=False, timeout=60
        )
    finally:
        sleeper.kill()
        sleeper.wait()
    assert result.code == 3
    assert "no Python interpreter" in result.stderr


def _nothing_listens(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


class _background_load:
    """A few requests a second at /errors/count while py-spy records, from another process
    (so the attach run itself drives nothing)."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> None:
        code = (
            "import time, urllib.request\n"
            "end = time.monotonic() + 8\n"
            "while time.monotonic() < end:\n"
            f"    urllib.request.urlopen('{self._url}/errors/count', timeout=5).read()\n"
        )
        self._process = subprocess.Popen([sys.executable, "-c", code])

    def __exit__(self, *exc: object) -> None:
        assert self._process is not None
        self._process.kill()
        self._process.wait()

"""py-spy raw output → SamplingRun's processes, on hand-written lines in py-spy 0.4.3's format."""

from __future__ import annotations

from pathlib import Path

import pytest

from perfaudit.capture.pyspy import (
    FAILURE_PATTERNS,
    NotPythonError,
    ProcessNotFoundError,
    PtraceDeniedError,
    PySpyFailedError,
    RecordOptions,
    UnsupportedPythonError,
    classify_failure,
    pyspy_command,
)
from perfaudit.capture.pyspy_raw import FrameOwners, parse_raw, read_raw_file, split_frame
from perfaudit.errors import EXIT_TARGET, CaptureError

PY = "/opt/py/lib/python3.12"
SITE = "/srv/app/.venv/lib/python3.12/site-packages"
LOOP = (
    f"<module> (/srv/app/run.py:3);Server.run ({SITE}/uvicorn/server.py:67);"
    f"Runner.run ({PY}/asyncio/runners.py:118);"
    f"BaseEventLoop.run_forever ({PY}/asyncio/base_events.py:607)"
)
WORKER = (
    f"Thread._bootstrap ({PY}/threading.py:1002);"
    f"WorkerThread.run ({SITE}/anyio/_backends/_asyncio.py:1124)"
)


def parse(text: str, **kwargs: object) -> list:  # type: ignore[type-arg]
    options = {"rate_hz": 100, "pid": 42, **kwargs}
    return list(parse_raw(text.splitlines(keepends=True), **options))  # type: ignore[arg-type]


def test_threads_stacks_merged_innermost_first_most_samples_first() -> None:
    processes = parse(
        f"thread (7): MainThread;{LOOP};EpollSelector.select ({PY}/selectors.py:468) 30\n"
        f"thread (7): MainThread;{LOOP};block (/srv/app/main.py:12) 50\n"
        f"thread (7): MainThread;{LOOP};EpollSelector.select ({PY}/selectors.py:468) 40\n"
        f"thread (9): AnyIO worker thread;{WORKER};handler (/srv/app/main.py:20) 5\n"
    )
    [process] = processes
    assert (process.pid, process.command, process.samples) == (42, "", 125)
    loop, worker = process.threads
    assert (loop.thread_id, loop.name, loop.role, loop.samples) == (7, "MainThread", "loop", 120)
    assert [s.samples for s in loop.stacks] == [70, 50]  # the two selector lines merged
    idle = loop.stacks[0]
    assert idle.wall_s == pytest.approx(0.7) and idle.cpu_s == 0.0
    assert idle.frames[0].function == "EpollSelector.select"
    assert idle.frames[0].owner == "idle"
    assert idle.frames[-1].function == "<module>"
    assert (worker.role, worker.stacks[0].frames[0].owner) == ("worker", "app")


def test_frames_owners_from_another_venv() -> None:
    [process] = parse(
        "thread (0x7F3A2B1C4700);"
        f"<module> ({PY}/runpy.py:88);route ({SITE}/fastapi/routing.py:300);"
        f"get ({SITE}/requests/api.py:73);mine (/srv/app/main.py:9);"
        "spin (<frozen importlib._bootstrap>:1);loads (json/decoder.py:337) 3\n"
    )
    [thread] = process.threads
    assert thread.thread_id == 0x7F3A2B1C4700 and thread.name == ""
    owners = [(f.function, f.owner) for f in thread.stacks[0].frames]
    assert owners == [
        ("loads", "stdlib"),  # a shortened path (no --full-filenames)
        ("spin", "stdlib"),
        ("mine", "app"),
        ("get", "library"),
        ("route", "framework"),
        ("<module>", "stdlib"),
    ]


def test_subprocesses_with_semicolons_in_the_command_line() -> None:
    parent = 'process 10:"python -m uvicorn app:app --workers 2"'
    child = 'process 11:"python -c from multiprocessing.spawn import spawn_main; spawn_main(fd=7)"'
    [first, second] = parse(
        f"{parent};{child};thread (11): MainThread;{LOOP} 8\n"
        f"{parent};thread (10): MainThread;run ({SITE}/uvicorn/supervisors/multiprocess.py:9) 3\n"
    )
    assert (first.pid, second.pid) == (11, 10)
    assert first.command.endswith("spawn_main; spawn_main(fd=7)")
    assert first.threads[0].role == "loop" and second.threads[0].role == "other"


def test_process_frame_without_threads_ends_at_the_closing_quote() -> None:
    [process] = parse('process 5:"python -c a;b";<module> (<string>:1) 2\n')
    assert (process.pid, process.command) == (5, "python -c a;b")
    assert process.threads[0].thread_id == 0
    assert process.threads[0].stacks[0].frames[0].function == "<module>"


def test_odd_frames() -> None:
    assert split_frame("<module> (/a/b.py:1)") == ("<module>", "/a/b.py", 1)
    assert split_frame("f (/a/b.py)") == ("f", "/a/b.py", 0)  # line 0 is not printed
    assert split_frame("bare") == ("bare", "", 0)
    assert split_frame("f (C:\\app\\main.py:4)") == ("f", "C:\\app\\main.py", 4)
    assert split_frame("g (/my dir (copy)/x.py:2)") == ("g", "/my dir (copy)/x.py", 2)
    owners = FrameOwners(source=False)
    assert owners.frame("0x7f579d84524a (/usr/lib/x86_64-linux-gnu/libc.so.6)").owner == "library"
    assert owners.frame("epoll_wait (/usr/lib/x86_64-linux-gnu/libc.so.6)").owner == "idle"
    assert owners.frame("pbkdf2_hmac_impl (/b/Python-3.11/Modules/_hashopenssl.c:1282)").owner == (
        "stdlib"
    )
    pyd = f"{SITE}/pydantic_core/_pydantic_core.cpython-312-x86_64-linux-gnu.so"
    assert owners.frame(f"validate ({pyd})").owner == "framework"


def test_a_function_named_process_or_thread_is_a_frame() -> None:
    [process] = parse("thread (3);process (/srv/app/jobs.py:4);thread (/srv/app/t.py:2) 1\n")
    frames = process.threads[0].stacks[0].frames
    assert [f.function for f in frames] == ["thread", "process"]


def test_a_thread_with_no_frames_and_blank_lines() -> None:
    [process] = parse("\nthread (3): MainThread 1\n\n")
    assert process.threads[0].stacks[0].frames == ()


def test_worker_role_from_the_thread_name_and_concurrent_futures() -> None:
    [process] = parse(
        "thread (3): ThreadPoolExecutor-0_0;x (/srv/app/a.py:1) 1\n"
        f"thread (4): pool;_worker ({PY}/concurrent/futures/thread.py:83) 1\n"
        "thread (5): Thread-1;y (/srv/app/a.py:2) 1\n"
    )
    assert [t.role for t in process.threads] == ["worker", "worker", "other"]


def test_app_frames_keep_their_source_line(tmp_path: Path) -> None:
    source = tmp_path / "main.py"
    source.write_text("import time\n\n    time.sleep(1)  \n")
    [process] = parse(f"thread (1);handler ({source}:3) 1\n")
    assert process.threads[0].stacks[0].frames[0].code == "time.sleep(1)"


@pytest.mark.parametrize(
    "line", ["thread (1);f (/a.py:1)", "thread (1);f (/a.py:1) many", "  12", "f (/a.py:1) -3"]
)
def test_a_malformed_line_is_a_clear_error(line: str) -> None:
    with pytest.raises(CaptureError, match="Line 2 of py-spy's raw output") as caught:
        parse(f"thread (1);ok (/a.py:1) 1\n{line}\n")
    assert caught.value.exit_code == EXIT_TARGET
    assert caught.value.remedy


def test_read_raw_file_replaces_undecodable_bytes(tmp_path: Path) -> None:
    path = tmp_path / "raw.txt"
    path.write_bytes(b'process 9:"caf\xe9";thread (9);f (/a.py:1) 4\n')
    [process] = read_raw_file(path, rate_hz=50, pid=1)
    assert process.command == "caf\ufffd" and process.threads[0].stacks[0].wall_s == 0.08


# py-spy 0.4.3's stderr, as captured here (RUST_BACKTRACE=0).
DEAD = (
    "Error: Failed to get process executable name. Check that the process is running.\n\n"
    "Caused by:\n    0: No such file or directory (os error 2)\n"
)
NO_CAP = DEAD.replace("No such file or directory (os error 2)", "Permission denied (os error 13)")
OTHER_USER = "Permission Denied: Try running again with elevated permissions by going 'sudo …'\n"


@pytest.mark.parametrize(
    ("stderr", "error"),
    [
        (DEAD, ProcessNotFoundError),
        (NO_CAP, PtraceDeniedError),
        (OTHER_USER, PtraceDeniedError),
        ("Error: Failed to find python version from target process\n", NotPythonError),
        (
            "Error: No python processes found in process 9 or any of its subprocesses",
            NotPythonError,
        ),
        ("Error: Unsupported version of Python: 3.15.0\n", UnsupportedPythonError),
        ("Error: something new\n", PySpyFailedError),
    ],
)
def test_classify_failure(stderr: str, error: type[CaptureError]) -> None:
    found = classify_failure(stderr, 9, "python3")
    assert isinstance(found, error)
    assert found.exit_code == EXIT_TARGET
    assert found.remedy and "process 9 (python3)" in found.message


def test_permission_remedy_names_every_way_out() -> None:
    remedy = classify_failure(OTHER_USER, 1).remedy
    for needed in ("root", "CAP_SYS_PTRACE", "ptrace_scope", "--cap-add SYS_PTRACE", "SYS_PTRACE]"):
        assert needed in remedy
    assert "3.15.0" in classify_failure("Unsupported version of Python: 3.15.0", 1).message
    assert len(FAILURE_PATTERNS) == 4


def test_command_line() -> None:
    options = RecordOptions(pid=5, duration_s=2.5, rate_hz=50, subprocesses=True)
    command = pyspy_command(Path("/bin/py-spy"), options, Path("/tmp/o.txt"))
    assert command[:2] == ["/bin/py-spy", "record"]
    assert command[command.index("--duration") + 1] == "3"
    for flag in ("--idle", "--threads", "--full-filenames", "--subprocesses"):
        assert flag in command
    assert "--native" not in command and "--nonblocking" in command
    blocking = RecordOptions(pid=5, nonblocking=False, idle=False)
    assert not {"--nonblocking", "--idle"} & set(pyspy_command(Path("x"), blocking, Path("o")))

"""Read py-spy's raw output (`py-spy record --format raw`) into the sampling model.

One line per distinct stack, root frame first, frames joined by ';', a space, the count:

    process 7:"python -m uvicorn app:app";thread (8): MainThread;run (/…/server.py:86) 54

- `--subprocesses` adds leading `process PID:"cmdline"` frames, the root process first and
  the sampled one last; py-spy does not escape the command line, which may hold ';'.
- `--threads` adds a `thread (TID)` frame, `thread (TID): NAME` when py-spy 0.4 knows the
  name; TID is the OS thread id, or `0x…` (the pthread id) where there is none.
- Python frames are `function (file:line)`, `function (file)` when the line is 0, or a bare
  name; `--native` frames are `symbol (library)` or `0x7f… (library)`.

This lives in capture/, not formats/: what the frames mean (the target's owners, which
thread runs the loop) is py-spy's, and the owner classifier is capture's.
"""

from __future__ import annotations

import linecache
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from perfaudit.capture.owners import FRAMEWORK_PACKAGES, HARNESS_PACKAGES, OwnerClassifier
from perfaudit.errors import CaptureError
from perfaudit.model.probes import SampledStack, StackFrame
from perfaudit.model.samples import ProcessSamples, ThreadSamples

_PROCESS = re.compile(r'process (\d+):"(.*)"\Z', re.DOTALL)
_THREAD = re.compile(r"thread \((0[xX][0-9A-Fa-f]+|\d+)\)(?:: (.*))?\Z", re.DOTALL)
_PROCESS_START = re.compile(r'process \d+:"')
# The start of a process or thread frame (a function may be named `process` or `thread`).
_MARK = re.compile(r'process \d+:"|thread \((?:0[xX][0-9A-Fa-f]+|\d+)\)')
# Another interpreter's packages and standard library (the target may run from any venv).
_SITE = re.compile(r"[/\\](?:site|dist)-packages[/\\]([^/\\]+)")
_STDLIB = re.compile(r"[/\\]lib[/\\]python3\.\d+t?[/\\]|[/\\]Lib[/\\]")
_PYTHON_SOURCE = (".py", ".pyw", ".pyc")
_NATIVE_RUNTIME = re.compile(r"libpython3|[/\\](?:Modules|Objects|Python|Parser)[/\\].*\.[ch]\Z")
# Where the event loop waits for I/O: time no request spent working (owners.IDLE_BUILTINS).
_IDLE_FUNCTIONS = frozenset({"EpollSelector.select", "KqueueSelector.select"})
_IDLE_NATIVE = frozenset({"epoll_wait", "epoll_pwait", "epoll_pwait2", "kevent"})
_LOOP_MARKS = (
    ("asyncio/base_events.py", ("run_forever", "_run_once", "run_until_complete")),
    ("asyncio/runners.py", ("Runner.run", "run")),
    ("uvicorn/server.py", ("Server.serve", "Server.run", "Server.main_loop", "Server._serve")),
)
_WORKER_MARKS = (
    ("anyio/_backends/_asyncio.py", ("WorkerThread.run",)),
    ("concurrent/futures/thread.py", ("_worker",)),
)
_WORKER_NAMES = ("AnyIO worker thread", "ThreadPoolExecutor-", "asyncio_")

# (pid, command, thread id, thread name) of the thread a line was sampled on.
ThreadKey = tuple[int, str, int, str]


@dataclass(frozen=True, slots=True)
class _Head:
    thread: ThreadKey
    frames_from: int  # index of the first code frame in the line's ';' parts


def parse_raw(
    lines: Iterable[str],
    *,
    rate_hz: int,
    pid: int,
    command: str = "",
    owners: FrameOwners | None = None,
) -> tuple[ProcessSamples, ...]:
    """The processes, threads and merged stacks in py-spy raw lines (most samples first).

    `pid` and `command` name the process when the lines carry no `process` frame."""
    if rate_hz <= 0:
        raise ValueError("rate_hz must be positive")
    counts: dict[tuple[ThreadKey, tuple[str, ...]], int] = {}
    interned: dict[str, str] = {}  # one string per distinct frame text
    for number, line in enumerate(lines, start=1):
        text, samples = _split_count(line, number)
        if not text:
            continue
        parts = text.split(";")
        head = _head(parts, pid, command)
        frames = tuple(interned.setdefault(p, p) for p in reversed(parts[head.frames_from :]))
        key = (head.thread, frames)
        counts[key] = counts.get(key, 0) + samples
    return _build(counts, interned, rate_hz, owners or FrameOwners())


def read_raw_file(
    path: Path, *, rate_hz: int, pid: int, command: str = "", owners: FrameOwners | None = None
) -> tuple[ProcessSamples, ...]:
    """parse_raw on a file, read line by line (a long recording never sits in memory)."""
    # Command lines and paths are the target's bytes: never fail on their encoding.
    with path.open(encoding="utf-8", errors="replace") as lines:
        return parse_raw(lines, rate_hz=rate_hz, pid=pid, command=command, owners=owners)


def _split_count(line: str, number: int) -> tuple[str, int]:
    line = line.rstrip("\r\n")
    if not line.strip():
        return "", 0
    text, _, count = line.rpartition(" ")
    if not text.strip() or not count.isdigit():
        shown = line if len(line) <= 80 else line[:77] + "..."
        raise CaptureError(
            f"Line {number} of py-spy's raw output is not 'frame;frame;… COUNT': {shown!r}.",
            remedy="Record again with `--format raw`; a file from another tool is not read.",
        )
    return text, int(count)


def _head(parts: list[str], pid: int, command: str) -> _Head:
    """The process and thread frames that lead a line, with where its code frames begin."""
    index = 0
    while index < len(parts) and _PROCESS_START.match(parts[index]):
        index, pid, command = _process_frame(parts, index, pid, command)
    thread_id, name = 0, ""
    if index < len(parts) and (match := _THREAD.match(parts[index])):
        thread_id, name = int(match.group(1), 0), match.group(2) or ""
        index += 1
    return _Head((pid, command, thread_id, name), index)


def _process_frame(parts: list[str], index: int, pid: int, command: str) -> tuple[int, int, str]:
    """Join the parts of one `process PID:"cmdline"` frame: a command line may hold ';'.

    It ends before the next process or thread frame (py-spy writes a thread frame after the
    process frames with `--threads`), else at the first part that closes the quote."""
    end = index
    for ahead in range(index + 1, len(parts)):
        if _MARK.match(parts[ahead]):
            end = ahead - 1
            break
    else:
        end = next((i for i in range(index, len(parts)) if parts[i].endswith('"')), index)
    match = _PROCESS.match(";".join(parts[index : end + 1]))
    if match is None:
        return index + 1, pid, command  # a function named "process …": leave it be
    return end + 1, int(match.group(1)), match.group(2)


def _build(
    counts: dict[tuple[ThreadKey, tuple[str, ...]], int],
    interned: dict[str, str],
    rate_hz: int,
    owners: FrameOwners,
) -> tuple[ProcessSamples, ...]:
    frames = {text: owners.frame(text) for text in interned}
    by_thread: dict[ThreadKey, list[SampledStack]] = {}
    for (key, texts), samples in counts.items():
        stack = SampledStack(tuple(frames[t] for t in texts), samples, samples / rate_hz, 0.0)
        by_thread.setdefault(key, []).append(stack)
    by_process: dict[tuple[int, str], list[ThreadSamples]] = {}
    for (pid, command, thread_id, name), stacks in by_thread.items():
        stacks.sort(key=lambda stack: -stack.samples)  # stable: ties keep py-spy's order
        role = thread_role(name, stacks)
        by_process.setdefault((pid, command), []).append(
            ThreadSamples(thread_id, name, role, tuple(stacks))
        )
    processes = [
        ProcessSamples(pid, command, tuple(sorted(threads, key=lambda t: -t.samples)))
        for (pid, command), threads in by_process.items()
    ]
    return tuple(sorted(processes, key=lambda process: -process.samples))


def thread_role(name: str, stacks: Iterable[SampledStack]) -> str:
    """The thread's role: "worker" (AnyIO / threadpool), "loop" (runs the event loop), or
    "other"."""
    frames = {frame for stack in stacks for frame in stack.frames}
    if any(_marked(frame, _WORKER_MARKS) for frame in frames) or name.startswith(_WORKER_NAMES):
        return "worker"
    if any(_marked(frame, _LOOP_MARKS) or "uvloop" in frame.file for frame in frames):
        return "loop"
    return "other"


def _marked(frame: StackFrame, marks: tuple[tuple[str, tuple[str, ...]], ...]) -> bool:
    file = frame.file.replace("\\", "/")
    # Python 3.11+ gives qualified names ("BaseEventLoop.run_forever"); older ones bare names.
    short = frame.function.rsplit(".", 1)[-1]
    return any(
        file.endswith(suffix) and (frame.function in names or short in names)
        for suffix, names in marks
    )


def split_frame(text: str) -> tuple[str, str, int]:
    """(function, file, line) of one frame's text; file "" and line 0 when not given."""
    # Python names hold no space, so the first " (" ends the name; a path may hold " (".
    open_at = text.find(" (")
    if open_at <= 0 or not text.endswith(")"):
        return text, "", 0
    function, location = text[:open_at], text[open_at + 2 : -1]
    file, colon, line = location.rpartition(":")
    if colon and line.isdigit():
        return function, file, int(line)
    return function, location, 0


class FrameOwners:
    """OwnerClassifier for the *target's* paths: another venv's site-packages and another
    interpreter's standard library are still libraries and stdlib, not the user's app."""

    def __init__(self, classifier: OwnerClassifier | None = None, *, source: bool = True) -> None:
        self._classifier = classifier or OwnerClassifier()
        self._source = source  # read the app's source lines (the target's files, when visible)

    def frame(self, text: str) -> StackFrame:
        function, file, line = split_frame(text)
        owner = self.owner(file, function)
        code = _source_line(file, line) if self._source and owner == "app" else ""
        return StackFrame(file=file, line=line, function=function, owner=owner, code=code)

    def owner(self, file: str, function: str) -> str:
        if file and not file.endswith(_PYTHON_SOURCE) and not file.startswith("<"):
            return _native_owner(file, function)
        if function in _IDLE_FUNCTIONS and file.endswith("selectors.py"):
            return "idle"
        owner = self._classifier.owner(file, function) if file else "library"
        return _fallback_owner(file) if owner == "app" else owner


def _fallback_owner(file: str) -> str:
    if site := _SITE.search(file):
        return _package_owner(site.group(1))
    if _STDLIB.search(file):
        return "stdlib"
    if file and not Path(file).is_absolute():  # py-spy without --full-filenames: "asyncio/…"
        top = file.replace("\\", "/").split("/", 1)[0].removesuffix(".py")
        if top in FRAMEWORK_PACKAGES or top in HARNESS_PACKAGES:
            return _package_owner(top)
        if top in sys.stdlib_module_names:
            return "stdlib"
    return "app"


def _native_owner(file: str, function: str) -> str:
    if function in _IDLE_NATIVE:
        return "idle"
    if site := _SITE.search(file):
        return _package_owner(site.group(1).split(".", 1)[0])
    return "stdlib" if _NATIVE_RUNTIME.search(file) else "library"


def _package_owner(top: str) -> str:
    top = top.removesuffix(".py")
    if top in HARNESS_PACKAGES:
        return "perfaudit"
    return "framework" if top in FRAMEWORK_PACKAGES else "library"


def _source_line(file: str, line: int) -> str:
    if line <= 0 or not file.startswith("/"):
        return ""
    return linecache.getline(file, line).strip()

"""Reading one sampled stack: was the thread waiting for work or doing some, and which
function of the app was it serving.

Frames come innermost first. py-spy names functions by their qualified name
("Handler.get", "make_app.<locals>.root") and gives the line each frame was on.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from perfaudit.model import SampledStack, StackFrame, ThreadSamples

IDLE, APP, SERVER = "idle", "app", "server"
# Frames in which a thread waits for work (file suffix, bare function names). The loop
# polls its sockets in selectors' select(); uvloop's loop is C code under asyncio.run, so
# its Python stack ends in asyncio/runners.py while it waits; AnyIO's and
# concurrent.futures' worker threads wait for a job in Queue.get.
LOOP_WAITING = (
    ("/selectors.py", frozenset({"select"})),
    ("/asyncio/runners.py", frozenset({"run", "run_until_complete"})),
    ("/asyncio/base_events.py", frozenset({"run_forever", "run_until_complete"})),
)
JOB_QUEUE = (
    ("/queue.py", frozenset({"get"})),
    ("/concurrent/futures/thread.py", frozenset({"_worker"})),
)
# What calls the app's endpoint and its dependencies (FastAPI), and what runs a job on a
# worker thread (AnyIO, concurrent.futures behind Starlette's run_in_threadpool).
ENDPOINT_CALLERS = (("/fastapi/", frozenset({"run_endpoint_function", "_run_sync_endpoint"})),)
DEPENDENCY_CALLERS = (("/fastapi/dependencies/", frozenset({"solve_dependencies"})),)
REQUEST_PATH = ("/starlette/", "/fastapi/")
# A process starting, not serving: importing modules (a worker loading the app, a lazy
# import) or running the app's lifespan under uvicorn (also gunicorn's uvicorn workers).
# The server may accept connections before every worker is up: these samples are no
# request's work, whatever app code they run.
STARTING = ("<frozen importlib._bootstrap", "/uvicorn/lifespan/on.py")


def bare(function: str) -> str:
    """ "Handler.get" → "get", as cProfile names it (rules match on these names)."""
    return function.rsplit(".", 1)[-1] if not function.endswith(">") else _bare_special(function)


def _bare_special(function: str) -> str:
    # "f.<locals>.<listcomp>" → "<listcomp>"; "<module>" stays.
    _, dot, last = function.rpartition(".<")
    return "<" + last if dot else function


def matches(frame: StackFrame, table: tuple[tuple[str, frozenset[str]], ...]) -> bool:
    name = bare(frame.function)
    return any(marker in frame.file and name in names for marker, names in table)


def _suffix_matches(frame: StackFrame, table: tuple[tuple[str, frozenset[str]], ...]) -> bool:
    name = bare(frame.function)
    return any(frame.file.endswith(suffix) and name in names for suffix, names in table)


@dataclass(frozen=True, slots=True)
class StackWork:
    """What one stack shows its thread doing."""

    activity: str  # "idle" (waiting for work) | "app" (in the app's code) | "server"
    # The app function the server called: the endpoint, a dependency, or other app code
    # (a middleware, a background task). None outside the app's code.
    entry: StackFrame | None = None
    entry_kind: str = ""  # "endpoint" | "dependency" | "app"
    on_request_path: bool = False  # inside Starlette/FastAPI's handling of a request


def read_stack(stack: SampledStack, role: str) -> StackWork:
    frames = stack.frames
    if any(marker in f.file for f in frames for marker in STARTING):
        return StackWork(SERVER)
    request = any(marker in f.file for f in frames for marker in REQUEST_PATH)
    if not any(f.owner == "app" for f in frames):
        idle = not request and _waiting(frames)
        return StackWork(IDLE if idle else SERVER, on_request_path=request)
    index, kind = _entry(frames, role)
    return StackWork(APP, frames[index], kind, request)


def _waiting(frames: tuple[StackFrame, ...]) -> bool:
    if not frames:
        return True
    if frames[0].owner == "idle" or _suffix_matches(frames[0], LOOP_WAITING + JOB_QUEUE):
        return True
    # A worker thread blocked in Queue.get (its leaf is threading's Condition.wait).
    return any(_suffix_matches(f, JOB_QUEUE) for f in frames)


def _entry(frames: tuple[StackFrame, ...], role: str) -> tuple[int, str]:
    """The app frame the framework called (frames are innermost first)."""
    for table, kind in ((ENDPOINT_CALLERS, "endpoint"), (DEPENDENCY_CALLERS, "dependency")):
        caller = next((j for j, f in enumerate(frames) if matches(f, table)), None)
        inner = _nearest_app_inside(frames, caller) if caller is not None else None
        if inner is not None:
            return inner, kind
    outermost = max(i for i, f in enumerate(frames) if f.owner == "app")
    # On a worker thread the job's outermost app frame is what run_in_threadpool ran.
    return outermost, "endpoint" if role == "worker" else "app"


def _nearest_app_inside(frames: tuple[StackFrame, ...], caller: int) -> int | None:
    return next((i for i in range(caller - 1, -1, -1) if frames[i].owner == "app"), None)


@dataclass(frozen=True, slots=True)
class ThreadActivity:
    """One thread's samples by what it was doing."""

    thread: ThreadSamples
    idle: int
    app: int
    server: int

    @property
    def samples(self) -> int:
        return self.idle + self.app + self.server

    @property
    def app_share(self) -> float:
        return self.app / self.samples if self.samples else 0.0

    @property
    def busy_share(self) -> float:
        return (self.app + self.server) / self.samples if self.samples else 0.0


def thread_activity(thread: ThreadSamples) -> ThreadActivity:
    counts = {IDLE: 0, APP: 0, SERVER: 0}
    for stack in thread.stacks:
        counts[read_stack(stack, thread.role).activity] += stack.samples
    return ThreadActivity(thread, counts[IDLE], counts[APP], counts[SERVER])


def app_stacks(thread: ThreadSamples) -> Iterable[tuple[SampledStack, StackWork]]:
    for stack in thread.stacks:
        work = read_stack(stack, thread.role)
        if work.activity == APP:
            yield stack, work

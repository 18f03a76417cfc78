"""What held the event loop: the watchdog's stacks grouped by the app function they were
in, with the call that blocked and what kind of call it is.

The kind decides the advice (an async client, an async driver, `asyncio.sleep`, a thread
for CPU work), so it is read from the strongest evidence first: library frames below the
app's frame (requests, subprocess, sqlalchemy), then the built-ins the profiled phase saw
that function call (time.sleep, sqlite3, pbkdf2_hmac), then its source line, and last the
CPU the loop thread burned meanwhile.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from perfaudit.analysis.context import app_attributions
from perfaudit.analysis.paths import display_function, display_path
from perfaudit.model import (
    NESTED_CODE,
    CodeLocation,
    RouteProbe,
    RouteProfile,
    SampledStack,
    StackFrame,
)

# (kind, path fragments of library frames that identify it)
LIBRARY_KINDS = (
    ("db", ("/sqlite3/", "/sqlalchemy/", "/psycopg2/", "/psycopg/", "/pymysql/", "/MySQLdb/",
            "/mysql/connector/", "/peewee.py", "/pymongo/", "/redis/")),
    ("http", ("/requests/", "/urllib3/", "/http/client.py", "/urllib/request.py", "/httpx/",
              "/httpx2/", "/httpcore/", "/httpcore2/", "/socket.py", "/ssl.py", "/botocore/")),
    ("subprocess", ("/subprocess.py",)),
    ("file", ("/pathlib.py", "/shutil.py", "/tempfile.py", "/gzip.py", "/zipfile")),
    ("hash", ("/argon2/", "/pwdlib/", "/passlib/", "/bcrypt/", "/scrypt/")),
)  # fmt: skip
# The framework's own functions that serialise a response: when the loop is stuck in them,
# slow-serialization explains it (FastAPI serialises on the loop even for `def` routes).
SERIALIZERS = frozenset(
    {"jsonable_encoder", "serialize_response", "_prepare_response_content", "render"}
)
# (kind, patterns in the names of built-ins the function called directly)
BUILTIN_KINDS = (
    ("db", ("sqlite3", "psycopg", "_mysql")),
    ("hash", ("pbkdf2", "scrypt", "bcrypt", "argon2")),
    ("sleep", ("time.sleep",)),
    ("subprocess", ("fork_exec", "waitpid", "_posixsubprocess")),
    ("http", ("_socket", "_ssl")),
    ("file", ("_io.", "posix.read", "posix.stat", "posix.listdir", "posix.scandir")),
)
# (kind, pattern on the app's source line)
LINE_KINDS = (
    ("sleep", re.compile(r"\btime\.sleep\(|(?<![\w.])sleep\(")),
    ("hash", re.compile(r"pbkdf2|bcrypt|scrypt|argon2|hashpw|checkpw")),
    ("subprocess", re.compile(r"\bsubprocess\.|\bos\.(system|popen)\(|\bPopen\(")),
    ("http", re.compile(r"\brequests\.\w+\(|urlopen\(|\bhttpx2?\.(get|post|put|delete|request)\(")),
    ("db", re.compile(r"\.(execute|executemany|executescript|fetchall|fetchone|fetchmany)\(")),
    ("file", re.compile(r"\bopen\(|\.read(_text|_bytes|lines)?\(|\.write(_text|_bytes)?\(")),
)
CPU_BOUND = 0.7  # share of the stall the loop thread spent on CPU
# A site matters when the loop was stuck there this much of the probe phase, this long per
# request: below, the loop was merely busy.
MIN_SHARE = 0.15
MIN_MS_PER_REQUEST = 2.0
CALL_BY_KIND = {"cpu": "CPU-bound Python", "sleep": "time.sleep", "file": "file I/O"}


@dataclass(frozen=True, slots=True)
class BlockingSite:
    """An app function the loop was stuck in, with what it was doing."""

    function: str
    file: str  # as displayed
    line: int  # the line most often seen
    code: str
    kind: str  # "db" | "http" | "subprocess" | "file" | "sleep" | "hash" | "cpu" | "other"
    call: str  # what blocked, e.g. "requests.get", "time.sleep", "subprocess.run"
    wall_s: float
    cpu_s: float
    samples: int
    # "app": the app's own function. "library"/"framework": no frame of the app's was on
    # the loop's stack; the site is the library's function that the framework called (a
    # library's own `async def` endpoint, e.g. fastapi-users' login), or the framework's.
    owner: str = "app"
    # A library site: the nearest `async def` of the library's around the blocking call
    # ("fastapi_users.manager.authenticate"): the one to override, to await it in a thread.
    called_from: str = ""

    @property
    def cpu_share(self) -> float:
        return min(self.cpu_s / self.wall_s, 1.0) if self.wall_s > 0 else 0.0


@dataclass(frozen=True, slots=True)
class Blocking:
    """A site that held the loop long enough to matter, with its share of the phase."""

    site: BlockingSite
    share: float
    ms_per_request: float


def significant_blocking(
    probe: RouteProbe, profile: RouteProfile | None, app_root: str
) -> list[Blocking]:
    found = []
    for site in blocking_sites(probe, profile, app_root):
        share = min(site.wall_s / probe.wall_s, 1.0) if probe.wall_s > 0 else 0.0
        per_request_ms = site.wall_s / max(len(probe.durations_s), 1) * 1000
        if share >= MIN_SHARE and per_request_ms >= MIN_MS_PER_REQUEST:
            found.append(Blocking(site, share, per_request_ms))
    return found


def blocking_sites(
    probe: RouteProbe, profile: RouteProfile | None, app_root: str
) -> list[BlockingSite]:
    return stack_sites(probe.loop.stacks, profile, app_root)


def stack_sites(
    stacks: Iterable[SampledStack], profile: RouteProfile | None, app_root: str
) -> list[BlockingSite]:
    """The loop thread's stacks (the watchdog's, or py-spy's) grouped by the innermost app
    function they were in, heaviest first."""
    groups: dict[tuple[str, str], list[tuple[SampledStack, int]]] = defaultdict(list)
    for stack in stacks:
        index = innermost_app_frame(stack.frames)
        if index is None:
            index = _library_entry(stack.frames)
        if index is not None:
            frame = stack.frames[index]
            groups[(frame.file, frame.function)].append((stack, index))
    callees = _callee_names(profile)
    sites = [_site(members, callees, app_root) for members in groups.values()]
    return sorted(sites, key=lambda s: s.wall_s, reverse=True)


def _site(
    members: list[tuple[SampledStack, int]],
    callees: dict[tuple[str, str], list[str]],
    app_root: str,
) -> BlockingSite:
    heaviest, index = max(members, key=lambda m: m[0].wall_s)
    frame = heaviest.frames[index]
    by_line: dict[int, float] = defaultdict(float)
    for stack, i in members:
        by_line[stack.frames[i].line] += stack.wall_s
    line = max(by_line, key=lambda ln: by_line[ln])
    code = next((s.frames[i].code for s, i in members if s.frames[i].line == line), frame.code)
    wall = sum(s.wall_s for s, _ in members)
    cpu = sum(s.cpu_s for s, _ in members)
    kind, call = _classify(
        heaviest.frames[: index + (frame.owner != "app")],  # a library site names itself
        callees.get((frame.file, frame.function), []),
        code,
        cpu / wall if wall else 0.0,
    )
    if frame.owner == "framework" and frame.function in SERIALIZERS:
        kind, call = "serialize", _qualified(frame)
    return BlockingSite(
        function=frame.function,
        file=display_path(frame.file, app_root),
        line=line,
        code=code,
        kind=kind,
        call=call or CALL_BY_KIND.get(kind, "") or code,
        wall_s=wall,
        cpu_s=cpu,
        samples=sum(s.samples for s, _ in members),
        owner=frame.owner,
        called_from=_caller_of(call, heaviest.frames) if frame.owner != "app" else "",
    )


def _caller_of(call: str, frames: tuple[StackFrame, ...]) -> str:
    """The nearest `async def` of a library's outside the frame named `call` (frames
    innermost first): it calls the blocking work without awaiting, and could. "" when the
    stack does not say which frames are async (py-spy's)."""
    at = next((i for i, f in enumerate(frames) if _qualified(f) == call), None)
    outer = frames[at + 1 :] if at is not None else ()
    found = next((f for f in outer if f.awaitable and f.owner == "library"), None)
    return _qualified(found) if found else ""


def _classify(
    deeper: tuple[StackFrame, ...], callees: list[str], code: str, cpu_share: float
) -> tuple[str, str]:
    for kind, fragments in LIBRARY_KINDS:
        for frame in reversed(deeper):  # the outermost library frame names the call
            if frame.owner != "app" and any(f in frame.file for f in fragments):
                return kind, _qualified(frame)
    for kind, patterns in BUILTIN_KINDS:
        for name in callees:
            if any(p in name for p in patterns):
                return kind, CALL_BY_KIND.get(kind, name)
    for kind, pattern in LINE_KINDS:
        if pattern.search(code):
            return kind, ""
    return ("cpu" if cpu_share >= CPU_BOUND else "other"), ""


def _qualified(frame: StackFrame) -> str:
    """requests/api.py:get → requests.get; subprocess.py:run → subprocess.run."""
    module = display_path(frame.file, "").removesuffix(".py").removesuffix("/__init__")
    module = module.replace("/", ".")
    if module.endswith(".api"):  # requests.api.get is what users call requests.get
        module = module.removesuffix(".api")
    return f"{module}.{frame.function}"


@dataclass(frozen=True, slots=True)
class AwaitlessCall:
    """A blocking built-in (time.sleep, a socket, pbkdf2) called straight from an `async
    def` endpoint: on the event loop by construction, whatever the probes saw."""

    kind: str
    call: str
    time_s: float  # in the profiled phase, from this caller


def blocking_calls_in(profile: RouteProfile, endpoint: CodeLocation) -> list[AwaitlessCall]:
    """The blocking built-ins the endpoint function itself called, heaviest first."""
    found = []
    for fn in profile.functions:
        name = display_function(fn.function.name)
        kind = next((k for k, patterns in BUILTIN_KINDS if any(p in name for p in patterns)), None)
        if kind is None or fn.function.file != "~":
            continue
        for edge in fn.callers:
            if edge.caller.file == endpoint.file and edge.caller.name == endpoint.function:
                found.append(AwaitlessCall(kind, CALL_BY_KIND.get(kind, name), edge.cumulative_s))
    return sorted(found, key=lambda c: c.time_s, reverse=True)


def innermost_app_frame(frames: tuple[StackFrame, ...]) -> int | None:
    """The innermost frame of the app's own functions; a comprehension or lambda counts as
    the function around it, as the profile's attribution does."""
    return next(
        (i for i, f in enumerate(frames) if f.owner == "app" and f.function not in NESTED_CODE),
        None,
    )


def _library_entry(frames: tuple[StackFrame, ...]) -> int | None:
    """With no app frame on the loop's stack: the outermost library frame (what the
    framework called: a library's own endpoint or dependency), else the framework
    serialising the response (jsonable_encoder). The server's and framework's other
    plumbing (uvicorn parsing, routing) is the loop being busy, not blocked by a route."""
    libraries = [i for i, f in enumerate(frames) if f.owner == "library"]
    if libraries:
        return libraries[-1]
    return next(
        (i for i, f in enumerate(frames) if f.owner == "framework" and f.function in SERIALIZERS),
        None,
    )


def _callee_names(profile: RouteProfile | None) -> dict[tuple[str, str], list[str]]:
    """For each app function: the names of what it called directly, heaviest first."""
    if profile is None:
        return {}
    return {
        (a.function.function.file, a.function.function.name): [
            display_function(callee.function.name) for callee, _ in a.callees
        ]
        for a in app_attributions(profile)
    }

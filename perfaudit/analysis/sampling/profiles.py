"""Per-route profiles built from samples, shaped like the profiled phase's, so the rules
that read profiles (cpu-hotspot, slow-serialization, sync-logging…) read them too.

Seconds are samples divided by the rate. A function's self time is the samples with it
innermost; its cumulative time the samples of stacks it is on, once per stack however
often it recurses; a caller edge, the samples of stacks where the caller called it.
Samples count no calls: `calls` is 0. A function's `line` is its most sampled line (py-spy
gives the line each frame was on, not where the function starts).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from itertools import pairwise

from perfaudit.analysis.blocking import LINE_KINDS
from perfaudit.analysis.sampling.routes import route_names
from perfaudit.analysis.sampling.stacks import bare, read_stack
from perfaudit.model import (
    SAMPLED_PROFILER,
    CallerStats,
    FunctionId,
    FunctionStats,
    RouteKey,
    RouteProfile,
    SampledStack,
    SamplingRun,
    StackFrame,
)

PROFILER = SAMPLED_PROFILER
BUILTIN = "~"
# py-spy (without --native) sees no C function: the call below the innermost Python
# frame is read from that frame, and recorded as the built-in cProfile would have named,
# so rules that know waiting built-ins (time.sleep, sockets, locks) see them.
# (file suffix of the frame, its bare names, the built-in it is waiting in)
WAITING_LEAVES = (
    ("/socket.py", frozenset({"readinto", "accept", "create_connection", "sendall"}),
     "<method 'recv_into' of '_socket.socket' objects>"),
    ("/ssl.py", frozenset({"read", "recv_into", "do_handshake", "write", "sendall"}),
     "<method 'read' of '_ssl._SSLSocket' objects>"),
    ("/threading.py", frozenset({"wait", "_acquire_restore", "_wait_for_tstate_lock"}),
     "<method 'acquire' of '_thread.lock' objects>"),
    ("/subprocess.py", frozenset({"_try_wait", "_wait", "_execute_child"}),
     "<built-in method posix.waitpid>"),
)  # fmt: skip
# The app's own source line, when the recording kept it (kind from blocking.LINE_KINDS).
BUILTIN_BY_LINE_KIND = {
    "sleep": "<built-in method time.sleep>",
    "hash": "<built-in method _hashlib.pbkdf2_hmac>",
}


def route_stacks(run: SamplingRun, app_root: str) -> dict[RouteKey, list[SampledStack]]:
    """The stacks of every thread that served a route, by route. Framework-only stacks on
    the request path (routing, serialising) belong to a route only when one was served."""
    names = route_names(run, app_root)
    found: dict[RouteKey, list[SampledStack]] = defaultdict(list)
    framework: list[SampledStack] = []
    for process in run.processes:
        for thread in process.threads:
            for stack in thread.stacks:
                work = read_stack(stack, thread.role)
                if work.entry is not None:
                    found[names.route(work.entry)].append(stack)
                elif work.on_request_path and thread.role == "loop":
                    framework.append(stack)
    if len(found) == 1:
        next(iter(found.values())).extend(framework)
    return dict(found)


def route_profiles(
    run: SamplingRun, app_root: str, *, requests: Mapping[RouteKey, int] | None = None
) -> tuple[RouteProfile, ...]:
    """One profile per route seen in the samples. `requests`: how many requests each route
    served meanwhile, when perfaudit drove the load (0 when unknown)."""
    counts = requests or {}
    return tuple(
        profile_of(route, stacks, run.rate_hz, counts.get(route, 0))
        for route, stacks in route_stacks(run, app_root).items()
    )


def profile_of(
    route: RouteKey, stacks: list[SampledStack], rate_hz: int, requests: int
) -> RouteProfile:
    tally = _Tally(_hot_lines(stacks))
    for stack in stacks:
        tally.add(with_native_leaf(stack.frames), stack.samples)
    return RouteProfile(
        route=route,
        profiler=PROFILER,
        requests=requests,
        request_time_s=sum(s.samples for s in stacks) / rate_hz,
        functions=tally.functions(rate_hz),
    )


def with_native_leaf(frames: tuple[StackFrame, ...]) -> tuple[StackFrame, ...]:
    """The stack with the built-in its innermost frame waits in, when that can be told."""
    name = native_leaf(frames[0]) if frames else None
    return (StackFrame(BUILTIN, 0, name, "stdlib"), *frames) if name else frames


def native_leaf(frame: StackFrame) -> str | None:
    if frame.owner == "app":
        kind = next((k for k, pattern in LINE_KINDS if pattern.search(frame.code)), None)
        return BUILTIN_BY_LINE_KIND.get(kind or "")
    name = bare(frame.function)
    return next(
        (builtin for suffix, names, builtin in WAITING_LEAVES
         if frame.file.endswith(suffix) and name in names),
        None,
    )  # fmt: skip


def _hot_lines(stacks: list[SampledStack]) -> dict[tuple[str, str], int]:
    lines: dict[tuple[str, str], Counter[int]] = defaultdict(Counter)
    for stack in stacks:
        for frame in stack.frames:
            lines[(frame.file, frame.function)][frame.line] += stack.samples
    return {key: counter.most_common(1)[0][0] for key, counter in lines.items()}


@dataclass
class _Tally:
    hot_lines: dict[tuple[str, str], int]
    owners: dict[FunctionId, str] = field(default_factory=dict)
    # Samples: on top of the stack, on the stack, on it as (callee, caller), as the top two.
    leaf: Counter[FunctionId] = field(default_factory=Counter)
    on_stack: Counter[FunctionId] = field(default_factory=Counter)
    edges: Counter[tuple[FunctionId, FunctionId]] = field(default_factory=Counter)
    leaf_edges: Counter[tuple[FunctionId, FunctionId]] = field(default_factory=Counter)

    def fid(self, frame: StackFrame) -> FunctionId:
        line = self.hot_lines.get((frame.file, frame.function), frame.line)
        name = frame.function if frame.file == BUILTIN else bare(frame.function)
        fid = FunctionId(frame.file, line, name)
        self.owners.setdefault(fid, frame.owner)
        return fid

    def add(self, frames: tuple[StackFrame, ...], samples: int) -> None:
        ids = [self.fid(frame) for frame in frames]
        if not ids:
            return
        self.leaf[ids[0]] += samples
        self.leaf_edges.update(dict.fromkeys(pairwise(ids[:2]), samples))
        # Once per stack, however often a function recurses.
        self.on_stack.update(dict.fromkeys(ids, samples))
        self.edges.update(dict.fromkeys(pairwise(ids), samples))

    def functions(self, rate_hz: int) -> tuple[FunctionStats, ...]:
        callers: dict[FunctionId, list[CallerStats]] = defaultdict(list)
        for (callee, caller), samples in self.edges.items():
            edge_self = self.leaf_edges[(callee, caller)] / rate_hz
            callers[callee].append(CallerStats(caller, 0, 0, edge_self, samples / rate_hz))
        return tuple(
            FunctionStats(
                function=fid,
                owner=self.owners[fid],
                calls=0,
                primitive_calls=0,
                self_s=self.leaf[fid] / rate_hz,
                cumulative_s=samples / rate_hz,
                callers=tuple(callers[fid]),
            )
            for fid, samples in self.on_stack.most_common()
        )

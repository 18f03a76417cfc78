"""Stacks with weights: what speedscope and collapsed-stack files hold, and what the call
tree of `perfaudit view` is drawn from.

An attach session has real stacks (py-spy's samples). An in-process session has pstats
records only (functions and caller edges), so its stacks are *reconstructed* by
`perfaudit.model.rebuilt_stacks`, the way snakeviz and gprof2dot draw a call graph (the
same stacks the HTML flame graph is drawn from).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import pairwise

from perfaudit.model import (
    CallerStats,
    FunctionId,
    FunctionStats,
    RouteKey,
    RouteProfile,
    SamplingRun,
    Session,
    ThreadSamples,
    rebuilt_stacks,
)

Owner = Callable[[str, str], str]  # (file, function name) → "app" | "framework" | …
MICROSECOND = 1e-6
# A callee lighter than this on a reconstructed path is not followed (its time stays with
# its caller): it would round to no weight, and the walk would visit every path of a large
# graph.
MIN_WEIGHT_US = 1.0


class ProfileFormatError(ValueError):
    """The file is not a profile of the kind it claims (or seems) to be."""


@dataclass(frozen=True, slots=True)
class WeightedStack:
    frames: tuple[FunctionId, ...]  # root first, as collapsed files and speedscope list them
    weight: float


@dataclass(frozen=True, slots=True)
class StackGroup:
    """The stacks of one route, thread or profile."""

    name: str
    unit: str  # "samples" | "microseconds" | "none" (a foreign file's counts)
    seconds_per_unit: float | None  # None when the unit is not time
    stacks: tuple[WeightedStack, ...]
    owners: dict[FunctionId, str] = field(default_factory=dict)

    @property
    def total(self) -> float:
        return sum(stack.weight for stack in self.stacks)


def session_stacks(session: Session) -> tuple[StackGroup, ...]:
    """Real stacks per thread for an attach session, else stacks rebuilt per route."""
    if session.sampling is not None:
        return sampled_stacks(session.sampling)
    return tuple(reconstructed_stacks(profile) for profile in session.profiles)


def sampled_stacks(run: SamplingRun) -> tuple[StackGroup, ...]:
    several = len(run.processes) > 1
    return tuple(
        _thread_group(thread, f"process {process.pid} · " if several else "", run.rate_hz)
        for process in run.processes
        for thread in process.threads
        if thread.samples
    )


def _thread_group(thread: ThreadSamples, prefix: str, rate_hz: int) -> StackGroup:
    owners: dict[FunctionId, str] = {}
    stacks = []
    for stack in thread.stacks:
        ids = []
        for frame in reversed(stack.frames):  # SampledStack is innermost first
            fid = FunctionId(frame.file, frame.line, frame.function)
            owners.setdefault(fid, frame.owner)
            ids.append(fid)
        stacks.append(WeightedStack(tuple(ids), stack.samples))
    label = f" ({thread.name or thread.role})" if thread.name or thread.role else ""
    return StackGroup(
        name=f"{prefix}thread {thread.thread_id}{label}",
        unit="samples",
        seconds_per_unit=1 / rate_hz if rate_hz > 0 else None,
        stacks=tuple(stacks),
        owners=owners,
    )


def reconstructed_stacks(profile: RouteProfile) -> StackGroup:
    """The stacks `perfaudit.model.rebuilt_stacks` rebuilds from the caller edges, in
    whole microseconds (flamegraph.pl reads counts)."""
    stacks = (
        WeightedStack(path, rounded)
        for path, seconds in rebuilt_stacks(profile, min_weight_s=MIN_WEIGHT_US * MICROSECOND)
        if (rounded := round(seconds / MICROSECOND)) > 0
    )
    return StackGroup(
        name=str(profile.route),
        unit="microseconds",
        seconds_per_unit=MICROSECOND,
        stacks=tuple(stacks),
        owners={fn.function: fn.owner for fn in profile.functions},
    )


def profile_of(group: StackGroup, owner: Owner) -> RouteProfile:
    """The pstats-shaped profile of some stacks: a function's self time is the weight of
    the stacks it ends, its cumulative time that of the stacks it is on (once per stack,
    however deep it recurses). Stacks count no calls."""
    scale = group.seconds_per_unit or 1.0
    # Frames counted by their number in `index`: a FunctionId hashes its three fields on
    # every lookup, an int at once, and a large file has millions of frames.
    index: dict[FunctionId, int] = {}
    leaf: dict[int, float] = defaultdict(float)
    on_stack: dict[int, float] = defaultdict(float)
    edges: dict[tuple[int, int], float] = defaultdict(float)
    for stack in group.stacks:
        if not stack.frames:
            continue
        numbers = [index.setdefault(fid, len(index)) for fid in stack.frames]
        leaf[numbers[-1]] += stack.weight
        for number in set(numbers):  # once per stack, however deep it recurses
            on_stack[number] += stack.weight
        for pair in set(pairwise(numbers)):
            edges[pair] += stack.weight
    fids = list(index)
    callers: dict[int, list[CallerStats]] = defaultdict(list)
    for (caller, callee), weight in edges.items():
        callers[callee].append(CallerStats(fids[caller], 0, 0, 0.0, weight * scale))
    functions = tuple(
        FunctionStats(
            function=(fid := fids[number]),
            owner=group.owners.get(fid) or owner(fid.file, fid.name),
            calls=0,
            primitive_calls=0,
            self_s=leaf[number] * scale,
            cumulative_s=weight * scale,
            callers=tuple(callers[number]),
        )
        for number, weight in sorted(on_stack.items(), key=lambda item: -item[1])
    )
    return RouteProfile(
        route=RouteKey("", group.name),
        profiler=group.unit,
        requests=0,
        request_time_s=group.total * scale,
        functions=functions,
    )

"""What the profiled phase saw, per route: pstats-shaped function records.

Times are seconds of wall clock summed over every thread the profiler watched. The caller
edges are kept so the data can be written back out as a `.pstats` file for snakeviz.
"""

from __future__ import annotations

from dataclasses import dataclass

from perfaudit.model.requests import RouteKey

# Code objects that belong to the function around them: a comprehension (its own code
# object on 3.11, inlined on 3.12) or a lambda. Findings name the enclosing function.
NESTED_CODE = frozenset({"<listcomp>", "<dictcomp>", "<setcomp>", "<genexpr>", "<lambda>"})


@dataclass(frozen=True, slots=True)
class FunctionId:
    file: str  # "~" for built-in functions, as in pstats
    line: int
    name: str

    def __str__(self) -> str:
        if self.file == "~":
            return self.name
        return f"{self.file}:{self.line}({self.name})"


@dataclass(frozen=True, slots=True)
class CallerStats:
    caller: FunctionId
    calls: int
    primitive_calls: int
    self_s: float
    cumulative_s: float

    def merged_with(self, other: CallerStats) -> CallerStats:
        return CallerStats(
            self.caller,
            self.calls + other.calls,
            self.primitive_calls + other.primitive_calls,
            self.self_s + other.self_s,
            self.cumulative_s + other.cumulative_s,
        )


@dataclass(frozen=True, slots=True)
class FunctionStats:
    function: FunctionId
    owner: str  # "app" | "framework" | "library" | "stdlib" | "perfaudit"
    calls: int
    primitive_calls: int
    self_s: float
    cumulative_s: float
    callers: tuple[CallerStats, ...] = ()
    # The app's functions: "name: Annotation" of each parameter, from the source.
    params: tuple[str, ...] = ()
    # A coroutine or generator: cProfile counts each resumption (after an await or a
    # yield) as a call, so `calls` says how often it ran only with the calls phase's help.
    resumable: bool = False

    def merged_with(self, other: FunctionStats) -> FunctionStats:
        """The same function's records from two profiles (two threads, two routes), summed."""
        edges = {edge.caller: edge for edge in self.callers}
        for edge in other.callers:
            old = edges.get(edge.caller)
            edges[edge.caller] = edge if old is None else old.merged_with(edge)
        return FunctionStats(
            self.function,
            self.owner,
            self.calls + other.calls,
            self.primitive_calls + other.primitive_calls,
            self.self_s + other.self_s,
            self.cumulative_s + other.cumulative_s,
            tuple(edges.values()),
            self.params or other.params,
            self.resumable or other.resumable,
        )


SAMPLED_PROFILER = "py-spy"  # the `profiler` of a RouteProfile built from py-spy's samples


@dataclass(frozen=True, slots=True)
class RouteProfile:
    """The profiled phase of one route: `requests` requests, one at a time, taking
    `request_time_s` of wall clock between them."""

    route: RouteKey
    profiler: str
    requests: int
    request_time_s: float
    functions: tuple[FunctionStats, ...]

    @property
    def sampled(self) -> bool:
        """Built from py-spy's samples (attach): times are samples ÷ rate, and only those
        under the endpoint; calls are not counted."""
        return self.profiler == SAMPLED_PROFILER

    def merged_with(self, other: RouteProfile) -> RouteProfile:
        by_id = {fn.function: fn for fn in self.functions}
        for fn in other.functions:
            mine = by_id.get(fn.function)
            by_id[fn.function] = fn if mine is None else mine.merged_with(fn)
        return RouteProfile(
            route=self.route,
            profiler=self.profiler,
            requests=self.requests + other.requests,
            request_time_s=self.request_time_s + other.request_time_s,
            functions=tuple(by_id.values()),
        )

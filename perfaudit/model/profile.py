"""What the profiled phase saw, per route: pstats-shaped function records.

Times are seconds of wall clock summed over every thread the profiler watched. The caller
edges are kept so the data can be written back out as a `.pstats` file for snakeviz.
"""

from __future__ import annotations

from dataclasses import dataclass

from perfaudit.model.requests import RouteKey


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


@dataclass(frozen=True, slots=True)
class FunctionStats:
    function: FunctionId
    owner: str  # "app" | "framework" | "library" | "stdlib" | "perfaudit"
    calls: int
    primitive_calls: int
    self_s: float
    cumulative_s: float
    callers: tuple[CallerStats, ...] = ()


@dataclass(frozen=True, slots=True)
class RouteProfile:
    """The profiled phase of one route: `requests` requests, one at a time, taking
    `request_time_s` of wall clock between them."""

    route: RouteKey
    profiler: str
    requests: int
    request_time_s: float
    functions: tuple[FunctionStats, ...]

    def merged_with(self, other: RouteProfile) -> RouteProfile:
        by_id = {fn.function: fn for fn in self.functions}
        for fn in other.functions:
            mine = by_id.get(fn.function)
            by_id[fn.function] = fn if mine is None else _add(mine, fn)
        return RouteProfile(
            route=self.route,
            profiler=self.profiler,
            requests=self.requests + other.requests,
            request_time_s=self.request_time_s + other.request_time_s,
            functions=tuple(by_id.values()),
        )


def _add(a: FunctionStats, b: FunctionStats) -> FunctionStats:
    edges = {edge.caller: edge for edge in a.callers}
    for edge in b.callers:
        old = edges.get(edge.caller)
        edges[edge.caller] = (
            edge
            if old is None
            else CallerStats(
                edge.caller,
                old.calls + edge.calls,
                old.primitive_calls + edge.primitive_calls,
                old.self_s + edge.self_s,
                old.cumulative_s + edge.cumulative_s,
            )
        )
    return FunctionStats(
        a.function,
        a.owner,
        a.calls + b.calls,
        a.primitive_calls + b.primitive_calls,
        a.self_s + b.self_s,
        a.cumulative_s + b.cumulative_s,
        tuple(edges.values()),
    )

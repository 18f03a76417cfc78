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

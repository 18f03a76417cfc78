"""Call stacks rebuilt from a pstats-shaped profile, for flame graphs, stack exports and
call trees.

cProfile keeps no stacks, only per-function totals and caller edges. The stacks are
rebuilt the way snakeviz and gprof2dot draw pstats: walk down from the roots (functions
no other recorded function called), sharing each function's time on a path among its
callees by the time of each callee's edge from it. What a function keeps on a path is its
self time there: the stacks' weights add up to the roots' cumulative time.

pstats merges every call of a function, so a rebuilt stack can join a caller and a
callee that never met in one request, and a cycle in the edges is either recursion or
one function reached twice on the way down (Starlette's `wrapped_app` wraps both the app
and each route). A function may be on a path MAX_REPEAT times: the one return into it is
drawn, further ones cut.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from perfaudit.model.profile import FunctionId, FunctionStats, RouteProfile

MAX_DEPTH = 256
MAX_REPEAT = 2

Stack = tuple[tuple[FunctionId, ...], float]  # root-first frames, seconds of self time


def rebuilt_stacks(
    profile: RouteProfile, *, min_weight_s: float = 0.0, max_depth: int = MAX_DEPTH
) -> tuple[Stack, ...]:
    """Root-first stacks, each with the seconds its innermost function spent itself on
    that path. A callee whose share of a path is under `min_weight_s` is not followed:
    its time stays with its caller (which also bounds the walk on large graphs)."""
    functions = {fn.function: fn for fn in profile.functions}
    walk = _Walk(functions, min_weight_s, max_depth)
    for fn in profile.functions:
        for edge in fn.callers:
            if edge.caller in functions and edge.caller != fn.function:
                walk.callees[edge.caller].append((fn.function, edge.cumulative_s))
                walk.edges[(edge.caller, fn.function)] = edge.cumulative_s
    for fn in roots(profile):
        if fn.cumulative_s >= min_weight_s:
            walk.visit((fn.function,), fn.cumulative_s)
    return tuple((path, weight) for path, weight in walk.weights.items() if weight > 0)


def roots(profile: RouteProfile) -> tuple[FunctionStats, ...]:
    """Functions no other recorded function called (the profiler's first frames): their
    cumulative times add up to the profile's."""
    recorded = {fn.function for fn in profile.functions}
    return tuple(
        fn
        for fn in profile.functions
        if not any(edge.caller in recorded and edge.caller != fn.function for edge in fn.callers)
    )


@dataclass
class _Walk:
    functions: dict[FunctionId, FunctionStats]
    min_weight_s: float
    max_depth: int
    callees: dict[FunctionId, list[tuple[FunctionId, float]]] = field(
        default_factory=lambda: defaultdict(list)
    )  # caller → (callee, the callee's cumulative seconds under that caller)
    edges: dict[tuple[FunctionId, FunctionId], float] = field(default_factory=dict)
    weights: dict[tuple[FunctionId, ...], float] = field(default_factory=dict)

    def visit(self, path: tuple[FunctionId, ...], value: float) -> None:
        left = value
        if len(path) < self.max_depth:
            for callee, share in self._shares(path, value):
                self.visit((*path, callee), share)
                left -= share
        self.weights[path] = self.weights.get(path, 0.0) + max(left, 0.0)

    def _shares(self, path: tuple[FunctionId, ...], value: float) -> list[tuple[FunctionId, float]]:
        """The function's `value` at this path shared among its callees, by edge time.

        A function's cumulative time counts its outermost calls only, each edge in full:
        the edges add up to more than that time only when it was re-entered through one
        of them. Then callees not yet on the path are served first, largest first, and
        each gets at most what is left, so the re-entry below holds the rest. At the
        re-entry itself the value is a share of the inner calls (the entering edge's
        time), not of the outer ones."""
        fid = path[-1]
        whole = self.functions[fid].cumulative_s
        if fid in path[:-1]:
            whole = self.edges.get((path[-2], fid), whole)
        if whole <= 0:
            return []
        scale = value / whole
        wanted = [
            (callee, edge_s * scale)
            for callee, edge_s in self.callees.get(fid, ())
            if path.count(callee) < MAX_REPEAT
        ]
        if sum(share for _, share in wanted) > value:
            wanted.sort(key=lambda pair: (pair[0] in path, -pair[1]))
        shares = []
        left = value
        for callee, share in wanted:
            given = min(share, left)
            left -= given
            if given >= self.min_weight_s and given > 0:
                shares.append((callee, given))
        return shares

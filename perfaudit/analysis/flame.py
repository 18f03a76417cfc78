"""The flame graph of each route's profile, computed here so that the HTML page only draws.

Attach sessions keep py-spy's stacks: the tree is built from them exactly, a sample at a
time. In-process sessions keep cProfile's function records, which hold no stacks, only
caller edges: the tree is rebuilt top-down from the roots, each function's time on a path
shared among its callees by the time of each callee's edge from it (how snakeviz and
gprof2dot draw pstats), with cycles cut after one turn (MAX_REPEAT). perfaudit's own
frames are left out (their callees move up to their caller), and frames under MIN_SHARE
of the route's time are pruned into their parent, to keep the page small.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from perfaudit.analysis.paths import display_function, display_path
from perfaudit.analysis.sampling import route_stacks
from perfaudit.model import FunctionId, FunctionStats, RouteProfile, SampledStack, Session

MIN_SHARE = 0.005
MAX_DEPTH = 128
# How often one function may be on a rebuilt path. pstats merges every call of a function,
# so a cycle in its edges is either recursion or one function reached twice on the way
# down (Starlette's `wrapped_app` wraps both the app and each route): one return into it
# is drawn, further ones cut.
MAX_REPEAT = 2
HIDDEN_OWNERS = frozenset({"perfaudit"})
ROOT_OWNER = "root"


@dataclass(frozen=True, slots=True)
class FlameNode:
    name: str
    file: str  # as reports show it: relative to the app, a package, or the stdlib
    line: int
    owner: str  # "app" | "framework" | "library" | "stdlib" | "idle" | "root"
    value: float  # seconds in this frame and under it
    children: tuple[FlameNode, ...] = ()

    @property
    def self_value(self) -> float:
        return max(self.value - sum(child.value for child in self.children), 0.0)

    def walk(self) -> Iterable[FlameNode]:
        yield self
        for child in self.children:
            yield from child.walk()


@dataclass(frozen=True, slots=True)
class RouteFlame:
    route: str
    profiler: str  # "cprofile" (rebuilt from caller edges) | "py-spy" (exact stacks)
    root: FlameNode


def route_flames(session: Session, *, min_share: float = MIN_SHARE) -> tuple[RouteFlame, ...]:
    """A flame graph per profiled route: from the samples when py-spy recorded the
    session, else from the profiled phase's caller edges."""
    run = session.sampling
    if run is not None:
        stacks = route_stacks(run, session.app_root)
        return tuple(
            RouteFlame(
                str(route),
                "py-spy",
                flame_from_stacks(str(route), found, run.rate_hz, session.app_root, min_share),
            )
            for route, found in stacks.items()
        )
    return tuple(
        RouteFlame(
            str(p.route), p.profiler, flame_from_profile(p, session.app_root, min_share=min_share)
        )
        for p in session.profiles
    )


# --- Exact: sampled stacks -------------------------------------------------------------


@dataclass
class _Trie:
    name: str
    file: str
    owner: str
    samples: int = 0
    lines: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    children: dict[tuple[str, str], _Trie] = field(default_factory=dict)

    def add(self, frames: list[tuple[str, str, int, str]], samples: int) -> None:
        node = self
        node.samples += samples
        for name, file, line, owner in frames:
            node = node.children.setdefault((file, name), _Trie(name, file, owner))
            node.samples += samples
            node.lines[line] += samples

    def freeze(self, rate_hz: int, floor: int) -> FlameNode:
        line = max(self.lines, key=lambda n: self.lines[n]) if self.lines else 0
        kids = [c.freeze(rate_hz, floor) for c in self.children.values() if c.samples >= floor]
        return FlameNode(
            self.name, self.file, line, self.owner, self.samples / rate_hz, _by_value(kids)
        )


def flame_from_stacks(
    label: str,
    stacks: Iterable[SampledStack],
    rate_hz: int,
    app_root: str,
    min_share: float = MIN_SHARE,
) -> FlameNode:
    """Every stack (innermost frame first) added outermost first: a frame's value is the
    samples of the stacks it is on, at this path, divided by the rate."""
    root = _Trie(label, "", ROOT_OWNER)
    for stack in stacks:
        frames = [
            (f.function, display_path(f.file, app_root), f.line, f.owner)
            for f in reversed(stack.frames)
            if f.owner not in HIDDEN_OWNERS
        ]
        root.add(frames[:MAX_DEPTH], stack.samples)
    floor = max(1, round(root.samples * min_share))
    return root.freeze(rate_hz, floor)


# --- Rebuilt: cProfile caller edges ----------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Graph:
    functions: dict[FunctionId, FunctionStats]
    callees: dict[FunctionId, list[tuple[FunctionId, float]]]  # caller → (callee, edge s)
    app_root: str
    floor_s: float


def flame_from_profile(
    profile: RouteProfile, app_root: str, *, min_share: float = MIN_SHARE
) -> FlameNode:
    functions = {fn.function: fn for fn in profile.functions}
    callees: dict[FunctionId, list[tuple[FunctionId, float]]] = defaultdict(list)
    for fn in profile.functions:
        for edge in fn.callers:
            if edge.caller in functions and edge.caller != fn.function:
                callees[edge.caller].append((fn.function, edge.cumulative_s))
    roots = [
        fid for fid, fn in functions.items() if not any(e.caller in functions for e in fn.callers)
    ]
    total = sum(functions[fid].cumulative_s for fid in roots)
    graph = _Graph(functions, callees, app_root, total * min_share)
    tops = _merged(
        [
            node
            for fid in roots
            if functions[fid].cumulative_s >= graph.floor_s
            for node in _grow(graph, fid, functions[fid].cumulative_s, ())
        ]
    )
    return FlameNode(str(profile.route), "", 0, ROOT_OWNER, sum(n.value for n in tops), tops)


def _grow(
    graph: _Graph, fid: FunctionId, value: float, path: tuple[FunctionId, ...]
) -> list[FlameNode]:
    """The function's node at this path (or, for a hidden function, its children)."""
    fn = graph.functions[fid]
    path = (*path, fid)
    children: list[FlameNode] = []
    if len(path) < MAX_DEPTH:
        for callee, share in _shares(graph, fn, value, path):
            children.extend(_grow(graph, callee, share, path))
    kids = _merged(children)
    if fn.owner in HIDDEN_OWNERS:
        return list(kids)
    name = display_function(fid.name)
    shown = display_path(fid.file, graph.app_root)
    return [FlameNode(name, shown, fid.line, fn.owner, value, kids)]


def _shares(
    graph: _Graph, fn: FunctionStats, value: float, path: tuple[FunctionId, ...]
) -> list[tuple[FunctionId, float]]:
    """The function's `value` at this path shared among its callees, by edge time.

    The edges add up to more than the function's time only when it was re-entered
    through one of them (pstats counts a recursive function's time once, each edge in
    full): then callees not yet on the path are served first, largest first, and each
    gets at most what is left, so the re-entry below holds the rest."""
    if fn.cumulative_s <= 0:
        return []
    scale = value / fn.cumulative_s
    wanted = [
        (callee, edge_s * scale)
        for callee, edge_s in graph.callees.get(fn.function, ())
        if path.count(callee) < MAX_REPEAT
    ]
    if sum(share for _, share in wanted) > value:
        wanted.sort(key=lambda pair: (pair[0] in path, -pair[1]))
    shares = []
    left = value
    for callee, share in wanted:
        given = min(share, left)
        left -= given
        if given >= graph.floor_s:
            shares.append((callee, given))
    return shares


def _merged(nodes: list[FlameNode]) -> tuple[FlameNode, ...]:
    """Siblings of the same function (hidden frames lift their callees beside their
    caller's own) become one node, their values and children summed."""
    groups: dict[tuple[str, str, int], list[FlameNode]] = {}
    for node in nodes:
        groups.setdefault((node.name, node.file, node.line), []).append(node)
    merged = []
    for group in groups.values():
        first = group[0]
        if len(group) == 1:
            merged.append(first)
            continue
        kids = _merged([kid for node in group for kid in node.children])
        value = sum(node.value for node in group)
        merged.append(FlameNode(first.name, first.file, first.line, first.owner, value, kids))
    return _by_value(merged)


def _by_value(nodes: Iterable[FlameNode]) -> tuple[FlameNode, ...]:
    return tuple(sorted(nodes, key=lambda n: n.value, reverse=True))

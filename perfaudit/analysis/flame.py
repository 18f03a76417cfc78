"""The flame graph of each route's profile, computed here so that the HTML page only draws.

Attach sessions keep py-spy's stacks: the tree is built from them exactly, a sample at a
time. In-process sessions keep cProfile's function records, which hold no stacks, only
caller edges: the tree is the trie of the stacks `perfaudit.model.rebuilt_stacks` rebuilds
from them (the same stacks the exports write). perfaudit's own frames are left out (their
callees move up to their caller), and frames under MIN_SHARE of the route's time are
pruned into their parent, to keep the page small.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from perfaudit.analysis.paths import display_function, display_path
from perfaudit.analysis.sampling import route_stacks
from perfaudit.model import RouteProfile, SampledStack, Session, rebuilt_stacks, roots

MIN_SHARE = 0.005
MAX_DEPTH = 128
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


# --- The tree of stacks ------------------------------------------------------------------


@dataclass
class _Trie:
    name: str
    file: str
    owner: str
    weight: float = 0.0
    lines: dict[int, float] = field(default_factory=lambda: defaultdict(float))
    children: dict[tuple[str, str, int | None], _Trie] = field(default_factory=dict)

    def add(self, frames: list[tuple[str, str, int, str]], weight: float, *, by_line: bool) -> None:
        """One stack (outermost frame first). Frames of one function at different lines
        are one node for sampled stacks (the line is where it was when sampled), and
        different functions for rebuilt ones (the line is where it is defined)."""
        node = self
        node.weight += weight
        for name, file, line, owner in frames:
            key = (file, name, line if by_line else None)
            node = node.children.setdefault(key, _Trie(name, file, owner))
            node.weight += weight
            node.lines[line] += weight

    def freeze(self, per_second: float, floor: float) -> FlameNode:
        line = max(self.lines, key=lambda n: self.lines[n]) if self.lines else 0
        kids = [c.freeze(per_second, floor) for c in self.children.values() if c.weight >= floor]
        return FlameNode(
            self.name, self.file, line, self.owner, self.weight / per_second, _by_value(kids)
        )


# --- Exact: sampled stacks -------------------------------------------------------------


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
        root.add(frames[:MAX_DEPTH], stack.samples, by_line=False)
    floor = max(1, round(root.weight * min_share))
    return root.freeze(rate_hz, floor)


# --- Rebuilt: cProfile caller edges ----------------------------------------------------


def flame_from_profile(
    profile: RouteProfile, app_root: str, *, min_share: float = MIN_SHARE
) -> FlameNode:
    """The trie of the stacks rebuilt from the profile's caller edges (in seconds)."""
    functions = {fn.function: fn for fn in profile.functions}
    floor_s = sum(fn.cumulative_s for fn in roots(profile)) * min_share
    root = _Trie(str(profile.route), "", ROOT_OWNER)
    for path, seconds in rebuilt_stacks(profile, min_weight_s=floor_s, max_depth=MAX_DEPTH):
        frames = [
            (display_function(fid.name), display_path(fid.file, app_root), fid.line, fn.owner)
            for fid in path
            if (fn := functions[fid]).owner not in HIDDEN_OWNERS
        ]
        if frames:  # a hidden root's own time is left out with it
            root.add(frames, seconds, by_line=True)
    return root.freeze(1.0, floor_s)


def _by_value(nodes: Iterable[FlameNode]) -> tuple[FlameNode, ...]:
    return tuple(sorted(nodes, key=lambda n: n.value, reverse=True))

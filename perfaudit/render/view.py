"""`perfaudit view`: a saved profile in the terminal (rich) — what the file is, its
hotspots sorted as asked, the call tree along its heaviest path, and its findings when
perfaudit wrote it. The terminal's answer to notebook-only pstats viewers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, TypeVar

from rich.console import Console, Group
from rich.markup import escape
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from perfaudit.analysis.findings import Finding
from perfaudit.analysis.hotspots import overall_hotspots, route_hotspots
from perfaudit.analysis.paths import display_function, display_path
from perfaudit.formats.profile_files import ProfileFile
from perfaudit.formats.stacks import StackGroup
from perfaudit.model import FunctionId, RouteProfile
from perfaudit.model.saved_report import SavedFinding
from perfaudit.render.terminal import ACCENT, SEVERITY_STYLE_BY_NAME, render_findings, short_path
from perfaudit.render.terminal import table as plain_table

SortKey = Literal["self", "cumulative", "calls"]
Item = TypeVar("Item", RouteProfile, StackGroup)
TREE_NODES = 12  # frames shown along the heaviest path
SIBLINGS = 2  # lighter callees shown beside it at a branch
BRANCH = 0.9  # a frame whose heaviest callee has less than this share of it is a branch


@dataclass(frozen=True, slots=True)
class ViewOptions:
    sort: SortKey = "self"
    limit: int = 15
    route: str | None = None  # one of ProfileFile.routes; None: all of them
    app_root: str = ""  # paths under it are shown relative to it


@dataclass(frozen=True, slots=True)
class Row:
    function: str
    location: str
    owner: str
    self_share: float
    cumulative_share: float
    calls: int | None


def render_view(
    viewed: ProfileFile,
    console: Console,
    options: ViewOptions,
    *,
    findings: tuple[Finding, ...] | None = None,
) -> None:
    """`findings`: the report's, when the file is a session (analysed by the caller)."""
    console.print(_heading(viewed, options))
    rows = sort_rows(_rows(viewed, options), options.sort)[: options.limit]
    console.print(_hotspots(rows, console, options, timed=viewed.timed))
    groups = _selected(viewed.stacks, options.route)
    if groups:
        console.print(call_tree(groups, viewed.profiles, options.app_root), Text(""))
    elif viewed.kind == "report":
        console.print(Text("A JSON report keeps no call graph: no call tree.", style="dim"))
    if findings is not None:
        render_findings(findings, console)
    elif viewed.report is not None:
        console.print(_saved_findings(viewed.report.findings))


def _heading(viewed: ProfileFile, options: ViewOptions) -> Group:
    lines = [Text.assemble(("perfaudit view ", "bold"), (viewed.path, f"bold {ACCENT}"))]
    what = viewed.description
    if viewed.session is not None:
        s = viewed.session
        what += f" of `perfaudit {s.mode} {s.target}`, {s.started_at} (perfaudit {s.tool_version})"
    elif viewed.report is not None:
        r = viewed.report
        what += f" of `perfaudit {r.mode} {r.target}` (perfaudit {r.tool_version})"
    else:
        functions = len({fn.function for p in viewed.profiles for fn in p.functions})
        total = sum(p.request_time_s for p in viewed.profiles)
        amount = f"{total:.3f} s" if viewed.timed else f"{total:,.0f} (its own unit)"
        what += f": {functions:,} functions, {amount} in {len(viewed.profiles)} profile(s)"
    lines.append(Text(what, style="dim"))
    if options.route:
        lines.append(Text(f"Route: {options.route}", style="dim"))
    return Group(*lines, Text(""))


def _rows(viewed: ProfileFile, options: ViewOptions) -> list[Row]:
    if viewed.report is not None:
        report = viewed.report
        saved = report.route_hotspots.get(options.route or "", report.hotspots)
        return [
            Row(h.function, _where(h.file, h.line, options), h.owner, h.self_share,
                h.cumulative_share, None)
            for h in saved
        ]  # fmt: skip
    profiles = _selected(viewed.profiles, options.route)
    spots = (
        route_hotspots(profiles[0], options.app_root)
        if len(profiles) == 1
        else overall_hotspots(profiles, options.app_root)
    )
    counted = any(h.calls for h in spots)
    return [
        Row(h.function, _where(h.file, h.line, options, shown=True), h.owner, h.self_share,
            h.cumulative_share, h.calls if counted else None)
        for h in spots
    ]  # fmt: skip


def sort_rows(rows: list[Row], key: SortKey) -> list[Row]:
    if key == "calls" and any(r.calls is not None for r in rows):
        return sorted(rows, key=lambda r: (r.calls or 0, r.self_share), reverse=True)
    if key == "cumulative":
        return sorted(rows, key=lambda r: (r.cumulative_share, r.self_share), reverse=True)
    return sorted(rows, key=lambda r: (r.self_share, r.cumulative_share), reverse=True)


def _where(file: str, line: int, options: ViewOptions, *, shown: bool = False) -> str:
    path = file if shown else display_path(file, options.app_root)
    return path if path == "<built-in>" else f"{short_path(path)}:{line}"


def _hotspots(rows: list[Row], console: Console, options: ViewOptions, *, timed: bool) -> Table:
    order = {"self": "self time", "cumulative": "cumulative time", "calls": "calls"}[options.sort]
    of = "time" if timed else "weight"
    table = plain_table(f"Hotspots (share of the profile's {of}, by {order})", console)
    table.add_column("Function", overflow="fold", max_width=32)
    table.add_column("Location", overflow="fold", max_width=40)
    table.add_column("Owner")
    table.add_column("Self", justify="right")
    table.add_column("Cum", justify="right")
    calls = any(r.calls is not None for r in rows)
    if calls:
        table.add_column("Calls", justify="right")
    for r in rows:
        cells = [f"{r.self_share:.1%}", f"{r.cumulative_share:.1%}"]
        if calls:
            cells.append("-" if r.calls is None else f"{r.calls:,}")
        style = "bold" if r.owner == "app" else ""
        table.add_row(Text(r.function, style=style), escape(r.location), r.owner, *cells)
    if not rows:
        table.caption = "No function of the app, its libraries or the stdlib took any time."
    return table


def _selected(items: tuple[Item, ...], route: str | None) -> list[Item]:
    if route is None:
        return list(items)
    chosen = [i for i in items if _name(i) == route or _name(i).endswith(f" {route}")]
    return chosen or list(items)


def _name(item: RouteProfile | StackGroup) -> str:
    return item.name if isinstance(item, StackGroup) else str(item.route)


@dataclass
class _Node:
    label: str
    frame: FunctionId | None = None
    weight: float = 0.0
    children: dict[object, _Node] = field(default_factory=dict)

    def child(self, key: object, label: str, frame: FunctionId | None = None) -> _Node:
        node = self.children.get(key)
        if node is None:
            node = self.children[key] = _Node(label, frame)
        return node

    def heaviest(self) -> _Node | None:
        return max(self.children.values(), key=lambda n: n.weight, default=None)


def call_tree(
    groups: list[StackGroup], profiles: tuple[RouteProfile, ...], app_root: str
) -> Tree | Text:
    """The heaviest path from the root down, each frame with its share of the whole; runs
    of frames that only pass the call on are folded into one line."""
    root = _prefix_tree(groups)
    if root.weight <= 0:
        return Text("No stacks with any weight: no call tree.", style="dim")
    owners = {fn.function: fn.owner for p in profiles for fn in p.functions}
    for group in groups:
        owners.update(group.owners)
    shown = _Shown(root.weight, owners, app_root)
    tree = Tree(Text("Call tree of the heaviest path", style="bold"), guide_style="dim")
    shown.grow(tree, root)
    return tree


_Key = FunctionId | str  # a frame, or a group's name (several groups: one branch each)


def _prefix_tree(groups: list[StackGroup]) -> _Node:
    """The stacks' prefix tree, grown only along the heaviest path: each node on it with
    all its children, and nothing below the others. All the call tree shows, in memory
    that follows the path's length, not the file's (a whole tree of a large recording
    has millions of nodes)."""
    root = _Node("all")
    stacks = [
        (((group.name,) if len(groups) > 1 else ()) + stack.frames, stack.weight)
        for group in groups
        for stack in group.stacks
    ]
    root.weight = sum(weight for _, weight in stacks)
    node, depth = root, 0
    while stacks:
        for keys, weight in stacks:
            if depth < len(keys):
                key: _Key = keys[depth]
                frame = key if isinstance(key, FunctionId) else None
                node.child(key, frame.name if frame else str(key), frame).weight += weight
        heaviest = node.heaviest()
        if heaviest is None:
            break
        chosen = next(key for key, child in node.children.items() if child is heaviest)
        stacks = [(keys, w) for keys, w in stacks if depth < len(keys) and keys[depth] == chosen]
        node, depth = heaviest, depth + 1
    return root


@dataclass
class _Shown:
    total: float
    owners: dict[FunctionId, str]
    app_root: str

    def grow(self, tree: Tree, start: _Node) -> None:
        path = self._path(start)
        keep = self._kept(path)
        branch, folded, previous = tree, 0, start
        for index, node in enumerate(path):
            if index not in keep:
                folded += 1
                previous = node
                continue
            if folded:
                branch = branch.add(Text(f"… {folded} frame(s) that pass the call on", "dim"))
                folded = 0
            for sibling in self._siblings(previous, node):
                branch.add(self._label(sibling, dim=True))
            branch = branch.add(self._label(node))
            previous = node

    def _path(self, node: _Node) -> list[_Node]:
        path = []
        while (node := node.heaviest()) is not None:  # type: ignore[assignment]
            path.append(node)
        return path

    def _kept(self, path: list[_Node]) -> set[int]:
        """The root, the leaf, the app's frames and where the path branches; at most
        TREE_NODES, those nearest the leaf first (where the time is spent)."""
        interesting = [
            i
            for i, node in enumerate(path)
            if i in (0, len(path) - 1)
            or (node.frame is not None and self.owners.get(node.frame) == "app")
            or (i + 1 < len(path) and path[i + 1].weight < BRANCH * node.weight)
        ]
        return {0, *interesting[-(TREE_NODES - 1) :]}

    def _siblings(self, parent: _Node, node: _Node) -> list[_Node]:
        others = sorted(
            (c for c in parent.children.values() if c is not node and c.weight > 0),
            key=lambda c: c.weight,
            reverse=True,
        )
        return [c for c in others[:SIBLINGS] if c.weight >= 0.01 * self.total]

    def _label(self, node: _Node, *, dim: bool = False) -> Text:
        share = f"{node.weight / self.total:>6.1%}  "
        if node.frame is None:
            return Text.assemble((share, "bold"), (node.label, "bold"))
        fid = node.frame
        owner = self.owners.get(fid, "")
        where = display_path(fid.file, self.app_root)
        where = where if where == "<built-in>" else f"{short_path(where)}:{fid.line}"
        style = "dim" if dim else ("bold" if owner == "app" else "")
        return Text.assemble(
            (share, "dim" if dim else "bold"),
            (display_function(fid.name), style),
            ("  " + where, "dim"),
        )


def _saved_findings(findings: tuple[SavedFinding, ...]) -> Group:
    if not findings:
        return Group(Text("Findings: none in this report.", style="bold green"))
    lines = [Text("Findings (most important first)", style="bold")]
    for number, f in enumerate(findings, 1):
        lines.append(
            Text.assemble(
                (f"{number}. ", "bold"),
                (f"{f.severity.upper():<8}", SEVERITY_STYLE_BY_NAME.get(f.severity, "")),
                (f"{f.id}  ", "bold"),
                f.title,
            )
        )
        if f.file:
            at = f"{f.file}:{f.line}" if f.line else f.file
            lines.append(Text(f"   at {at} in {f.function or '?'}", style=ACCENT))
    return Group(*lines, Text(""))

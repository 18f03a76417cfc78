"""tracemalloc, for the memory phase: snapshots of what the app's lines hold, and a watch
that snapshots a request at its peak.

tracemalloc knows only the blocks still alive, so the lines holding a request's peak
cannot be read from a snapshot after it: `PeakWatch` polls the traced total from a thread
and takes one snapshot when a request reaches most of the peak the ones before it reached,
while the 20 MB list a handler builds is still alive.
"""

from __future__ import annotations

import ast
import linecache
import os
import threading
import tracemalloc
from collections import defaultdict
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

from perfaudit.capture.owners import OwnerClassifier
from perfaudit.capture.rss import read_rss
from perfaudit.model import AllocationSite, CodeLocation, RouteMemory

# Frames kept per allocation: each one costs more than the last. A traced request of the
# pricing sample took 13x its time at 4 frames, 180x at 6 and 200-340x at 16 (3.11:
# each frame's line number is computed from its code's line table, and FastAPI's frames
# past the handler are long functions; benchmarks/memory_phase.py). 4 keeps the line of
# the app's that allocated (and its caller); an allocation made deep inside a library
# is attributed to the library's line.
TRACEBACK_DEPTH = 4
PEAK_DEPTH = 1  # a request's peak needs totals only: the cheapest tracing
_PERFAUDIT_DIR = str(Path(__file__).resolve().parents[2]) + os.sep
SITES_KEPT = 5
PEAK_FLOOR_BYTES = 256 * 1024  # below this a request's peak is not worth naming lines for


def rss_bytes() -> int:
    """This process's resident memory (Linux), or 0."""
    return read_rss(os.getpid()) or 0


class Tracing:
    """tracemalloc on, `depth` frames a traceback; an app that traces already
    (PYTHONTRACEMALLOC) keeps it on afterwards, at its own depth."""

    def __init__(self, depth: int = TRACEBACK_DEPTH) -> None:
        self.depth = depth
        self._was_tracing = tracemalloc.is_tracing()

    def __enter__(self) -> Tracing:
        if self._was_tracing:
            self.depth = tracemalloc.get_traceback_limit()
        else:
            tracemalloc.start(self.depth)
        return self

    def __exit__(self, *_: object) -> None:
        if not self._was_tracing:
            tracemalloc.stop()


# tracemalloc's raw traceback: (file, line) pairs, innermost first. tracemalloc hands out
# one tuple per distinct traceback, shared by every block allocated there.
RawTraceback = tuple[tuple[str, int], ...]
Heap = dict[RawTraceback, list[int]]  # traceback → [bytes, blocks] alive


def snapshot() -> Heap:
    """The traced blocks alive, summed by traceback. Not Snapshot.statistics(): it builds a
    Python object per block, and two million of them (a list of ints) took 27 s to group;
    grouping the raw traces by their shared traceback tuple takes under a second."""
    taken = tracemalloc.take_snapshot()
    traces = getattr(taken.traces, "_traces", None)
    if traces is None:  # not CPython 3.10-3.14's layout: the public, slower objects
        traces = [(t.domain, t.size, _raw(t.traceback)) for t in taken.traces]
    by_id: dict[int, list[Any]] = {}
    for trace in traces:
        traceback = trace[2]
        entry = by_id.get(id(traceback))
        if entry is None:
            by_id[id(traceback)] = [traceback, trace[1], 1]
        else:
            entry[1] += trace[1]
            entry[2] += 1
    heap: Heap = {}
    for traceback, size, blocks in by_id.values():
        if traceback and not _not_the_apps(traceback[0][0]):
            held = heap.setdefault(traceback, [0, 0])
            held[0] += size
            held[1] += blocks
    return heap


def _raw(traceback: tracemalloc.Traceback) -> RawTraceback:
    return tuple((frame.filename, frame.lineno) for frame in reversed(traceback))


def _not_the_apps(innermost_file: str) -> bool:
    """Allocations made here are not the app's: perfaudit's own driver (its per-request
    lists), imports, tracemalloc itself."""
    return (
        innermost_file.startswith(_PERFAUDIT_DIR)
        or innermost_file == tracemalloc.__file__
        or innermost_file.startswith("<frozen importlib._bootstrap")
        or innermost_file == "<unknown>"
    )


@dataclass
class Site:
    """What one app line holds (or gained): summed over the tracebacks that reach it."""

    bytes: int = 0
    blocks: int = 0
    stack: tuple[str, ...] = ()
    location: CodeLocation | None = None
    halves: tuple[int, int] = (0, 0)
    owner: str = "app"


class AppLines:
    """Groups traced memory by the innermost app frame of each allocation (or, with none
    in its traceback, by its innermost frame)."""

    def __init__(self, classifier: OwnerClassifier | None = None) -> None:
        self._classifier = classifier or OwnerClassifier()

    def grown(self, after: Heap, before: Heap) -> dict[str, Site]:
        """Bytes and blocks each line holds in `after` beyond what it held in `before`
        (negative where it holds less)."""
        sites: dict[str, Site] = defaultdict(Site)
        for traceback in after.keys() | before.keys():
            size, blocks = after.get(traceback, (0, 0))
            old_size, old_blocks = before.get(traceback, (0, 0))
            if size == old_size and blocks == old_blocks:
                continue
            key, location, stack, owner = self._attribute(traceback)
            site = sites[key]
            site.bytes += size - old_size
            site.blocks += blocks - old_blocks
            if site.location is None:
                site.location, site.stack, site.owner = location, stack, owner
        return dict(sites)

    def location_of(self, traceback: tracemalloc.Traceback) -> CodeLocation:
        return self._attribute(_raw(traceback))[1]

    def _attribute(self, traceback: RawTraceback) -> tuple[str, CodeLocation, tuple[str, ...], str]:
        app = [f for f in traceback if self._classifier.owner(f[0], "") == "app"]
        file, line = app[0] if app else traceback[0]
        owner = "app" if app else self._classifier.owner(file, "")
        stack = tuple(f"{f}:{n}" for f, n in (app or traceback)[:6])
        # Functions are named after tracing stops (`named`): parsing a file under
        # tracemalloc took seconds.
        return f"{file}:{line}", CodeLocation(file, line, ""), stack, owner


def top_sites(
    sites: dict[str, Site], per: int = 1, kept: int = SITES_KEPT
) -> tuple[AllocationSite, ...]:
    """The lines holding most, as AllocationSites (bytes and blocks divided by `per`)."""
    ranked = sorted((s for s in sites.values() if s.bytes > 0), key=lambda s: -s.bytes)
    return tuple(
        AllocationSite(
            location=s.location,
            bytes=s.bytes / per,
            blocks=s.blocks / per,
            stack=s.stack,
            halves=s.halves,
            owner=s.owner,
        )
        for s in ranked[:kept]
        if s.location is not None
    )


def named(memory: RouteMemory) -> RouteMemory:
    """The phase's locations with their functions and source lines, read once tracing has
    stopped."""

    def name(location: CodeLocation) -> CodeLocation:
        if location.function:
            return location
        return replace(location, function=function_at(location.file, location.line))

    def site(s: AllocationSite) -> AllocationSite:
        code = linecache.getline(s.location.file, s.location.line).strip()
        return replace(s, location=name(s.location), code=code)

    return replace(
        memory,
        peak_sites=tuple(site(s) for s in memory.peak_sites),
        growth_sites=tuple(site(s) for s in memory.growth_sites),
        containers=tuple(
            replace(c, allocated_at=name(at)) if (at := c.allocated_at) else c
            for c in memory.containers
        ),
    )


@lru_cache(maxsize=256)
def _function_spans(file: str) -> tuple[tuple[int, int, str], ...]:
    """(first line, last line, qualified name) of each function and class in `file`."""
    try:
        with open(file, encoding="utf-8") as source:
            tree = ast.parse(source.read(), filename=file)
    except (OSError, SyntaxError, ValueError):
        return ()
    spans: list[tuple[int, int, str]] = []

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                name = prefix + child.name
                spans.append((child.lineno, child.end_lineno or child.lineno, name))
                visit(child, name + ".")
            else:
                visit(child, prefix)

    visit(tree, "")
    return tuple(spans)


def function_at(file: str, line: int) -> str:
    """The innermost function (or class body) holding `file:line`, else "<module>"."""
    inner = [span for span in _function_spans(file) if span[0] <= line <= span[1]]
    return max(inner, key=lambda span: span[0])[2] if inner else "<module>"


def function_span(file: str, qualname: str) -> int:
    """The first line of the function or class `qualname` in `file`, or 0."""
    return next((first for first, _, name in _function_spans(file) if name == qualname), 0)


def assignment_line(file: str, name: str) -> int:
    """The line of the first module-level assignment to `name` in `file`, or 0."""
    try:
        with open(file, encoding="utf-8") as source:
            tree = ast.parse(source.read(), filename=file)
    except (OSError, SyntaxError, ValueError):
        return 0
    for node in tree.body:
        targets = (
            node.targets
            if isinstance(node, ast.Assign)
            else [node.target]
            if isinstance(node, ast.AnnAssign)
            else []
        )
        if any(isinstance(t, ast.Name) and t.id == name for t in targets):
            return node.lineno
    return 0


class PeakWatch:
    """A thread polling the traced memory that snapshots it once, when it first reaches
    `threshold` bytes: a request near the peak its like measured. One snapshot, for it
    costs in proportion to the blocks alive (two million ints: a second). Polled, not
    hooked on every call: a profile hook slowed an ORM request under tracing 100x.
    A peak shorter than the interpreter's switch interval (5 ms) may be missed: then no
    lines are named."""

    POLL_S = 0.0005

    def __init__(self) -> None:
        self.peak_snapshot: Heap | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, threshold: int) -> None:
        self._thread = threading.Thread(
            target=self._poll, args=(threshold,), name="perfaudit-peak-watch", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _poll(self, threshold: int) -> None:
        while not self._stop.wait(self.POLL_S):
            if tracemalloc.get_traced_memory()[0] >= threshold:
                self.peak_snapshot = snapshot()
                return

"""The memory phase's tracemalloc layer: snapshots grouped by the app's line (also through
the public Trace objects, where the raw traces are not there), the growth of two halves
told from a cache that settles, and functions named once tracing stops."""

from __future__ import annotations

import tracemalloc
from collections.abc import Iterator
from types import SimpleNamespace

import pytest

from perfaudit.agent.capture import memory
from perfaudit.agent.memory_phase import _Growth

KEPT: list[bytes] = []


def keep(count: int) -> None:
    for _ in range(count):
        KEPT.append(bytes(10_000))  # the line every test looks for


KEEP_LINE = keep.__code__.co_firstlineno + 2


@pytest.fixture
def tracing() -> Iterator[None]:
    KEPT.clear()
    with memory.Tracing(memory.TRACEBACK_DEPTH):
        yield
    KEPT.clear()


def grown_here(after: memory.Heap, before: memory.Heap) -> memory.Site:
    sites = memory.AppLines().grown(after, before)
    return sites[f"{__file__}:{KEEP_LINE}"]


def test_a_snapshot_groups_what_a_line_keeps(tracing: None) -> None:
    before = memory.snapshot()
    keep(20)
    site = grown_here(memory.snapshot(), before)
    assert 20 <= site.blocks <= 21  # the bytes, and the list's item array grown
    assert 200_000 <= site.bytes < 210_000
    assert site.owner == "app"


def test_without_raw_traces_the_public_objects_give_the_same(
    tracing: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    take = tracemalloc.take_snapshot

    def public_only() -> SimpleNamespace:
        return SimpleNamespace(traces=list(take().traces))

    before = memory.snapshot()
    keep(20)
    monkeypatch.setattr(memory.tracemalloc, "take_snapshot", public_only)
    assert 200_000 <= grown_here(memory.snapshot(), before).bytes < 210_000


def test_two_halves_tell_a_leak_from_a_cache_that_settles(tracing: None) -> None:
    start = memory.snapshot()
    keep(10)
    middle = memory.snapshot()
    keep(10)
    end = memory.snapshot()
    lines = memory.AppLines()
    growth = _Growth(lines.grown(middle, start), lines.grown(end, middle), 10, 10)
    [site] = [s for s in growth.linear if s.location.line == KEEP_LINE]
    assert 10_000 <= site.bytes < 10_500  # per request

    KEPT.clear()
    start = memory.snapshot()
    keep(10)  # fills once …
    middle = memory.snapshot()
    end = memory.snapshot()  # … and stays
    settled = _Growth(lines.grown(middle, start), lines.grown(end, middle), 10, 10)
    assert not [s for s in settled.linear if s.location.line == KEEP_LINE]
    assert settled.settled >= 100_000


def test_functions_are_named_after_tracing(tracing: None) -> None:
    assert memory.function_at(__file__, KEEP_LINE) == "keep"
    assert memory.function_at(__file__, 1) == "<module>"

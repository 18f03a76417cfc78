"""Flame trees: the trie of the stacks rebuilt from cProfile's caller edges (totals kept,
small frames pruned, perfaudit's frames left out; the rebuild itself is test_calltree's)
and built from py-spy's stacks exactly."""

from __future__ import annotations

import dataclasses

import pytest
from sampling_builders import (
    ON_LOOP,
    app,
    attach_session,
    endpoint,
    process,
    run,
    stack,
    thread,
)
from test_calltree import entered_twice
from unit_builders import QUOTE, app_fid, edge, fn, lib_fid, profile, session

from perfaudit.analysis.flame import (
    FlameNode,
    flame_from_profile,
    flame_from_stacks,
    route_flames,
)
from perfaudit.model import FunctionId, FunctionStats

ROOT = "/srv/shop"
R, A, B, C = (app_fid(name, line=n) for n, name in enumerate("RABC", 1))


def tree(*functions: FunctionStats, min_share: float = 0.005) -> FlameNode:
    return flame_from_profile(profile(QUOTE, functions), ROOT, min_share=min_share)


def child(node: FlameNode, name: str) -> FlameNode:
    return next(c for c in node.children if c.name == name)


def shape(node: FlameNode) -> dict[str, object]:
    return {c.name: (round(c.value, 9), shape(c)) for c in node.children}


def consistent() -> list[FunctionStats]:
    """R (1 s self) calls A and B; A (2 s self) and B (1 s self) both call C (6 s self)."""
    return [
        fn(R, "app", self_s=1.0, cumulative_s=10.0),
        fn(A, "app", self_s=2.0, cumulative_s=6.0, callers=[edge(R, 6.0)]),
        fn(B, "app", self_s=1.0, cumulative_s=3.0, callers=[edge(R, 3.0)]),
        fn(C, "app", self_s=6.0, cumulative_s=6.0, callers=[edge(A, 4.0), edge(B, 2.0)]),
    ]


def test_the_tree_keeps_the_profiles_total_and_splits_a_callee_by_its_callers() -> None:
    root = tree(*consistent())
    assert root.name == str(QUOTE)
    assert root.owner == "root"
    assert root.value == pytest.approx(sum(f.self_s for f in consistent()))
    assert shape(root) == {
        "R": (10.0, {"A": (6.0, {"C": (4.0, {})}), "B": (3.0, {"C": (2.0, {})})})
    }
    assert sum(node.self_value for node in root.walk()) == pytest.approx(10.0)


def test_the_tree_is_the_trie_of_the_rebuilt_stacks() -> None:
    """A function entered twice on the way down (Starlette's `wrapped_app`): the flame
    draws the endpoint where the shared stacks put it, under the second entry."""
    root = tree(*entered_twice())
    endpoint = [n for n in root.walk() if n.name == "E"]
    assert len(endpoint) == 1
    assert endpoint[0].value == pytest.approx(9.8)
    (where,) = [p for p in paths(root) if p[-1] == "E"]
    assert where == (str(QUOTE), "M", "W", "X", "R2", "W", "E")
    assert root.value == pytest.approx(10.0)
    for node in root.walk():
        assert sum(c.value for c in node.children) <= node.value + 1e-9


def paths(node: FlameNode, above: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    here = (*above, node.name)
    return [here] + [p for c in node.children for p in paths(c, here)]


def test_frames_below_the_share_are_pruned_into_their_parent() -> None:
    tiny = app_fid("tiny", line=7)
    functions = [
        *consistent(),
        fn(tiny, "app", self_s=0.001, cumulative_s=0.001, callers=[edge(A, 0.001)]),
    ]
    functions[1] = dataclasses.replace(functions[1], self_s=1.999, cumulative_s=6.0)
    a = child(child(tree(*functions), "R"), "A")
    assert [c.name for c in a.children] == ["C"]
    assert a.value == pytest.approx(6.0)
    kept = child(child(tree(*functions, min_share=0.0), "R"), "A")
    assert {c.name for c in kept.children} == {"C", "tiny"}


def test_perfaudits_own_frames_are_left_out_and_their_callees_move_up() -> None:
    driver = lib_fid("drive", module="perfaudit/load/driver.py")
    functions = [
        fn(driver, "perfaudit", self_s=0.5, cumulative_s=10.5),
        *(
            dataclasses.replace(f, callers=(edge(driver, 10.0),)) if f.function == R else f
            for f in consistent()
        ),
    ]
    root = tree(*functions)
    assert [c.name for c in root.children] == ["R"]
    assert root.value == pytest.approx(10.0)


def test_names_and_paths_are_shown_as_reports_show_them() -> None:
    builtin = fn(
        FunctionId("~", 0, "<method 'poll' of 'select.epoll' objects>"),
        "idle",
        self_s=1.0,
        callers=[edge(R, 1.0)],
    )
    functions = [fn(R, "app", self_s=1.0, cumulative_s=2.0), builtin]
    r = child(tree(*functions), "R")
    assert (r.file, r.line) == ("app/pricing.py", 1)
    assert (r.children[0].name, r.children[0].file) == ("select.epoll.poll", "<built-in>")


def test_sampled_stacks_make_an_exact_tree() -> None:
    handler = app("handler", 10)
    slow = app("slow", 20)
    stacks = [stack(30, slow, handler, *ON_LOOP), stack(10, handler, *ON_LOOP)]
    root = flame_from_stacks("GET /x", stacks, 100, "/srv/app")
    assert root.value == pytest.approx(0.4)
    node = root
    for frame in reversed(ON_LOOP):  # outermost first
        node = node.children[0]
        assert node.name == frame.function
    node = node.children[0]
    assert (node.name, node.file) == ("handler", "main.py")
    assert node.value == pytest.approx(0.4)
    assert node.children[0].value == pytest.approx(0.3)
    assert node.self_value == pytest.approx(0.1)


def test_sampled_stacks_below_the_share_are_pruned() -> None:
    stacks = [stack(999, app("handler", 10)), stack(1, app("rare", 30), app("handler", 10))]
    root = flame_from_stacks("GET /x", stacks, 100, "/srv/app")
    assert root.children[0].children == ()
    assert root.value == pytest.approx(10.0)


def test_an_attach_session_gets_its_flames_from_the_samples() -> None:
    handler = app("quote", 10)
    sampling = run(
        process(thread("loop", stack(50, app("tariff_table", 20), handler, *ON_LOOP))),
        endpoints=[endpoint("GET", "/quote/{sku}", "quote")],
    )
    (flame,) = route_flames(attach_session(sampling))
    assert (flame.route, flame.profiler) == ("GET /quote/{sku}", "py-spy")
    assert flame.root.value == pytest.approx(0.5)
    assert any(node.name == "tariff_table" for node in flame.root.walk())


def test_an_in_process_session_gets_a_flame_per_profile() -> None:
    s = session(profiles=[profile(QUOTE, consistent())])
    (flame,) = route_flames(s)
    assert (flame.route, flame.profiler) == ("GET /quote/{sku}", "cprofile")
    assert flame.root.value == pytest.approx(10.0)

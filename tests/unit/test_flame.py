"""Flame trees: rebuilt from cProfile's caller edges (totals kept, cycles cut, small frames
pruned, perfaudit's frames left out) and built from py-spy's stacks exactly."""

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
from unit_builders import QUOTE, app_fid, edge, fn, lib_fid, profile, session

from perfaudit.analysis.flame import (
    MAX_REPEAT,
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


def test_a_callees_time_is_apportioned_down_each_path() -> None:
    """D is called by A and B alike and calls E: E under each D gets its share."""
    d, e = app_fid("D", line=9), app_fid("E", line=10)
    functions = [
        fn(R, "app", self_s=0.0, cumulative_s=8.0),
        fn(A, "app", self_s=0.0, cumulative_s=4.0, callers=[edge(R, 4.0)]),
        fn(B, "app", self_s=0.0, cumulative_s=4.0, callers=[edge(R, 4.0)]),
        fn(d, "app", self_s=4.0, cumulative_s=8.0, callers=[edge(A, 4.0), edge(B, 4.0)]),
        fn(e, "app", self_s=4.0, cumulative_s=4.0, callers=[edge(d, 4.0)]),
    ]
    root = tree(*functions)
    for caller in ("A", "B"):
        assert child(child(child(root, "R"), caller), "D").children[0].value == pytest.approx(2.0)
    assert root.value == pytest.approx(8.0)


def paths(node: FlameNode, above: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    here = (*above, node.name)
    return [here] + [p for c in node.children for p in paths(c, here)]


def test_recursion_and_cycles_are_cut_and_terminate() -> None:
    functions = [
        fn(R, "app", self_s=1.0, cumulative_s=10.0),
        fn(A, "app", self_s=4.0, cumulative_s=9.0, callers=[edge(R, 9.0), edge(B, 5.0)]),
        fn(B, "app", self_s=5.0, cumulative_s=9.0, callers=[edge(A, 9.0)]),
    ]
    root = tree(*functions)
    assert root.value == pytest.approx(10.0)
    for path in paths(root):
        assert max(path.count(name) for name in path) <= MAX_REPEAT, path
    for node in root.walk():
        assert sum(c.value for c in node.children) <= node.value + 1e-9


def test_a_function_entered_twice_on_the_way_down_holds_the_work_at_its_second_entry() -> None:
    """Starlette's `wrapped_app` wraps the app (W → X) and again the route (R2 → W → E):
    pstats merges both, so W's edges (10 s to X, 9.8 s to E) overlap. The endpoint's time
    belongs under the second W, not beside X."""
    m, w, x, r2, e = (app_fid(name, line=n) for n, name in enumerate(["M", "W", "X", "R2", "E"]))
    functions = [
        fn(m, "framework", self_s=0.0, cumulative_s=10.0),
        fn(w, "framework", self_s=0.1, cumulative_s=10.0, callers=[edge(m, 10.0), edge(r2, 9.9)]),
        fn(x, "framework", self_s=0.0, cumulative_s=10.0, callers=[edge(w, 10.0)]),
        fn(r2, "framework", self_s=0.1, cumulative_s=9.9, callers=[edge(x, 9.9)]),
        fn(e, "app", self_s=9.8, cumulative_s=9.8, callers=[edge(w, 9.8)]),
    ]
    root = tree(*functions)
    endpoint = [n for n in root.walk() if n.name == "E"]
    assert len(endpoint) == 1
    assert endpoint[0].value == pytest.approx(9.8, rel=0.02)
    (where,) = [p for p in paths(root) if p[-1] == "E"]
    assert where == (str(QUOTE), "M", "W", "X", "R2", "W", "E")
    assert root.value == pytest.approx(10.0)


def test_a_dense_cyclic_graph_is_bounded() -> None:
    ids = [app_fid(f"f{i}", line=i) for i in range(25)]
    functions = [
        fn(
            fid,
            "app",
            self_s=1.0,
            cumulative_s=25.0,
            callers=[edge(o, 1.0) for o in ids if o != fid],
        )
        for fid in ids
    ]
    functions[0] = dataclasses.replace(functions[0], callers=())  # the entry point
    root = tree(*functions, min_share=0.01)
    nodes = list(root.walk())
    assert len(nodes) < 5_000
    assert root.value == pytest.approx(25.0)


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

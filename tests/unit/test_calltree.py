"""Stacks rebuilt from cProfile's caller edges: the profile's total kept, a callee's time
shared down each path by edge, cycles cut after one return, the work of a function
entered twice on the way down held at its second entry, small callees left to their
caller, and dense graphs bounded."""

from __future__ import annotations

import dataclasses

import pytest
from unit_builders import QUOTE, app_fid, edge, fn, profile

from perfaudit.model import FunctionId, FunctionStats, rebuilt_stacks, roots
from perfaudit.model.calltree import MAX_REPEAT

R, A, B, C = (app_fid(name, line=n) for n, name in enumerate("RABC", 1))


def stacks(*functions: FunctionStats, min_weight_s: float = 0.0) -> dict[str, float]:
    """Each rebuilt stack as "R;A;C" with its self seconds."""
    rebuilt = rebuilt_stacks(profile(QUOTE, functions), min_weight_s=min_weight_s)
    named = [(";".join(f.name for f in path), weight) for path, weight in rebuilt]
    assert len({name for name, _ in named}) == len(named)  # one stack per path
    return dict(named)


def under(found: dict[str, float], path: str) -> float:
    """The time on a path and below it: what a flame graph draws for that frame."""
    return sum(w for name, w in found.items() if name == path or name.startswith(path + ";"))


def consistent() -> list[FunctionStats]:
    """R (1 s self) calls A and B; A (2 s self) and B (1 s self) both call C (6 s self)."""
    return [
        fn(R, "app", self_s=1.0, cumulative_s=10.0),
        fn(A, "app", self_s=2.0, cumulative_s=6.0, callers=[edge(R, 6.0)]),
        fn(B, "app", self_s=1.0, cumulative_s=3.0, callers=[edge(R, 3.0)]),
        fn(C, "app", self_s=6.0, cumulative_s=6.0, callers=[edge(A, 4.0), edge(B, 2.0)]),
    ]


def entered_twice() -> list[FunctionStats]:
    """Starlette's `wrapped_app` wraps the app (W → X) and again the route (R2 → W → E):
    pstats merges both, so W's edges (10 s to X, 9.8 s to E) overlap."""
    m, w, x, r2, e = (app_fid(name, line=n) for n, name in enumerate(["M", "W", "X", "R2", "E"]))
    return [
        fn(m, "framework", self_s=0.0, cumulative_s=10.0),
        fn(w, "framework", self_s=0.1, cumulative_s=10.0, callers=[edge(m, 10.0), edge(r2, 9.9)]),
        fn(x, "framework", self_s=0.0, cumulative_s=10.0, callers=[edge(w, 10.0)]),
        fn(r2, "framework", self_s=0.1, cumulative_s=9.9, callers=[edge(x, 9.9)]),
        fn(e, "app", self_s=9.8, cumulative_s=9.8, callers=[edge(w, 9.8)]),
    ]


def test_stacks_are_root_first_with_self_time_and_keep_the_total() -> None:
    found = stacks(*consistent())
    assert found == pytest.approx({"R": 1.0, "R;A": 2.0, "R;A;C": 4.0, "R;B": 1.0, "R;B;C": 2.0})
    assert sum(found.values()) == pytest.approx(10.0)


def test_a_callees_time_is_apportioned_down_each_path() -> None:
    """D is called by A and B alike and calls E: E under each D gets its share."""
    d, e = app_fid("D", line=9), app_fid("E", line=10)
    found = stacks(
        fn(R, "app", self_s=0.0, cumulative_s=8.0),
        fn(A, "app", self_s=0.0, cumulative_s=4.0, callers=[edge(R, 4.0)]),
        fn(B, "app", self_s=0.0, cumulative_s=4.0, callers=[edge(R, 4.0)]),
        fn(d, "app", self_s=4.0, cumulative_s=8.0, callers=[edge(A, 4.0), edge(B, 4.0)]),
        fn(e, "app", self_s=4.0, cumulative_s=4.0, callers=[edge(d, 4.0)]),
    )
    for caller in ("A", "B"):
        assert under(found, f"R;{caller};D;E") == pytest.approx(2.0)
    assert sum(found.values()) == pytest.approx(8.0)


def test_recursion_and_cycles_are_cut_and_terminate() -> None:
    found = stacks(
        fn(R, "app", self_s=1.0, cumulative_s=10.0),
        fn(A, "app", self_s=4.0, cumulative_s=9.0, callers=[edge(R, 9.0), edge(B, 5.0)]),
        fn(B, "app", self_s=5.0, cumulative_s=9.0, callers=[edge(A, 9.0)]),
    )
    assert sum(found.values()) == pytest.approx(10.0)
    for path in found:
        names = path.split(";")
        assert max(names.count(name) for name in names) <= MAX_REPEAT, path
    # no frame holds more than its path's share: every stack's own time is positive
    assert all(weight > 0 for weight in found.values())


def test_a_self_recursive_root_is_still_a_root() -> None:
    functions = [fn(R, "app", self_s=1.0, cumulative_s=1.0, callers=[edge(R, 0.5)])]
    assert [f.function for f in roots(profile(QUOTE, functions))] == [R]
    assert stacks(*functions) == pytest.approx({"R": 1.0})


def test_a_function_entered_twice_on_the_way_down_holds_the_work_at_its_second_entry() -> None:
    """The endpoint's time belongs under the second W, not beside X, and all of it: at the
    re-entry W's time is a share of the inner call (the edge from R2), not the outer."""
    found = stacks(*entered_twice())
    (where,) = [path for path in found if path.endswith(";E")]
    assert where == "M;W;X;R2;W;E"
    assert found[where] == pytest.approx(9.8)
    assert sum(found.values()) == pytest.approx(10.0)


def test_callees_under_the_weight_are_left_to_their_caller() -> None:
    tiny = app_fid("tiny", line=7)
    functions = [
        *consistent(),
        fn(tiny, "app", self_s=0.001, cumulative_s=0.001, callers=[edge(A, 0.001)]),
    ]
    functions[1] = dataclasses.replace(functions[1], self_s=1.999, cumulative_s=6.0)
    pruned = stacks(*functions, min_weight_s=0.05)
    assert "R;A;tiny" not in pruned
    assert under(pruned, "R;A") == pytest.approx(6.0)
    assert pruned["R;A"] == pytest.approx(2.0)
    assert stacks(*functions)["R;A;tiny"] == pytest.approx(0.001)


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
    found = stacks(*functions, min_weight_s=0.25)
    assert len(found) < 5_000
    assert sum(found.values()) == pytest.approx(25.0)


def test_frames_are_the_profiles_function_ids() -> None:
    rebuilt = rebuilt_stacks(profile(QUOTE, consistent()))
    frames = {frame for path, _ in rebuilt for frame in path}
    assert frames == {R, A, B, C}
    assert all(isinstance(frame, FunctionId) for frame in frames)

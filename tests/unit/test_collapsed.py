"""Collapsed stacks: exact from an attach session's samples, rebuilt from an in-process
profile's caller edges, and read back by perfaudit's own reader."""

from __future__ import annotations

from pathlib import Path

import pytest
from sampling_builders import ON_LOOP, app, attach_session, process, recorded, run, stack, thread
from unit_builders import QUOTE, app_fid, builtin_fid, edge, fn, profile, session

from perfaudit.formats.collapsed import (
    UNKNOWN,
    collapsed_text,
    frame_name,
    parse_frame,
    read_collapsed,
    write_collapsed,
)
from perfaudit.formats.stacks import (
    ProfileFormatError,
    profile_of,
    reconstructed_stacks,
    session_stacks,
)
from perfaudit.model import FunctionId, RouteProfile

HANDLER = app_fid("quote", module="app/main.py", line=20)
TARIFF = app_fid("tariff_table", module="app/pricing.py", line=12)
SLEEP = builtin_fid("<built-in method time.sleep>")


def quote_profile() -> RouteProfile:
    """quote (0.01 s self) → tariff_table (0.5 s self) → time.sleep (0.1 s)."""
    return profile(
        QUOTE,
        [
            fn(HANDLER, "app", self_s=0.01, cumulative_s=0.61, calls=10),
            fn(TARIFF, "app", self_s=0.5, cumulative_s=0.6, calls=20,
               callers=[edge(HANDLER, 0.6, calls=20)]),
            fn(SLEEP, "stdlib", self_s=0.1, calls=20, callers=[edge(TARIFF, 0.1, calls=20)]),
        ],
        requests=10,
        request_time_s=0.61,
    )  # fmt: skip


def no_owner(file: str, name: str) -> str:
    return "library"


def lines(text: str) -> dict[str, int]:
    return {line.rpartition(" ")[0]: int(line.rpartition(" ")[2]) for line in text.splitlines()}


def test_in_process_stacks_are_rebuilt_root_first_in_microseconds() -> None:
    text = collapsed_text([reconstructed_stacks(quote_profile())])

    handler, tariff, sleep = map(frame_name, (HANDLER, TARIFF, SLEEP))
    assert lines(text) == {
        f"GET /quote/{{sku}};{handler}": 10_000,
        f"GET /quote/{{sku}};{handler};{tariff}": 500_000,
        f"GET /quote/{{sku}};{handler};{tariff};{sleep}": 100_000,
    }
    assert tariff == "tariff_table (/srv/shop/app/pricing.py:12)"  # py-spy's naming
    assert sleep == "<built-in method time.sleep>"


def test_a_callee_of_two_callers_is_apportioned_by_edge() -> None:
    other = app_fid("bulk_quote", module="app/main.py", line=40)
    prof = profile(
        QUOTE,
        [
            fn(HANDLER, "app", self_s=0.0, cumulative_s=0.3),
            fn(other, "app", self_s=0.0, cumulative_s=0.1),
            fn(TARIFF, "app", self_s=0.4, cumulative_s=0.4,
               callers=[edge(HANDLER, 0.3), edge(other, 0.1)]),
        ],
    )  # fmt: skip

    text = lines(collapsed_text([reconstructed_stacks(prof)]))

    assert text[f"GET /quote/{{sku}};{frame_name(HANDLER)};{frame_name(TARIFF)}"] == 300_000
    assert text[f"GET /quote/{{sku}};{frame_name(other)};{frame_name(TARIFF)}"] == 100_000


def test_recursion_does_not_loop_and_keeps_the_time() -> None:
    walk = app_fid("walk", line=30)
    prof = profile(
        QUOTE,
        [
            fn(HANDLER, "app", self_s=0.0, cumulative_s=0.5),
            fn(walk, "app", self_s=0.5, cumulative_s=0.5,
               callers=[edge(HANDLER, 0.5), edge(walk, 0.4)]),
        ],
    )  # fmt: skip

    group = reconstructed_stacks(prof)

    assert group.total == pytest.approx(500_000)
    assert max(len(s.frames) for s in group.stacks) == 2


def test_in_process_round_trip_keeps_functions_and_times(tmp_path: Path) -> None:
    path = tmp_path / "stacks.txt"
    original = quote_profile()
    write_collapsed(session(profiles=[original]), path)

    [group] = read_collapsed(path.read_text(), name=path.name)
    back = {f.function: f for f in profile_of(group, no_owner).functions}

    assert group.name == "GET /quote/{sku}"
    assert set(back) == {f.function for f in original.functions}
    for fn_ in original.functions:  # counts are µs: 1 µs of rounding at most
        assert back[fn_.function].self_s == pytest.approx(fn_.self_s * 1e6, abs=1)
        assert back[fn_.function].cumulative_s == pytest.approx(fn_.cumulative_s * 1e6, abs=1)


def test_attach_stacks_are_the_samples_exactly_per_thread() -> None:
    sampling = recorded("sleep_async_asyncio")
    text = collapsed_text(session_stacks(attach_session(sampling)))

    groups = read_collapsed(text, name="x")

    threads = {t.thread_id: t for p in sampling.processes for t in p.threads if t.samples}
    assert len(groups) == len(threads)
    for group in groups:
        tid = int(group.name.split()[1])
        assert group.total == threads[tid].samples
        assert len(group.stacks) == len(threads[tid].stacks)
    assert sum(len(line) > 0 for line in text.splitlines()) == sum(
        len(t.stacks) for t in threads.values()
    )


def test_attach_frames_read_back_root_first() -> None:
    handler = app("quote", 12)
    sampling = run(process(thread("loop", stack(7, handler, *ON_LOOP), thread_id=5)))

    [group] = read_collapsed(collapsed_text(session_stacks(attach_session(sampling))), name="x")

    [only] = group.stacks
    assert group.name == "thread 5 (MainThread)"
    assert only.weight == 7
    assert only.frames[-1] == FunctionId(handler.file, 12, "quote")
    assert only.frames[0].name == ON_LOOP[-1].function  # the outermost frame comes first


def test_several_processes_name_the_process_first() -> None:
    one = thread("loop", stack(3, app("a", 1), *ON_LOOP), thread_id=1)
    sampling = run(process(one, pid=10), process(one, pid=11))

    groups = read_collapsed(collapsed_text(session_stacks(attach_session(sampling))), name="x")

    assert sorted(g.name for g in groups) == [
        "process 10 · thread 1 (MainThread)",
        "process 11 · thread 1 (MainThread)",
    ]


def test_py_spy_output_reads_with_its_process_and_thread_frames() -> None:
    text = (
        'process 42:"uvicorn main:app";thread (0x7F01);run (asyncio/runners.py:118);'
        "quote (main.py:12) 9\n"
        'process 42:"uvicorn main:app";thread (0x7F01);run (asyncio/runners.py:118) 1\n'
    )

    [group] = read_collapsed(text, name="x")

    assert group.name == 'process 42:"uvicorn main:app" · thread (0x7F01)'
    assert group.total == 10
    assert FunctionId("main.py", 12, "quote") in {s.frames[-1] for s in group.stacks}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("quote (main.py:12)", FunctionId("main.py", 12, "quote")),
        ("quote (main.py)", FunctionId("main.py", 0, "quote")),
        ("<built-in method time.sleep>", FunctionId("~", 0, "<built-in method time.sleep>")),
        ("f (C:/app (x)/m.py:3)", FunctionId("~", 0, "f (C:/app (x)/m.py:3)")),
    ],
)
def test_frames_parse_as_py_spy_writes_them(text: str, expected: FunctionId) -> None:
    assert parse_frame(text) == expected


def test_semicolons_in_names_cannot_split_a_frame() -> None:
    odd = FunctionId("/srv/a;b.py", 1, "f;g")

    assert ";" not in frame_name(odd)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("hello world\n", UNKNOWN),
        ("a;b 3\nnot a stack\n", "line 2 is not"),
        ("\n\n", "no stacks"),
    ],
)
def test_what_is_not_collapsed_stacks_says_why(text: str, message: str) -> None:
    with pytest.raises(ProfileFormatError, match=message):
        read_collapsed(text, name="x")

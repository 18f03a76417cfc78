from __future__ import annotations

import io
import os
import pstats
from pathlib import Path

import pytest
from unit_builders import QUOTE, app_fid, builtin_fid, edge, fn, profile

from perfaudit.formats.pstats_format import to_pstats_dict, write_pstats
from perfaudit.model import RouteKey, RouteProfile

HANDLER = app_fid("quote", module="app/main.py", line=20)
TARIFF = app_fid("tariff_table", module="app/pricing.py", line=12)
SLEEP = builtin_fid("<built-in method time.sleep>")


def quote_profile() -> RouteProfile:
    return profile(
        QUOTE,
        [
            fn(HANDLER, "app", self_s=0.01, cumulative_s=0.61, calls=10),
            fn(
                TARIFF,
                "app",
                self_s=0.5,
                cumulative_s=0.6,
                calls=20,
                callers=[edge(HANDLER, 0.6, calls=20)],
            ),
            fn(SLEEP, "stdlib", self_s=0.1, calls=20, callers=[edge(TARIFF, 0.1, calls=20)]),
        ],
        requests=10,
    )


def health_profile() -> RouteProfile:
    health = app_fid("health", module="app/main.py", line=40)
    return profile(
        RouteKey("GET", "/health"),
        [
            fn(health, "app", self_s=0.02, cumulative_s=0.27, calls=5),
            fn(
                TARIFF,
                "app",
                self_s=0.25,
                cumulative_s=0.25,
                calls=5,
                callers=[edge(health, 0.25, calls=5)],
            ),
        ],
        requests=5,
    )


def test_pstats_file_loads_in_the_stdlib(tmp_path: Path) -> None:
    path = tmp_path / "profile.pstats"

    write_pstats([quote_profile()], path)
    stats = pstats.Stats(str(path), stream=io.StringIO())

    key = (TARIFF.file, TARIFF.line, TARIFF.name)
    primitive, calls, self_s, cumulative_s, callers = stats.stats[key]  # type: ignore[attr-defined]
    assert (primitive, calls) == (20, 20)
    assert self_s == pytest.approx(0.5)
    assert cumulative_s == pytest.approx(0.6)
    assert (HANDLER.file, HANDLER.line, HANDLER.name) in callers
    assert stats.total_calls == 50  # type: ignore[attr-defined]
    assert os.listdir(tmp_path) == ["profile.pstats"]


def test_pstats_file_prints_functions_and_callers(tmp_path: Path) -> None:
    path = tmp_path / "profile.pstats"
    write_pstats([quote_profile()], path)
    out = io.StringIO()

    stats = pstats.Stats(str(path), stream=out)
    stats.sort_stats("tottime").print_stats()
    stats.print_callers("tariff_table")

    text = out.getvalue()
    assert "pricing.py:12(tariff_table)" in text
    assert "{built-in method time.sleep}" in text
    assert "main.py:20(quote)" in text.split("was called by")[1]


def test_totals_add_up_across_route_profiles(tmp_path: Path) -> None:
    path = tmp_path / "all.pstats"

    write_pstats([quote_profile(), health_profile()], path)
    stats = pstats.Stats(str(path), stream=io.StringIO())

    primitive, calls, self_s, cumulative_s, callers = stats.stats[  # type: ignore[attr-defined]
        (TARIFF.file, TARIFF.line, TARIFF.name)
    ]
    assert calls == primitive == 25
    assert self_s == pytest.approx(0.75)
    assert cumulative_s == pytest.approx(0.85)
    assert len(callers) == 2
    assert stats.total_calls == 50 + 10  # type: ignore[attr-defined]
    assert stats.total_tt == pytest.approx(0.61 + 0.27)  # type: ignore[attr-defined]


def test_caller_edges_add_up_when_the_same_caller_appears_twice() -> None:
    table = to_pstats_dict([quote_profile(), quote_profile()])

    _, _, _, _, callers = table[(TARIFF.file, TARIFF.line, TARIFF.name)]
    calls, primitive, self_s, cumulative_s = callers[(HANDLER.file, HANDLER.line, HANDLER.name)]
    assert (calls, primitive) == (40, 40)
    assert cumulative_s == pytest.approx(1.2)
    assert self_s == pytest.approx(0.6)

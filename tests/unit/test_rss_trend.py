"""rss_trend: the least-squares line through a process's RSS readings, and when it counts as
steady growth (a leak) rather than noise, a step, or too few readings."""

from __future__ import annotations

import random

import pytest

from perfaudit.analysis.rss import MIN_GROWTH_BYTES, MIN_POINTS, rss_trend
from perfaudit.model import RssSeries

MIB = 1024 * 1024
BASE = 80 * MIB  # a uvicorn worker's RSS after start-up


def series(values: list[float], interval_s: float = 0.5) -> RssSeries:
    return RssSeries(pid=1234, interval_s=interval_s, rss_bytes=tuple(int(v) for v in values))


def test_flat() -> None:
    trend = rss_trend(series([BASE] * 21))
    assert trend is not None
    assert (trend.pid, trend.start_bytes, trend.end_bytes, trend.peak_bytes) == (
        1234,
        BASE,
        BASE,
        BASE,
    )
    assert trend.duration_s == 10.0
    assert trend.slope_bytes_per_s == 0.0 and trend.r2 == 0.0
    assert not trend.steady_growth


def test_noisy_flat() -> None:
    """The allocator moves RSS by a MiB or so each way: no line, no growth."""
    rng = random.Random(19)
    for _ in range(50):
        trend = rss_trend(series([BASE + rng.uniform(-1.5, 1.5) * MIB for _ in range(21)]))
        assert trend is not None
        assert trend.r2 < 0.8 or abs(trend.fitted_growth_bytes) < MIN_GROWTH_BYTES
        assert not trend.steady_growth


def test_linear_growth() -> None:
    """9 MiB a second (90 requests/s keeping 100 KB each) for 20 s, with allocator noise."""
    rng = random.Random(7)
    values = [BASE + 9 * MIB * 0.5 * i + rng.uniform(-1, 1) * MIB for i in range(41)]
    trend = rss_trend(series(values))
    assert trend is not None
    assert trend.duration_s == 20.0
    assert trend.slope_bytes_per_s == pytest.approx(9 * MIB, rel=0.05)
    assert trend.r2 > 0.99
    assert trend.growth_bytes == int(values[-1]) - int(values[0])
    assert trend.peak_bytes == max(int(v) for v in values)
    assert trend.bytes_per_day == pytest.approx(trend.slope_bytes_per_s * 86_400)
    assert trend.last_third_bytes > trend.first_third_bytes
    assert trend.steady_growth


def test_staircase_growth_is_steady() -> None:
    """The heap grows in steps (a new arena every few requests): still a line."""
    values = [BASE + 4 * MIB * (i // 3) for i in range(21)]
    trend = rss_trend(series(values))
    assert trend is not None and trend.r2 > 0.95
    assert trend.steady_growth


@pytest.mark.parametrize("at", [3, 10, 15])
def test_step_then_flat_is_not_steady(at: int) -> None:
    """A cache filled once, or a worker's first requests importing lazily: one step up, then
    nothing. However large, a step is not a leak."""
    values = [BASE] * at + [BASE + 200 * MIB] * (21 - at)
    trend = rss_trend(series(values))
    assert trend is not None
    assert trend.growth_bytes == 200 * MIB and trend.slope_bytes_per_s > 0
    assert trend.r2 <= 0.75
    assert not trend.steady_growth


def test_slow_but_linear_growth_below_a_few_mib_is_not_steady() -> None:
    values = [BASE + 100_000 * i for i in range(21)]  # 2 MB in all: the allocator's noise
    trend = rss_trend(series(values))
    assert trend is not None and trend.r2 == pytest.approx(1.0)
    assert not trend.steady_growth


def test_shrinking_is_not_growth() -> None:
    trend = rss_trend(series([BASE + 50 * MIB - 5 * MIB * i for i in range(10)]))
    assert trend is not None and trend.r2 == pytest.approx(1.0)
    assert trend.slope_bytes_per_s < 0 and not trend.steady_growth


@pytest.mark.parametrize("points", [0, 1, 2, MIN_POINTS - 1])
def test_too_short(points: int) -> None:
    assert rss_trend(series([BASE + 50 * MIB * i for i in range(points)])) is None


def test_the_shortest_series_with_a_trend() -> None:
    trend = rss_trend(series([BASE + 50 * MIB * i for i in range(MIN_POINTS)]))
    assert trend is not None and trend.steady_growth

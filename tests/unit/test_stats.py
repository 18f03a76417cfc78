from __future__ import annotations

import pytest

from perfaudit.analysis.stats import LatencySummary, percentile


def numpy_linear(values: list[float], q: float) -> float:
    """numpy.percentile(values, q) with the default 'linear' method, by hand: the rank
    (n-1)*q/100 split into an index and a fraction between two neighbours."""
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    index = int(rank)
    fraction = rank - index
    if index + 1 >= len(ordered):
        return ordered[-1]
    return ordered[index] + (ordered[index + 1] - ordered[index]) * fraction


@pytest.mark.parametrize(
    ("values", "q", "expected"),
    [
        ([1.0, 2.0, 3.0, 4.0], 50, 2.5),  # numpy.percentile([1, 2, 3, 4], 50) == 2.5
        ([1.0, 2.0, 3.0, 4.0], 90, 3.7),  # rank 2.7: 3 + 0.7 * (4 - 3)
        ([1.0, 2.0, 3.0, 4.0], 0, 1.0),
        ([1.0, 2.0, 3.0, 4.0], 100, 4.0),
        ([10.0, 20.0, 30.0, 40.0, 50.0], 25, 20.0),  # rank 1 exactly
        ([10.0, 20.0, 30.0, 40.0, 50.0], 95, 48.0),  # rank 3.8: 40 + 0.8 * 10
        ([float(i) for i in range(1, 101)], 99, 99.01),  # rank 98.01
        ([float(i) for i in range(1, 101)], 50, 50.5),
    ],
)
def test_percentile_known_values(values: list[float], q: float, expected: float) -> None:
    assert percentile(values, q) == pytest.approx(expected)


@pytest.mark.parametrize("q", [0, 1, 33.3, 50, 90, 95, 99, 99.9, 100])
def test_percentile_matches_linear_interpolation(q: float) -> None:
    values = sorted([0.8, 3.1, 3.1, 4.7, 9.0, 12.25, 12.5, 40.0, 41.0, 250.0, 251.5])

    assert percentile(values, q) == pytest.approx(numpy_linear(values, q))


def test_percentile_of_one_sample_is_that_sample() -> None:
    for q in (0, 50, 99, 100):
        assert percentile([7.5], q) == 7.5


def test_percentile_of_no_samples_is_an_error() -> None:
    with pytest.raises(ValueError, match="no samples"):
        percentile([], 50)


def test_latency_summary_of_nothing_is_none() -> None:
    assert LatencySummary.of([]) is None


def test_latency_summary_converts_seconds_to_milliseconds() -> None:
    seconds = [0.004, 0.001, 0.003, 0.002]  # unsorted on purpose

    summary = LatencySummary.of(seconds)

    assert summary is not None
    assert summary.min == pytest.approx(1.0)
    assert summary.max == pytest.approx(4.0)
    assert summary.mean == pytest.approx(2.5)
    assert summary.p50 == pytest.approx(2.5)
    assert summary.p90 == pytest.approx(3.7)
    assert summary.p99 == pytest.approx(numpy_linear([1.0, 2.0, 3.0, 4.0], 99))


def test_latency_summary_of_one_sample() -> None:
    summary = LatencySummary.of([0.0125])

    assert summary is not None
    assert (
        summary.p50
        == summary.p99
        == summary.max
        == summary.min
        == summary.mean
        == pytest.approx(12.5)
    )

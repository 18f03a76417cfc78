"""The statistics behind baselines: bootstrap interval of the ratio, the Mann–Whitney U
test, and what counts as a regression. Synthetic samples from a seeded generator, so
every figure is reproducible; no wall-clock time is measured."""

from __future__ import annotations

import math
import random
import statistics

import pytest

from perfaudit.analysis.regression import (
    MIN_SAMPLES,
    JudgeOptions,
    judge,
    mann_whitney_p,
    ratio_interval,
)
from perfaudit.analysis.stats import percentile


def latencies(n: int, *, median_ms: float = 10.0, seed: int = 1, sigma: float = 0.4) -> list[float]:
    """Lognormal latencies (a right tail, as real ones have)."""
    rng = random.Random(seed)
    return [math.exp(rng.gauss(math.log(median_ms), sigma)) for _ in range(n)]


def test_identical_distributions_are_not_flagged() -> None:
    j = judge(latencies(400, seed=1), latencies(400, seed=2), JudgeOptions())
    assert j.judged
    assert not j.regressed and not j.improved
    assert j.ci_low < 1 < j.ci_high
    assert j.p_value is not None and j.p_value > 0.01


@pytest.mark.parametrize("metric", ["p50", "p95", "mean"])
def test_a_2x_slowdown_is_flagged_with_an_interval_around_2(metric: str) -> None:
    base = latencies(300, median_ms=10, seed=3)
    slow = [2 * v for v in latencies(300, median_ms=10, seed=4)]
    j = judge(base, slow, JudgeOptions(metric=metric))
    assert j.regressed and not j.improved
    # Independent draws: the estimate is near 2 and so is the whole interval (that a 95%
    # interval contains the truth is a 95% matter, so it is asserted on the same draws below).
    assert 1.6 < j.ci_low < j.ratio < j.ci_high < 2.8
    assert j.ratio == pytest.approx(2.0, abs=0.3)
    assert j.p_value is not None and j.p_value < 1e-6
    doubled = judge(base, [2 * v for v in base], JudgeOptions(metric=metric))
    assert doubled.ci_low < 2.0 < doubled.ci_high


def test_a_2x_speedup_is_an_improvement() -> None:
    j = judge(
        latencies(300, median_ms=20, seed=5), latencies(300, median_ms=10, seed=6), JudgeOptions()
    )
    assert j.improved and not j.regressed
    assert j.ci_high < 0.6


def test_a_real_5_percent_shift_is_below_the_minimum_effect() -> None:
    base = latencies(5000, seed=7)
    shifted = [1.05 * v for v in latencies(5000, seed=8)]
    j = judge(base, shifted, JudgeOptions(min_effect=0.10))
    assert 1.0 < j.ci_low < 1.1  # the shift is real (the interval excludes 1)…
    assert not j.regressed  # …but smaller than the effect that counts
    assert judge(base, shifted, JudgeOptions(min_effect=0.0)).regressed


def test_too_few_samples_are_not_judged() -> None:
    few = latencies(MIN_SAMPLES - 1, seed=9)
    j = judge(few, [3 * v for v in few], JudgeOptions())
    assert not j.judged and not j.regressed and j.p_value is None
    assert "too few samples" in j.note
    assert j.ratio == pytest.approx(3.0)


def test_no_samples_at_all_give_no_ratio() -> None:
    j = judge([], latencies(50), JudgeOptions())
    assert not j.judged and math.isnan(j.ratio)


def test_the_interval_is_reproducible_with_the_seed() -> None:
    base, cur = sorted(latencies(500, seed=10)), sorted(latencies(500, seed=11))
    first = ratio_interval(base, cur, JudgeOptions())
    assert ratio_interval(base, cur, JudgeOptions()) == first
    assert ratio_interval(base, cur, JudgeOptions(seed=99)) != first


@pytest.mark.parametrize(("metric", "q"), [("p50", 50), ("p95", 95)])
def test_order_statistic_bootstrap_matches_a_brute_force_one(metric: str, q: float) -> None:
    """The shortcut (resampled order statistics drawn from Beta laws) gives the interval a
    resample-and-sort bootstrap gives, within Monte Carlo error."""
    base, cur = sorted(latencies(150, seed=12)), sorted(latencies(200, median_ms=11, seed=13))
    low, high = ratio_interval(base, cur, JudgeOptions(metric=metric, resamples=4000))
    rng = random.Random(0)
    ratios = sorted(
        percentile(sorted(rng.choices(cur, k=len(cur))), q)
        / percentile(sorted(rng.choices(base, k=len(base))), q)
        for _ in range(4000)
    )
    assert low == pytest.approx(percentile(ratios, 2.5), rel=0.03)
    assert high == pytest.approx(percentile(ratios, 97.5), rel=0.03)


def test_the_mean_of_large_samples_uses_its_normal_limit() -> None:
    base, cur = sorted(latencies(2000, seed=14)), sorted(latencies(2000, seed=15))
    low, high = ratio_interval(base, cur, JudgeOptions(metric="mean"))
    ratio = statistics.fmean(cur) / statistics.fmean(base)
    assert low < ratio < high
    assert high - low < 0.1


def test_mann_whitney_matches_scipy_on_a_small_example() -> None:
    # scipy.stats.mannwhitneyu([1, 2, 3], [4, 5, 6], method="asymptotic").pvalue
    assert mann_whitney_p([1.0, 2.0, 3.0], [4.0, 5.0, 6.0]) == pytest.approx(0.0808556, rel=1e-5)


def test_mann_whitney_with_ties() -> None:
    # By hand: average ranks give U = 2.5 against a mean of 8; the tie-corrected variance
    # is 16/12 · (9 − (24 + 6)/56) = 11.2857; z = (5.5 − 0.5)/√11.2857 = 1.4884 → p = 0.1367
    # (scipy's mannwhitneyu(..., method="asymptotic") computes the same).
    assert mann_whitney_p([1.0, 2.0, 2.0, 3.0], [2.0, 3.0, 4.0, 5.0]) == pytest.approx(
        0.13666, rel=1e-3
    )
    assert mann_whitney_p([5.0] * 30, [5.0] * 30) == 1.0


def test_mann_whitney_is_symmetric() -> None:
    a, b = latencies(80, seed=16), latencies(90, median_ms=12, seed=17)
    assert mann_whitney_p(a, b) == pytest.approx(mann_whitney_p(b, a))


def test_an_unknown_metric_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown metric"):
        judge([1.0] * 30, [1.0] * 30, JudgeOptions(metric="p42"))

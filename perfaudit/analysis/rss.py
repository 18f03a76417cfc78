"""Whether a live process's resident memory grew steadily over a recording (`perfaudit
attach`): a least-squares line through its RSS readings, and how well it fits.

RSS is what the kernel sees, not what the app holds: the allocator keeps freed memory,
grows its heap in steps and hands some back, and a worker that has just started fills its
caches. A leak shows as a line that explains the series, rises by more than those steps, and
keeps rising to the end. Which lines of the app allocate it needs the in-process run
(`perfaudit profile`, whose memory phase runs tracemalloc).
"""

from __future__ import annotations

from dataclasses import dataclass

from perfaudit.model.samples import RssSeries

# Fewer readings than this (2 s at attach's 0.5 s interval) make no trend: any two or three
# points fit a line.
MIN_POINTS = 5
# The fit must explain most of the variation: a flat series with noise fits no line (r2 near
# 0), a single step up fits one only partly (r2 at most 0.75, for a step at the middle),
# steady growth fits one well (above 0.95 here even with allocator steps).
STEADY_R2 = 0.8
# Growth under this is the allocator's own movement, not a leak: glibc's heap grows and trims
# by its 128 KiB threshold and each thread's arena by 1-64 MiB reservations (only the touched
# part is resident), pymalloc by 256 KiB-1 MiB arenas, and a first request's lazy imports and
# compiled patterns take a MiB or two. A few MiB over the recording is above all of them.
MIN_GROWTH_BYTES = 4 * 1024 * 1024
SECONDS_PER_DAY = 86_400


@dataclass(frozen=True, slots=True)
class RssTrend:
    """A process's RSS over a recording: its readings' ends and peak, and the least-squares
    line through them (bytes per second, and r2, the share of the variation it explains)."""

    pid: int
    start_bytes: int
    end_bytes: int
    peak_bytes: int
    duration_s: float  # from the first reading to the last
    slope_bytes_per_s: float
    r2: float
    # The mean of the first and of the last third of the readings.
    first_third_bytes: float
    last_third_bytes: float

    @property
    def growth_bytes(self) -> int:
        """From the first reading to the last."""
        return self.end_bytes - self.start_bytes

    @property
    def fitted_growth_bytes(self) -> float:
        """What the line rises over the recording (less moved by one noisy reading)."""
        return self.slope_bytes_per_s * self.duration_s

    @property
    def bytes_per_day(self) -> float:
        """The fitted rate over a day, at the recording's load."""
        return self.slope_bytes_per_s * SECONDS_PER_DAY

    @property
    def steady_growth(self) -> bool:
        """The series rose along a line: the line fits it, rises by more than the allocator
        moves on its own, and the readings kept rising (the last third above the first)."""
        return (
            self.r2 >= STEADY_R2
            and self.fitted_growth_bytes >= MIN_GROWTH_BYTES
            and self.growth_bytes >= MIN_GROWTH_BYTES
            and self.last_third_bytes > self.first_third_bytes
        )


def rss_trend(series: RssSeries) -> RssTrend | None:
    """The trend of `series`, or None with fewer than MIN_POINTS readings."""
    values = series.rss_bytes
    n = len(values)
    if n < MIN_POINTS or series.interval_s <= 0:
        return None
    times = [i * series.interval_s for i in range(n)]
    mean_t = sum(times) / n
    mean_v = sum(values) / n
    s_tt = sum((t - mean_t) ** 2 for t in times)
    s_tv = sum((t - mean_t) * (v - mean_v) for t, v in zip(times, values, strict=True))
    s_vv = sum((v - mean_v) ** 2 for v in values)
    slope = s_tv / s_tt
    # A series that never moved has nothing for a line to explain: no trend, r2 = 0.
    r2 = (s_tv * s_tv) / (s_tt * s_vv) if s_vv > 0 else 0.0
    third = n // 3
    return RssTrend(
        pid=series.pid,
        start_bytes=values[0],
        end_bytes=values[-1],
        peak_bytes=max(values),
        duration_s=times[-1],
        slope_bytes_per_s=slope,
        r2=r2,
        first_third_bytes=sum(values[:third]) / third,
        last_third_bytes=sum(values[-third:]) / third,
    )

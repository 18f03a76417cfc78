"""AnyIO's default thread limiter, sampled on the loop: FastAPI runs every `def` endpoint
and dependency under it (40 tokens unless the app changes it)."""

from __future__ import annotations

import asyncio
import statistics
from time import perf_counter
from typing import Any

SAMPLE_EVERY_S = 0.01


class LimiterSampler:
    def __init__(self) -> None:
        self.total_tokens = 0
        self.samples = 0
        self.saturated = 0
        self.waiting = 0
        self.max_borrowed = 0
        self.max_waiting = 0
        self._handle: asyncio.TimerHandle | None = None
        self._limiter: Any = None

    def start(self) -> None:
        """Call from a coroutine on the event loop: AnyIO 3 finds the limiter only from a
        task (sniffio), not from the timer callbacks that then sample it."""
        import anyio.to_thread

        self._limiter = anyio.to_thread.current_default_thread_limiter()
        self._sample()

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()

    def _sample(self) -> None:
        stats = self._limiter.statistics()
        total = int(stats.total_tokens)
        self.total_tokens = total
        self.samples += 1
        self.saturated += stats.borrowed_tokens >= total
        self.waiting += stats.tasks_waiting > 0
        self.max_borrowed = max(self.max_borrowed, stats.borrowed_tokens)
        self.max_waiting = max(self.max_waiting, stats.tasks_waiting)
        self._handle = asyncio.get_running_loop().call_later(SAMPLE_EVERY_S, self._sample)


def default_thread_tokens() -> int:
    """The default limiter's size on the running loop (40 unless the app changed it)."""
    import anyio.to_thread  # imported when used: an ASGI app need not bring AnyIO

    return int(anyio.to_thread.current_default_thread_limiter().total_tokens)


def _noop() -> None:
    return None


async def measure_thread_hop(rounds: int = 30) -> float:
    """Median cost of one hop to a worker thread and back: what a `def` endpoint pays on
    top of its own work."""
    import anyio.to_thread

    timings = []
    for _ in range(rounds):
        began = perf_counter()
        await anyio.to_thread.run_sync(_noop)
        timings.append(perf_counter() - began)
    return statistics.median(timings)

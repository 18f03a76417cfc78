"""threadpool-saturation: AnyIO's default thread limiter raised to the concurrency that
saturated it, the route measured at that concurrency, the limit put back."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from perfaudit.agent.verify.base import Change, Refusal, Switch, Target


class ThreadpoolSaturationExperiment:
    finding_id = "threadpool-saturation"

    def prepare(self, target: Target) -> Change | Refusal:
        probe = target.probe
        concurrency = max(target.concurrency, probe.concurrency if probe else 0)
        tokens = probe.threadpool.total_tokens if probe and probe.threadpool else 40
        if concurrency <= tokens:
            return Refusal(f"the run's concurrency ({concurrency}) is within the {tokens} threads")
        return Change(
            f"AnyIO's thread limit raised from {tokens} to {concurrency}",
            _raised(concurrency),
            concurrency=concurrency,
        )


def _raised(tokens: int) -> Callable[[], Any]:
    @asynccontextmanager
    async def apply() -> AsyncIterator[Switch]:
        import anyio.to_thread  # the app's AnyIO, imported when used

        limiter = anyio.to_thread.current_default_thread_limiter()
        saved = limiter.total_tokens

        def switch(on: bool) -> None:
            limiter.total_tokens = max(tokens, saved) if on else saved

        try:
            yield switch
        finally:
            limiter.total_tokens = saved

    return apply


EXPERIMENT = ThreadpoolSaturationExperiment()

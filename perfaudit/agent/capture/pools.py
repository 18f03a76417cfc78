"""Connection pools watched during a route's probe phase (the one under load): how long
each checkout waited for a connection, how long connections were held, and how many
checkouts gave up. SQLAlchemy's QueuePool (sync engines, and async ones through its
AsyncAdaptedQueuePool subclass) and asyncpg's Pool are patched on their classes for the
phase only; a driver the app never imported is left alone.

A checkout's wait is the time spent in the pool's get: queueing for a free connection,
or opening a new one when the pool may grow. Held is from checkout to return.
"""

from __future__ import annotations

import functools
import itertools
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from time import perf_counter
from typing import Any

from perfaudit.agent.capture.patches import ClassPatches
from perfaudit.model import PoolEvidence

WAITED_S = 0.001  # a checkout slower than this queued (or connected): a quick one does not


@dataclass(slots=True)
class _Pool:
    kind: str
    size: int
    max_overflow: int
    timeout_s: float | None
    checkouts: int = 0
    waited: int = 0
    wait_s: float = 0.0
    max_wait_s: float = 0.0
    held_s: float = 0.0
    returned: int = 0
    timeouts: int = 0
    stuck: int = 0

    def checked_out(self, wait_s: float) -> None:
        self.checkouts += 1
        self.waited += wait_s >= WAITED_S
        self.wait_s += wait_s
        self.max_wait_s = max(self.max_wait_s, wait_s)

    def evidence(self) -> PoolEvidence:
        return PoolEvidence(
            kind=self.kind,
            size=self.size,
            max_overflow=self.max_overflow,
            timeout_s=self.timeout_s,
            checkouts=self.checkouts,
            waited=self.waited,
            wait_s=self.wait_s,
            max_wait_s=self.max_wait_s,
            held_s=self.held_s,
            returned=self.returned,
            timeouts=self.timeouts,
            stuck=self.stuck,
        )


class PoolWatch:
    def __init__(self) -> None:
        self._pools: dict[int, _Pool] = {}
        self._out: dict[int, tuple[_Pool, float]] = {}  # id(connection) → its pool, when
        self._waiting: dict[int, tuple[_Pool, float]] = {}  # checkouts in progress
        self._tickets = itertools.count()
        self._patches = ClassPatches()

    def start(self) -> None:
        for owner, name, wrap in self._targets():
            self._patches.wrap(owner, name, wrap)

    def stop(self) -> tuple[PoolEvidence, ...]:
        """What each pool saw; checkouts still waiting count with the wait so far (under
        a deadlock, they are all there is to see)."""
        self._patches.undo()
        now = perf_counter()
        for stats, started in self._waiting.values():
            stats.stuck += 1
            stats.wait_s += now - started
            stats.max_wait_s = max(stats.max_wait_s, now - started)
        self._waiting.clear()
        return tuple(p.evidence() for p in self._pools.values() if p.checkouts or p.stuck)

    def _targets(self) -> Iterator[tuple[type, str, Callable[[Any], Any]]]:
        queue_pool = getattr(sys.modules.get("sqlalchemy.pool"), "QueuePool", None)
        if queue_pool is not None:
            yield queue_pool, "_do_get", self._sync_checkout(_sqlalchemy_pool)
            yield queue_pool, "_do_return_conn", self._sync_return
        asyncpg_pool = getattr(sys.modules.get("asyncpg.pool"), "Pool", None)
        if asyncpg_pool is not None:
            yield asyncpg_pool, "_acquire", self._async_checkout(_asyncpg_pool)
            yield asyncpg_pool, "release", self._async_return

    def _pool(self, pool: Any, describe: Callable[[Any], _Pool]) -> _Pool:
        known = self._pools.get(id(pool))
        if known is None:
            known = self._pools[id(pool)] = describe(pool)
        return known

    def _waits(self, stats: _Pool) -> tuple[int, float]:
        ticket, started = next(self._tickets), perf_counter()
        self._waiting[ticket] = (stats, started)
        return ticket, started

    def _taken(self, ticket: int, stats: _Pool, connection: Any, started: float) -> None:
        now = perf_counter()
        self._waiting.pop(ticket, None)
        stats.checked_out(now - started)
        self._out[id(connection)] = (stats, now)

    def _failed(self, ticket: int, stats: _Pool, exc: BaseException) -> None:
        """A checkout that gave up ("QueuePool limit … reached, timed out"): it waited too."""
        taken = self._waiting.pop(ticket, None)
        if taken is not None:
            waited = perf_counter() - taken[1]
            stats.wait_s += waited
            stats.max_wait_s = max(stats.max_wait_s, waited)
        stats.timeouts += "timeout" in type(exc).__name__.lower()

    def _given_back(self, connection: Any) -> None:
        taken = self._out.pop(id(connection), None)
        if taken is not None:
            stats, since = taken
            stats.held_s += perf_counter() - since
            stats.returned += 1

    def _sync_checkout(self, describe: Callable[[Any], _Pool]) -> Callable[[Any], Any]:
        def wrap(original: Any) -> Any:
            @functools.wraps(original)
            def checkout(pool: Any) -> Any:
                stats = self._pool(pool, describe)
                ticket, started = self._waits(stats)
                try:
                    record = original(pool)
                except BaseException as exc:
                    self._failed(ticket, stats, exc)
                    raise
                self._taken(ticket, stats, record, started)
                return record

            return checkout

        return wrap

    def _sync_return(self, original: Any) -> Any:
        @functools.wraps(original)
        def give_back(pool: Any, record: Any) -> Any:
            self._given_back(record)
            return original(pool, record)

        return give_back

    def _async_checkout(self, describe: Callable[[Any], _Pool]) -> Callable[[Any], Any]:
        def wrap(original: Any) -> Any:
            @functools.wraps(original)
            async def acquire(pool: Any, *args: Any, **kwargs: Any) -> Any:
                stats = self._pool(pool, describe)
                ticket, started = self._waits(stats)
                try:
                    connection = await original(pool, *args, **kwargs)
                except BaseException as exc:
                    self._failed(ticket, stats, exc)
                    raise
                self._taken(ticket, stats, connection, started)
                return connection

            return acquire

        return wrap

    def _async_return(self, original: Any) -> Any:
        @functools.wraps(original)
        async def release(pool: Any, connection: Any, *args: Any, **kwargs: Any) -> Any:
            self._given_back(connection)
            return await original(pool, connection, *args, **kwargs)

        return release


def _sqlalchemy_pool(pool: Any) -> _Pool:
    return _Pool(
        kind=f"SQLAlchemy {type(pool).__name__}",
        size=int(pool.size()),
        max_overflow=int(getattr(pool, "_max_overflow", 0)),  # -1: no limit
        timeout_s=float(pool.timeout()) if callable(getattr(pool, "timeout", None)) else None,
    )


def _asyncpg_pool(pool: Any) -> _Pool:
    return _Pool(
        kind="asyncpg Pool",
        size=int(getattr(pool, "_maxsize", 0)),
        max_overflow=0,
        timeout_s=None,
    )

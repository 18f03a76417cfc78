"""connection-pool-saturation: under load, requests wait to check a connection out of the
app's database pool (SQLAlchemy's QueuePool, asyncpg's Pool), because more requests need
one at a time than the pool holds."""

from __future__ import annotations

from collections.abc import Iterator

from perfaudit.analysis.context import AnalysisContext, RouteView
from perfaudit.analysis.findings import Finding, Gain, Grades, Grading, Severity
from perfaudit.analysis.needs import Needs
from perfaudit.analysis.paths import displayed
from perfaudit.analysis.pools import MIN_WAIT_SHARE, cpu_bound, pool_wait_share
from perfaudit.analysis.sampling import DEFAULT_TOKENS
from perfaudit.model import PoolEvidence, RouteProbe

GRADES: Grades = ((Severity.HIGH, 0.3, 0.0), (Severity.MEDIUM, MIN_WAIT_SHARE, 0.0))


class ConnectionPoolSaturation:
    id = "connection-pool-saturation"
    needs = Needs(in_process="needs the pool's checkouts, timed in-process under load")
    title = "Requests wait for a database connection from the pool"
    explanation = (
        "Each request that touches the database checks a connection out of the app's pool "
        "and holds it until it is returned. With more requests in flight than the pool has "
        "connections (SQLAlchemy: pool_size + max_overflow, 5 + 10 by default; asyncpg: "
        "max_size), the rest wait, and past the pool's timeout fail with \"QueuePool limit of "
        "size 5 overflow 10 reached\". perfaudit's probe phase drives the route under load "
        "and times every checkout and how long each connection is held. More threads cannot "
        "help: they would wait on the same connections.\n\n"
        "Example: 16 requests at a time share a pool of 2 connections, each held 21 ms: "
        "requests wait 140 ms for one, 85% of their time. Hold connections for less time, "
        "and size the pool to the concurrency the database can take."
    )

    def check(self, ctx: AnalysisContext) -> Iterator[Finding]:
        for view in ctx.routes:
            probe = view.probe
            if probe is None or cpu_bound(probe):
                continue  # a CPU-bound route holds connections longer only as it waits for the CPU
            for pool in probe.pools:
                finding = self._finding(ctx, view, probe, pool)
                if finding is not None:
                    yield finding

    def _finding(
        self, ctx: AnalysisContext, view: RouteView, probe: RouteProbe, pool: PoolEvidence
    ) -> Finding | None:
        share = pool_wait_share(probe, pool)
        attempts = pool.checkouts + pool.stuck + pool.timeouts
        if share < MIN_WAIT_SHARE or not attempts:
            return None
        # Shared by the requests that completed; when few did, each checkout's own wait.
        stalled = _stalled(probe, pool)
        wait_ms = pool.wait_s / (attempts if stalled else len(probe.durations_s)) * 1000
        held_ms = pool.held_s / pool.returned * 1000 if pool.returned else 0.0
        grading = Grading(share, wait_ms, GRADES)
        severity = grading.severity or Severity.MEDIUM
        capacity = pool.capacity
        limit = f"{capacity} connection(s)" if capacity is not None else "no limit"
        threaded = view.endpoint_async is False
        evidence: dict[str, float | int | str] = {
            "pool": pool.kind,
            "pool_size": pool.size,
            "max_overflow": pool.max_overflow,
            "concurrency": probe.concurrency,
            "wait_share": round(share, 4),
            "wait_ms_per_request": round(wait_ms, 2),
            "max_wait_ms": round(pool.max_wait_s * 1000, 1),
            "checkouts_waited": f"{pool.waited} of {pool.checkouts}",
            "held_ms_per_checkout": round(held_ms, 2),
            "checkout_timeouts": pool.timeouts,
            "checkouts_still_waiting": pool.stuck,
            "requests_completed": len(probe.durations_s),
        }
        if pool.timeout_s is not None:
            evidence["pool_timeout_s"] = pool.timeout_s
        if threaded:
            evidence["anyio_thread_tokens"] = _tokens(probe)
        title = (
            f"{view.route} waits {wait_ms:.0f} ms per request for a connection from a pool of "
            f"{limit} at {probe.concurrency} concurrent requests ({share:.0%} of its time)"
        )
        if stalled:
            title = (
                f"{view.route} completed {len(probe.durations_s)} request(s) at "
                f"{probe.concurrency} concurrent requests: {pool.stuck + pool.timeouts} gave up "
                f"or were still waiting for a connection from a pool of {limit}"
            )
        return Finding(
            id=self.id,
            severity=severity,
            grading=grading,
            title=title,
            route=str(view.route),
            location=displayed(probe.endpoint, ctx.session.app_root) if probe.endpoint else None,
            evidence=evidence,
            suggestion=_suggestion(probe, pool, held_ms, threaded),
            estimated_gain=Gain(latency_ms=round(wait_ms, 3), share=round(share, 4)),
            impact=share,
            confidence=0.9,
            supersedes=("threadpool-saturation",),
        )


def _stalled(probe: RouteProbe, pool: PoolEvidence) -> bool:
    """More requests gave up on a connection, or were still waiting for one at the end,
    than completed."""
    return pool.stuck + pool.timeouts > len(probe.durations_s)


def _deadlocked(probe: RouteProbe, pool: PoolEvidence, tokens: int) -> bool:
    """Stalled with at least as many requests in flight as threads and connections
    together: with sync sessions, threads can all wait for connections held by requests
    that wait for a thread."""
    capacity = pool.capacity
    return _stalled(probe, pool) and capacity is not None and probe.concurrency >= tokens + capacity


def _tokens(probe: RouteProbe) -> int:
    return probe.threadpool.total_tokens if probe.threadpool else DEFAULT_TOKENS


def _suggestion(probe: RouteProbe, pool: PoolEvidence, held_ms: float, threaded: bool) -> str:
    capacity = pool.capacity
    held = f", each held about {held_ms:.0f} ms" if held_ms else ""
    head = (
        f"{probe.concurrency} requests at a time share {capacity} connection(s){held}, so "
        "the rest queue for one."
        if capacity is not None
        else f"Requests queued to get a connection{held}."
    )
    size = (
        "`create_engine(…, pool_size=N, max_overflow=M)` / `create_async_engine(…)`"
        if pool.kind.startswith("SQLAlchemy")
        else "`asyncpg.create_pool(…, max_size=N)`"
    )
    advice = (
        f"{head} Hold each connection for less time: open the session around the queries "
        "that need it rather than for the whole request (a `yield` dependency keeps it until "
        "the response is sent), and do no slow work (HTTP calls, sleeps, heavy Python) while "
        f"holding it. Then size the pool to the concurrency the database can take: {size}, "
        "with the pools of all workers together below the server's `max_connections`."
    )
    tokens = _tokens(probe)
    if threaded and _deadlocked(probe, pool, tokens):
        assert capacity is not None  # _deadlocked: a pool with a limit
        return (
            f"Under load {len(probe.durations_s)} request(s) completed while "
            f"{pool.stuck + pool.timeouts} gave up or hung waiting for a connection. A request "
            "that holds a connection waits for a thread to go on (its session keeps the "
            "connection from a `def` dependency that queried, such as the current user's "
            "lookup, to the `def` endpoint), while the threads are taken by requests waiting "
            "for a connection: nothing moves until the pool's timeout fails the waiters. That "
            f"needs as many requests in flight as threads and connections together: here "
            f"{probe.concurrency} ≥ {tokens} + {capacity}. Keep a request from waiting for a "
            "thread while it holds a connection: query in one `def` (look the user up in the "
            "endpoint's own thread), or make the dependencies and the endpoint `async def` on "
            f"an async engine. Or raise the bar: with a pool of {tokens} ({size}), it takes "
            f"{2 * tokens} requests at once, and uvicorn's `--limit-concurrency` can keep them "
            "below it."
        )
    if threaded:
        advice += (
            f" Do not raise AnyIO's {tokens} threads to fix this: the threads wait on the same "
            "connections, and more of them only lengthen the queue."
        )
    return advice


RULE = ConnectionPoolSaturation()

"""What the probe phase saw, per route: the event loop's heartbeat, the stacks that kept it
from beating, the threadpool's limiter, and the concurrency signature.

The probe phase drives a route at a concurrency above the user's (and above the
threadpool's limit for `def` routes) with no profiler attached: its figures describe the
route under load, never the latency the report's route table shows.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from perfaudit.model.requests import CodeLocation, RouteKey


@dataclass(frozen=True, slots=True)
class StackFrame:
    file: str
    line: int
    function: str
    owner: str  # "app" | "framework" | "library" | "stdlib" | "perfaudit"
    code: str = ""  # the source line, kept for the app's own frames
    # An `async def` (or async generator): a function that could have awaited the work it
    # did synchronously. Known in-process; py-spy's samples do not say (False).
    awaitable: bool = False


@dataclass(frozen=True, slots=True)
class SampledStack:
    """One distinct stack (innermost frame first) and how much of the phase it covered."""

    frames: tuple[StackFrame, ...]
    samples: int
    wall_s: float
    cpu_s: float  # CPU time the sampled thread used meanwhile (0 when unknown)


@dataclass(frozen=True, slots=True)
class LoopEvidence:
    """The loop watchdog: a heartbeat every `heartbeat_s`, and the loop thread's stack
    sampled while a beat was late by more than `late_after_s`."""

    heartbeat_s: float
    late_after_s: float
    heartbeats: int
    lag_ms_buckets: dict[str, int]  # "<1", "1-5", "5-10", "10-50", "50-100", "100-500", ">=500"
    max_lag_s: float
    blocked_s: float  # wall time the loop was late, in total
    stacks: tuple[SampledStack, ...]
    watchdog_cpu_s: float  # the watchdog thread's own CPU: the probe's overhead


@dataclass(frozen=True, slots=True)
class ThreadpoolEvidence:
    """AnyIO's default limiter (FastAPI runs `def` endpoints and dependencies under it),
    sampled every few milliseconds, and the stacks of its busy worker threads."""

    total_tokens: int
    samples: int
    saturated_samples: int  # all tokens borrowed
    waiting_samples: int  # tasks queued for a token
    max_borrowed: int
    max_waiting: int
    hop_s: float | None  # median cost of one `await anyio.to_thread.run_sync(noop)`
    worker_stacks: tuple[SampledStack, ...]


@dataclass(frozen=True, slots=True)
class PoolEvidence:
    """A connection pool the app checked connections out of while the route was under
    the probe's load: how long checkouts waited, how long connections were held."""

    kind: str  # "SQLAlchemy QueuePool", "SQLAlchemy AsyncAdaptedQueuePool", "asyncpg Pool"
    size: int  # connections it keeps (asyncpg: max_size)
    max_overflow: int  # SQLAlchemy: more it may open under load; -1 for no limit
    timeout_s: float | None  # how long a checkout waits before failing, where the pool says
    checkouts: int
    waited: int  # checkouts that took ≥ 1 ms (queued for a connection, or opened one)
    wait_s: float  # total
    max_wait_s: float
    held_s: float  # total time connections were out, checkout to return
    returned: int  # checkouts returned within the phase (held_s covers these)
    timeouts: int  # checkouts that gave up ("QueuePool limit … reached")
    stuck: int = 0  # checkouts still waiting when the phase ended (their wait is in wait_s)

    @property
    def capacity(self) -> int | None:
        """Connections it can have out at once; None without a limit."""
        return None if self.max_overflow < 0 else self.size + self.max_overflow


@dataclass(frozen=True, slots=True)
class RouteProbe:
    route: RouteKey
    endpoint: CodeLocation | None
    endpoint_async: bool | None  # None when the route has no Python endpoint we can see
    concurrency: int
    wall_s: float
    durations_s: tuple[float, ...]  # latency under the probe load
    single_durations_s: tuple[float, ...]  # the same route, one request at a time, no probes
    single_wall_s: float
    probe_idle_s: tuple[float, ...]  # a cheap unrelated request with the app idle …
    probe_loaded_s: tuple[float, ...]  # … and while this route is under load
    loop: LoopEvidence
    threadpool: ThreadpoolEvidence | None
    # The route's answers under the probe load ("200": 480, "429": 12, "timeout": 3); empty
    # in sessions recorded before it was kept.
    status_counts: dict[str, int] = field(default_factory=dict)
    pools: tuple[PoolEvidence, ...] = ()  # connection pools used under the probe's load
    single_cpu_s: float | None = None  # the process's CPU over the one-at-a-time phase

    @property
    def throughput_rps(self) -> float:
        return len(self.durations_s) / self.wall_s if self.wall_s > 0 else 0.0

    @property
    def single_throughput_rps(self) -> float:
        count = len(self.single_durations_s)
        return count / self.single_wall_s if self.single_wall_s > 0 else 0.0

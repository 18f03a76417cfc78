"""The built-in HTTP load engine for one process, on uvloop where installed. When every
target is plain http:// it sends through rawhttp, a minimal HTTP/1.1 client on
asyncio.Protocol that costs a fraction of aiohttp's ~200 µs of client CPU per request
(research/loadgen.md); otherwise through aiohttp, which sends several thousand requests
per client CPU-second, httpx a small fraction of that. Either is one `Send` per worker
(`send(index) -> (status, reason)`), so the rest of the engine does not know which.

Closed model: one task per connection, each sending its next request as soon as the last
response body has arrived. Open model: the same tasks take request slots off a fixed
schedule (slot k is due at start + k/rate) and never send one before it is due, so a
slow server makes requests late, not fewer; latency then runs from the intended send
time (wrk2's correction for coordinated omission), the uncorrected figure beside it.

The hot path creates no objects of ours: samples go into array('d') per target, counts
into plain dicts, and one watcher task does everything periodic (progress, Ctrl-C, a dead
server, the end-of-run drain).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import math
import signal
import socket
import threading
import time
from array import array
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from types import FrameType
from typing import TYPE_CHECKING, Protocol

from perfaudit import __version__
from perfaudit.load import rawhttp
from perfaudit.load.outcome import EngineResult, TargetTally
from perfaudit.load.scenario import LoadPlan
from perfaudit.model import INTERRUPTED

if TYPE_CHECKING:
    import aiohttp

# Open model: a request sent this long after its due time waited for a free connection
# (or a busy engine). Timer wake-ups on an idle loop land within ~1 ms of their time
# (uvloop's timers tick in whole ms), so 5 ms counts queueing, not jitter.
LATE_AFTER_S = 0.005
# Every request completing for this long failed in transport: the server is gone.
DEAD_AFTER_S = 1.0
SERVER_GONE = "the server stopped answering"  # how stopped_early begins when it went away
TICK_S = 0.05
# Past the per-request timeout, how long the end-of-run drain waits before it gives up.
DRAIN_GRACE_S = 1.0
SAMPLE_CHARS = 300
RAW_CLIENT = "perfaudit http/1.1"
ERRNO_KINDS = {
    errno.ECONNREFUSED: "refused",
    errno.ECONNRESET: "reset",
    errno.EPIPE: "reset",
    errno.ECONNABORTED: "reset",
}
GONE_BECAUSE = {
    "refused": "connection refused",
    "reset": "connections reset",
    "timeout": "requests timed out",
    "dns": "the host name does not resolve",
    "tls": "the TLS handshake failed",
    "other": "transport errors",
}

ProgressCallback = Callable[[int], None]
# One worker's way to send target `index`'s request: (status, reason) once the body is in.
Send = Callable[[int], Awaitable[tuple[int, str]]]


class StopFlag(Protocol):
    """threading.Event and multiprocessing's Event both fit."""

    def is_set(self) -> bool: ...


def run_engine(
    plan: LoadPlan,
    *,
    on_progress: ProgressCallback | None = None,
    stop_flag: StopFlag | None = None,
) -> EngineResult:
    """Run `plan` in this process on a fresh event loop; the first Ctrl-C ends the run
    with what it has measured (a second one interrupts as usual)."""
    with interrupt_flag() as interrupted, asyncio.Runner(loop_factory=_loop_factory()) as runner:
        flag = _EitherFlag(interrupted, stop_flag)
        return runner.run(drive(plan, on_progress=on_progress, stop_flag=flag))


async def drive(
    plan: LoadPlan,
    *,
    on_progress: ProgressCallback | None = None,
    stop_flag: StopFlag | None = None,
) -> EngineResult:
    """The engine's core, on the running loop. `on_progress(n)`: n more requests done."""
    run = _Run(plan)
    async with _open_transport(plan) as new_sender:
        cpu_start = time.process_time()  # after imports and setup: the load's cost only
        run.begin(time.perf_counter())
        worker = _closed_worker if plan.rate is None else _open_worker
        workers = [asyncio.create_task(worker(run, new_sender())) for _ in range(plan.connections)]
        watcher = asyncio.create_task(_watch(run, workers, on_progress, stop_flag))
        await asyncio.wait(workers)
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
    _raise_worker_bug(workers)
    if on_progress is not None and run.done > run.reported:
        on_progress(run.done - run.reported)
    return run.result(time.process_time() - cpu_start)


def preload() -> None:
    """Import aiohttp now (an engine process does this before it reports ready)."""
    import aiohttp  # noqa: F401


def planned_requests(plan: LoadPlan) -> int | None:
    """How many requests the plan sends if nothing stops it early (None: as many as the
    closed model manages in its duration)."""
    if plan.rate is None or plan.duration_s is None:
        return plan.requests
    scheduled = max(1, math.ceil(plan.rate * plan.duration_s - 1e-9))
    return scheduled if plan.requests is None else min(plan.requests, scheduled)


def weighted_order(weights: Sequence[float], count: int) -> tuple[int, ...]:
    """The first `count` target indices the engine picks for these weights."""
    picker = _Picker(weights)
    return tuple(picker.pick() for _ in range(count))


def uses_raw_http(plan: LoadPlan) -> bool:
    """Whether the run sends through rawhttp (every target plain http://), not aiohttp."""
    return all(target.url.lower().startswith("http://") for target in plan.targets)


def error_kind(exc: BaseException) -> str:
    """The transport failure kind of an exception raised by aiohttp or rawhttp while
    requesting (rawhttp.BadResponse is "other")."""
    import ssl

    import aiohttp

    if isinstance(exc, TimeoutError):  # asyncio's, and aiohttp's ServerTimeoutError
        return "timeout"
    if isinstance(exc, aiohttp.ClientConnectorDNSError | socket.gaierror):
        return "dns"
    if isinstance(exc, aiohttp.ClientSSLError | ssl.SSLError):  # incl. certificate errors
        return "tls"
    # A payload cut short means the connection closed mid-body.
    if isinstance(exc, aiohttp.ServerDisconnectedError | aiohttp.ClientPayloadError):
        return "reset"
    code = getattr(exc, "errno", None)  # ClientConnectorError copies its os_error's
    return ERRNO_KINDS.get(code, "other") if isinstance(code, int) else "other"


@contextlib.contextmanager
def interrupt_flag() -> Iterator[threading.Event]:
    """A flag the first Ctrl-C sets instead of raising KeyboardInterrupt, so the run can
    end cleanly with partial results. Only on the main thread, and never where SIGINT is
    ignored (engine worker processes leave Ctrl-C to their parent)."""
    flag = threading.Event()
    previous = signal.getsignal(signal.SIGINT)
    if threading.current_thread() is not threading.main_thread() or previous is signal.SIG_IGN:
        yield flag
        return
    restore = previous if previous is not None else signal.default_int_handler

    def on_sigint(signum: int, frame: FrameType | None) -> None:
        flag.set()
        signal.signal(signal.SIGINT, restore)

    signal.signal(signal.SIGINT, on_sigint)
    try:
        yield flag
    finally:
        signal.signal(signal.SIGINT, restore)


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop]:
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


class _EitherFlag:
    __slots__ = ("_flags",)

    def __init__(self, *flags: StopFlag | None) -> None:
        self._flags = tuple(flag for flag in flags if flag is not None)

    def is_set(self) -> bool:
        return any(flag.is_set() for flag in self._flags)


class _Picker:
    """nginx's smooth weighted round-robin: deterministic for any weights, and each
    target's requests spread evenly through the run instead of coming in bursts."""

    __slots__ = ("_current", "_total", "_weights")

    def __init__(self, weights: Sequence[float]) -> None:
        self._weights = tuple(weights)
        self._total = sum(self._weights)
        self._current = [0.0] * len(self._weights)

    def pick(self) -> int:
        current = self._current
        if len(current) == 1:
            return 0
        best = 0
        for index, weight in enumerate(self._weights):
            current[index] += weight
            if current[index] > current[best]:
                best = index
        current[best] -= self._total
        return best


class _Tally:
    """One target's running counts; frozen into a TargetTally at the end."""

    __slots__ = (
        "counts",
        "durations",
        "error_sample",
        "errors",
        "inflight",
        "streak",
        "timeouts",
        "uncorrected",
    )

    def __init__(self) -> None:
        self.durations = array("d")
        self.uncorrected = array("d")
        self.counts: dict[str, int] = {}
        self.errors = 0
        self.timeouts = 0
        self.inflight = 0
        self.error_sample = ""
        self.streak: dict[str, int] = {}  # transport failures since the server last answered

    def count(self, key: str, sample: str) -> None:
        self.counts[key] = self.counts.get(key, 0) + 1
        self.errors += 1
        if not self.error_sample:
            self.error_sample = sample[:SAMPLE_CHARS]

    def forget_streak(self) -> int:
        """Take the failures since the server last answered out of the counts (they say
        the server is gone, not how it served): how many there were."""
        for kind, n in self.streak.items():
            self.counts[kind] -= n
            if not self.counts[kind]:
                del self.counts[kind]
            if kind == "timeout":
                self.timeouts -= n
        taken = sum(self.streak.values())
        self.errors -= taken
        self.streak.clear()
        return taken

    def frozen(self, open_model: bool) -> TargetTally:
        return TargetTally(
            durations_s=tuple(self.durations),
            uncorrected_s=tuple(self.uncorrected) if open_model else (),
            status_counts=dict(self.counts),
            errors=self.errors,
            timeouts=self.timeouts,
            error_sample=self.error_sample,
        )


class _Run:
    """The run's mutable state, shared by its tasks on one loop (so no locks)."""

    __slots__ = (
        "claimed",
        "deadline",
        "done",
        "drain_expired",
        "failing_since",
        "gone",
        "halted",
        "last_answer",
        "last_end",
        "last_failure",
        "last_kind",
        "late",
        "limit",
        "open_model",
        "picker",
        "plan",
        "rate",
        "reason",
        "reported",
        "sent",
        "start",
        "tallies",
    )

    def __init__(self, plan: LoadPlan) -> None:
        self.plan = plan
        self.open_model = plan.rate is not None
        self.rate = plan.rate or 0.0
        self.tallies = [_Tally() for _ in plan.targets]
        self.picker = _Picker([t.weight for t in plan.targets])
        planned = planned_requests(plan)
        self.limit: float = math.inf if planned is None else planned
        self.claimed = self.sent = self.done = self.reported = self.late = 0
        self.start = self.deadline = self.last_end = self.last_failure = self.last_answer = 0.0
        self.failing_since: float | None = None
        self.last_kind = ""
        self.halted = self.drain_expired = False
        self.reason = ""
        self.gone = False  # halted because the server stopped answering

    def begin(self, now: float) -> None:
        self.start = now
        duration = self.plan.duration_s
        self.deadline = math.inf if duration is None else now + duration

    def answered(self, tally: _Tally, status: int, reason: str, end: float) -> None:
        if status < 400:
            key = str(status)
            tally.counts[key] = tally.counts.get(key, 0) + 1
        else:
            tally.count(str(status), f"HTTP {status} {reason}".strip())
        self.done += 1
        self.last_end = self.last_answer = end
        if self.failing_since is not None:
            for each in self.tallies:
                each.streak.clear()
        self.failing_since = None

    def failed(self, tally: _Tally, exc: BaseException) -> None:
        kind = error_kind(exc)
        text = str(exc)
        tally.count(kind, f"{type(exc).__name__}: {text}" if text else type(exc).__name__)
        if kind == "timeout":
            tally.timeouts += 1
        tally.streak[kind] = tally.streak.get(kind, 0) + 1
        self.done += 1
        self.last_end = self.last_failure = time.perf_counter()
        if self.failing_since is None:
            self.failing_since = self.last_end
        self.last_kind = kind

    def server_gone(self, now: float) -> bool:
        """Nothing but transport failures for DEAD_AFTER_S, and they are still coming."""
        if self.failing_since is None:
            return False
        return now - self.failing_since >= DEAD_AFTER_S and now - self.last_failure < DEAD_AFTER_S

    def sending_over(self, now: float) -> bool:
        return self.halted or self.sent >= self.limit or now >= self.deadline

    def halt(self, reason: str) -> None:
        self.halted = True
        self.reason = self.reason or reason

    def server_went_away(self) -> None:
        self.halt(f"{SERVER_GONE} ({GONE_BECAUSE[self.last_kind]})")
        self.gone = True

    def count_unfinished(self) -> None:
        """Requests still out when the drain gave up on them are timeouts."""
        for tally in self.tallies:
            for _ in range(tally.inflight):
                tally.count("timeout", "no response before the run's end")
                tally.timeouts += 1
            tally.inflight = 0

    def result(self, cpu_s: float) -> EngineResult:
        if self.drain_expired:
            self.count_unfinished()
        # Set apart the failures since the server last answered (those in flight at the
        # halt included): a second of refused connections, thousands in no time, would
        # read as the server's error rate.
        answered = any(tally.durations for tally in self.tallies)  # else: never there
        lost = sum(t.forget_streak() for t in self.tallies) if self.gone and answered else 0
        end = self.last_answer if lost else self.last_end
        return EngineResult(
            engine="builtin",
            client=RAW_CLIENT if uses_raw_http(self.plan) else "aiohttp",
            tallies=tuple(tally.frozen(self.open_model) for tally in self.tallies),
            # Gone: the time it served, up to its last answer (throughput is of that).
            wall_s=max(0.0, (end or time.perf_counter()) - self.start),
            cpu_s=cpu_s,
            processes=1,
            late=self.late,
            stopped_early=self.reason,
            server_gone=self.gone,
            failed_after_gone=lost,
        )


@contextlib.asynccontextmanager
async def _open_transport(plan: LoadPlan) -> AsyncIterator[Callable[[], Send]]:
    """Yields a maker of one `Send` per worker: rawhttp's for plain http://, else aiohttp's."""
    if not uses_raw_http(plan):
        async with _open_session(plan) as session:
            yield lambda: _aiohttp_sender(session, plan)
        return
    client = rawhttp.RawClient(plan.targets, plan.timeout_s, plan.numbers())
    try:
        yield lambda: client.connection().send
    finally:
        await client.close()


def _aiohttp_sender(session: aiohttp.ClientSession, plan: LoadPlan) -> Send:
    numbers = plan.numbers()

    async def send(index: int) -> tuple[int, str]:
        target = plan.targets[index]
        target = target.instance(next(numbers)) if target.varies else target
        method, url, headers, body = target.method, target.url, target.headers, target.body
        async with session.request(
            method, url, headers=headers or None, data=body or None
        ) as response:
            await response.read()
        return response.status, response.reason or ""

    return send


@contextlib.asynccontextmanager
async def _open_session(plan: LoadPlan) -> AsyncIterator[aiohttp.ClientSession]:
    """One keep-alive pool of `connections`. No cookies and no decompression: each
    request stands alone, and the client spends its CPU on requests, not on gunzip."""
    import aiohttp

    connector = aiohttp.TCPConnector(limit=plan.connections)
    async with aiohttp.ClientSession(
        connector=connector,
        timeout=aiohttp.ClientTimeout(total=plan.timeout_s),
        cookie_jar=aiohttp.DummyCookieJar(),
        auto_decompress=False,
        headers={"User-Agent": f"perfaudit/{__version__}"},
    ) as session:
        yield session


async def _closed_worker(run: _Run, send: Send) -> None:
    clock = time.perf_counter
    while not run.halted and run.sent < run.limit:
        now = clock()
        if now >= run.deadline:
            return
        run.sent += 1
        await _exchange(run, send, run.picker.pick(), now, now)


async def _open_worker(run: _Run, send: Send) -> None:
    """Takes the next slot off the schedule whenever its connection is free: a slot no
    connection was free for at its due time goes out late, never early."""
    clock = time.perf_counter
    while not run.halted and run.claimed < run.limit:
        now = clock()
        if now >= run.deadline:
            return
        due = run.start + run.claimed / run.rate
        run.claimed += 1
        while now < due:  # in short naps, so a halted run does not wait for the slot
            await asyncio.sleep(min(due - now, TICK_S))
            if run.halted:
                return
            now = clock()
        if now - due > LATE_AFTER_S:
            run.late += 1
        run.sent += 1
        await _exchange(run, send, run.picker.pick(), due, now)


async def _exchange(run: _Run, send: Send, index: int, intended: float, sent: float) -> None:
    """One request, timed from `intended` and `sent` to the end of its body."""
    tally = run.tallies[index]
    tally.inflight += 1
    try:
        status, reason = await send(index)
    except Exception as exc:  # every failure is a measurement; cancellation passes through
        tally.inflight -= 1
        run.failed(tally, exc)
        return
    end = time.perf_counter()
    tally.inflight -= 1
    tally.durations.append(end - intended)
    if run.open_model:
        tally.uncorrected.append(end - sent)
    run.answered(tally, status, reason, end)


async def _watch(
    run: _Run,
    workers: list[asyncio.Task[None]],
    on_progress: ProgressCallback | None,
    stop_flag: StopFlag | None,
) -> None:
    """Everything periodic: progress, Ctrl-C, a server that went away, and the bound on
    the end-of-run drain."""
    drain_from: float | None = None
    while True:
        await asyncio.sleep(TICK_S)
        if on_progress is not None and run.done > run.reported:
            on_progress(run.done - run.reported)
            run.reported = run.done
        now = time.perf_counter()
        if stop_flag is not None and stop_flag.is_set():
            run.halt(INTERRUPTED)
            _cancel(workers)
            return
        if not run.halted and run.server_gone(now):
            run.server_went_away()
        if drain_from is None and run.sending_over(now):
            drain_from = now
        if drain_from is not None and now - drain_from > run.plan.timeout_s + DRAIN_GRACE_S:
            run.drain_expired = True
            _cancel(workers)
            return


def _cancel(workers: list[asyncio.Task[None]]) -> None:
    for task in workers:
        task.cancel()


def _raise_worker_bug(workers: list[asyncio.Task[None]]) -> None:
    """Request failures are counted inside the workers; anything escaping is our bug."""
    for task in workers:
        exc = None if task.cancelled() else task.exception()
        if exc is not None:
            raise exc

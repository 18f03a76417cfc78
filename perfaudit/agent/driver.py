"""The in-process driver: calls the ASGI app directly, with no HTTP client in between.

A harness over the app is mostly harness (on a trivial route TestClient runs at about 4%
and httpx's ASGITransport at about 25% of a direct call: benchmarks/driver_overhead.py),
so each request here is one scope dict, two small callables and a clock read. Timeouts
are enforced by a supervisor tick rather than a timer per request: a timed-out request's
worker is retired and replaced, so a handler stuck in a thread (which cannot be
cancelled) never stalls the run.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from time import perf_counter, process_time
from typing import Any
from urllib.parse import unquote

from perfaudit.agent.loader import ASGIApp, user_traceback
from perfaudit.load.plan import RequestSpec, on_the_wire
from perfaudit.model import ErrorSample

ProgressCallback = Callable[[int], None]
TICK_S = 0.05
YIELD_EVERY_S = 0.02
# A request past its timeout is counted and replaced, but not cancelled while its phase
# runs: its `def` endpoint may still be in a worker thread, and cancelling would run its
# teardown (a yield dependency closing the DB session) while that thread still uses the
# session: SQLAlchemy's "IllegalStateChangeError" in the app's output. At the end of the
# phase it gets this long to finish; then it is cancelled, and gets as long again to unwind.
DRAIN_S = 2.0
ERROR_BODY_LIMIT = 2048
# A route that keeps hanging is given up on: each hung `def` handler holds one of the
# threadpool's 40 threads for good, and waiting out more timeouts teaches nothing new.
MAX_CONSECUTIVE_TIMEOUTS = 3


@dataclass(frozen=True, slots=True)
class PhaseResult:
    durations_s: tuple[float, ...]
    background_s: tuple[float, ...]
    status_counts: dict[str, int]
    errors: int
    timeouts: int
    error_sample: ErrorSample | None
    wall_s: float
    abandoned: int  # requests still running (hung) when the phase ended
    gave_up: bool  # stopped after MAX_CONSECUTIVE_TIMEOUTS timeouts in a row
    cpu_s: float = 0.0  # the process's CPU time (every thread) over the phase
    response_bytes: int = 0  # the response bodies' bytes, every request's

    @property
    def requests(self) -> int:
        return len(self.durations_s)


class Exchange:
    """One request's receive/send pair. `end` is the time the last body byte was sent."""

    __slots__ = ("body", "body_sent", "chunks", "end", "sent_bytes", "status", "waiter")

    def __init__(self, body: bytes) -> None:
        self.body = body
        self.body_sent = False
        self.status = 0
        self.sent_bytes = 0  # of the response body
        self.end = 0.0
        self.chunks: list[bytes] = []
        self.waiter: asyncio.Future[None] | None = None

    async def receive(self) -> dict[str, Any]:
        if not self.body_sent:
            self.body_sent = True
            return {"type": "http.request", "body": self.body, "more_body": False}
        # A second receive waits for the response to finish, as a connected client would.
        if not self.end:
            self.waiter = asyncio.get_running_loop().create_future()
            await self.waiter
        return {"type": "http.disconnect"}

    async def send(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        if kind == "http.response.start":
            self.status = message["status"]
        elif kind == "http.response.body":
            self.sent_bytes += len(message.get("body", b""))
            if self.status >= 400 and len(self.chunks) < 8:
                self.chunks.append(message.get("body", b"")[:ERROR_BODY_LIMIT])
            if not message.get("more_body", False):
                self.end = perf_counter()
                if self.waiter is not None and not self.waiter.done():
                    self.waiter.set_result(None)


@dataclass
class _Phase:
    """The mutable state of one phase; frozen into a PhaseResult at the end."""

    count: int | None
    deadline: float | None
    min_count: int = 0  # keep going past the deadline until this many were sent …
    limit: float | None = None  # … but never past this time
    yield_every_s: float = YIELD_EVERY_S  # hand the loop back at least this often
    claimed: int = 0
    durations: list[float] = field(default_factory=list)
    background: list[float] = field(default_factory=list)
    statuses: Counter[str] = field(default_factory=Counter)
    response_bytes: int = 0
    errors: int = 0
    timeouts: int = 0
    sample: ErrorSample | None = None
    inflight: dict[asyncio.Task[None], float] = field(default_factory=dict)
    retired: set[asyncio.Task[None]] = field(default_factory=set)
    reported: int = 0
    consecutive_timeouts: int = 0

    @property
    def gave_up(self) -> bool:
        return self.consecutive_timeouts >= MAX_CONSECUTIVE_TIMEOUTS

    def claim(self) -> bool:
        if self.gave_up:
            return False
        if self.count is not None and self.claimed >= self.count:
            return False
        if self.deadline is not None and perf_counter() >= self.deadline:
            past_limit = self.limit is not None and perf_counter() >= self.limit
            if self.claimed >= self.min_count or past_limit:
                return False
        self.claimed += 1
        return True


class InProcessDriver:
    def __init__(
        self,
        app: ASGIApp,
        *,
        state: dict[str, Any] | None = None,
        timeout_s: float = 30.0,
        on_progress: ProgressCallback | None = None,
        on_tick: Callable[[], None] | None = None,
    ) -> None:
        self._app = app
        self.state = state  # the lifespan state each request's scope gets a copy of
        self._timeout_s = timeout_s
        self._on_progress = on_progress
        self._on_tick = on_tick
        self._active: tuple[_Phase, float, float] | None = None
        self.abandoned = 0  # requests still unwinding after DRAIN_S, over every phase
        # Numbers for {n}: one sequence over every phase, so no two requests share one.
        self._numbers = itertools.count(1)

    async def run(
        self,
        request: RequestSpec,
        *,
        count: int | None = None,
        duration_s: float | None = None,
        concurrency: int = 1,
        min_count: int = 0,
        max_duration_s: float | None = None,
    ) -> PhaseResult:
        """Send `count` requests, or for `duration_s` (then at least `min_count` requests,
        unless `max_duration_s` runs out first), `concurrency` at a time.

        With more than one request in flight, each worker hands the loop back after every
        request, as requests arriving over sockets would take turns; otherwise one worker
        could run a burst of requests while the others' wait counted as their latency."""
        start, cpu_start = perf_counter(), process_time()
        deadline = start + duration_s if duration_s is not None else None
        limit = start + max_duration_s if max_duration_s is not None else None
        phase = _Phase(count=count, deadline=deadline, min_count=min_count, limit=limit)
        phase.yield_every_s = 0.0 if concurrency > 1 else YIELD_EVERY_S
        self._active = (phase, start, cpu_start)
        scope = self._scope_template(request)
        workers = {self._spawn(phase, scope, request) for _ in range(max(1, concurrency))}
        while workers:
            done, _ = await asyncio.wait(workers, timeout=TICK_S)
            workers -= done
            workers |= self._supervise(phase, scope, request)
            workers -= phase.retired  # timed out: the phase no longer waits for them
            for task in done:
                task.result()
        wall, cpu = perf_counter() - start, process_time() - cpu_start
        self._report_progress(phase)
        await self._drain(phase.retired)
        self._active = None
        result = self._result(phase, wall, cpu)
        self.abandoned += result.abandoned
        return result

    async def time_request(self, request: RequestSpec) -> float:
        """One request outside any phase (a probe); its latency whatever it answers."""
        request = request.instance(next(self._numbers)) if request.varies else request
        scope = self._scope_template(request)
        if self.state is not None:
            scope["state"] = self.state.copy()
        exchange = Exchange(request.body)
        began = perf_counter()
        with contextlib.suppress(Exception):  # a probe only measures time
            await self._app(scope, exchange.receive, exchange.send)
        return (exchange.end or perf_counter()) - began

    def snapshot(self) -> PhaseResult | None:
        """What the phase in progress has measured so far (after an interrupt)."""
        if self._active is None:
            return None
        phase, start, cpu_start = self._active
        return self._result(phase, perf_counter() - start, process_time() - cpu_start)

    async def _drain(self, retired: set[asyncio.Task[None]]) -> None:
        """Let requests that timed out finish (DRAIN_S at most), then cancel those still
        running and let them unwind (DRAIN_S again); any left are counted as abandoned.
        It ticks meanwhile: the hang guard must not take the wait for a blocked loop."""
        pending = {task for task in retired if not task.done()}
        for cancel in (False, True):
            if cancel:
                for task in pending:
                    task.cancel()
            until = perf_counter() + DRAIN_S
            while pending and perf_counter() < until:
                _, pending = await asyncio.wait(pending, timeout=TICK_S)
                if self._on_tick is not None:
                    self._on_tick()

    def _spawn(
        self, phase: _Phase, scope: dict[str, Any], request: RequestSpec
    ) -> asyncio.Task[None]:
        return asyncio.get_running_loop().create_task(self._worker(phase, scope, request))

    def _supervise(
        self, phase: _Phase, scope: dict[str, Any], request: RequestSpec
    ) -> set[asyncio.Task[None]]:
        """Retire workers whose request outlived the timeout (left running: see DRAIN_S),
        replace them, report progress."""
        if self._on_tick is not None:
            self._on_tick()
        self._report_progress(phase)
        now = perf_counter()
        late = [task for task, began in phase.inflight.items() if now - began > self._timeout_s]
        replacements = set()
        for task in late:
            del phase.inflight[task]
            phase.retired.add(task)
            phase.timeouts += 1
            phase.consecutive_timeouts += 1
            phase.errors += 1
            phase.statuses["timeout"] += 1
            phase.sample = phase.sample or ErrorSample(
                kind="timeout",
                message=f"no response within {self._timeout_s:g} s (--timeout)",
            )
            replacements.add(self._spawn(phase, scope, request))
        return replacements

    async def _worker(self, phase: _Phase, template: dict[str, Any], request: RequestSpec) -> None:
        me = asyncio.current_task()
        assert me is not None
        app, state, body, varies = self._app, self.state, request.body, request.varies
        last_yield = issued = perf_counter()
        while phase.claim():
            if varies:  # this request's own path, headers and body ({n}, a data file's row)
                sent = request.instance(next(self._numbers))
                template, body = self._scope_template(sent), sent.body
            scope = template.copy()
            scope["headers"] = list(template["headers"])
            if state is not None:
                scope["state"] = state.copy()
            exchange = Exchange(body)
            began = perf_counter()
            phase.inflight[me] = began
            failure: BaseException | None = None
            try:
                await app(scope, exchange.receive, exchange.send)
            except asyncio.CancelledError:
                if me in phase.retired:
                    return
                raise
            except Exception as exc:
                failure = exc
            finished = perf_counter()
            if me in phase.retired:
                return  # timed out and already counted; a replacement runs in our place
            del phase.inflight[me]
            # Latency runs from when the request was due (at once after our previous
            # response, as a closed-loop client sends it), not from when this task got the
            # loop back: time queued behind a blocked or busy loop is the client's too.
            self._record(phase, exchange, issued, finished, failure)
            issued = finished
            if finished - last_yield >= phase.yield_every_s:
                # A handler that never awaits would keep this task running for the whole
                # phase: let the supervisor (progress, timeouts, heartbeat) run.
                last_yield = finished
                await asyncio.sleep(0)

    def _record(
        self,
        phase: _Phase,
        exchange: Exchange,
        began: float,
        finished: float,
        failure: BaseException | None,
    ) -> None:
        end = exchange.end or finished
        phase.consecutive_timeouts = 0
        phase.durations.append(end - began)
        phase.background.append(finished - end)
        phase.response_bytes += exchange.sent_bytes
        status = exchange.status or (500 if failure else 0)
        phase.statuses[str(status)] += 1
        if failure is None and 0 < status < 400:
            return
        phase.errors += 1
        if phase.sample is None or (failure is not None and phase.sample.kind != "exception"):
            phase.sample = _error_sample(status, exchange, failure)

    def _report_progress(self, phase: _Phase) -> None:
        done = len(phase.durations) + phase.timeouts
        if self._on_progress is not None and done > phase.reported:
            self._on_progress(done - phase.reported)
        phase.reported = done

    def _result(self, phase: _Phase, wall: float, cpu: float) -> PhaseResult:
        abandoned = sum(1 for task in phase.retired if not task.done())
        return PhaseResult(
            durations_s=tuple(phase.durations),
            background_s=tuple(phase.background),
            status_counts=dict(phase.statuses),
            errors=phase.errors,
            timeouts=phase.timeouts,
            error_sample=phase.sample,
            wall_s=wall,
            cpu_s=cpu,
            response_bytes=phase.response_bytes,
            abandoned=abandoned,
            gave_up=phase.gave_up,
        )

    @staticmethod
    def _scope_template(request: RequestSpec) -> dict[str, Any]:
        """The scope uvicorn would give this request: the path percent-decoded (`/items/a%20b`
        reaches the handler as "a b"), raw_path and the query string as sent on the wire,
        header values as the UTF-8 bytes a client sends."""
        headers = [(b"host", b"perfaudit.local"), (b"user-agent", b"perfaudit")]
        headers += [(k.lower().encode("ascii"), v.encode("utf-8")) for k, v in request.headers]
        if request.body:
            headers.append((b"content-length", str(len(request.body)).encode()))
        raw_path = on_the_wire(request.path)
        return {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.4"},
            "http_version": "1.1",
            "method": request.method,
            "scheme": "http",
            "path": unquote(raw_path),
            "raw_path": raw_path.encode("ascii"),
            "query_string": on_the_wire(request.query).encode("ascii"),
            "root_path": "",
            "headers": headers,
            "client": ("127.0.0.1", 50000),
            "server": ("perfaudit.local", 80),
        }


def _error_sample(status: int, exchange: Exchange, failure: BaseException | None) -> ErrorSample:
    if failure is not None:
        text, location = user_traceback(failure)
        return ErrorSample(
            kind="exception",
            message=f"{type(failure).__name__}: {failure}",
            status=status,
            location=location,
            traceback=text,
        )
    body = b"".join(exchange.chunks)[:ERROR_BODY_LIMIT].decode("utf-8", "replace")
    return ErrorSample(kind="http-status", message=f"HTTP {status}: {body}".strip(), status=status)

"""The loop watchdog: a heartbeat on the event loop and a thread that, while the heartbeat
is late, samples the loop thread's stack.

asyncio's debug mode only names the task (`RequestResponseCycle.run_asgi` under uvicorn);
reading the loop thread's frames while it is stuck names the user's line, and works the
same on uvloop. The same thread samples AnyIO's worker threads, to show where `def`
endpoints spend the threads they hold. On Python 3.11 both are read another way, see
capture/threadstacks.py.
"""

from __future__ import annotations

import asyncio
import sys
import threading
import time
from time import perf_counter

from perfaudit.agent.capture.stacks import StackReader, StackTally
from perfaudit.agent.capture.threadstacks import OTHER_THREADS_READABLE, JobClock, OwnStackSignal
from perfaudit.capture.owners import OwnerClassifier
from perfaudit.model import CodeLocation, LoopEvidence, SampledStack, StackFrame

HEARTBEAT_S = 0.005
LATE_AFTER_S = 0.005
# A timed wait costs ~50 µs of CPU on these VMs: 100 polls a second keep the watchdog's
# own CPU near 0.5% while resolving stalls of 10 ms and more.
POLL_S = 0.01
WORKER_THREAD_PREFIX = "AnyIO worker thread"
LAG_BUCKETS_MS = (
    (1, "<1"),
    (5, "1-5"),
    (10, "5-10"),
    (50, "10-50"),
    (100, "50-100"),
    (500, "100-500"),
)


class LoopWatchdog:
    def __init__(self, endpoint: CodeLocation | None = None) -> None:
        """`endpoint`: where worker-thread time is credited where threads cannot be read."""
        classifier = OwnerClassifier()
        self._stacks = StackReader(classifier)
        self._endpoint = (
            StackFrame(endpoint.file, endpoint.line, endpoint.function, "app")
            if endpoint is not None and classifier.owner(endpoint.file, endpoint.function) == "app"
            else None
        )
        self._own_stack = OwnStackSignal(StackReader(classifier))
        self._jobs = JobClock()
        self._pending = (0.0, 0.0)  # blocked wall and CPU seconds awaiting the loop's stack
        self._loop_tally = StackTally()
        self._worker_tally = StackTally()
        self._stopping = False
        self._thread = threading.Thread(target=self._watch, name="perfaudit-watchdog", daemon=True)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._handle: asyncio.TimerHandle | None = None
        self._loop_ident = threading.get_ident()
        self._last_beat = perf_counter()
        self._expected = self._last_beat
        self._lags = dict.fromkeys([label for _, label in LAG_BUCKETS_MS] + [">=500"], 0)
        self._heartbeats = 0
        self._max_lag = 0.0
        self._blocked = 0.0
        self._own_cpu = 0.0

    def start(self) -> None:
        """Call from the event loop's thread."""
        self._loop = asyncio.get_running_loop()
        self._loop_ident = threading.get_ident()
        self._last_beat = self._expected = perf_counter()
        self._handle = self._loop.call_later(HEARTBEAT_S, self._beat)
        self._expected += HEARTBEAT_S
        if not OTHER_THREADS_READABLE:
            self._own_stack.install()
            self._jobs.install()
        self._thread.start()

    def stop(self) -> tuple[LoopEvidence, tuple[SampledStack, ...]]:
        """The loop's evidence and the sampled worker-thread stacks."""
        self._stopping = True
        self._thread.join(timeout=1.0)
        if self._handle is not None:
            self._handle.cancel()
        self._own_stack.uninstall()
        self._jobs.uninstall()
        evidence = LoopEvidence(
            heartbeat_s=HEARTBEAT_S,
            late_after_s=LATE_AFTER_S,
            heartbeats=self._heartbeats,
            lag_ms_buckets=dict(self._lags),
            max_lag_s=self._max_lag,
            blocked_s=self._blocked,
            stacks=self._loop_tally.stacks(),
            watchdog_cpu_s=self._own_cpu,
        )
        workers = (
            self._worker_tally.stacks()
            if OTHER_THREADS_READABLE
            else self._jobs.stacks(self._endpoint)
        )
        return evidence, workers

    def _beat(self) -> None:
        now = perf_counter()
        lag = max(now - self._expected, 0.0)
        self._heartbeats += 1
        self._max_lag = max(self._max_lag, lag)
        self._lags[_bucket(lag)] += 1
        self._last_beat = now
        self._expected = now + HEARTBEAT_S
        assert self._loop is not None
        self._handle = self._loop.call_later(HEARTBEAT_S, self._beat)

    def _watch(self) -> None:
        loop_cpu = _thread_cpu_clock(self._loop_ident)
        started_cpu = time.thread_time()
        last, last_cpu = perf_counter(), _read(loop_cpu)
        while not self._stopping:
            time.sleep(POLL_S)
            now, cpu = perf_counter(), _read(loop_cpu)
            elapsed, used = now - last, max(cpu - last_cpu, 0.0)
            last, last_cpu = now, cpu
            late = now - self._last_beat > HEARTBEAT_S + LATE_AFTER_S
            if late:
                self._blocked += elapsed
            if OTHER_THREADS_READABLE:
                if late:
                    frame = sys._current_frames().get(self._loop_ident)
                    self._loop_tally.add(self._stacks.read(frame), elapsed, used)
                self._sample_workers(elapsed)
            else:
                self._ask_loop_stack(late, elapsed, used)
        self._own_cpu = time.thread_time() - started_cpu

    def _ask_loop_stack(self, late: bool, elapsed: float, used: float) -> None:
        """3.11: the loop thread reports its stack itself; the time it was blocked until
        then is credited to that stack."""
        wall, cpu = self._pending
        if late:
            wall, cpu = wall + elapsed, cpu + used
            self._own_stack.request()
        stack = self._own_stack.take()
        if stack is not None and wall > 0:
            self._loop_tally.add(stack, wall, cpu)
            wall, cpu = 0.0, 0.0
        self._pending = (wall, cpu)

    def _sample_workers(self, weight_s: float) -> None:
        frames = sys._current_frames()
        for thread in threading.enumerate():
            if not thread.name.startswith(WORKER_THREAD_PREFIX) or thread.ident is None:
                continue
            stack = self._stacks.read(frames.get(thread.ident))
            if any(f.owner == "app" for f in stack):  # idle workers wait in queue.get
                self._worker_tally.add(stack, weight_s, 0.0)


def _bucket(lag_s: float) -> str:
    lag_ms = lag_s * 1000
    for limit, label in LAG_BUCKETS_MS:
        if lag_ms < limit:
            return label
    return ">=500"


def _thread_cpu_clock(ident: int) -> int | None:
    """A clock of another thread's CPU time (Linux); None where the platform has none."""
    try:
        return time.pthread_getcpuclockid(ident)
    except (AttributeError, OSError):
        return None


def _read(clock: int | None) -> float:
    if clock is None:
        return 0.0
    try:
        return time.clock_gettime(clock)
    except OSError:
        return 0.0

"""Where other threads are, read without walking their frames on Python 3.11.

On 3.11, walking another running thread's frames (`sys._current_frames()` then `f_back`)
can crash the interpreter when that thread runs Cython code such as SQLAlchemy's
(CPython gh-99110 and gh-111363; sentry-python #2386 and dd-trace-py #13567 hit the same).
perfaudit reproduced it: `library -c 8` died with SIGSEGV in 5 runs of 6. So on 3.11:

- the event-loop thread (the main thread) reads its own stack in a signal handler the
  watchdog triggers; a thread's own frames are always safe to read;
- worker threads are not sampled: each job FastAPI hands to AnyIO's threadpool is timed
  instead, which is what the threadpool's occupancy needs, and the stack is the endpoint.

3.12 keeps frames consistent for other threads, so the watchdog reads them directly there.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Callable
from time import perf_counter
from types import FrameType
from typing import Any

from perfaudit.agent.capture.stacks import StackReader
from perfaudit.model import SampledStack, StackFrame

OTHER_THREADS_READABLE = sys.version_info >= (3, 12)
# A signal apps leave alone (uvicorn and gunicorn workers handle INT, TERM, QUIT, HUP).
STACK_SIGNAL = signal.SIGUSR2


class OwnStackSignal:
    """The main thread's stack, read by the main thread itself when signalled.

    A Python signal handler runs between two bytecodes of the main thread: at once when it
    computes, as soon as a blocking C call (a query, a sleep) returns. The stack then names
    the line that blocked, which is all the watchdog needs."""

    def __init__(self, reader: StackReader) -> None:
        self._reader = reader
        self._latest: tuple[StackFrame, ...] | None = None
        self._requested = False
        self._previous: Any = None
        self.installed = False

    def install(self) -> None:
        """Only from the main thread, and only if the app has no handler of its own."""
        if threading.current_thread() is not threading.main_thread():
            return
        if signal.getsignal(STACK_SIGNAL) not in (signal.SIG_DFL, None):
            return
        self._previous = signal.signal(STACK_SIGNAL, self._on_signal)
        signal.siginterrupt(STACK_SIGNAL, False)  # restart interrupted system calls
        self.installed = True

    def uninstall(self) -> None:
        if self.installed:
            signal.signal(STACK_SIGNAL, self._previous)
            self.installed = False

    def request(self) -> None:
        """From the watchdog thread: ask for one stack (once until it arrives)."""
        if self.installed and not self._requested:
            self._requested = True
            signal.pthread_kill(threading.main_thread().ident or 0, STACK_SIGNAL)

    def take(self) -> tuple[StackFrame, ...] | None:
        stack, self._latest = self._latest, None
        return stack

    def _on_signal(self, _signum: int, frame: FrameType | None) -> None:
        self._latest = self._reader.read(frame)
        self._requested = False


class JobClock:
    """Times each job run on AnyIO's worker threads while installed."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._jobs = 0
        self._busy_s = 0.0
        self._restore: Callable[[], None] | None = None

    def install(self) -> None:
        import anyio.to_thread

        original = anyio.to_thread.run_sync
        timed = self._timed

        async def run_sync(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
            return await original(timed(func), *args, **kwargs)

        anyio.to_thread.run_sync = run_sync  # type: ignore[assignment]
        self._restore = lambda: setattr(anyio.to_thread, "run_sync", original)

    def uninstall(self) -> None:
        if self._restore is not None:
            self._restore()
            self._restore = None

    def stacks(self, held_at: StackFrame | None) -> tuple[SampledStack, ...]:
        """The busy time as one stack whose only frame is where jobs were held."""
        if held_at is None or not self._jobs:
            return ()
        return (SampledStack((held_at,), self._jobs, self._busy_s, 0.0),)

    def _timed(self, func: Callable[..., Any]) -> Callable[..., Any]:
        def run_timed(*args: Any) -> Any:
            started = perf_counter()
            try:
                return func(*args)
            finally:
                elapsed = perf_counter() - started
                with self._lock:
                    self._jobs += 1
                    self._busy_s += elapsed

        return run_timed

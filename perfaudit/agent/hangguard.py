"""Stop a run whose event loop is frozen by a handler.

A synchronous call inside an `async def` handler (time.sleep, a blocking socket) freezes
the loop, so no asyncio timeout can fire. This thread watches a heartbeat the driver
beats on every tick; when it stops for longer than the request timeout, the guard records
where the loop thread is stuck and interrupts it (SIGINT to the main thread, which also
breaks out of a blocking sleep), so the run ends with a report instead of hanging.
"""

from __future__ import annotations

import signal
import sys
import threading
import traceback
from time import perf_counter

from perfaudit.capture.owners import OwnerClassifier
from perfaudit.model import CodeLocation

GRACE_S = 1.0


class HangGuard:
    def __init__(self, timeout_s: float) -> None:
        self._limit = timeout_s + GRACE_S
        self._beat = perf_counter()
        self._stop = threading.Event()
        self._main = threading.main_thread().ident
        self._thread = threading.Thread(
            target=self._watch, name="perfaudit-hang-guard", daemon=True
        )
        self.location: CodeLocation | None = None
        self.stack = ""
        self.tripped = False

    def beat(self) -> None:
        self._beat = perf_counter()

    def __enter__(self) -> HangGuard:
        self._beat = perf_counter()
        # Python runs signal handlers only in the main thread, so only a loop running
        # there can be interrupted (perfaudit's CLI always runs it there).
        if threading.current_thread() is threading.main_thread():
            self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()

    def _watch(self) -> None:
        # Sleep until the heartbeat could first be overdue, not in short polls: a thread
        # waking every 0.1 s shows up in the profile of every request on 3.12.
        while True:
            remaining = self._limit - (perf_counter() - self._beat)
            if remaining <= 0:
                self._trip()
                return
            if self._stop.wait(remaining):
                return

    def _trip(self) -> None:
        frame = sys._current_frames().get(self._main or 0)
        if frame is not None:
            summary = traceback.extract_stack(frame)
            self.stack = "".join(traceback.format_list(summary[-8:])).rstrip()
            self.location = _innermost_app_frame(summary)
        self.tripped = True
        signal.pthread_kill(self._main or 0, signal.SIGINT)


def _innermost_app_frame(summary: traceback.StackSummary) -> CodeLocation | None:
    classifier = OwnerClassifier()
    for frame in reversed(summary):
        if classifier.owner(frame.filename, frame.name) == "app":
            return CodeLocation(frame.filename, frame.lineno or 0, frame.name)
    return None

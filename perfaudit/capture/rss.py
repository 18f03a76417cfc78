"""The resident memory (RSS) of live processes over a recording, read from Linux's /proc by
a thread of perfaudit's own: nothing runs in the target, and reading /proc/PID/statm needs
no ptrace and stops nothing.

`RssSampler(pid, subprocesses=...)` follows the process and, with `subprocesses`, every
process below it (gunicorn's or `uvicorn --workers`' workers), as py-spy does. From
`start()` it reads each one's RSS every `interval_s`, on a fixed grid (reading i is taken at
start + i × interval), until `stop()`, `limit_s`, or every followed process has exited. A
process that exits keeps its series up to its last reading; one that appears later (a worker
restarted) gets a series of its own from its first reading. Elsewhere than Linux there is
no /proc to read: `series()` is empty.
"""

from __future__ import annotations

import math
import os
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from perfaudit.model.samples import RssSeries

PROC = Path("/proc")
# Twice a second: 21 points over attach's default 10 s, enough for a trend, at a cost of two
# small /proc reads per followed process (and a scan of /proc with --subprocesses).
INTERVAL_S = 0.5
JOIN_TIMEOUT_S = 5.0


def rss_available(proc: Path = PROC) -> bool:
    return sys.platform.startswith("linux") and (proc / "self" / "statm").exists()


def read_rss(pid: int, proc: Path = PROC) -> int | None:
    """The process's resident memory in bytes (statm's second field, in pages: VmRSS of
    /proc/PID/status), or None when it cannot be read (gone, hidden) or is 0 (the process is
    exiting and has released its memory, or is a kernel thread)."""
    try:
        pages = int((proc / str(pid) / "statm").read_text().split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return pages * _page_size() if pages > 0 else None


@dataclass(frozen=True, slots=True)
class ProcessState:
    """What /proc/PID/stat says of a process that perfaudit needs: it is running (not a
    zombie), its parent, and its start time (with the PID, its identity: PIDs are reused)."""

    running: bool
    ppid: int
    start_ticks: int


def read_state(pid: int, proc: Path = PROC) -> ProcessState | None:
    try:
        text = (proc / str(pid) / "stat").read_text()
        # "PID (comm) STATE PPID ... STARTTIME ...": comm may hold spaces and parentheses.
        rest = text[text.rindex(")") + 1 :].split()
        return ProcessState(rest[0] not in ("Z", "X"), int(rest[1]), int(rest[19]))
    except (OSError, ValueError, IndexError):
        return None


def _page_size() -> int:
    return os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


@dataclass(slots=True)
class _Followed:
    pid: int
    start_ticks: int
    readings: list[int] = field(default_factory=list)
    last_slot: int = -1
    gone: bool = False


class RssSampler:
    """A background thread reading the RSS of `pid` (and its descendants) on a fixed grid."""

    def __init__(
        self,
        pid: int,
        *,
        subprocesses: bool = False,
        interval_s: float = INTERVAL_S,
        limit_s: float | None = None,
        proc: Path = PROC,
    ) -> None:
        self.pid, self.subprocesses, self.interval_s = pid, subprocesses, interval_s
        self.limit_s, self.proc = limit_s, proc
        self._followed: dict[tuple[int, int], _Followed] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._started_at = 0.0
        self._root_ticks: int | None = None  # the target's start time, once read

    def start(self) -> None:
        """Begin reading (once; nothing happens where there is no /proc)."""
        if self._thread is not None or self._stop.is_set() or not rss_available(self.proc):
            return
        self._started_at = time.monotonic()
        self._thread = threading.Thread(target=self._main, name="perfaudit-rss", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """End the readings (what was read is kept); safe to call again, or before start()."""
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=JOIN_TIMEOUT_S)

    def series(self) -> tuple[RssSeries, ...]:
        """Each followed process's readings, in the order they were first seen."""
        with self._lock:
            return tuple(
                RssSeries(pid=f.pid, interval_s=self.interval_s, rss_bytes=tuple(f.readings))
                for f in self._followed.values()
                if f.readings
            )

    def read_slot(self, slot: int) -> bool:
        """Reading `slot` of every followed process; False once none is left to read."""
        with self._lock:
            for key, state in self._candidates().items():
                followed = self._followed.setdefault(key, _Followed(*key))
                if followed.gone or slot <= followed.last_slot:
                    continue
                rss = read_rss(followed.pid, self.proc) if state.running else None
                if rss is None:
                    followed.gone = True
                    continue
                if followed.readings:  # a slot this thread missed (a stalled machine)
                    # repeats the reading before it, so index x interval stays the time.
                    missed = slot - followed.last_slot - 1
                    followed.readings.extend([followed.readings[-1]] * missed)
                followed.readings.append(rss)
                followed.last_slot = slot
            for followed in self._followed.values():
                if followed.last_slot < slot:  # not read now: it has exited
                    followed.gone = True
            return any(not f.gone for f in self._followed.values())

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _main(self) -> None:
        # The last slot within the limit: read even when the thread wakes after it.
        last = (
            math.floor(self.limit_s / self.interval_s + 1e-9) if self.limit_s is not None else None
        )
        next_slot = 0
        while not self._stop.is_set():
            elapsed = time.monotonic() - self._started_at
            slot = max(next_slot, math.floor(elapsed / self.interval_s))
            if last is not None:
                slot = min(slot, last)
            if not self.read_slot(slot) or slot == last:
                return  # every followed process has exited, or the limit is reached
            next_slot = slot + 1
            due = self._started_at + next_slot * self.interval_s
            if self._stop.wait(max(0.0, due - time.monotonic())):
                return

    def _candidates(self) -> dict[tuple[int, int], ProcessState]:
        """The processes to read now, by (PID, start time): the target, the followed ones
        still running, and with `subprocesses` every process below any of them. A PID
        taken by a new process after the old one exited is not the old process."""
        states: dict[int, ProcessState] = {}
        root = read_state(self.pid, self.proc)
        if root is not None and self._root_ticks in (None, root.start_ticks):
            self._root_ticks = root.start_ticks
            states[self.pid] = root
        for followed in self._followed.values():
            state = None if followed.gone else read_state(followed.pid, self.proc)
            if state is not None and state.start_ticks == followed.start_ticks:
                states[followed.pid] = state
        if self.subprocesses:
            states |= self._descendants(set(states))
        return {(pid, state.start_ticks): state for pid, state in states.items()}

    def _descendants(self, roots: set[int]) -> dict[int, ProcessState]:
        children: dict[int, list[tuple[int, ProcessState]]] = {}
        try:
            entries = [entry.name for entry in self.proc.iterdir() if entry.name.isdigit()]
        except OSError:
            return {}
        for name in entries:
            if (state := read_state(int(name), self.proc)) is not None:
                children.setdefault(state.ppid, []).append((int(name), state))
        found: dict[int, ProcessState] = {}
        todo = list(roots)
        while todo:
            for pid, state in children.get(todo.pop(), ()):
                if pid not in found and pid not in roots:
                    found[pid] = state
                    todo.append(pid)
        return found

"""What a sampling profiler (py-spy) saw in a live server: every distinct stack of every
thread of every process it followed, with how many samples landed on it.

Stacks are innermost frame first, as in SampledStack. `wall_s` of a stack is its samples
divided by the rate: with `--idle` every sample is a tick of wall clock, so the samples of
one thread add up to the recording's duration.
"""

from __future__ import annotations

from dataclasses import dataclass

from perfaudit.model.probes import SampledStack
from perfaudit.model.requests import RouteKey


@dataclass(frozen=True, slots=True)
class ThreadSamples:
    thread_id: int  # as py-spy prints it (the OS thread id, or the pthread id)
    name: str  # the thread's name when py-spy gives one, else ""
    # "loop" (runs the event loop) | "worker" (an AnyIO/threadpool worker) | "other"
    role: str
    stacks: tuple[SampledStack, ...]  # most samples first
    # The thread's samples in time order, run-length encoded: (index into `stacks`, ticks
    # in a row), -1 for ticks it was not sampled, from the recording's first tick. Only
    # formats that keep the order fill it (speedscope does, raw does not): it tells how
    # many threads were busy at once.
    timeline: tuple[tuple[int, int], ...] = ()

    @property
    def samples(self) -> int:
        return sum(stack.samples for stack in self.stacks)


@dataclass(frozen=True, slots=True)
class EndpointRoute:
    """A route of the app and the function serving it (known with `--app`), so a sampled
    stack can be named by its route."""

    route: RouteKey
    file: str  # the function's co_filename
    function: str  # its __qualname__
    line: int = 0


@dataclass(frozen=True, slots=True)
class ProcessSamples:
    pid: int
    command: str  # the command line py-spy reported for it ("" when not given)
    threads: tuple[ThreadSamples, ...]

    @property
    def samples(self) -> int:
        return sum(thread.samples for thread in self.threads)


@dataclass(frozen=True, slots=True)
class RssSeries:
    """One process's resident memory over the recording, read from /proc every
    `interval_s` from the recording's start."""

    pid: int
    interval_s: float
    rss_bytes: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class SamplingRun:
    """One py-spy recording of a process (and, with `--subprocesses`, its children)."""

    tool: str  # "py-spy 0.4.3"
    pid: int  # the process the user pointed at
    rate_hz: int
    duration_s: float  # wall clock actually recorded
    idle_included: bool  # recorded with --idle: waiting frames are in the stacks
    native: bool  # recorded with --native
    processes: tuple[ProcessSamples, ...]
    errors: int = 0  # samples py-spy failed to take
    # "" or why the recording ended before its duration ("the process exited after 4.1 s").
    ended_early: str = ""
    interrupted: bool = False  # the recording was stopped by Ctrl-C
    endpoints: tuple[EndpointRoute, ...] = ()  # the app's route table, when it was given
    # Each followed process's resident memory over the recording (Linux; empty elsewhere).
    memory: tuple[RssSeries, ...] = ()

    @property
    def samples(self) -> int:
        return sum(process.samples for process in self.processes)

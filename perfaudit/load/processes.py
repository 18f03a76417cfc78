"""Scale the load engine across processes: the GIL holds one engine process to one core,
about as much as one server worker can serve (research/loadgen.md), so `--processes N`
gives each of N processes a share of the connections, rate and request count, and merges
what they measured.

Processes are spawned, never forked: the parent may run threads (the progress display),
and a forked copy of a held lock would hang the child. Children ignore Ctrl-C; the parent
catches it and tells them to stop through an Event, so their partial results still come
back.
"""

from __future__ import annotations

import contextlib
import math
import multiprocessing
import os
import queue
import signal
import threading
import time
import traceback
from collections import Counter
from collections.abc import Iterator, MutableSequence, Sequence
from dataclasses import dataclass, replace
from itertools import chain
from multiprocessing.process import BaseProcess
from multiprocessing.synchronize import Event
from typing import Any

from perfaudit.errors import CaptureError
from perfaudit.load.engine import interrupt_flag, planned_requests, preload, run_engine
from perfaudit.load.outcome import EngineResult, TargetTally
from perfaudit.load.scenario import LoadPlan
from perfaudit.model.load import CLIENT_BOUND_SHARE
from perfaudit.progress import Progress

POLL_S = 0.05
# Spawning a child and importing aiohttp takes ~0.5 s; a child that is not ready long
# after that is stuck.
START_TIMEOUT_S = 60.0
# A child that exited leaves its result in the queue; give it this long to be read.
EXIT_GRACE_S = 2.0
JOIN_TIMEOUT_S = 10.0

Counts = MutableSequence[int]


def drive_processes(plan: LoadPlan, *, progress: Progress) -> EngineResult:
    """Drive `plan` with the aiohttp engine, in this process or across plan.processes."""
    shares = split_plan(plan)
    progress.begin(_label(plan), _planned(shares))
    try:
        if len(shares) == 1:
            result = run_engine(shares[0], on_progress=progress.advance)
        else:
            result = _run_processes(shares, progress)
    finally:
        progress.end()
    return _note_unsent(shares, result)


def auto_processes() -> int:
    """`--processes 0`: one per usable core, less one for the parent and the server."""
    if hasattr(os, "sched_getaffinity"):
        cores = len(os.sched_getaffinity(0))
    else:
        cores = os.cpu_count() or 1
    return max(1, cores - 1)


def client_bound(result: EngineResult) -> bool:
    """The engine used at least CLIENT_BOUND_SHARE of its cores, so it may have measured
    itself rather than the server (k6 asks for 20% idle)."""
    capacity = result.wall_s * result.processes
    return capacity > 0 and result.cpu_s / capacity >= CLIENT_BOUND_SHARE


def split_plan(plan: LoadPlan) -> tuple[LoadPlan, ...]:
    """One plan per process: connections split evenly, rate and request count in
    proportion to them, and no process left with nothing to do."""
    count = min(plan.processes, plan.connections, plan.requests or plan.connections)
    if count <= 1:
        return (replace(plan, processes=1),)
    connections = apportion(plan.connections, [1.0] * count)
    if plan.requests is None:
        requests: list[int | None] = [None] * count
    else:  # one each first, so no share is empty
        requests = [1 + n for n in apportion(plan.requests - count, connections)]
    return tuple(
        replace(
            plan,
            connections=c,
            rate=None if plan.rate is None else plan.rate * c / plan.connections,
            requests=r,
            processes=1,
            first_number=plan.first_number + i * plan.number_step,
            number_step=plan.number_step * count,
        )
        for i, (c, r) in enumerate(zip(connections, requests, strict=True))
    )


def apportion(total: int, weights: Sequence[float]) -> list[int]:
    """Split `total` in proportion to `weights`, in whole numbers that add up to it
    (largest remainders get the leftovers)."""
    whole = sum(weights)
    exact = [total * w / whole for w in weights]
    shares = [math.floor(x) for x in exact]
    by_remainder = sorted(range(len(exact)), key=lambda i: shares[i] - exact[i])
    for i in by_remainder[: total - sum(shares)]:
        shares[i] += 1
    return shares


def merge_results(results: Sequence[EngineResult]) -> EngineResult:
    """One result from the processes' own: samples concatenated, counts and CPU added,
    the wall time the longest process's."""
    groups = zip(*(r.tallies for r in results), strict=True)
    return EngineResult(
        engine=results[0].engine,
        client=results[0].client,
        tallies=tuple(_merge_tallies(group) for group in groups),
        wall_s=max(r.wall_s for r in results),
        cpu_s=sum(r.cpu_s for r in results),
        processes=sum(r.processes for r in results),
        late=sum(r.late for r in results),
        resolution_ms=max(r.resolution_ms for r in results),
        stopped_early=next((r.stopped_early for r in results if r.stopped_early), ""),
        notes=tuple(dict.fromkeys(chain.from_iterable(r.notes for r in results))),
        server_gone=any(r.server_gone for r in results),
        failed_after_gone=sum(r.failed_after_gone for r in results),
    )


def _merge_tallies(group: Sequence[TargetTally]) -> TargetTally:
    counts: Counter[str] = Counter()
    for tally in group:
        counts.update(tally.status_counts)
    return TargetTally(
        durations_s=tuple(chain.from_iterable(t.durations_s for t in group)),
        uncorrected_s=tuple(chain.from_iterable(t.uncorrected_s for t in group)),
        status_counts=dict(counts),
        errors=sum(t.errors for t in group),
        timeouts=sum(t.timeouts for t in group),
        error_sample=next((t.error_sample for t in group if t.error_sample), ""),
    )


def _label(plan: LoadPlan) -> str:
    what = str(plan.targets[0]) if len(plan.targets) == 1 else f"{len(plan.targets)} URLs"
    how = f"c={plan.connections}" + (f", {plan.rate:g}/s" if plan.rate is not None else "")
    return f"load      {what} ({how})"


def _planned(shares: Sequence[LoadPlan]) -> int | None:
    counts = [planned_requests(share) for share in shares]
    return None if None in counts else sum(count or 0 for count in counts)


def _note_unsent(shares: Sequence[LoadPlan], result: EngineResult) -> EngineResult:
    """Open model: scheduled requests never sent because every connection was still busy
    when time ran out. They have no latency, so they must at least be counted."""
    planned = _planned(shares)
    if shares[0].rate is None or result.stopped_early or planned is None:
        return result
    unsent = planned - sum(t.requests for t in result.tallies)
    if unsent <= 0:
        return result
    note = (
        f"{unsent} of {planned} scheduled requests were never sent: every connection was "
        "still busy when the run's time ran out (the server answered slower than --rate "
        "over -c/--connections connections)."
    )
    return replace(result, notes=(*result.notes, note))


@dataclass(frozen=True, slots=True)
class _Shared:
    """What the parent and its engine processes share: a done-count slot per child, the
    start and stop signals, and the queue results come back on."""

    counts: Counts
    go: Event
    stop: Event
    messages: multiprocessing.Queue[tuple[str, int, Any]]


class _Children:
    """The spawned engine processes, started together and always reaped."""

    def __init__(self, shares: Sequence[LoadPlan]) -> None:
        context = multiprocessing.get_context("spawn")
        self.shared = _Shared(
            counts=context.Array("q", len(shares), lock=False),
            go=context.Event(),
            stop=context.Event(),
            messages=context.Queue(),
        )
        self.processes: list[BaseProcess] = [
            context.Process(
                target=_child_main,
                args=(index, share, self.shared),
                name=f"perfaudit-load-{index}",
                daemon=True,
            )
            for index, share in enumerate(shares)
        ]

    def start(self) -> None:
        with _sigint_ignored():  # inherited through exec: a Ctrl-C while they boot
            for process in self.processes:
                process.start()

    def close(self) -> None:
        """Stop and reap every child, terminating (by handle) one that will not end."""
        self.shared.stop.set()
        self.shared.go.set()
        deadline = time.monotonic() + JOIN_TIMEOUT_S
        while any(p.is_alive() for p in self.processes) and time.monotonic() < deadline:
            self._discard_messages()  # a child exits only once its queue is flushed
            time.sleep(POLL_S)
        for process in self.processes:
            if process.is_alive():
                process.terminate()
            process.join(JOIN_TIMEOUT_S)
        self.shared.messages.close()
        self.shared.messages.join_thread()

    def _discard_messages(self) -> None:
        with contextlib.suppress(queue.Empty):
            while True:
                self.shared.messages.get_nowait()


def _run_processes(shares: Sequence[LoadPlan], progress: Progress) -> EngineResult:
    children = _Children(shares)
    children.start()
    try:
        with interrupt_flag() as interrupted:
            results = _Collector(children, progress, interrupted).collect()
    finally:
        children.close()
    return merge_results(results)


class _Collector:
    """The parent's loop: start the children together, relay progress and Ctrl-C, and
    gather their results."""

    def __init__(
        self, children: _Children, progress: Progress, interrupted: threading.Event
    ) -> None:
        self.children = children
        self.shared = children.shared
        self.expected = len(children.processes)
        self.progress = progress
        self.interrupted = interrupted
        self.ready: set[int] = set()
        self.results: dict[int, EngineResult] = {}
        self.shown = 0
        self.exited_at: dict[int, float] = {}
        self.started = time.monotonic()

    def collect(self) -> list[EngineResult]:
        while len(self.results) < self.expected:
            self._receive()
            self._relay()
            self._check_children()
        self._relay()
        return [self.results[index] for index in sorted(self.results)]

    def _receive(self) -> None:
        try:
            kind, index, payload = self.shared.messages.get(timeout=POLL_S)
        except queue.Empty:
            return
        if kind == "failed":
            raise CaptureError(
                f"Load engine process {index} failed.",
                remedy="This is a perfaudit bug; please report it with the details below.",
                details=str(payload),
            )
        if kind == "ready":
            self.ready.add(index)
            if len(self.ready) == self.expected:
                self.shared.go.set()  # all start together, after their imports
        else:
            self.results[index] = payload

    def _relay(self) -> None:
        if self.interrupted.is_set():
            self.shared.stop.set()
            self.shared.go.set()
        done = sum(self.shared.counts)
        if done > self.shown:
            self.progress.advance(done - self.shown)
            self.shown = done

    def _check_children(self) -> None:
        now = time.monotonic()
        if len(self.ready) < self.expected and now - self.started > START_TIMEOUT_S:
            raise CaptureError(
                f"Load engine processes did not start in {START_TIMEOUT_S:.0f} s.",
                remedy="Pass --processes 1, or check the machine's load.",
            )
        for index, process in enumerate(self.children.processes):
            if index in self.results or process.exitcode is None:
                continue
            since = self.exited_at.setdefault(index, now)
            if now - since > EXIT_GRACE_S:
                raise CaptureError(
                    f"Load engine process {index} died (exit code {process.exitcode}).",
                    remedy="Pass --processes 1, or check the machine's memory.",
                )


def _child_main(index: int, plan: LoadPlan, shared: _Shared) -> None:
    """One engine process: ready as soon as imported, started by the parent's `go`."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        preload()  # before "ready", so the children start together
        shared.messages.put(("ready", index, None))
        if not shared.go.wait(START_TIMEOUT_S):
            return  # the parent gave up on us (or died): send no load on our own

        def advance(count: int) -> None:
            shared.counts[index] += count

        result = run_engine(plan, on_progress=advance, stop_flag=shared.stop)
        shared.messages.put(("done", index, result))
    except BaseException:
        shared.messages.put(("failed", index, traceback.format_exc()))


@contextlib.contextmanager
def _sigint_ignored() -> Iterator[None]:
    """SIGINT ignored while children start, so they are born ignoring it (a spawned
    Python keeps an inherited SIG_IGN) before their own code can say so."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler if previous is None else previous)

"""What the samples say about concurrency: how much of the recording the event loop spent
inside the app's code (and where), and how many threadpool workers were busy at once."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from perfaudit.analysis.blocking import BlockingSite, innermost_app_frame, stack_sites
from perfaudit.analysis.paths import display_path
from perfaudit.analysis.sampling.routes import route_names
from perfaudit.analysis.sampling.stacks import (
    APP,
    ThreadActivity,
    app_stacks,
    read_stack,
    thread_activity,
)
from perfaudit.model import (
    ProcessSamples,
    RouteKey,
    RouteProfile,
    SampledStack,
    SamplingRun,
    Session,
    StackFrame,
    ThreadSamples,
)

# A site matters when the loop was in it this share of the recording (blocking.MIN_SHARE's
# bar, the watchdog's), over enough samples to be more than a chance tick.
MIN_SHARE = 0.15
MIN_SAMPLES = 5
SHOWN_FRAMES = 8


@dataclass(frozen=True, slots=True)
class SampledBlocking:
    """An app function the event loop was inside, and for how much of the recording."""

    route: RouteKey
    site: BlockingSite
    share: float  # of the loop thread's samples: the recording's wall clock
    loop_samples: int
    loop_app_share: float  # the loop inside any of the app's code
    stack: str  # the heaviest stack there, from the framework's call inward
    ms_per_request: float | None  # when the requests served meanwhile are known


def loops(run: SamplingRun) -> Iterator[tuple[ProcessSamples, ThreadSamples]]:
    for process in run.processes:
        for thread in process.threads:
            if thread.role == "loop":
                yield process, thread


def loop_activity(run: SamplingRun) -> list[ThreadActivity]:
    """Each process's event loop thread: idle, in the app's code, or serving (parsing,
    routing, serialising)."""
    return [thread_activity(thread) for _, thread in loops(run)]


def loop_blocking(session: Session) -> list[SampledBlocking]:
    """Sites where the event loop ran the app's code long enough to matter (every process's
    loop pooled: gunicorn's workers serve the same app)."""
    run = session.sampling
    if run is None:
        return []
    threads = [thread for _, thread in loops(run)]
    activities = loop_activity(run)
    total = sum(a.samples for a in activities)
    app_share = sum(a.app for a in activities) / total if total else 0.0
    profiles = {p.route: p for p in session.profiles}
    found = []
    for route, stacks in _loop_stacks_by_route(run, threads, session.app_root).items():
        for site in stack_sites(stacks, profiles.get(route), session.app_root):
            if site.samples >= MIN_SAMPLES and site.samples / total >= MIN_SHARE:
                found.append(
                    SampledBlocking(
                        route,
                        site,
                        site.samples / total,
                        total,
                        app_share,
                        _stack_text(stacks, site, session.app_root),
                        _ms_per_request(site, profiles.get(route), run.rate_hz),
                    )
                )
    return sorted(found, key=lambda b: b.share, reverse=True)


def _loop_stacks_by_route(
    run: SamplingRun, threads: Iterable[ThreadSamples], app_root: str
) -> dict[RouteKey, list[SampledStack]]:
    names = route_names(run, app_root)
    found: dict[RouteKey, list[SampledStack]] = defaultdict(list)
    for thread in threads:
        for stack, work in app_stacks(thread):
            if work.entry is not None:
                found[names.route(work.entry)].append(stack)
    return found


def _ms_per_request(site: BlockingSite, profile: RouteProfile | None, rate_hz: int) -> float | None:
    if profile is None or profile.requests <= 0:
        return None
    return site.samples / rate_hz / profile.requests * 1000


def _stack_text(stacks: list[SampledStack], site: BlockingSite, app_root: str) -> str:
    """The heaviest stack through the site, outermost first, from the frame that called the
    app inward: "run_endpoint_function (fastapi/routing.py:381) → sleep_async (app.py:10)"."""
    through = [s for s in stacks if _site_of(s, app_root) == (site.file, site.function)]
    frames = max(through or stacks, key=lambda s: s.samples).frames
    outer_app = max(i for i, f in enumerate(frames) if f.owner == "app")
    shown = frames[: outer_app + 2][:SHOWN_FRAMES]
    return " → ".join(
        f"{f.function} ({display_path(f.file, app_root)}:{f.line})" for f in reversed(shown)
    )


def _site_of(stack: SampledStack, app_root: str) -> tuple[str, str] | None:
    index = innermost_app_frame(stack.frames)
    if index is None:
        return None
    frame = stack.frames[index]
    return display_path(frame.file, app_root), frame.function


# AnyIO's default limiter: FastAPI runs `def` endpoints and dependencies under it.
DEFAULT_TOKENS = 40


@dataclass(frozen=True, slots=True)
class WorkerLoad:
    """One process's threadpool workers: how many, and how many were busy in the app's
    code at once."""

    pid: int
    threads: int  # worker threads seen (AnyIO starts them as needed, up to its limit)
    ticks: int  # samples of the recording (one per tick per thread, with --idle)
    busy_samples: int  # worker samples inside the app's code
    # Ticks at which k workers were busy at once (empty when the format kept no order).
    busy_at_once: dict[int, int]
    held_at: StackFrame | None  # where the heaviest busy stack was, innermost app frame
    route: RouteKey | None  # the route of that stack

    @property
    def mean_busy(self) -> float:
        return self.busy_samples / self.ticks if self.ticks else 0.0

    def share_at_least(self, busy: int) -> float | None:
        """Share of the ticks with at least `busy` workers busy; None without timelines."""
        if not self.busy_at_once or not self.ticks:
            return None
        return sum(t for k, t in self.busy_at_once.items() if k >= busy) / self.ticks


def worker_load(run: SamplingRun, app_root: str) -> list[WorkerLoad]:
    names = route_names(run, app_root)
    found = []
    for process in run.processes:
        workers = [t for t in process.threads if t.role == "worker"]
        if not workers:
            continue
        busy = [(stack, work) for t in workers for stack, work in app_stacks(t)]
        heaviest = max(busy, key=lambda pair: pair[0].samples, default=None)
        held = innermost_app_frame(heaviest[0].frames) if heaviest else None
        found.append(
            WorkerLoad(
                pid=process.pid,
                threads=len(workers),
                ticks=_ticks(process),
                busy_samples=sum(stack.samples for stack, _ in busy),
                busy_at_once=_busy_at_once(workers),
                held_at=heaviest[0].frames[held] if heaviest and held is not None else None,
                route=names.route(heaviest[1].entry) if heaviest and heaviest[1].entry else None,
            )
        )
    return found


def _ticks(process: ProcessSamples) -> int:
    """The recording's ticks: with --idle every thread alive throughout has one sample
    at each."""
    return max(t.samples for t in process.threads)


def _busy_at_once(workers: list[ThreadSamples]) -> dict[int, int]:
    per_tick: Counter[int] = Counter()
    for thread in workers:
        busy = [read_stack(stack, thread.role).activity == APP for stack in thread.stacks]
        tick = 0
        for index, length in thread.timeline:
            if index >= 0 and busy[index]:
                per_tick.update(range(tick, tick + length))
            tick += length
    if not any(thread.timeline for thread in workers):
        return {}
    ticks = max(sum(length for _, length in t.timeline) for t in workers)
    histogram = Counter(per_tick[tick] for tick in range(ticks))
    return dict(sorted(histogram.items()))

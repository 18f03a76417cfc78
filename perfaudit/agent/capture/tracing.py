"""The tracing collector: cProfile, on every thread that runs request code.

On Python 3.12+ one cProfile.Profile sees every thread (it sits on sys.monitoring) and a
second one cannot be enabled. On 3.11 a profiler sees only the thread that enabled it, so
the collector also profiles each job FastAPI hands to AnyIO's worker threads (sync `def`
endpoints and dependencies) and each thread started while it runs.
"""

from __future__ import annotations

import cProfile
import inspect
import sys
import threading
from collections.abc import Callable
from typing import Any

from perfaudit.agent.capture.signatures import parameters
from perfaudit.capture.owners import OwnerClassifier
from perfaudit.model import CallerStats, FunctionId, FunctionStats

Key = tuple[str, int, str]  # pstats': (file, first line, name)
RawStats = dict[Key, tuple[int, int, float, float, dict[Any, Any]]]
PROFILER_SEES_ALL_THREADS = sys.version_info >= (3, 12)
# Code that suspends and resumes: cProfile counts every resumption as a call.
RESUMABLE = (
    inspect.CO_COROUTINE
    | inspect.CO_ITERABLE_COROUTINE
    | inspect.CO_ASYNC_GENERATOR
    | inspect.CO_GENERATOR
)


class TracingCollector:
    name = "cprofile"

    def __init__(self) -> None:
        self._main = cProfile.Profile()
        self._thread_profiles: list[cProfile.Profile] = []
        self._lock = threading.Lock()
        self._local = threading.local()
        self._restore: list[Callable[[], None]] = []
        self.resumable: frozenset[Key] = frozenset()  # known after stop()

    def start(self) -> None:
        if not PROFILER_SEES_ALL_THREADS:
            self._hook_threads()
        self._main.enable()

    def stop(self) -> RawStats:
        self._main.disable()
        for restore in reversed(self._restore):
            restore()
        self._restore.clear()
        profiles = [self._main, *self._thread_profiles]
        self.resumable = resumable_functions(profiles)
        return merge_stats(profiles)

    def _thread_profile(self) -> cProfile.Profile:
        profile: cProfile.Profile | None = getattr(self._local, "profile", None)
        if profile is None:
            profile = self._local.profile = cProfile.Profile()
            with self._lock:
                self._thread_profiles.append(profile)
        return profile

    def _traced(self, func: Callable[..., Any]) -> Callable[..., Any]:
        def run_traced(*args: Any) -> Any:
            profile = self._thread_profile()
            profile.enable()
            try:
                return func(*args)
            finally:
                profile.disable()

        return run_traced

    def _hook_threads(self) -> None:
        import anyio.to_thread

        original = anyio.to_thread.run_sync
        traced = self._traced

        async def run_sync(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
            return await original(traced(func), *args, **kwargs)

        anyio.to_thread.run_sync = run_sync  # type: ignore[assignment]
        self._restore.append(lambda: setattr(anyio.to_thread, "run_sync", original))

        def on_new_thread(*_: Any) -> None:
            self._thread_profile().enable()

        threading.setprofile(on_new_thread)
        self._restore.append(lambda: threading.setprofile(None))


def merge_stats(profiles: list[cProfile.Profile]) -> RawStats:
    """Sum pstats-shaped records of several profilers (one per thread on 3.11)."""
    merged: RawStats = {}
    for profile in profiles:
        profile.create_stats()
        stats: RawStats = getattr(profile, "stats")  # noqa: B009 - set by create_stats, untyped
        for key, (cc, nc, tt, ct, callers) in stats.items():
            if key not in merged:
                merged[key] = (cc, nc, tt, ct, dict(callers))
                continue
            mcc, mnc, mtt, mct, mcallers = merged[key]
            for caller, edge in callers.items():
                old = mcallers.get(caller)
                mcallers[caller] = (
                    edge if old is None else tuple(a + b for a, b in zip(old, edge, strict=True))
                )
            merged[key] = (mcc + cc, mnc + nc, mtt + tt, mct + ct, mcallers)
    return merged


def resumable_functions(profiles: list[cProfile.Profile]) -> frozenset[Key]:
    """The profiled coroutines and generators, by pstats key (the code objects tell)."""
    return frozenset(
        cProfile.label(entry.code)
        for profile in profiles
        for entry in profile.getstats()
        if not isinstance(entry.code, str) and entry.code.co_flags & RESUMABLE
    )


def to_function_stats(
    raw: RawStats, classifier: OwnerClassifier, resumable: frozenset[Key] = frozenset()
) -> tuple[FunctionStats, ...]:
    stats = []
    for key, (cc, nc, tt, ct, callers) in raw.items():
        owner = classifier.owner(key[0], key[2])
        stats.append(
            FunctionStats(
                function=FunctionId(*key),
                owner=owner,
                calls=nc,
                primitive_calls=cc,
                self_s=tt,
                cumulative_s=ct,
                callers=tuple(_caller_stats(caller, edge) for caller, edge in callers.items()),
                params=parameters(*key) if owner == "app" else (),
                resumable=key in resumable,
            )
        )
    return tuple(stats)


def _caller_stats(caller: tuple[str, int, str], edge: Any) -> CallerStats:
    if isinstance(edge, tuple):
        nc, cc, tt, ct = edge
    else:  # pstats keeps a bare call count for some callers
        nc, cc, tt, ct = edge, edge, 0.0, 0.0
    return CallerStats(
        FunctionId(*caller), calls=nc, primitive_calls=cc, self_s=tt, cumulative_s=ct
    )

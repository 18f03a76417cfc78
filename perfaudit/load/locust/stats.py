"""Locust's JSON statistics and the generated locustfile's sidecar, read into one
TargetTally per target and the run's EngineResult; with what they are read against: how
Locust was started (LocustRun) and how it ended (LocustExit).

Locust rounds every response time to about two significant digits of a millisecond
before it counts it, so durations here are only as exact as `resolution_ms`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from perfaudit.load.locust.locustfile import request_name
from perfaudit.load.outcome import EngineResult, TargetTally
from perfaudit.load.scenario import LoadPlan
from perfaudit.model import INTERRUPTED

ROUNDING_NOTE = (
    "Locust rounds response times to about two significant digits before counting them "
    "(whole ms below 100 ms, 10 ms below 1 s, 100 ms below 10 s), so sub-millisecond "
    "latencies show as 0 or 1 ms."
)
OPEN_MODEL_NOTE = (
    "Locust paces each user on its own (constant_throughput) and does not correct for "
    "coordinated omission: latencies run from each request's actual send, so time spent "
    "waiting behind a slow server is not counted."
)
EXCEPTION_KINDS = {
    "ConnectionRefusedError": "refused",
    "ConnectionResetError": "reset",
    "ConnectionAbortedError": "reset",
    "BrokenPipeError": "reset",
    "HTTPConnectionClosed": "reset",  # geventhttpclient: the server closed mid-response
    "TimeoutError": "timeout",  # socket.timeout
    "Timeout": "timeout",  # gevent.Timeout
    "gaierror": "dns",
}


@dataclass(frozen=True, slots=True)
class LocustRun:
    """How Locust is started: this machine's processes, or a master for remote workers."""

    processes: int = 1
    master: bool = False
    expect_workers: int = 0
    bind_host: str = "127.0.0.1"
    bind_port: int = 5557

    @property
    def shares(self) -> int:
        """The load processes a request count is split over."""
        return self.expect_workers if self.master else self.processes


def tallies_from_stats(
    plan: LoadPlan, stats: Sequence[Mapping[str, Any]], extra: Mapping[str, Any] | None
) -> tuple[TargetTally, ...]:
    """One TargetTally per target, in plan order, from Locust's JSON statistics and the
    generated locustfile's sidecar (`extra`; None when it was not written)."""
    entries = {str(entry.get("name")): entry for entry in stats}
    tallies = []
    for index, target in enumerate(plan.targets):
        name = request_name(index, target)
        tallies.append(_tally(entries.get(name, {}), _part(extra, name)))
    return tuple(tallies)


@dataclass(frozen=True, slots=True)
class _Part:
    """The sidecar's facts about one request name."""

    outcomes: Mapping[str, int] | None
    lost_ms: Mapping[str, int]
    sample: str


def _part(extra: Mapping[str, Any] | None, name: str) -> _Part:
    if extra is None:
        return _Part(None, {}, "")
    return _Part(
        outcomes=extra.get("outcomes", {}).get(name, {}),
        lost_ms=extra.get("lost_ms", {}).get(name, {}),
        sample=str(extra.get("samples", {}).get(name, "")),
    )


def _tally(entry: Mapping[str, Any], part: _Part) -> TargetTally:
    statuses = _statuses(entry, part.outcomes)
    return TargetTally(
        durations_s=_durations(entry.get("response_times", {}), part.lost_ms),
        status_counts=statuses,
        errors=sum(n for key, n in statuses.items() if _is_failure(key)),
        timeouts=statuses.get("timeout", 0),
        error_sample=_sample_text(part.sample),
    )


def _durations(histogram: Mapping[str, int], lost_ms: Mapping[str, int]) -> tuple[float, ...]:
    """Locust's histogram ({ms: count}) as seconds, one per request that got a response:
    Locust also counts the time-to-failure of requests that got none (`lost_ms`)."""
    counts = {int(key): n for key, n in histogram.items()}
    for key, n in lost_ms.items():
        counts[int(key)] = counts.get(int(key), 0) - n
    durations: list[float] = []
    for ms in sorted(counts):
        durations.extend([ms / 1000] * max(0, counts[ms]))
    return tuple(durations)


def _statuses(entry: Mapping[str, Any], outcomes: Mapping[str, int] | None) -> dict[str, int]:
    """Status codes and transport failure kinds. Without the sidecar, Locust's own counts
    only say succeeded ("2xx") or failed ("other")."""
    counts: dict[str, int] = {}
    if outcomes is None:
        failed = int(entry.get("num_failures", 0))
        ok = int(entry.get("num_requests", 0)) - failed
        pairs = [("2xx", ok), ("other", failed)]
    else:
        pairs = [(_kind(key), int(n)) for key, n in outcomes.items()]
    for key, n in pairs:
        if n > 0:
            counts[key] = counts.get(key, 0) + n
    return counts


def _kind(key: str) -> str:
    """An outcome key from the locustfile: a status code, or "exc:" and an exception's
    class name, mapped to outcome.TRANSPORT_ERRORS."""
    if not key.startswith("exc:"):
        return key
    name = key.removeprefix("exc:")
    return EXCEPTION_KINDS.get(name) or ("tls" if "SSL" in name else "other")


def _is_failure(key: str) -> bool:
    if key.isdigit():
        return int(key) >= 400
    return key != "2xx"


def _sample_text(sample: str) -> str:
    """ "HTTP 503" → "HTTP 503 Service Unavailable", as the aiohttp engine words it."""
    head, _, code = sample.partition(" ")
    if head == "HTTP" and code.isdigit():
        with contextlib.suppress(ValueError):
            return f"{sample} {HTTPStatus(int(code)).phrase}"
    return sample


@dataclass(frozen=True, slots=True)
class LocustExit:
    """How the Locust process ended."""

    code: int
    interrupted: bool = False
    log_tail: str = ""  # its last lines of output


def engine_result(
    plan: LoadPlan,
    stats: Sequence[Mapping[str, Any]],
    extra: Mapping[str, Any] | None,
    *,
    setup: LocustRun,
    cpu_s: float,
    ended: LocustExit,
) -> EngineResult:
    """The EngineResult for Locust's JSON statistics and the locustfile's sidecar.
    `cpu_s`: Locust's CPU measured from outside (start-up included), for when the sidecar,
    which counts from the test's start in every process, is missing."""
    return EngineResult(
        engine="locust",
        client="locust FastHttpUser",
        tallies=tallies_from_stats(plan, stats, extra),
        wall_s=_wall_s(stats, extra),
        cpu_s=float((extra or {}).get("cpu_s", cpu_s)),
        processes=setup.shares,
        resolution_ms=_resolution_ms(stats),
        stopped_early=INTERRUPTED if ended.interrupted else "",
        notes=(*_notes(plan, setup, extra is None and bool(stats)), *_exit_notes(ended)),
    )


def _wall_s(stats: Sequence[Mapping[str, Any]], extra: Mapping[str, Any] | None) -> float:
    """From the test's start (the sidecar's; else Locust's first entry's, which is the
    first *response*) to the last response."""
    last = [e["last_request_timestamp"] for e in stats if e.get("last_request_timestamp")]
    if not last:
        return 0.0
    started = (extra or {}).get("started_at") or min(e["start_time"] for e in stats)
    return max(0.0, float(max(last)) - float(started))


def _resolution_ms(stats: Sequence[Mapping[str, Any]]) -> float:
    """The coarsest rounding step among the response times Locust kept (its buckets:
    1 ms below 100 ms, 10 ms below 1 s, 100 ms below 10 s, then 1 s)."""
    keys = [int(ms) for e in stats for ms in e.get("response_times", {})]
    top = max(keys, default=0)
    return next((step for limit, step in _STEPS if top < limit), 1000.0)


_STEPS = ((100, 1.0), (1000, 10.0), (10000, 100.0))


def _notes(plan: LoadPlan, setup: LocustRun, sidecar_missing: bool) -> list[str]:
    notes = [ROUNDING_NOTE]
    if plan.rate is not None:
        notes.append(OPEN_MODEL_NOTE)
    if sidecar_missing:
        notes.append(
            "The locustfile's status counts are missing: successes are counted as 2xx "
            "and failures as other."
        )
        if setup.master:
            notes.append("CPU time is the Locust master's only; its workers' is not known.")
    return notes


def _exit_notes(ended: LocustExit) -> list[str]:
    if ended.code == 0 or ended.interrupted:
        return []
    last = ended.log_tail.splitlines()[-1:]
    return [f"Locust exited with code {ended.code}" + (f": {last[0]}" if last else ".")]

"""What a load engine measured, per target and overall: raw facts, no statistics.

Every engine (the built-in one, Locust) returns an EngineResult; its tallies are
in the plan's target order. Status keys are HTTP status codes as strings ("200", "503")
and transport failures by kind: "refused", "reset", "timeout", "dns", "tls", "other".
"""

from __future__ import annotations

from dataclasses import dataclass, field

TRANSPORT_ERRORS = ("refused", "reset", "timeout", "dns", "tls", "other")


@dataclass(frozen=True, slots=True)
class TargetTally:
    # One per request that got a response (any status). Open model: from the request's
    # intended send time; closed model: from its actual send.
    durations_s: tuple[float, ...]
    # Open model only: the same requests, from their actual send (what a naive client
    # reports); () for the closed model.
    uncorrected_s: tuple[float, ...] = ()
    status_counts: dict[str, int] = field(default_factory=dict)
    errors: int = 0  # transport failures plus responses with status >= 400
    timeouts: int = 0
    error_sample: str = ""  # one failure's message, as an example

    @property
    def requests(self) -> int:
        return sum(self.status_counts.values())


@dataclass(frozen=True, slots=True)
class EngineResult:
    engine: str  # "builtin" | "locust"
    client: str  # what sent the requests: "perfaudit http/1.1", "aiohttp", "locust FastHttpUser"
    tallies: tuple[TargetTally, ...]  # one per plan target, in the plan's order
    wall_s: float  # from the first request due to the last response
    cpu_s: float  # CPU time the engine itself used, all its processes together
    processes: int
    # Open model: requests sent more than LATE_AFTER_S after their intended time, because
    # every connection was busy (the server could not keep up) or the engine was.
    late: int = 0
    # Percentile resolution when the engine does not keep raw samples (Locust rounds to
    # whole milliseconds below 100 ms), else 0.
    resolution_ms: float = 0.0
    stopped_early: str = ""  # "" or why the run ended before its duration/count
    notes: tuple[str, ...] = ()
    server_gone: bool = False  # it ended because the server stopped answering …
    # … and these requests, failed since its last answer, are left out of the tallies.
    failed_after_gone: int = 0

"""How `perfaudit load` drove a live server: the engine, the load model and the engine's
own cost, so a reader can tell the server's limit from the client's."""

from __future__ import annotations

from dataclasses import dataclass

# A load engine using this share of its cores measures itself as much as the server
# (k6 asks for 20% idle; Locust warns at 90%).
CLIENT_BOUND_SHARE = 0.8


@dataclass(frozen=True, slots=True)
class LoadSummary:
    engine: str  # "builtin" | "locust"
    client: str  # "perfaudit http/1.1" | "aiohttp" | "locust FastHttpUser"
    model: str  # "closed" (connections) | "open" (a fixed arrival rate)
    connections: int
    rate: float | None  # open model: the requests per second asked for
    processes: int
    wall_s: float
    client_cpu_s: float  # CPU the engine used, all its processes together
    # Open model: requests sent late because every connection was busy.
    late: int = 0
    # 0 when latencies are exact; Locust's rounding (1 ms below 100 ms) otherwise.
    resolution_ms: float = 0.0

    @property
    def client_cpu_share(self) -> float:
        """The engine's CPU as a share of the cores it had (1.0: every process saturated)."""
        capacity = self.wall_s * self.processes
        return self.client_cpu_s / capacity if capacity > 0 else 0.0

    @property
    def client_bound(self) -> bool:
        return self.client_cpu_share >= CLIENT_BOUND_SHARE

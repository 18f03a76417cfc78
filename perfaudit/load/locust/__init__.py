"""The Locust engine: `perfaudit load --engine locust`, for load from many machines
(Locust's master/worker mode) or for teams that already run Locust. Locust is never
imported (it monkey-patches the process with gevent): `runner` runs it as a subprocess on
the locustfile `locustfile` generates, and `stats` reads the statistics it writes back
into an EngineResult."""

from perfaudit.load.locust.locustfile import locustfile_for, task_weights
from perfaudit.load.locust.runner import locust_command, run_locust
from perfaudit.load.locust.stats import (
    LocustExit,
    LocustRun,
    engine_result,
    tallies_from_stats,
)

__all__ = [
    "LocustExit",
    "LocustRun",
    "engine_result",
    "locust_command",
    "locustfile_for",
    "run_locust",
    "tallies_from_stats",
    "task_weights",
]

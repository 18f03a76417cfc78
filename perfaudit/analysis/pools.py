"""How much of a route's time under load went to waiting for a database connection: read
by connection-pool-saturation, and by threadpool-saturation, which must not advise more
threads when the threads are waiting on a pool."""

from __future__ import annotations

from perfaudit.model import PoolEvidence, RouteProbe

# Share of the route's request time under the probe's load spent waiting for a connection
# from which the pool, not the threads or the work, is what requests queue for.
MIN_WAIT_SHARE = 0.1


def pool_wait_share(probe: RouteProbe, pool: PoolEvidence) -> float:
    """Of all the time the probe's requests took, the share spent waiting for `pool`. Its
    clients were busy the whole phase (a closed loop): requests still in flight at its end,
    which no duration counts, took their time too."""
    busy_s = max(sum(probe.durations_s), probe.wall_s * probe.concurrency)
    return min(pool.wait_s / busy_s, 1.0) if busy_s > 0 else 0.0


def waits_on_a_pool(probe: RouteProbe) -> bool:
    return any(pool_wait_share(probe, pool) >= MIN_WAIT_SHARE for pool in probe.pools)


# CPU seconds the app's process spent per second under the probe's load, from which the
# CPU, not the pool, is what limits the route: requests then hold connections longer only
# because they share the CPU, and a bigger pool would not serve more of them.
CPU_BOUND = 0.7


def cpu_bound(probe: RouteProbe) -> bool:
    """The route's own CPU per request (one at a time) times its throughput under load
    nearly fills a core."""
    requests = len(probe.single_durations_s)
    if probe.single_cpu_s is None or not requests:
        return False
    return probe.single_cpu_s / requests * probe.throughput_rps >= CPU_BOUND

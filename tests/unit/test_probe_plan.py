"""How hard the probe phase pushes a route."""

from __future__ import annotations

import re

from perfaudit.agent.probe_phase import MAX_SECONDS, MIN_CONCURRENCY, plan_probe
from perfaudit.agent.routes import RouteInfo


def route(*, threaded: bool) -> RouteInfo:
    return RouteInfo(
        methods=frozenset({"GET"}),
        template="/x",
        pattern=re.compile("^/x$"),
        endpoint="x",
        endpoint_async=not threaded,
        uses_threadpool=threaded,
    )


def test_pushes_above_the_users_concurrency() -> None:
    assert plan_probe(1, route(threaded=False), 0.001, 40).concurrency == MIN_CONCURRENCY
    assert plan_probe(100, route(threaded=False), 0.001, 40).concurrency == 100


def test_pushes_threadpool_routes_past_the_limiter() -> None:
    assert plan_probe(1, route(threaded=True), 0.03, 40).concurrency == 60
    assert plan_probe(1, route(threaded=True), 0.03, 100).concurrency == 150


def test_slow_routes_are_pushed_only_as_hard_as_can_drain_in_time() -> None:
    """A route that may block the loop for 0.5 s runs its in-flight requests one after
    another: 100 of them would take 50 s to drain."""
    plan = plan_probe(100, route(threaded=False), 0.5, 40)
    assert plan.concurrency * 0.5 <= MAX_SECONDS
    assert plan.concurrency >= 2
    threaded = plan_probe(1, route(threaded=True), 1.0, 40)
    assert threaded.concurrency * 1.0 / 40 <= MAX_SECONDS

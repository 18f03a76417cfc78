"""Budgets: each limit is one check, a route's own budget wins over the global one, and a
failure says what was measured against what."""

from __future__ import annotations

from unit_builders import measurement, session

from perfaudit.analysis.findings import Finding, Severity
from perfaudit.analysis.report import RouteSummary, build_report
from perfaudit.analysis.verdict import Check
from perfaudit.ci.budgets import findings_check, route_checks
from perfaudit.config import Budget, Budgets, RouteBudget
from perfaudit.model import RouteKey

ORDERS = RouteKey("GET", "/orders/{order_id}")


def summary(durations_ms: list[float], *, errors: int = 0) -> RouteSummary:
    measured = measurement(ORDERS, durations_ms=durations_ms, errors=errors)
    (route,) = build_report(session(measurements=[measured])).routes
    return route


def by_name(checks: list[Check]) -> dict[str, Check]:
    return {check.name: check for check in checks}


def test_each_latency_limit_is_a_check_with_its_measured_value() -> None:
    route = summary([10.0] * 90 + [100.0] * 10)
    checks = by_name(route_checks("browse", route, Budget(p50_ms=20, p95_ms=50)))
    p50 = checks["GET /orders/{order_id} p50 ≤ 20 ms"]
    p95 = checks["GET /orders/{order_id} p95 ≤ 50 ms"]
    assert p50.passed and p50.measured == "10.0 ms"
    assert not p95.passed
    assert p95.measured == "100.0 ms" and p95.limit == "≤ 50 ms"
    assert "2.00× its budget" in p95.detail


def test_error_rate_and_throughput() -> None:
    route = summary([10.0] * 100, errors=5)
    checks = route_checks("browse", route, Budget(max_error_rate=0.01, min_rps=1e9))
    errors, rps = sorted(checks, key=lambda c: c.kind)[::-1]
    assert (errors.kind, errors.passed, errors.measured) == ("errors", False, "5.0% (5 of 100)")
    assert (rps.kind, rps.passed) == ("budget", False)


def test_a_route_budget_wins_over_the_global_one_key_by_key() -> None:
    own = RouteBudget(route=str(ORDERS), budget=Budget(p95_ms=50))
    budgets = Budgets(overall=Budget(p95_ms=200, min_rps=5), routes=(own,))
    route = summary([10.0] * 100)
    names = {check.name for check in route_checks("browse", route, budgets.for_route(str(ORDERS)))}
    assert names == {"GET /orders/{order_id} p95 ≤ 50 ms", "GET /orders/{order_id} ≥ 5 requests/s"}


def test_findings_gate_names_the_worst_finding() -> None:
    def finding(severity: Severity, rule: str) -> Finding:
        return Finding(rule, severity, "Something is slow", "GET /x", None, {}, "Fix it.")

    ok = findings_check("browse", [finding(Severity.LOW, "cpu-hotspot")], Severity.MEDIUM)
    bad = findings_check(
        "browse",
        [finding(Severity.HIGH, "event-loop-blocked"), finding(Severity.LOW, "cpu-hotspot")],
        Severity.MEDIUM,
    )
    assert ok.passed and ok.measured == "low: cpu-hotspot"
    assert not bad.passed and bad.measured == "high: event-loop-blocked"
    assert bad.detail == "event-loop-blocked in GET /x: Something is slow."
    assert findings_check("browse", [], Severity.INFO).measured == "none"

"""Budgets: the limits a scenario's report is held to, one Check each.

A route's own budget wins key by key over the global one; global latency and throughput
limits apply to every route, the error rate to each route, and `max_severity` to the
findings the config does not ignore.
"""

from __future__ import annotations

from collections.abc import Sequence

from perfaudit.analysis.findings import Finding, Severity
from perfaudit.analysis.report import RouteSummary
from perfaudit.analysis.stats import LatencySummary
from perfaudit.analysis.verdict import Check
from perfaudit.config import Budget, RouteBudget


def route_checks(scenario: str, route: RouteSummary, budget: Budget) -> list[Check]:
    """Every limit `budget` sets (the route's own over the global ones), for one route."""
    checks = [
        _latency_check(scenario, route, key, limit, route.latency_ms)
        for key, limit in budget.latency_limits()
    ]
    if budget.min_rps is not None:
        checks.append(_rps_check(scenario, route, budget.min_rps))
    if budget.max_error_rate is not None:
        checks.append(_error_check(scenario, route, budget.max_error_rate))
    return checks


def _latency_check(
    scenario: str, route: RouteSummary, key: str, limit: float, latency: LatencySummary | None
) -> Check:
    label = key.removesuffix("_ms")  # "p95_ms" limits LatencySummary.p95
    name = f"{route.label} {label} ≤ {limit:g} ms"
    if latency is None:
        return Check(
            scenario,
            name,
            "budget",
            route.label,
            False,
            "no successful request",
            f"≤ {limit:g} ms",
            "The route answered nothing to measure.",
        )
    value = float(getattr(latency, label))
    passed = value <= limit
    detail = "" if passed else f"{label} is {value / limit:.2f}× its budget."
    return Check(
        scenario, name, "budget", route.label, passed, f"{value:.1f} ms", f"≤ {limit:g} ms", detail
    )


def _rps_check(scenario: str, route: RouteSummary, limit: float) -> Check:
    value = route.throughput_rps
    passed = value >= limit
    detail = "" if passed else f"{value:.1f} requests/s is below the {limit:g} asked for."
    return Check(
        scenario,
        f"{route.label} ≥ {limit:g} requests/s",
        "budget",
        route.label,
        passed,
        f"{value:,.1f} req/s",
        f"≥ {limit:g} req/s",
        detail,
    )


def _error_check(scenario: str, route: RouteSummary, limit: float) -> Check:
    rate = route.errors / route.requests if route.requests else 1.0
    passed = rate <= limit
    detail = "" if passed else _error_detail(route)
    return Check(
        scenario,
        f"{route.label} error rate ≤ {limit:.1%}",
        "errors",
        route.label,
        passed,
        f"{rate:.1%} ({route.errors} of {route.requests})",
        f"≤ {limit:.1%}",
        detail,
    )


def _error_detail(route: RouteSummary) -> str:
    sample = route.error_sample
    if sample is None:
        return "See the route's status counts in the report."
    return f"For example: {sample.message[:200]}"


def findings_check(scenario: str, findings: Sequence[Finding], max_severity: Severity) -> Check:
    """At most `max_severity` among the findings the config does not ignore."""
    above = [f for f in findings if f.severity > max_severity]
    worst = max((f.severity for f in findings), default=None)
    measured = (
        "none"
        if worst is None
        else f"{worst.label}: " + ", ".join(sorted({f.id for f in findings if f.severity == worst}))
    )
    detail = ""
    if above:
        first = above[0]
        where = f" in {first.route}" if first.route else ""
        detail = f"{first.id}{where}: {first.title}."
    return Check(
        scenario,
        f"findings ≤ {max_severity.label}",
        "findings",
        None,
        not above,
        measured,
        f"≤ {max_severity.label}",
        detail,
    )


def unmeasured_budget(scenario: str, budget: RouteBudget) -> Check:
    """A budget naming no measured route fails: a typo or a stale config must never pass
    by not being checked."""
    return Check(
        scenario,
        f"budget for {budget.route} applies to a measured route",
        "budget",
        budget.route,
        False,
        "route not measured",
        "a measured route",
        f"{budget.origin}: no scenario measured {budget.route}; fix the route "
        "template or add it to a scenario.",
    )

"""Budgets: the limits a scenario's report is held to, one Check each.

A route's own budget wins key by key over the global one; global latency, throughput and
memory limits apply to every route, the error rate to each route, and `max_severity` to
the findings the config does not ignore. A limit the run has no figure for fails and says
why: a budget must never pass by not being checked.
"""

from __future__ import annotations

from collections.abc import Sequence

from perfaudit.analysis.findings import Finding, Severity
from perfaudit.analysis.memory import KIB, MIB, holding_container, size_text
from perfaudit.analysis.paths import displayed
from perfaudit.analysis.report import RouteSummary
from perfaudit.analysis.stats import LatencySummary
from perfaudit.analysis.verdict import Check
from perfaudit.config import Budget, RouteBudget
from perfaudit.model import RouteMemory, Session
from perfaudit.render.memory_text import top_site


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


def memory_checks(
    scenario: str, route: RouteSummary, budget: Budget, session: Session
) -> list[Check]:
    """Every memory limit `budget` sets, for one route of `session`'s run."""
    memory = next((m for m in session.memory if str(m.route) == route.label), None)
    checks = []
    for key, limit in budget.memory_limits():
        measured, passed, detail = _memory_reading(key, limit, route, memory, session)
        what, unit = MEMORY_CHECK_NAMES[key]
        bound = f"≤ {limit:g} {unit}"
        name = f"{route.label} {what} {bound}"
        checks.append(Check(scenario, name, "budget", route.label, passed, measured, bound, detail))
    return checks


# How each memory limit is named in its check: what is limited, and its unit.
MEMORY_CHECK_NAMES = {
    "max_alloc_kb_per_request": ("allocation", "KiB per request"),
    "max_growth_kb_per_1k_requests": ("memory growth", "KiB per 1,000 requests"),
    "max_rss_mb": ("RSS", "MiB"),
}
Reading = tuple[str, bool, str]  # what was measured, whether it passed, what to look at


def _memory_reading(
    key: str, limit: float, route: RouteSummary, memory: RouteMemory | None, session: Session
) -> Reading:
    if key == "max_rss_mb":
        return _rss_reading(limit, _rss_bytes(session, route))
    if memory is None:
        return _no_memory(session)
    if key == "max_alloc_kb_per_request":
        return _alloc_reading(limit, memory, session.app_root)
    return _growth_reading(limit, memory, session.app_root)


def _alloc_reading(limit: float, memory: RouteMemory, app_root: str) -> Reading:
    value = memory.peak_bytes / KIB
    if value <= limit:
        return f"{value:,.1f} KiB", True, ""
    site = top_site(memory.peak_sites)
    where = f"; most of it at {displayed(site.location, app_root)}" if site else ""
    return (
        f"{value:,.1f} KiB",
        False,
        f"A request's peak allocation is {value / limit:.2f}× its budget{where}.",
    )


def _growth_reading(limit: float, memory: RouteMemory, app_root: str) -> Reading:
    value = memory.retained_bytes_per_request * 1000 / KIB
    if value <= limit:
        return f"{value:,.1f} KiB", True, ""
    site, container = top_site(memory.growth_sites), holding_container(memory)
    where = f" at {displayed(site.location, app_root)}" if site else ""
    held = f", held in {container.name} ({container.type_name})" if container else ""
    return (
        f"{value:,.1f} KiB",
        False,
        f"Every 1,000 requests leave {size_text(value * KIB)} behind{where}{held}.",
    )


def _rss_bytes(session: Session, route: RouteSummary) -> int:
    """The app process's RSS after the route's measured phase (the largest, should the
    route have been measured twice); for a live process sampled with py-spy, the largest
    any of its processes reached over the recording."""
    measured = [m.rss_bytes for m in session.measurements if str(m.route) == route.label]
    series = session.sampling.memory if session.sampling else ()
    sampled = [max(s.rss_bytes) for s in series if s.rss_bytes]
    return max(measured, default=0) or max(sampled, default=0)


def _rss_reading(limit: float, rss_bytes: int) -> Reading:
    if not rss_bytes:
        return (
            "not measured",
            False,
            "This run did not read the app process's resident memory: it is read for "
            "in-process (`app:`) targets and for live processes perfaudit samples (`pid:`, "
            "`spawn:`), on Linux.",
        )
    value = rss_bytes / MIB
    if value <= limit:
        return f"{value:,.1f} MiB", True, ""
    return (
        f"{value:,.1f} MiB",
        False,
        f"The app process's resident memory is {value / limit:.2f}× its budget.",
    )


def _no_memory(session: Session) -> Reading:
    """A limit on allocations for a route the run has no memory phase for: it fails,
    saying why, as a latency limit on a route that answered nothing does."""
    if session.memory:
        return (
            "not measured",
            False,
            "The memory phase did not reach this route (see the report's notes).",
        )
    if session.mode != "profile":
        why = (
            "a live server's allocations are not traced: this limit needs an in-process "
            "(`app:`) target (max_rss_mb works on a live process perfaudit samples)"
        )
    elif session.settings.memory:
        why = "the memory phase recorded nothing (see the report's notes)"
    else:
        why = "it was turned off, so nothing holds the routes to this limit"
    return "no memory phase", False, f"This run has no memory phase: {why}."

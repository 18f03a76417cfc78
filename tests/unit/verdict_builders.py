"""Hand-built verdicts for the renderer tests: every check, change and finding is chosen
by the test, and reports come from hand-built sessions (unit_builders)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from unit_builders import measurement, session

from perfaudit.analysis.findings import Finding, Severity
from perfaudit.analysis.report import Report, build_report
from perfaudit.analysis.verdict import Change, Check, ScenarioResult, Verdict
from perfaudit.model import CodeLocation, RouteKey

ORDERS = RouteKey("GET", "/orders/{order_id}")
HEALTH = RouteKey("GET", "/health")
HOSTILE_PATH = "/a|b_*`x`<img src=x>"
HOSTILE = RouteKey("GET", HOSTILE_PATH)


def report(
    routes: Sequence[RouteKey] = (ORDERS, HEALTH), findings: Sequence[Finding] = ()
) -> Report:
    """Each route: 100 requests of 10…109 ms over 2 s; the findings replace the rules'."""
    durations = [10.0 + i for i in range(100)]
    built = build_report(
        session(measurements=[measurement(r, durations_ms=durations) for r in routes])
    )
    return replace(built, findings=tuple(findings))


def finding(
    fid: str = "event-loop-blocked",
    severity: Severity = Severity.HIGH,
    *,
    route: str | None = "GET /orders/{order_id}",
    title: str = "A sync call blocks the event loop",
    suggestion: str = "Use an async driver. Or run it in a thread, e.g. with anyio.",
    location: CodeLocation | None = None,
) -> Finding:
    return Finding(
        id=fid,
        severity=severity,
        title=title,
        route=route,
        location=location or CodeLocation("app/orders.py", 42, "get_order"),
        evidence={"share": 0.6},
        suggestion=suggestion,
    )


def check(
    name: str = "GET /orders/{order_id} p95 ≤ 120 ms",
    *,
    passed: bool = True,
    kind: str = "budget",
    scenario: str = "checkout",
    route: str | None = "GET /orders/{order_id}",
    measured: str = "104.1 ms",
    limit: str = "≤ 120 ms",
    detail: str = "",
) -> Check:
    return Check(scenario, name, kind, route, passed, measured, limit, detail)


def change(
    route: str = "GET /orders/{order_id}",
    *,
    metric: str = "p95_ms",
    ratio: float = 1.31,
    ci: tuple[float, float] = (1.22, 1.40),
    regressed: bool = True,
    improved: bool = False,
    note: str = "",
) -> Change:
    return Change(
        route=route,
        metric=metric,
        baseline=100.0,
        current=100.0 * ratio,
        ratio=ratio,
        ci_low=ci[0],
        ci_high=ci[1],
        confidence=0.95,
        p_value=0.001,
        regressed=regressed,
        improved=improved,
        note=note,
    )


def scenario(
    name: str = "checkout",
    *,
    checks: Sequence[Check] = (),
    result_report: Report | None = None,
    changes: Sequence[Change] = (),
    new_findings: Sequence[Finding] = (),
    ignored: Sequence[tuple[Finding, str]] = (),
) -> ScenarioResult:
    return ScenarioResult(
        name=name,
        report=result_report or report(),
        checks=tuple(checks),
        changes=tuple(changes),
        new_findings=tuple(new_findings),
        ignored_findings=tuple(ignored),
    )


def failing_verdict() -> Verdict:
    """checkout: a p95 budget failed, a regression failed, the findings gate failed, one
    budget passed; one new finding, one old, one ignored. search: all passed."""
    blocked = finding()
    old = finding("cpu-hotspot", Severity.MEDIUM, title="tariff_table dominates CPU")
    ignored = finding("sync-logging", Severity.LOW, title="Logging on the loop")
    checks = [
        check(passed=True, name="GET /health p95 ≤ 50 ms", measured="12.0 ms", limit="≤ 50 ms"),
        check(passed=False, measured="131.2 ms", detail="p95 is 1.09× its budget."),
        check(
            "no regression in GET /orders/{order_id}",
            passed=False,
            kind="regression",
            measured="+31% (95% CI +22% … +40%)",
            limit="< +10%",
            detail="p95 rose beyond noise.",
        ),
        check(
            "findings ≤ medium",
            passed=False,
            kind="findings",
            route=None,
            measured="high: event-loop-blocked",
            limit="≤ medium",
            detail="event-loop-blocked in GET /orders/{order_id}: A sync call blocks.",
        ),
    ]
    checkout = scenario(
        checks=checks,
        result_report=report(findings=[blocked, old, ignored]),
        changes=[change(), change("GET /health", ratio=0.8, ci=(0.7, 0.9), regressed=False)],
        new_findings=[blocked],
        ignored=[(ignored, "logging is async in production")],
    )
    search = scenario("search", checks=[check(scenario="search", name="GET /health ok")])
    return Verdict((checkout, search), baseline="baseline/perfaudit.json")


def passing_verdict() -> Verdict:
    return Verdict((scenario(checks=[check(), check("GET /health p95 ≤ 50 ms")]),))

"""Memory budgets: read from the config with one-sentence errors, held per route (a
route's own limit over the global one), and a limit the run has no figure for failing
with the reason, never passing unchecked."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from memory_builders import CLEAN, LEAK, MIB, memory_session, route_memory
from sampling_builders import attach_session, process, run, thread
from test_config import MINIMAL, error, load
from unit_builders import measurement, session

from perfaudit.analysis.report import RouteSummary, build_report
from perfaudit.analysis.verdict import Check
from perfaudit.ci import run as ci_run
from perfaudit.ci.budgets import memory_checks
from perfaudit.ci.run import run_ci
from perfaudit.config import (
    AppTarget,
    Budget,
    Budgets,
    CiConfig,
    RouteBudget,
    RouteConfig,
    Scenario,
)
from perfaudit.model import RssSeries, Session


def route_of(report_session: Session, label: str) -> RouteSummary:
    return next(r for r in build_report(report_session).routes if r.label == label)


def checks_for(report_session: Session, label: str, budget: Budget) -> dict[str, Check]:
    route = route_of(report_session, label)
    return {c.name: c for c in memory_checks("mem", route, budget, report_session)}


# --- the config --------------------------------------------------------------------------


def test_memory_limits_are_read_and_merged_key_by_key(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        MINIMAL
        + """\
budgets:
  global: {max_alloc_kb_per_request: 512, max_growth_kb_per_1k_requests: 0, max_rss_mb: 300}
  routes:
    "GET /items": {max_alloc_kb_per_request: 64, p95_ms: 50}
""",
    )
    merged = config.budgets.for_route("GET /items")
    assert merged.memory_limits() == (
        ("max_alloc_kb_per_request", 64),
        ("max_growth_kb_per_1k_requests", 0),
        ("max_rss_mb", 300),
    )
    assert config.budgets.overall.max_alloc_kb_per_request == 512
    assert Budget().memory_limits() == ()


@pytest.mark.parametrize(
    ("budget", "expected"),
    [
        pytest.param(
            "{max_alloc_kb_per_request: -1}",
            "perf.yaml:7: budgets.global.max_alloc_kb_per_request: must be positive "
            "(KiB per request), got -1.",
            id="negative-alloc",
        ),
        pytest.param(
            "{max_rss_mb: 0}",
            "perf.yaml:7: budgets.global.max_rss_mb: must be positive (MiB), got 0.",
            id="zero-rss",
        ),
        pytest.param(
            "{max_growth_kb_per_1k_requests: -0.5}",
            "perf.yaml:7: budgets.global.max_growth_kb_per_1k_requests: must be 0 or more "
            "(KiB per 1,000 requests), got -0.5.",
            id="negative-growth",
        ),
        pytest.param(
            "{max_rss_mb: lots}",
            'perf.yaml:7: budgets.global.max_rss_mb: expected a number, got "lots" (a string).',
            id="not-a-number",
        ),
        pytest.param(
            "{max_alloc_kb_per_request: .inf}",
            "perf.yaml:7: budgets.global.max_alloc_kb_per_request: must be a finite number "
            "(KiB per request), got inf.",
            id="infinite",
        ),
        pytest.param(
            "{max_rss_mib: 100}",
            'perf.yaml:7: budgets.global.max_rss_mib: "max_rss_mib" is not a key here; '
            'did you mean "max_rss_mb"?',
            id="typo",
        ),
    ],
)
def test_bad_memory_limits_name_the_line_and_key(
    tmp_path: Path, budget: str, expected: str
) -> None:
    assert error(tmp_path, MINIMAL + f"budgets:\n  global: {budget}\n").startswith(expected)


def test_a_route_limit_error_names_its_route(tmp_path: Path) -> None:
    text = MINIMAL + 'budgets:\n  routes:\n    "GET /items": {max_growth_kb_per_1k_requests: x}\n'
    assert error(tmp_path, text).startswith(
        'perf.yaml:8: budgets.routes["GET /items"].max_growth_kb_per_1k_requests: expected a number'
    )


# --- the checks --------------------------------------------------------------------------


def test_allocation_per_request_in_kib() -> None:
    checks = checks_for(memory_session(), "GET /leak", Budget(max_alloc_kb_per_request=100))
    check = checks["GET /leak allocation ≤ 100 KiB per request"]
    assert not check.passed and check.kind == "budget" and check.route == "GET /leak"
    assert (check.measured, check.limit) == ("120.0 KiB", "≤ 100 KiB per request")
    assert check.detail == (
        "A request's peak allocation is 1.20× its budget; most of it at app/leaky.py:20 in "
        "build_page."
    )
    clean = checks_for(memory_session(), "GET /clean", Budget(max_alloc_kb_per_request=100))
    assert all(c.passed and c.detail == "" for c in clean.values())


def test_growth_per_1000_requests_names_the_line_and_the_container() -> None:
    budget = Budget(max_growth_kb_per_1k_requests=0)
    leak = checks_for(memory_session(), "GET /leak", budget)
    (check,) = leak.values()
    assert check.name == "GET /leak memory growth ≤ 0 KiB per 1,000 requests"
    assert not check.passed and check.measured == "50,000.0 KiB"  # 50 KiB × 1,000
    assert check.detail == (
        "Every 1,000 requests leave 48.8 MiB behind at app/leaky.py:12 in remember, held in "
        "app.leaky.HISTORY (list)."
    )
    (clean,) = checks_for(memory_session(), "GET /clean", budget).values()
    assert clean.passed and clean.measured == "0.0 KiB"  # 0 allows nothing, and nothing is kept


def test_rss_in_mib_after_the_routes_measured_phase() -> None:
    tight = checks_for(memory_session(rss_bytes=60 * MIB), "GET /clean", Budget(max_rss_mb=50))
    (check,) = tight.values()
    assert (check.name, check.passed, check.measured) == (
        "GET /clean RSS ≤ 50 MiB",
        False,
        "60.0 MiB",
    )
    assert "1.20× its budget" in check.detail
    roomy = checks_for(memory_session(rss_bytes=60 * MIB), "GET /clean", Budget(max_rss_mb=64))
    assert all(c.passed for c in roomy.values())


def test_rss_of_a_live_process_is_the_largest_any_sampled_process_reached() -> None:
    sampling = dataclasses.replace(
        run(process(thread("loop"))),
        memory=(RssSeries(4242, 0.5, (40 * MIB, 90 * MIB, 80 * MIB)), RssSeries(4243, 0.5, ())),
    )
    live = attach_session(sampling, measurements=[measurement(LEAK)])
    (check,) = checks_for(live, "GET /leak", Budget(max_rss_mb=64)).values()
    assert not check.passed and check.measured == "90.0 MiB"


def test_without_a_memory_phase_a_memory_limit_fails_and_says_why() -> None:
    budget = Budget(max_alloc_kb_per_request=100, max_growth_kb_per_1k_requests=10, max_rss_mb=64)
    off = memory_session(memory=())
    off = dataclasses.replace(off, settings=dataclasses.replace(off.settings, memory=False))
    checks = checks_for(off, "GET /leak", budget)
    alloc = checks["GET /leak allocation ≤ 100 KiB per request"]
    growth = checks["GET /leak memory growth ≤ 10 KiB per 1,000 requests"]
    for check in (alloc, growth):
        assert not check.passed and check.measured == "no memory phase"
        assert check.detail.startswith("This run has no memory phase: it was turned off")
    assert checks["GET /leak RSS ≤ 64 MiB"].passed  # RSS is read without the memory phase


def test_the_reason_fits_the_run() -> None:
    budget = Budget(max_alloc_kb_per_request=100)
    ran_empty = memory_session(memory=())  # settings.memory is True: the phase ran
    (check,) = checks_for(ran_empty, "GET /leak", budget).values()
    assert "the memory phase recorded nothing" in check.detail
    partial = memory_session(memory=[route_memory(LEAK)])
    (check,) = checks_for(partial, "GET /clean", budget).values()
    assert (check.passed, check.measured) == (False, "not measured")
    assert "did not reach this route" in check.detail
    live = dataclasses.replace(session(measurements=[measurement(CLEAN)]), mode="load")
    (check,) = checks_for(live, "GET /clean", budget).values()
    assert not check.passed and "a live server's allocations are not traced" in check.detail


def test_rss_not_read_fails_and_says_where_it_is_read() -> None:
    plain = session(measurements=[measurement(CLEAN)])  # rss_bytes 0: not known
    (check,) = checks_for(plain, "GET /clean", Budget(max_rss_mb=64)).values()
    assert (check.passed, check.measured) == (False, "not measured")
    assert "did not read the app process's resident memory" in check.detail


# --- in a ci run -------------------------------------------------------------------------


@pytest.fixture
def measured(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Session]]:
    queue: list[Session] = []
    monkeypatch.setattr(ci_run, "measure", lambda *args, **kwargs: queue.pop(0))
    yield queue
    assert not queue


def config(tmp_path: Path, budgets: Budgets) -> CiConfig:
    routes = tuple(RouteConfig(method="GET", path=p) for p in ("/leak", "/clean"))
    return CiConfig(
        path=tmp_path / "perfaudit.yaml",
        target=AppTarget(app="app:app"),
        scenarios=(Scenario(name="mem", routes=routes),),
        budgets=budgets,
    )


def test_a_ci_run_holds_every_route_to_the_memory_budgets(
    tmp_path: Path, measured: list[Session]
) -> None:
    budgets = Budgets(
        overall=Budget(max_growth_kb_per_1k_requests=100),
        routes=(
            RouteBudget(route="GET /leak", budget=Budget(max_growth_kb_per_1k_requests=60_000)),
        ),
    )
    measured.append(memory_session())
    outcome = run_ci(config(tmp_path, budgets))
    checks = {c.name: c.passed for c in outcome.verdict.checks}
    assert checks == {
        "GET /leak memory growth ≤ 60000 KiB per 1,000 requests": True,  # its own limit wins
        "GET /clean memory growth ≤ 100 KiB per 1,000 requests": True,
    }
    document = json.loads(json.dumps(outcome.document))
    assert [(m["route"], m["scenario"]) for m in document["memory"]] == [
        ("GET /leak", "mem"),
        ("GET /clean", "mem"),
    ]
    assert document["scenarios"][0]["report"]["memory"][0]["retained_bytes_per_1k_requests"] == (
        51_200_000
    )


def test_a_ci_run_without_memory_fails_a_memory_budget(
    tmp_path: Path, measured: list[Session]
) -> None:
    measured.append(session(measurements=[measurement(LEAK), measurement(CLEAN)]))
    outcome = run_ci(config(tmp_path, Budgets(overall=Budget(max_alloc_kb_per_request=64))))
    assert not outcome.verdict.passed
    assert {c.measured for c in outcome.verdict.failed} == {"no memory phase"}

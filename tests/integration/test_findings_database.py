"""The database findings on the sample apps: the N+1 of library.py and the missing index of
events.py are the top finding, on their route and at the function to open, at concurrency
1 and 8; their cheap primary-key routes get no database finding; the clean app, none."""

from __future__ import annotations

from typing import Any, NamedTuple

import pytest

from tests.integration.conftest import concurrencies, memory_phase_at

pytestmark = pytest.mark.integration
CONCURRENCY = concurrencies(1, 8)
DATABASE_RULES = {"n-plus-one-queries", "missing-index"}


class Planted(NamedTuple):
    target: str
    routes: tuple[str, ...]  # the planted route first, then a cheap one
    finding: str
    route: str
    function: str
    advice: str  # in the top finding's suggestion
    cheap_route: str
    per_request: tuple[float, float]  # bounds of the statement's executions per request


PLANTED = [
    Planted(
        "sample_apps.library:app", ("/books", "/authors/7"),
        "n-plus-one-queries", "GET /books", "books_with_authors", "selectinload(",
        "GET /authors/{author_id}",
        (80, 100),  # 100 books a page; a few share an author, loaded once per session
    ),
    Planted(
        "sample_apps.events:app", ("/accounts/acct-00042/events", "/events/7"),
        "missing-index", "GET /accounts/{account}/events", "recent_events",
        "CREATE INDEX ix_events_account ON events(account)", "GET /events/{event_id}",
        (1, 1),
    ),
]  # fmt: skip


def _run(perfaudit: Any, target: str, routes: tuple[str, ...], concurrency: int) -> Any:
    args = (
        "-q",
        "-n",
        "30",
        "-c",
        str(concurrency),
        "--warmup",
        "2",
        *memory_phase_at(concurrency),
    )
    return perfaudit("profile", target, *routes, *args)


def _summary(findings: list[dict[str, Any]]) -> list[tuple[str, str, str | None, str | None]]:
    return [
        (f["id"], f["severity"], f.get("route"), (f.get("location") or {}).get("function"))
        for f in findings
    ]


@pytest.mark.parametrize("concurrency", CONCURRENCY)
@pytest.mark.parametrize("planted", PLANTED, ids=lambda p: p.target.split(".")[1].split(":")[0])
def test_planted_database_issue_is_the_top_finding(perfaudit, planted: Planted, concurrency: int):
    result = _run(perfaudit, planted.target, planted.routes, concurrency)
    assert result.code == 0, result.stderr
    assert result.route(planted.route)["errors"] == 0
    findings = result.report["findings"]
    top, summary = findings[0], _summary(findings)
    assert (top["id"], top["route"]) == (planted.finding, planted.route), summary
    assert top["location"]["function"] == planted.function, summary
    assert top["severity"] == "high", summary
    assert planted.advice in top["suggestion"]
    low, high = planted.per_request
    assert low <= top["evidence"]["executions_per_request"] <= high
    # The profile's view of the same function is explained, not repeated.
    assert ("cpu-hotspot", planted.route) not in {(f["id"], f["route"]) for f in findings}
    cheap = [f for f in findings if f["id"] in DATABASE_RULES and f["route"] == planted.cheap_route]
    assert not cheap, _summary(cheap)


@pytest.mark.parametrize("concurrency", CONCURRENCY)
def test_clean_app_has_no_database_finding(perfaudit, concurrency: int):
    result = _run(perfaudit, "sample_apps.clean:app", (), concurrency)
    assert result.code == 0, result.stderr
    database = [f for f in result.report["findings"] if f["id"] in DATABASE_RULES]
    assert not database, _summary(database)
    assert all(f["severity"] in ("info", "low") for f in result.report["findings"])

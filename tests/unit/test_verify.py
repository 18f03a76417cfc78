"""The --verify harness: the app always restored, behaviour changes caught, noise never
called a gain, findings ranked by measured gain, the gain shown in every format."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from io import StringIO
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from rich.console import Console
from unit_builders import hotspot_session

from perfaudit.agent.verify.base import Change, Refusal, Switch, Target
from perfaudit.agent.verify.experiments.memo import memoised
from perfaudit.agent.verify.harness import VerifyRun, try_experiment
from perfaudit.analysis.findings import Finding, Severity, rank
from perfaudit.analysis.measured import attach_measured, describe, measured_gain, verdict
from perfaudit.analysis.report import build_report
from perfaudit.load.plan import RequestSpec
from perfaudit.model import CodeLocation, DeclaredServer, Experiment, Session
from perfaudit.render.html_sections import findings as html_findings
from perfaudit.render.json_report import report_to_dict
from perfaudit.render.markdown import _finding_cells
from perfaudit.render.terminal import render_terminal

FINDING = Finding(
    id="cacheable-call",
    severity=Severity.HIGH,
    title="t",
    route="GET /x",
    location=CodeLocation("app.py", 3, "work"),
    evidence={},
    suggestion="Cache it.",
)


class App:
    """A raw ASGI app whose answer and cost the tests set."""

    def __init__(self) -> None:
        self.body = b"same"
        self.cost_s = 0.0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if self.cost_s:
            await asyncio.sleep(self.cost_s)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": self.body})


def run_for(app: App) -> VerifyRun:
    return VerifyRun(
        app=app,
        session=hotspot_session(),
        requests=(RequestSpec("GET", "/x"),),
        route_of=lambda r: f"{r.method} {r.path}",
        app_root=Path("."),
        concurrency=1,
        state=None,
        timeout_s=5.0,
    )


def target_for(app: App) -> Target:
    return Target(app, FINDING, RequestSpec("GET", "/x"), hotspot_session(), Path("."), 1)


def change(set_on: Callable[[bool], None], *, fail_after: int = 0) -> Change:
    @asynccontextmanager
    async def apply() -> AsyncIterator[Switch]:
        calls = 0

        def switch(on: bool) -> None:
            nonlocal calls
            calls += 1
            if fail_after and calls > fail_after:
                raise RuntimeError("boom")
            set_on(on)

        try:
            yield switch
        finally:
            set_on(False)

    return Change("the change", apply)


@dataclass(frozen=True)
class Kind:
    change: Change
    finding_id: str = "cacheable-call"

    def prepare(self, target: Target) -> Change | Refusal:
        return self.change


def measured(app: App, the_change: Change) -> Experiment:
    return asyncio.run(try_experiment(Kind(the_change), target_for(app), run_for(app)))


def test_a_faster_change_with_the_same_answers_is_a_gain() -> None:
    app = App()
    experiment = measured(app, change(lambda on: setattr(app, "cost_s", 0.0 if on else 0.004)))
    assert experiment.outcome == "measured"
    assert experiment.rounds >= 3
    assert experiment.ratio_median > 1.5
    assert verdict(experiment) == "gain"
    assert app.cost_s == 0.004  # switched back off


def test_a_change_that_alters_the_body_is_discarded() -> None:
    app = App()
    experiment = measured(app, change(lambda on: setattr(app, "body", b"new" if on else b"same")))
    assert experiment.outcome == "changes-behaviour"
    assert "body differs" in experiment.reason
    assert app.body == b"same"


def test_a_change_that_does_nothing_claims_no_gain() -> None:
    app = App()
    app.cost_s = 0.001
    experiment = measured(app, change(lambda on: None))
    assert experiment.outcome == "measured"
    assert verdict(experiment) == "no-gain"


def test_the_app_is_restored_when_the_experiment_fails() -> None:
    app = App()

    def set_on(on: bool) -> None:
        app.body = b"new" if on else b"same"

    experiment = measured(app, change(set_on, fail_after=3))
    assert experiment.outcome == "failed"
    assert "boom" in experiment.reason
    assert app.body == b"same"


def test_memoised_restores_every_binding_after_an_exception(tmp_path: Path) -> None:
    module = ModuleType("verify_memo_target")
    module.__file__ = str(tmp_path / "verify_memo_target.py")

    def work(x: int) -> int:
        return x * 2

    module.work = work  # type: ignore[attr-defined]
    other = ModuleType("verify_memo_user")
    other.__file__ = str(tmp_path / "verify_memo_user.py")
    other.work = work  # type: ignore[attr-defined]
    sys.modules.update({module.__name__: module, other.__name__: other})

    async def go() -> None:
        async with memoised(work, tmp_path)() as switch:
            switch(True)
            assert module.work is not work
            assert other.work is module.work
            assert module.work(2) == 4
            raise ValueError("inside the experiment")

    try:
        with pytest.raises(ValueError, match="inside"):
            asyncio.run(go())
        assert module.work is work
        assert other.work is work
    finally:
        del sys.modules[module.__name__], sys.modules[other.__name__]


def experiment(ratio: float, low: float, faster: int = 6, **fields: Any) -> Experiment:
    base = Experiment(
        finding_id="cacheable-call",
        route="GET /x",
        function="work",
        change="`work` memoised",
        outcome="measured",
        rounds=6,
        rounds_faster=faster,
        p50_before_ms=52.1,
        p50_after_ms=2.9,
        rps_before=19.0,
        rps_after=19.0 * ratio,
        ratio_median=ratio,
        ratio_low=low,
        ratio_high=ratio * 1.1,
    )
    return replace(base, **fields)


@pytest.mark.parametrize(
    ("ratio", "low", "faster", "expected"),
    [
        (18.0, 15.0, 6, "gain"),
        (5.0, 0.77, 5, "gain"),  # one pair hit by machine noise does not veto a clear gain
        (1.08, 1.01, 6, "no-gain"),  # every pair agrees, but too small to tell from noise
        (1.4, 0.97, 4, "no-gain"),  # wins only 4 of 6 pairs
        (0.9, 0.8, 0, "no-gain"),
    ],
)
def test_verdict_calls_noise_no_gain(ratio: float, low: float, faster: int, expected: str) -> None:
    assert verdict(experiment(ratio, low, faster)) == expected


def test_too_few_round_pairs_are_no_gain() -> None:
    assert verdict(experiment(18.0, 15.0, 4, rounds=4)) == "no-gain"


def test_no_gain_is_never_described_as_a_win() -> None:
    text = describe(measured_gain(experiment(1.05, 0.98, 3)))
    assert text.startswith("no measurable gain")
    assert "more requests/s" not in text.split(":")[0]


def test_findings_rank_by_measured_gain() -> None:
    big_estimate = replace(FINDING, impact=0.9, location=CodeLocation("app.py", 1, "big"))
    measured_win = replace(FINDING, impact=0.2, location=CodeLocation("app.py", 2, "small"))
    experiments = (
        experiment(1.02, 0.95, 3, function="big"),
        experiment(10.0, 8.0, function="small"),
    )
    ranked = rank(attach_measured([big_estimate, measured_win], experiments))
    assert [f.location.function for f in ranked if f.location] == ["small", "big"]
    assert ranked[0].measured is not None and ranked[0].measured.gain
    assert ranked[1].score == 0.0


def test_a_measured_gain_raises_a_severity_but_no_gain_never_lowers_one() -> None:
    """A MEDIUM index measured at 6× more requests/s is HIGH; a HIGH finding whose change
    measured nothing at one concurrency stays HIGH."""
    medium = replace(FINDING, severity=Severity.MEDIUM, location=CodeLocation("app.py", 1, "scan"))
    high = replace(FINDING, severity=Severity.HIGH, location=CodeLocation("app.py", 2, "flat"))
    experiments = (
        experiment(6.0, 5.0, function="scan"),
        experiment(1.02, 0.95, 3, function="flat"),
    )

    raised, kept = attach_measured([medium, high], experiments)

    assert raised.severity is Severity.HIGH
    assert kept.severity is Severity.HIGH


def report_with_experiment() -> tuple[Session, Any]:
    base = hotspot_session(app_self_s=0.7)
    [hotspot] = [f for f in build_report(base).findings if f.id == "cpu-hotspot"]
    assert hotspot.location is not None
    run = experiment(18.0, 15.0, finding_id="cpu-hotspot", function=hotspot.location.function)
    session = replace(base, experiments=(replace(run, route=hotspot.route or ""),))
    return session, build_report(session)


def test_every_format_shows_the_measured_gain() -> None:
    _, report = report_with_experiment()
    [finding] = [f for f in report.findings if f.measured]
    console = Console(file=StringIO(), width=200)
    render_terminal(report, console)
    terminal = " ".join(console.file.getvalue().split())  # type: ignore[attr-defined]
    assert "measured: p50 52.1 ms → 2.9 ms, 19 → 342 requests/s: 18× more requests/s" in terminal
    document = report_to_dict(report)
    [shown] = [f for f in document["findings"] if f["measured"]]
    assert shown["measured"]["ratio"] == 18.0
    assert shown["measured"]["verdict"] == "gain"
    json.dumps(document)
    assert "18× more requests/s" in html_findings([finding])
    assert "18× more requests/s" in _finding_cells(finding)[-1]


def test_saved_sessions_keep_their_experiments() -> None:
    session, _ = report_with_experiment()
    again = Session.from_json(session.to_json())
    assert again.experiments == session.experiments
    assert build_report(again).findings[0].measured is not None


def test_dependency_overrides_and_thread_limit_are_put_back() -> None:
    from fastapi import FastAPI

    from perfaudit.agent.verify.experiments.per_request_setup import _overridden
    from perfaudit.agent.verify.experiments.threadpool_saturation import _raised

    def settings() -> dict[str, str]:
        return {}

    def kept() -> None:
        return None

    app = FastAPI()
    app.dependency_overrides[kept] = kept

    async def go() -> int:
        import anyio.to_thread

        limiter = anyio.to_thread.current_default_thread_limiter()
        before = limiter.total_tokens
        with pytest.raises(ValueError, match="inside"):
            async with _overridden(app, settings)() as switch, _raised(before + 60)() as more:
                switch(True)
                more(True)
                assert settings in app.dependency_overrides
                assert limiter.total_tokens == before + 60
                raise ValueError("inside the experiment")
        assert limiter.total_tokens == before
        return before

    asyncio.run(go())
    assert app.dependency_overrides == {kept: kept}


def blocking_app() -> Any:
    import time

    from fastapi import FastAPI

    app = FastAPI()

    @app.get("/x")
    async def blocked() -> dict[str, bool]:
        # The planted blocking call: long enough that 4 of them side by side, in threads,
        # need little CPU (a busy machine must not turn the gain into a CPU contest).
        time.sleep(0.03)
        return {"ok": True}

    @app.get("/y")
    def threaded() -> dict[str, bool]:
        return {"ok": True}

    return app


def test_the_blocking_endpoint_offloaded_is_a_gain_and_put_back() -> None:
    from perfaudit.agent.verify.experiments.event_loop_blocked import EXPERIMENT

    app = blocking_app()
    [route] = [r for r in app.routes if getattr(r, "path", "") == "/x"]
    endpoint = route.dependant.call
    finding = replace(FINDING, id="event-loop-blocked")
    target = replace(target_for(App()), app=app, finding=finding, concurrency=4)
    run = replace(run_for(App()), app=app, concurrency=4)
    result = asyncio.run(try_experiment(EXPERIMENT, target, run))
    assert result.outcome == "measured", result.reason
    assert result.ratio_median > 1.5
    assert verdict(result) == "gain"
    assert route.dependant.call is endpoint


def test_offloading_the_blocking_endpoint_is_judged_by_what_other_requests_wait() -> None:
    """One request at a time, the route's own throughput cannot change (8 → 8 req/s, "no
    measurable gain"); what the finding claims is that every other request waits."""
    from perfaudit.agent.verify.experiments.event_loop_blocked import EXPERIMENT

    app = blocking_app()
    finding = replace(FINDING, id="event-loop-blocked")
    target = replace(target_for(App()), app=app, finding=finding, concurrency=1)
    run = replace(run_for(App()), app=app, concurrency=1)

    result = asyncio.run(try_experiment(EXPERIMENT, target, run))

    assert result.outcome == "measured", result.reason
    assert result.metric == "others-wait"
    assert result.others_p50_before_ms > 5 * result.others_p50_after_ms
    assert verdict(result) == "gain"
    assert describe(measured_gain(result)).startswith("another request waited")


def test_event_loop_blocked_refuses_a_def_endpoint() -> None:
    from perfaudit.agent.verify.experiments.event_loop_blocked import EXPERIMENT

    app = blocking_app()
    finding = replace(FINDING, id="event-loop-blocked")
    target = replace(target_for(App()), app=app, finding=finding, request=RequestSpec("GET", "/y"))
    refusal = EXPERIMENT.prepare(target)
    assert isinstance(refusal, Refusal)
    assert "`def`" in refusal.reason


def app_module(tmp_path: Path, name: str, source: str) -> ModuleType:
    import importlib.util

    file = tmp_path / f"{name}.py"
    file.write_text(source)
    spec = importlib.util.spec_from_file_location(name, file)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


CLIENT_SOURCE = """
import httpx2
from httpx2 import AsyncClient
import requests

async def through_module():
    async with httpx2.AsyncClient(timeout=3.0) as client:
        return client

async def by_name():
    async with AsyncClient() as client:
        return client

def through_a_library_call(url):
    return requests.get(url)
"""


def test_client_per_request_shares_one_client_and_closes_it_after(tmp_path: Path) -> None:
    import httpx2

    from perfaudit.agent.verify.experiments.client_per_request import constructor_names, shared
    from perfaudit.analysis.constructors import CONSTRUCTORS

    module = app_module(tmp_path, "verify_client_app", CLIENT_SOURCE)
    [httpx_kind] = [c for c in CONSTRUCTORS if c.label.startswith("httpx")]
    [requests_kind] = [c for c in CONSTRUCTORS if c.label == "requests.Session"]
    try:
        assert constructor_names(module.through_module, module, httpx_kind) == (
            "httpx2",
            "AsyncClient",
            httpx2.AsyncClient,
        )
        assert constructor_names(module.by_name, module, httpx_kind) == (
            "AsyncClient",
            "",
            httpx2.AsyncClient,
        )
        assert constructor_names(module.through_a_library_call, module, requests_kind) is None

        async def go() -> tuple[Any, Any]:
            async with shared(module, "httpx2", "AsyncClient", httpx2.AsyncClient)() as switch:
                switch(True)
                first, second = await module.through_module(), await module.through_module()
                assert first is second and not first.is_closed
                assert isinstance(first, httpx2.AsyncClient)
                assert module.httpx2.Response is httpx2.Response  # the rest of the module
                switch(False)
                unshared = await module.through_module()
                assert unshared is not first and unshared.is_closed
            return first, module.httpx2

        client, after = asyncio.run(go())
        assert after is httpx2
        assert type(client) is httpx2.AsyncClient
        assert client.is_closed
    finally:
        del sys.modules[module.__name__]


INDEX_EVIDENCE = {
    "table": "events",
    "statement": "SELECT id FROM events WHERE account = ? ORDER BY id DESC LIMIT ?",
    "index": "CREATE INDEX ix_events_account ON events(account)",
}


def events_db(conn: Any) -> Any:
    conn.execute("CREATE TABLE events (id INTEGER PRIMARY KEY, account TEXT)")
    conn.executemany("INSERT INTO events VALUES (?, ?)", [(i, f"a{i % 50}") for i in range(500)])
    conn.commit()
    return conn


def index_target(database: str, *, writes_db: bool = False) -> Target:
    finding = replace(
        FINDING, id="missing-index", evidence={**INDEX_EVIDENCE, "database": database}
    )
    return replace(target_for(App()), finding=finding, writes_db=writes_db)


def indexes(conn: Any) -> list[str]:
    rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'").fetchall()
    return [name for (name,) in rows]


def tried(change: Change | Refusal, check: Callable[[], None]) -> tuple[str, ...]:
    assert isinstance(change, Change), change

    async def go() -> None:
        async with change.apply() as switch:
            switch(True)
            check()
            switch(False)
            switch(True)

    asyncio.run(go())
    assert change.details is not None
    return change.details()


def test_missing_index_refuses_a_file_database_without_the_flag(tmp_path: Path) -> None:
    import sqlite3

    from perfaudit.agent.verify.experiments.missing_index import EXPERIMENT

    file = tmp_path / "events.db"
    with contextlib.closing(events_db(sqlite3.connect(file))):
        pass
    refusal = EXPERIMENT.prepare(index_target(str(file)))
    assert isinstance(refusal, Refusal)
    assert "--verify-writes-db" in refusal.reason


def test_missing_index_on_a_file_database_with_the_flag_is_dropped_after(tmp_path: Path) -> None:
    import sqlite3

    from perfaudit.agent.verify.experiments.missing_index import EXPERIMENT

    file = tmp_path / "events.db"
    with contextlib.closing(events_db(sqlite3.connect(file))) as app_conn:

        def check() -> None:
            assert indexes(app_conn) == ["ix_events_account"]  # the app's connection sees it

        details = tried(EXPERIMENT.prepare(index_target(str(file), writes_db=True)), check)
        assert indexes(app_conn) == []
    assert details[0] == "plan before: SCAN events"
    assert details[1].startswith("plan after: SEARCH events USING COVERING INDEX ix_events_account")


def test_missing_index_on_an_in_memory_database_uses_the_apps_connection() -> None:
    import sqlite3

    from perfaudit.agent.verify.experiments.missing_index import EXPERIMENT

    with contextlib.closing(events_db(sqlite3.connect(":memory:"))) as app_conn:

        def check() -> None:
            assert indexes(app_conn) == ["ix_events_account"]

        details = tried(EXPERIMENT.prepare(index_target(":memory:")), check)
        assert indexes(app_conn) == []
    assert "INDEX ix_events_account (account=?)" in details[1]


PLAIN_UVICORN = DeclaredServer("requirements.txt", "uvicorn==0.30.1", uvloop=False, httptools=False)


def app_wide_target(declared: DeclaredServer | None = None) -> Target:
    target = target_for(App())
    env = replace(target.session.environment, declared=declared)
    return replace(
        target,
        finding=replace(FINDING, route=None),
        app_spec="m:app",
        session=replace(target.session, environment=env),
    )


@pytest.mark.parametrize(
    ("absent", "declared", "reason"),
    [
        (("uvicorn",), PLAIN_UVICORN, "not available: uvicorn is not installed"),
        # requirements.txt lacks both, and neither is installed here to compare with.
        (("uvloop", "httptools"), PLAIN_UVICORN,
         "not available: uvloop and httptools are not installed here; install uvicorn[standard]"),
        # No requirements file: the finding is about what is not installed here, which
        # therefore cannot be measured here.
        (("httptools",), None, "not available: httptools is not installed here"),
    ],
)  # fmt: skip
def test_default_event_loop_refuses_when_what_is_missing_is_not_installed_here(
    absent: tuple[str, ...], declared: DeclaredServer | None, reason: str
) -> None:
    from perfaudit.agent.verify.experiments.default_event_loop import DefaultEventLoopExperiment

    kind = DefaultEventLoopExperiment(installed=lambda name: name not in absent)
    refusal = kind.prepare(app_wide_target(declared))
    assert isinstance(refusal, Refusal)
    assert refusal.reason.startswith(reason)


def test_default_event_loop_refuses_an_app_not_loaded_from_a_spec() -> None:
    from perfaudit.agent.verify.experiments.default_event_loop import DefaultEventLoopExperiment

    kind = DefaultEventLoopExperiment(installed=lambda name: True)
    target = replace(app_wide_target(PLAIN_UVICORN), app_spec="")
    refusal = kind.prepare(target)
    assert isinstance(refusal, Refusal)
    assert "module:app" in refusal.reason


@pytest.mark.parametrize(
    ("absent", "declared", "before", "after", "compared"),
    [
        ((), PLAIN_UVICORN, "asyncio + h11", "uvloop + httptools",
         "uvloop + httptools vs asyncio + h11"),
        (("httptools",), PLAIN_UVICORN, "asyncio + h11", "uvloop + h11",
         "uvloop vs asyncio, both on h11: httptools is not installed here"),
        (("uvloop",), PLAIN_UVICORN, "asyncio + h11", "asyncio + httptools",
         "httptools vs h11, both on asyncio: uvloop is not installed here"),
        # The file brings uvloop already: only the parser differs, both on uvloop.
        ((), replace(PLAIN_UVICORN, uvloop=True), "uvloop + h11", "uvloop + httptools",
         "httptools vs h11, both on uvloop: requirements.txt already brings uvloop"),
    ],
)  # fmt: skip
def test_default_event_loop_compares_the_served_app_with_what_it_lacks(
    absent: tuple[str, ...], declared: DeclaredServer, before: str, after: str, compared: str
) -> None:
    from perfaudit.agent.verify.base import OwnMeasurement
    from perfaudit.agent.verify.experiments.default_event_loop import (
        DefaultEventLoopExperiment,
        Plan,
        plan,
    )

    chosen = plan(lambda name: name not in absent, declared)
    assert isinstance(chosen, Plan)
    assert (str(chosen.before), str(chosen.after)) == (before, after)
    assert chosen.compared == compared
    kind = DefaultEventLoopExperiment(installed=lambda name: name not in absent)
    prepared = kind.prepare(app_wide_target(declared))
    assert isinstance(prepared, OwnMeasurement)
    assert prepared.description == f"uvicorn on {after} instead of {before}"


def test_an_app_wide_finding_is_tried_on_the_first_route(monkeypatch: pytest.MonkeyPatch) -> None:
    from perfaudit.agent.verify import harness
    from perfaudit.progress import NoProgress

    finding = replace(FINDING, id="default-event-loop", route=None, location=None)
    run = run_for(App())
    report = build_report(run.session)
    monkeypatch.setattr(harness, "build_report", lambda _: replace(report, findings=[finding]))

    @dataclass(frozen=True)
    class AppWide:
        finding_id: str = "default-event-loop"
        app_wide: bool = True

        def prepare(self, target: Target) -> Change | Refusal:
            assert target.request == RequestSpec("GET", "/x")
            return Refusal("not available: httptools is not installed")

    [tried_once] = asyncio.run(harness.run_experiments(run, NoProgress(), [AppWide()]))
    assert tried_once.outcome == "refused"
    assert tried_once.route == ""


def test_measured_rounds_give_medians_and_round_pair_ratios() -> None:
    from perfaudit.agent.verify.base import Side, measured
    from perfaudit.analysis.findings import Finding, Severity

    finding = Finding("cacheable-call", Severity.HIGH, "t", "GET /x", None, {}, "s")
    before = [Side(100.0, (0.010, 0.012)), Side(50.0, (0.020,))]
    after = [Side(300.0, (0.002,)), Side(40.0, (0.003, 0.004))]
    result = measured(
        finding, "memoised", before=before, after=after, concurrency=2, requests_per_round=3
    )
    assert (result.outcome, result.route, result.rounds) == ("measured", "GET /x", 2)
    assert (result.ratio_low, result.ratio_high, result.ratio_median) == (0.8, 3.0, 1.9)
    assert (result.rounds_faster, result.rps_before, result.rps_after) == (1, 75.0, 170.0)
    assert (result.p50_before_ms, result.p50_after_ms) == (12.0, 3.0)
    nothing = measured(
        finding,
        "memoised",
        before=[Side(0.0, ())],
        after=[Side(1.0, ())],
        concurrency=1,
        requests_per_round=1,
    )
    assert (nothing.outcome, nothing.reason) == ("failed", "nothing was measured")

"""event-loop-blocked: synchronous work inside `async def` (or an async dependency or
middleware) stalls the event loop, and with it every request in flight."""

from __future__ import annotations

from collections.abc import Iterator

from perfaudit.analysis.blocking import (
    MIN_MS_PER_REQUEST,
    MIN_SHARE,
    Blocking,
    BlockingSite,
    blocking_calls_in,
    significant_blocking,
)
from perfaudit.analysis.blocking_evidence import blocking_evidence, sampled_evidence
from perfaudit.analysis.context import AnalysisContext, RouteView
from perfaudit.analysis.findings import HALF_IS_HIGH, Finding, Gain, Grading, Severity
from perfaudit.analysis.needs import SAMPLES_SUFFICE
from perfaudit.analysis.paths import displayed
from perfaudit.analysis.sampling import SampledBlocking, loop_blocking
from perfaudit.model import CodeLocation

# Kinds another rule owns: the sync DB driver (sync-db-driver) and the framework
# serialising the response on the loop (slow-serialization) have their own advice.
OWNED_ELSEWHERE = frozenset({"db", "serialize"})

FIXES = {
    "sleep": "replace `time.sleep(…)` with `await asyncio.sleep(…)`",
    "http": "use an async HTTP client (one `httpx.AsyncClient` created in the lifespan and "
    "awaited here), or make the route `def` so FastAPI runs it in the threadpool",
    "subprocess": "run the command with `await asyncio.create_subprocess_exec(…)` (or "
    "`await anyio.run_process([...])`), or make the route `def`",
    "file": "read the file off the loop: `await anyio.Path(path).read_text()` or "
    "`await anyio.to_thread.run_sync(...)`; if it rarely changes, read it once and cache it; "
    "or make the route `def`",
    "hash": "run it in a worker thread: `await anyio.to_thread.run_sync(...)` (hashlib releases "
    "the GIL, so other requests proceed) or make the route `def`. It is slow on purpose: "
    "never cache it",
    "cpu": "do less of it per request (if its result repeats, cache it; if it is constant, "
    "compute it once in the lifespan), or move it off the loop with "
    "`await anyio.to_thread.run_sync(...)` (a process pool for heavy CPU work)",
    "other": "run the blocking call with `await anyio.to_thread.run_sync(...)`, or make the "
    "route `def` so FastAPI runs it in the threadpool",
}


class EventLoopBlocked:
    id = "event-loop-blocked"
    needs = SAMPLES_SUFFICE
    title = "Synchronous work blocks the event loop"
    explanation = (
        "FastAPI runs `async def` endpoints and dependencies on the event loop. A synchronous "
        "call inside one (time.sleep, requests.get, subprocess.run, open().read(), a password "
        "hash, a long CPU loop) freezes the loop until it returns: no other request moves. "
        "perfaudit's probe phase drives the route concurrently while a watchdog thread samples "
        "the loop thread's stack whenever its heartbeat is late, and times an unrelated cheap "
        "request meanwhile. The finding names the line the loop was stuck on, the blocking "
        "call, how much of the time the loop was blocked, the CPU it burned (CPU-bound work "
        "is reported here too), and the concurrency signature: throughput that stays flat as "
        "concurrency grows, and the other request's latency jumping.\n\n"
        "Example: `fetch_stock_level` calls requests.get() in GET /stock/{sku}: the loop is "
        "blocked 95% of the time at 8 concurrent requests; an unrelated request waits 180 ms "
        "instead of 0.2 ms. Use httpx.AsyncClient (created once in the lifespan), or make the "
        "route `def`.\n\n"
        "An `async def` with no `await` is fine in FastAPI as long as it does nothing slow; "
        "perfaudit never flags it for that alone.\n\n"
        "Attached to a live server, perfaudit reads the same from py-spy's samples of the loop "
        "thread: the share of the recording it spent inside the app's code rather than "
        "waiting for sockets, and where."
    )

    def check(self, ctx: AnalysisContext) -> Iterator[Finding]:
        for view in ctx.routes:
            found = []
            if view.probe is not None:
                blocked = significant_blocking(view.probe, view.profile, ctx.session.app_root)
                found = [b for b in blocked if b.site.kind not in OWNED_ELSEWHERE]
                yield from (self._finding(view, blocking) for blocking in found)
            if not found:  # the probes saw nothing (skipped, rate-limited): the profile may
                yield from self._from_profile(ctx, view)
        for sampled in loop_blocking(ctx.session):  # attach: py-spy's samples of the loop
            if sampled.site.kind not in OWNED_ELSEWHERE:
                yield self._sampled_finding(sampled)

    def _from_profile(self, ctx: AnalysisContext, view: RouteView) -> Iterator[Finding]:
        """An `async def` endpoint that itself calls a blocking built-in (time.sleep, a
        socket, a hash) holds the loop while it runs: no probe needed to know that."""
        declared = view.declaration
        if declared is None or not declared.endpoint_async or declared.endpoint is None:
            return
        profile = view.profile
        if profile is None or profile.request_time_s <= 0 or not profile.requests:
            return
        calls = [c for c in blocking_calls_in(profile, declared.endpoint) if c.kind != "db"]
        if not calls:
            return
        call = calls[0]
        share = min(call.time_s / profile.request_time_s, 1.0)
        per_request_ms = view.cost_ms(call.time_s)
        if share < MIN_SHARE or per_request_ms < MIN_MS_PER_REQUEST:
            return
        endpoint = declared.endpoint
        location = displayed(endpoint, ctx.session.app_root)
        grading = Grading(share, 0.0, HALF_IS_HIGH)
        yield Finding(
            id=self.id,
            severity=grading.severity or Severity.MEDIUM,
            grading=grading,
            title=f"{endpoint.function}() blocks the event loop in {view.route} ({call.call}): "
            f"{share:.0%} of its time, inside `async def`",
            route=str(view.route),
            location=location,
            evidence={
                "blocking_call": call.call,
                "kind": call.kind,
                "share_of_route_time": round(share, 4),
                "blocked_ms_per_request": round(per_request_ms, 2),
                "source": "profile",  # no probe saw it: the endpoint is `async def`
            },
            suggestion=f"{endpoint.function}() is `async def` and calls {call.call} itself, "
            f"about {per_request_ms:.0f} ms per request: the event loop can do nothing else "
            f"meanwhile, so every other request waits. {_sentence(FIXES[call.kind])}.",
            estimated_gain=Gain(latency_ms=round(per_request_ms, 3), share=round(share, 4)),
            impact=share,
            confidence=0.8,  # from the profile: the loop's stall itself was not observed
            supersedes=("cpu-hotspot",),
        )

    def _sampled_finding(self, blocking: SampledBlocking) -> Finding:
        site, share, per_request_ms = blocking.site, blocking.share, blocking.ms_per_request
        what = (
            _what(site, per_request_ms)
            if per_request_ms is not None
            else f"The event loop was inside {site.function}() {share:.0%} of the recording, "
            "and no other request could run meanwhile."
        )
        grading = Grading(share, 0.0, HALF_IS_HIGH)
        return Finding(
            id=self.id,
            severity=grading.severity or Severity.MEDIUM,
            grading=grading,
            title=f"{site.function}() blocks the event loop in {blocking.route}"
            f"{f' ({site.call})' if site.call else ''}: {share:.0%} of the recording",
            route=str(blocking.route),
            location=CodeLocation(site.file, site.line, site.function),
            evidence=sampled_evidence(blocking),
            suggestion=f"{what} {_at_line(site)}: {FIXES[site.kind]}.",
            estimated_gain=Gain(latency_ms=round(per_request_ms, 3), share=round(share, 4))
            if per_request_ms is not None
            else None,
            impact=share,
            confidence=0.85,  # no loop lag measured: the samples show where, not how late
            supersedes=() if site.kind == "cpu" else ("cpu-hotspot",),
        )

    def _finding(self, view: RouteView, blocking: Blocking) -> Finding:
        site, share, per_request_ms = blocking.site, blocking.share, blocking.ms_per_request
        evidence = blocking_evidence(view, site, share, per_request_ms)
        if site.owner == "app":
            title = f"{site.function}() blocks the event loop in {view.route} ({site.call})"
            advice = f"At line {site.line} (`{site.code}`): {FIXES[site.kind]}."
        else:
            evidence["blocking_code_owner"] = site.owner
            title = (
                f"{site.call} in {_package(site)}'s {site.function}() blocks the event loop "
                f"in {view.route}"
            )
            advice = _in_library(site)
        grading = Grading(share, 0.0, HALF_IS_HIGH)
        return Finding(
            id=self.id,
            severity=grading.severity or Severity.MEDIUM,
            grading=grading,
            title=f"{title}: {share:.0%} of the time under load",
            route=str(view.route),
            location=CodeLocation(site.file, site.line, site.function),
            evidence=evidence,
            suggestion=f"{_what(site, per_request_ms)} {advice}",
            estimated_gain=Gain(latency_ms=round(per_request_ms, 3), share=round(share, 4)),
            impact=share,
            confidence=0.9,
            # Pure CPU work is also a cpu-hotspot (whose advice is to cache or cut it);
            # anything else blocking is explained here, and better.
            supersedes=() if site.kind == "cpu" else ("cpu-hotspot",),
        )


def _at_line(site: BlockingSite) -> str:
    return f"At line {site.line} (`{site.code}`)" if site.code else f"At line {site.line}"


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


def _package(site: BlockingSite) -> str:
    """fastapi_users/router/auth.py → fastapi_users."""
    return site.file.split("/", 1)[0].removesuffix(".py")


def _in_library(site: BlockingSite) -> str:
    """Advice when the blocking call is inside a library's own `async def` (no frame of the
    app's on the loop): nothing to change on a line of the app's, but a way around it."""
    package = _package(site)
    caller = f"{site.called_from}() calls {site.call}" if site.called_from else site.call
    where = (
        f"{caller} synchronously, under {package}'s `async def` {site.function}(), not in your code"
    )
    wrap = (
        f"override {site.called_from}() (in your subclass of its class, where the library "
        "has you subclass it) to run that call through `await anyio.to_thread.run_sync(...)`"
        if site.called_from
        else "call it through `await anyio.to_thread.run_sync(...)` from your own code"
    )
    if site.kind == "hash":
        return (
            f"The password hash runs inside {package}: {where}. It is slow on purpose, so "
            f"never cache it; move it off the loop instead: {wrap}, or ask the library's "
            "maintainers to; until then, run more worker processes so that one login does "
            "not stall every other request."
        )
    return (
        f"The blocking call is inside {package}: {where}. Use the library's async API if it "
        f"has one, or {wrap}; or report it to its maintainers."
    )


def _what(site: BlockingSite, per_request_ms: float) -> str:
    # A hash may run its rounds on threads of its own (argon2): it is hashing, not
    # necessarily the loop thread's CPU.
    cpu = {"cpu": "burning CPU", "hash": "hashing"}.get(site.kind, "waiting")
    return (
        f"Each request holds the event loop for about {per_request_ms:.0f} ms {cpu} in "
        f"{site.function}(), and no other request can run meanwhile."
    )


RULE = EventLoopBlocked()

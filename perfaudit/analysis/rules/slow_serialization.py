"""slow-serialization: turning the endpoint's return value into JSON (validating it against
the response model, `jsonable_encoder`, `json.dumps`, pydantic's serialiser) dominates
the route's time."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from perfaudit.analysis.blocking import MIN_SHARE, blocking_sites
from perfaudit.analysis.context import AnalysisContext, RouteView, app_caller
from perfaudit.analysis.findings import Finding, Gain, Grading, Severity
from perfaudit.analysis.groups import (
    Entry,
    by_app_function,
    entries,
    largest_inclusive_s,
    profiler_shares_threads,
)
from perfaudit.analysis.needs import Needs
from perfaudit.analysis.paths import displayed
from perfaudit.model import CodeLocation, FunctionId, RouteProfile

# Entered from anywhere, these are response serialisation (file suffix, function names).
RESPONSE_PATH = (
    ("/fastapi/encoders.py", ("jsonable_encoder",)),
    ("/fastapi/routing.py", ("serialize_response",)),
    ("/starlette/responses.py", ("render",)),
    ("/fastapi/responses.py", ("render",)),
)
# General-purpose serialisers: counted when the app calls them (e.g. to build a Response
# itself). The framework calls them under serialize_response or render, counted there
# already; a logging formatter's json.dumps is logging, not the response.
GENERAL = (
    ("/json/__init__.py", ("dumps",)),
    ("/pydantic/main.py", ("model_dump", "model_dump_json")),
    ("/pydantic/type_adapter.py", ("dump_python", "dump_json")),
)
GENERAL_BUILTINS = (
    "SchemaSerializer' objects>",  # pydantic-core's to_json / to_python
    "pydantic_core._pydantic_core.to_json",
    "pydantic_core._pydantic_core.to_jsonable_python",
    "orjson.dumps",
    "ujson.dumps",
)
# (severity, minimum share of route time, minimum ms per request)
GRADES = ((Severity.HIGH, 0.5, 5.0), (Severity.MEDIUM, 0.3, 2.0), (Severity.LOW, 0.3, 0.5))
ENDPOINT_CALLERS = frozenset({"run_endpoint_function", "_run_sync_endpoint"})
# No response type was declared when jsonable_encoder has this part of the serialisation,
# or walks this many values per request (the declared-type path never calls it per value).
UNTYPED_SHARE = 0.5
UNTYPED_VALUES = 100


def is_serializer(function: FunctionId) -> bool:
    return _matches(function, RESPONSE_PATH) or _is_general(function)


def _is_general(function: FunctionId) -> bool:
    if function.file == "~":
        return any(marker in function.name for marker in GENERAL_BUILTINS)
    return _matches(function, GENERAL)


def _matches(function: FunctionId, table: tuple[tuple[str, tuple[str, ...]], ...]) -> bool:
    return any(function.file.endswith(suffix) and function.name in names for suffix, names in table)


def _counts(entry: Entry) -> bool:
    return not _is_general(entry.function.function) or entry.caller_owner == "app"


@dataclass(frozen=True, slots=True)
class Serialization:
    total_s: float
    encoder_s: float  # in jsonable_encoder: the path taken when no response type is declared
    encoder_calls: int  # one per value it converts
    # Called by the app's own code (e.g. `return JSONResponse(jsonable_encoder(...))`),
    # per app function making the calls.
    by_app: dict[FunctionId, float]

    def untyped(self, requests: int) -> bool:
        """Whether FastAPI took the path for a response with no declared type."""
        return (
            self.encoder_s >= UNTYPED_SHARE * self.total_s
            or self.encoder_calls >= UNTYPED_VALUES * requests
        )

    @property
    def in_app_code(self) -> FunctionId | None:
        """The app function that serialises, when the app does most of it itself."""
        top = max(self.by_app, key=lambda f: self.by_app[f], default=None)
        app_s = sum(self.by_app.values())
        return top if top is not None and app_s >= 0.5 * self.total_s else None


def measure(profile: RouteProfile, *, shared_stack: bool = False) -> Serialization:
    counted = [e for e in entries(profile, is_serializer) if _counts(e)]
    response_path = [fn for fn in profile.functions if _matches(fn.function, RESPONSE_PATH)]
    floor = largest_inclusive_s(response_path) if shared_stack else 0.0
    return Serialization(
        total_s=max(sum(e.caller.cumulative_s for e in counted), floor),
        encoder_s=_encoder_s(profile, shared_stack),
        encoder_calls=sum(fn.calls for fn in profile.functions if _is_encoder(fn.function)),
        by_app=by_app_function(profile, [e for e in counted if e.caller_owner == "app"]),
    )


def _is_encoder(function: FunctionId) -> bool:
    return function.name == "jsonable_encoder" and function.file.endswith("/encoders.py")


def _encoder_s(profile: RouteProfile, shared_stack: bool) -> float:
    """Time in jsonable_encoder, counted at its outermost calls (it recurses per value)."""
    encoder = [fn for fn in profile.functions if _is_encoder(fn.function)]
    outermost = sum(
        edge.cumulative_s for fn in encoder for edge in fn.callers if edge.caller != fn.function
    )
    return max(outermost, largest_inclusive_s(encoder) if shared_stack else 0.0)


class SlowSerialization:
    id = "slow-serialization"
    needs = Needs(latency="needs each route's latency: drive load at the server (with --app)")
    title = "Response serialisation dominates the route's time"
    explanation = (
        "After the endpoint returns, FastAPI validates the value against the response model "
        "and turns it into JSON. With no return type or response_model, it walks every value "
        "in Python (`jsonable_encoder`) and then calls `json.dumps`: for a large list of "
        "dicts, far slower than the endpoint itself. With a declared type, pydantic "
        "validates and serialises in Rust. perfaudit measures the share of the route's "
        "profiled time in jsonable_encoder, serialize_response, pydantic's serialiser, "
        "json.dumps and the response's render(), and turns it into milliseconds of the "
        "latency measured without the profiler. Serialisation runs on the event loop even "
        "for `def` routes, so under load it also delays every other request.\n\n"
        "Example: `latest_posts` returns 2,000 posts as dicts with no return type: 99% of "
        "GET /feed (58 ms of 59), mostly jsonable_encoder. Declare `-> list[Post]` (a pydantic "
        "model) so FastAPI serialises with pydantic directly (about 9x faster here), and "
        "return a page of 50 rather than all 2,000."
    )

    def check(self, ctx: AnalysisContext) -> Iterator[Finding]:
        for view in ctx.routes:
            finding = self._check_route(ctx, view)
            if finding is not None:
                yield finding

    def _check_route(self, ctx: AnalysisContext, view: RouteView) -> Finding | None:
        profile = view.profile
        if profile is None or view.latency is None or profile.request_time_s <= 0:
            return None
        found = measure(profile, shared_stack=profiler_shares_threads(ctx.session))
        share = min(found.total_s / profile.request_time_s, 1.0)
        gain_ms = view.cost_ms(found.total_s)
        grading = Grading(share, gain_ms, GRADES)
        severity = grading.severity
        if severity is None:
            return None
        own = found.in_app_code
        location = ctx.location(own) if own else _endpoint(ctx, view)
        declared = view.declaration.response_model if view.declaration else ""
        # FastAPI < 0.100 runs jsonable_encoder over a declared model's output too: what
        # the route table declares decides, not the encoder's share alone.
        untyped = found.untyped(profile.requests) and not declared
        pydantic = ctx.session.environment.packages.get("pydantic", "")
        where = f"{location.function}()" if location else "the endpoint"
        on_loop = _loop_share(view, ctx.session.app_root)
        return Finding(
            id=self.id,
            severity=severity,
            grading=grading,
            title=f"Serialising the response takes {share:.0%} of {view.route} "
            f"({gain_ms:.1f} ms per request)",
            route=str(view.route),
            location=location,
            evidence={
                **_evidence(view, profile, found, share, gain_ms),
                **({"response_model": declared} if declared else {}),
                **({"pydantic": pydantic} if pydantic else {}),
                **({"loop_blocked_share": round(on_loop, 4)} if on_loop else {}),
            },
            suggestion=_suggestion(where, untyped, declared, pydantic_v1=pydantic.startswith("1."))
            + _blocking(on_loop),
            estimated_gain=Gain(latency_ms=round(gain_ms, 3), share=round(share, 4)),
            impact=share,
            # A declared type is the sure fix; "return less data" is the user's call.
            confidence=0.8 if untyped else 0.6,
            # When the app serialises in its own code, the hotspot and the blocked loop
            # found at that function are this; otherwise they are other work.
            supersedes=("cpu-hotspot", "event-loop-blocked") if own else (),
        )


def _evidence(
    view: RouteView, profile: RouteProfile, found: Serialization, share: float, gain_ms: float
) -> dict[str, float | int | str]:
    assert view.latency is not None
    total = found.total_s or 1.0
    return {
        "share_of_route_time": round(share, 4),
        "ms_per_request": round(gain_ms, 3),
        "jsonable_encoder_share": round(found.encoder_s / total, 4),
        "jsonable_encoder_calls_per_request": round(found.encoder_calls / profile.requests, 1),
        "profiled_ms_per_request": round(found.total_s / max(profile.requests, 1) * 1000, 3),
        "route_mean_ms": round(view.latency.mean, 3),
        "profiled_requests": profile.requests,
    }


def _suggestion(where: str, untyped: bool, declared: str, *, pydantic_v1: bool) -> str:
    less = (
        "return less data per request (paginate: a page of 50 rather than the whole list; "
        "leave out fields the client does not use)"
    )
    if pydantic_v1:
        typed = (
            f"{where} declares `{declared}` as its response"
            if declared
            else f"{where} returns its data with no declared type"
        )
        return (
            f"{typed}, and pydantic v1 validates and serialises every value in Python (FastAPI "
            "before 0.100 also runs jsonable_encoder over it): declaring a type cannot move "
            "this to Rust here. Upgrading to pydantic v2 (FastAPI 0.100 or later) does, "
            f"several times faster. Meanwhile, {less}."
        )
    if untyped:
        return (
            f"{where} returns its data with no declared type, so FastAPI converts every value "
            "with jsonable_encoder in Python, then json.dumps. Declare the return type (e.g. "
            "`-> list[Post]` with a pydantic model) or `response_model=`, and leave "
            "`response_class` at its default: FastAPI then validates and serialises with "
            f"pydantic in Rust, several times faster. And {less}."
        )
    model = f" (`{declared}`)" if declared else ""
    return (
        f"{where}'s response{model} is already serialised by pydantic; the time goes into the "
        f"size of the data: {less}. Return model instances rather than dicts to skip "
        "re-validating them."
    )


def _loop_share(view: RouteView, app_root: str) -> float:
    """The share of the probe phase the event loop was stuck serialising this route's
    responses (the loop watchdog's stacks in FastAPI's serialiser)."""
    probe = view.probe
    if probe is None or probe.wall_s <= 0:
        return 0.0
    stuck = sum(
        s.wall_s for s in blocking_sites(probe, view.profile, app_root) if s.kind == "serialize"
    )
    return min(stuck / probe.wall_s, 1.0)


def _blocking(share: float) -> str:
    if share < MIN_SHARE:
        return ""
    return (
        f" It runs on the event loop (even for a `def` route): under load the loop was stuck "
        f"serialising {share:.0%} of the time, and every other request waited meanwhile."
    )


def _endpoint(ctx: AnalysisContext, view: RouteView) -> CodeLocation | None:
    """The endpoint that returned the data: from the probe's route table, else the app
    function the framework called, else the app function nearest to the serialisation."""
    app_root = ctx.session.app_root
    if view.probe is not None and view.probe.endpoint is not None:
        e = view.probe.endpoint
        return displayed(e, app_root)
    assert view.profile is not None
    called = _called_by_framework(view.profile)
    if called is not None:
        return ctx.location(called)
    first = next((e for e in entries(view.profile, is_serializer)), None)
    caller = app_caller(view.profile, first.function.function) if first else None
    return ctx.location(caller) if caller else None


def _called_by_framework(profile: RouteProfile) -> FunctionId | None:
    """The endpoint is what FastAPI's run_endpoint_function calls; failing that (another
    framework), the heaviest app function the framework calls."""
    owners = {fn.function: fn.owner for fn in profile.functions}
    candidates = [
        fn
        for fn in profile.functions
        if fn.owner == "app"
        and not fn.function.file.startswith("<")  # generated code (<string>) is nobody's
        and any(owners.get(e.caller) == "framework" for e in fn.callers)
    ]
    endpoints = [
        fn for fn in candidates if any(e.caller.name in ENDPOINT_CALLERS for e in fn.callers)
    ]
    best = max(endpoints or candidates, key=lambda fn: fn.cumulative_s, default=None)
    return best.function if best else None


RULE = SlowSerialization()

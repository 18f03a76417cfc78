"""The app's route table: templates for grouping requests, and the GET routes perfaudit can
drive without being told any parameter."""

from __future__ import annotations

import inspect
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from perfaudit.model import CodeLocation, RouteKey, SkippedRoute

DOCS_PATHS = frozenset({"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"})
# FastAPI defines its docs endpoints inside FastAPI.setup(), wherever docs_url points.
DOCS_ENDPOINT_PREFIX = "FastAPI.setup.<locals>."
_PARAM = re.compile(r"{([^}:]+)(?::[^}]+)?}")
_QUALIFIED = re.compile(r"\b(?:[A-Za-z_]\w*\.)+([A-Za-z_]\w*)")


@dataclass(frozen=True, slots=True)
class RouteInfo:
    methods: frozenset[str]
    template: str
    pattern: re.Pattern[str]
    endpoint: str
    required_params: tuple[str, ...] = ()
    needs_body: bool = False
    websocket: bool = False
    endpoint_location: CodeLocation | None = None
    # Whether the endpoint is `async def` (None: not a Python function we can inspect), and
    # whether anything of the route runs on AnyIO's threadpool (a `def` endpoint or dependency).
    endpoint_async: bool | None = None
    uses_threadpool: bool = False
    response_model: str = ""  # the declared response type; "" when none
    after_response: tuple[str, ...] = ()  # "BackgroundTasks", yield dependencies' names


@dataclass(frozen=True, slots=True)
class RouteTable:
    routes: tuple[RouteInfo, ...]
    # Mounted apps with no route table of their own (static files, a sub-app framework).
    opaque_mounts: tuple[str, ...] = ()

    def route_for(self, method: str, path: str) -> RouteInfo | None:
        matches = [r for r in self.routes if not r.websocket and r.pattern.match(path)]
        for route in matches:
            if method in route.methods or (method == "HEAD" and "GET" in route.methods):
                return route
        return matches[0] if matches else None

    def template_for(self, method: str, path: str) -> RouteKey:
        """The route template a request path falls under; an unmatched path keeps its raw
        form so that a 404 is still reported under the URL the user asked for."""
        route = self.route_for(method, path)
        if route is not None:
            return RouteKey(method, route.template)
        for mount in self.opaque_mounts:
            if path == mount or path.startswith(mount.rstrip("/") + "/"):
                return RouteKey(method, mount.rstrip("/") + "/{path}")
        return RouteKey(method, path)

    def drivable_get_routes(self) -> tuple[list[RouteInfo], list[SkippedRoute]]:
        chosen: list[RouteInfo] = []
        skipped: list[SkippedRoute] = []
        for route in self.routes:
            reason = _skip_reason(route)
            if reason:
                label = f"{'WS' if route.websocket else _method_label(route)} {route.template}"
                skipped.append(SkippedRoute(route=label, reason=reason))
            else:
                chosen.append(route)
        skipped += [
            SkippedRoute(f"* {m}", "a mounted app with no route table") for m in self.opaque_mounts
        ]
        return chosen, skipped


def discover_routes(app: Any) -> RouteTable:
    router_owner = _find_router_owner(app)
    if router_owner is None:
        return RouteTable(routes=())
    routes: list[RouteInfo] = []
    opaque: list[str] = []
    _collect(_route_entries(router_owner.routes), "", routes, opaque)
    return RouteTable(routes=tuple(routes), opaque_mounts=tuple(opaque))


def _find_router_owner(app: Any) -> Any:
    """Follow `.app` through wrapping middleware until something with a route table."""
    for _ in range(20):
        if app is None or isinstance(getattr(app, "routes", None), list):
            return app
        app = getattr(app, "app", None)
    return None


def _route_entries(routes: list[Any]) -> Iterable[Any]:
    # FastAPI >= 0.137 keeps included routers nested; iter_route_contexts flattens them
    # with their full prefixes. Older FastAPI and plain Starlette have a flat list.
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:
        return routes
    return iter_route_contexts(routes)


def _collect(entries: Iterable[Any], prefix: str, out: list[RouteInfo], opaque: list[str]) -> None:
    for entry in entries:
        path_format = getattr(entry, "path_format", None) or getattr(entry, "path", None)
        if path_format is None:
            continue
        child_routes = getattr(entry, "routes", None)
        if _is_mount(entry):
            mount_path = prefix + str(getattr(entry, "path", "")).rstrip("/")
            if child_routes:
                _collect(_route_entries(list(child_routes)), mount_path, out, opaque)
            else:
                opaque.append(mount_path or "/")
            continue
        out.append(_route_info(entry, prefix + path_format, bool(prefix)))


def _is_mount(entry: Any) -> bool:
    route = getattr(entry, "route", entry)
    return type(route).__name__ in {"Mount", "Host"}


def _route_info(entry: Any, template: str, recompile: bool) -> RouteInfo:
    pattern = getattr(entry, "path_regex", None)
    if recompile or pattern is None:
        pattern = _compile(template)
    required, needs_body = _required_params(entry, template)
    websocket = "WebSocket" in type(getattr(entry, "route", entry)).__name__
    endpoint = getattr(entry, "endpoint", None)
    endpoint_async = _is_async(endpoint)
    dependant = getattr(entry, "dependant", None)
    sync_deps = dependant is not None and any(
        _is_async(dep.call) is False for dep in list(_walk_dependants(dependant))[1:] if dep.call
    )
    return RouteInfo(
        methods=frozenset(getattr(entry, "methods", None) or ()),
        template=template,
        pattern=pattern,
        endpoint=getattr(endpoint, "__qualname__", type(endpoint).__name__),
        required_params=required,
        needs_body=needs_body,
        websocket=websocket,
        endpoint_location=_location(endpoint),
        endpoint_async=endpoint_async,
        uses_threadpool=endpoint_async is False or sync_deps,
        response_model=_type_name(getattr(entry, "response_model", None)),
        after_response=_after_response(dependant),
    )


def _type_name(declared: Any) -> str:
    """`list[app.models.Note]` → "list[Note]"; None → ""."""
    if declared is None:
        return ""
    text = getattr(declared, "__name__", None) if not getattr(declared, "__args__", None) else None
    return text or _QUALIFIED.sub(r"\1", str(declared).replace("typing.", ""))


def _after_response(dependant: Any) -> tuple[str, ...]:
    """What FastAPI runs once the response is sent: BackgroundTasks, and the code after
    the `yield` of each yield dependency (a DB session's close)."""
    if dependant is None:
        return ()
    found = []
    if getattr(dependant, "background_tasks_param_name", None):
        found.append("BackgroundTasks")
    for dep in list(_walk_dependants(dependant))[1:]:
        call = inspect.unwrap(dep.call) if dep.call else None
        if inspect.isgeneratorfunction(call) or inspect.isasyncgenfunction(call):
            found.append(getattr(call, "__name__", "a dependency"))
    return tuple(dict.fromkeys(found))


def _is_async(func: Any) -> bool | None:
    """As FastAPI decides: coroutine functions (and async generators, for dependencies)
    run on the loop; other callables in the threadpool."""
    if func is None:
        return None
    target = inspect.unwrap(func)
    if not inspect.isfunction(target) and not inspect.ismethod(target) and callable(target):
        target = type(target).__call__  # a callable class instance: its __call__ decides
    return inspect.iscoroutinefunction(target) or inspect.isasyncgenfunction(target)


def _location(func: Any) -> CodeLocation | None:
    code = getattr(inspect.unwrap(func), "__code__", None) if func is not None else None
    if code is None:
        return None
    return CodeLocation(code.co_filename, code.co_firstlineno, code.co_name)


def _compile(template: str) -> re.Pattern[str]:
    from starlette.routing import compile_path

    return compile_path(template)[0]


def _required_params(entry: Any, template: str) -> tuple[tuple[str, ...], bool]:
    dependant = getattr(entry, "dependant", None)
    if dependant is None:
        return tuple(_PARAM.findall(template)), False
    names: list[str] = []
    needs_body = False
    for dep in _walk_dependants(dependant):
        for kind in ("path_params", "query_params", "header_params", "cookie_params"):
            names += [f.name for f in getattr(dep, kind, ()) if _is_required(f)]
        needs_body = needs_body or any(_is_required(f) for f in getattr(dep, "body_params", ()))
    return tuple(dict.fromkeys(names)), needs_body


def _walk_dependants(dependant: Any) -> Iterator[Any]:
    yield dependant
    for sub in getattr(dependant, "dependencies", ()):
        yield from _walk_dependants(sub)


def _is_required(model_field: Any) -> bool:
    field_info = getattr(model_field, "field_info", None)
    if field_info is not None and hasattr(field_info, "is_required"):
        return bool(field_info.is_required())
    return bool(getattr(model_field, "required", False))


def _skip_reason(route: RouteInfo) -> str:
    if route.websocket:
        return "a WebSocket route"
    if "GET" not in route.methods:
        first = _method_label(route).split(",")[0]
        return f'not a GET route: name it to drive it, e.g. "{first} {route.template}"'
    if route.endpoint.startswith(DOCS_ENDPOINT_PREFIX) or route.template in DOCS_PATHS:
        return "FastAPI's documentation route"
    if route.required_params:
        return f"needs parameter{'s' if len(route.required_params) > 1 else ''} " + ", ".join(
            route.required_params
        )
    if route.needs_body:
        return "needs a request body"
    return ""


def _method_label(route: RouteInfo) -> str:
    methods = sorted(route.methods - {"HEAD"}) or sorted(route.methods)
    return ",".join(methods) or "ANY"

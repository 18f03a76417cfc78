from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi import APIRouter, FastAPI
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.staticfiles import StaticFiles

from perfaudit.agent.routes import RouteTable, discover_routes
from perfaudit.model import RouteKey


async def plain(request: Request) -> PlainTextResponse:
    return PlainTextResponse("hi")


def build_app() -> FastAPI:
    reports = APIRouter(prefix="/reports")

    @reports.get("/{report_id}")
    def get_report(report_id: int) -> dict[str, int]:
        return {"id": report_id}

    @reports.get("/")
    def list_reports(limit: int = 10) -> list[int]:
        return []

    @reports.get("/search")
    def search_reports(q: str) -> list[int]:
        return []

    v1 = APIRouter(prefix="/v1")
    v1.include_router(reports)

    @v1.post("/orders")
    def create_order(order: dict[str, Any]) -> dict[str, Any]:
        return order

    app = FastAPI()
    app.include_router(v1, prefix="/api")

    @app.get("/health")
    def health() -> str:
        return "ok"

    sub = Starlette(routes=[Route("/hello", plain), Route("/items/{item_id}", plain)])
    app.mount("/legacy", sub)
    return app


@pytest.fixture(scope="module")
def table() -> RouteTable:
    return discover_routes(build_app())


def templates(table: RouteTable) -> dict[str, frozenset[str]]:
    return {route.template: route.methods for route in table.routes}


def test_nested_routers_get_their_full_prefix(table: RouteTable) -> None:
    found = templates(table)

    assert "/api/v1/reports/{report_id}" in found
    assert "/api/v1/reports/" in found
    assert "/api/v1/reports/search" in found
    assert found["/api/v1/orders"] == {"POST"}
    assert "/health" in found
    # No route lost its prefix on the way.
    assert not any(t.startswith(("/reports", "/v1", "/orders")) for t in found)


def test_required_parameters_are_known(table: RouteTable) -> None:
    by_template = {route.template: route for route in table.routes}

    assert by_template["/api/v1/reports/{report_id}"].required_params == ("report_id",)
    assert by_template["/api/v1/reports/search"].required_params == ("q",)
    assert by_template["/api/v1/reports/"].required_params == ()  # limit has a default
    assert by_template["/api/v1/orders"].needs_body


@pytest.mark.parametrize(
    ("method", "path", "expected"),
    [
        ("GET", "/api/v1/reports/7", "/api/v1/reports/{report_id}"),
        ("GET", "/api/v1/reports/", "/api/v1/reports/"),
        ("HEAD", "/health", "/health"),
        ("POST", "/api/v1/orders", "/api/v1/orders"),
        ("GET", "/legacy/items/3", "/legacy/items/{item_id}"),
        ("GET", "/legacy/hello", "/legacy/hello"),
    ],
)
def test_template_for_maps_a_path_to_its_route(
    table: RouteTable, method: str, path: str, expected: str
) -> None:
    assert table.template_for(method, path) == RouteKey(method, expected)


def test_template_for_keeps_the_method_asked_for_on_a_method_mismatch(table: RouteTable) -> None:
    assert table.template_for("DELETE", "/api/v1/reports/7") == RouteKey(
        "DELETE", "/api/v1/reports/{report_id}"
    )


@pytest.mark.parametrize("path", ["/nope/1", "/api/v2/reports/7", "/api/v1/reports/7/extra"])
def test_unmatched_path_keeps_the_raw_path(table: RouteTable, path: str) -> None:
    assert table.template_for("GET", path) == RouteKey("GET", path)


def test_mounted_starlette_app_routes_are_prefixed(table: RouteTable) -> None:
    found = templates(table)

    assert "/legacy/hello" in found
    assert "/legacy/items/{item_id}" in found
    assert "/hello" not in found


def test_drivable_get_routes_chooses_parameterless_gets(table: RouteTable) -> None:
    chosen, _ = table.drivable_get_routes()

    assert sorted(route.template for route in chosen) == [
        "/api/v1/reports/",
        "/health",
        "/legacy/hello",
    ]


def test_drivable_get_routes_gives_reasons_for_the_rest(table: RouteTable) -> None:
    _, skipped = table.drivable_get_routes()
    reasons = {s.route: s.reason for s in skipped}

    assert "report_id" in reasons["GET /api/v1/reports/{report_id}"]
    assert "needs parameter" in reasons["GET /api/v1/reports/search"]
    assert "q" in reasons["GET /api/v1/reports/search"]
    assert "item_id" in reasons["GET /legacy/items/{item_id}"]
    assert "not a GET route" in reasons["POST /api/v1/orders"]
    assert '"POST /api/v1/orders"' in reasons["POST /api/v1/orders"]
    for docs in ("/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"):
        assert "documentation" in reasons[f"GET {docs}"]


def test_mount_without_route_table_is_opaque(tmp_path: Path) -> None:
    app = FastAPI()
    app.mount("/static", StaticFiles(directory=tmp_path), name="static")

    table = discover_routes(app)
    _, skipped = table.drivable_get_routes()

    assert table.opaque_mounts == ("/static",)
    assert table.template_for("GET", "/static/css/site.css") == RouteKey("GET", "/static/{path}")
    assert table.template_for("GET", "/staticky") == RouteKey("GET", "/staticky")
    assert any(s.route == "* /static" for s in skipped)


def test_routes_are_found_through_wrapping_middleware() -> None:
    class Middleware:
        def __init__(self, app: Any) -> None:
            self.app = app

        async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
            await self.app(scope, receive, send)

    table = discover_routes(Middleware(Middleware(build_app())))

    assert "/api/v1/reports/{report_id}" in templates(table)


def test_an_app_without_routes_has_an_empty_table() -> None:
    async def bare(scope: Any, receive: Any, send: Any) -> None:
        return None

    assert discover_routes(bare).routes == ()


def _mounted_fastapi() -> FastAPI:
    sub = FastAPI()

    @sub.get("/ping")
    def ping() -> str:
        return "pong"

    app = FastAPI()
    app.mount("/v2", sub)
    return app


def _custom_docs_url() -> FastAPI:
    app = FastAPI(docs_url="/api/docs", redoc_url=None, openapi_url="/api/openapi.json")

    @app.get("/ping")
    def ping() -> str:
        return "pong"

    return app


@pytest.mark.parametrize("build", [_mounted_fastapi, _custom_docs_url], ids=["mounted", "docs_url"])
def test_docs_routes_are_never_driven(build: Any) -> None:
    chosen, _ = discover_routes(build()).drivable_get_routes()

    assert [route.template.rsplit("/", 1)[-1] for route in chosen] == ["ping"]

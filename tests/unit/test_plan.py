from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from perfaudit.errors import EXIT_USAGE, UsageError
from perfaudit.load.plan import RequestSpec, build_requests


def usage_error(routes: list[str], **options: Any) -> UsageError:
    with pytest.raises(UsageError) as caught:
        build_requests(routes, **options)
    assert caught.value.exit_code == EXIT_USAGE == 2
    return caught.value


def test_path_with_query() -> None:
    [spec] = build_requests(["/search?q=1&page=2"])

    assert spec == RequestSpec("GET", "/search", "q=1&page=2")
    assert spec.url == "/search?q=1&page=2"
    assert str(spec) == "GET /search?q=1&page=2"


def test_plain_path_keeps_no_query_and_no_body() -> None:
    [spec] = build_requests(["/health"])

    assert (spec.method, spec.path, spec.query, spec.body, spec.headers) == (
        "GET",
        "/health",
        "",
        b"",
        (),
    )


def test_default_method_applies_to_bare_paths() -> None:
    [spec] = build_requests(["/items"], method="delete")

    assert spec.method == "DELETE"


def test_post_route_with_json_body_gets_content_type() -> None:
    [spec] = build_requests(["POST /orders"], data='{"sku": "A1", "qty": 2}')

    assert spec.method == "POST"
    assert spec.path == "/orders"
    assert json.loads(spec.body) == {"sku": "A1", "qty": 2}
    assert ("content-type", "application/json") in spec.headers


def test_explicit_content_type_is_not_duplicated() -> None:
    [spec] = build_requests(
        ["POST /orders"], data="{}", headers=["Content-Type: application/vnd.api+json"]
    )

    content_types = [v for k, v in spec.headers if k.lower() == "content-type"]
    assert content_types == ["application/vnd.api+json"]


def test_body_goes_only_to_routes_that_send_one() -> None:
    post, get = build_requests(["POST /orders", "/health"], data='{"a": 1}')

    assert post.body == b'{"a": 1}'
    assert get.body == b""
    assert get.headers == ()


def test_body_from_file(tmp_path: Path) -> None:
    body = tmp_path / "order.json"
    body.write_text('{"sku": "B2"}\n', encoding="utf-8")

    [spec] = build_requests(["PUT /orders/1"], data=f"@{body}")

    assert spec.method == "PUT"
    assert json.loads(spec.body) == {"sku": "B2"}


def test_missing_body_file_is_a_usage_error(tmp_path: Path) -> None:
    error = usage_error(routes=["POST /orders"], data=f"@{tmp_path / 'absent.json'}")

    assert "absent.json" in error.message


def test_invalid_json_names_line_and_column() -> None:
    error = usage_error(routes=["POST /orders"], data='{"sku": "A1",\n "qty": }')

    assert "JSON" in error.message
    assert "line 2" in error.message
    assert "column 9" in error.message


def test_data_and_form_together_is_a_usage_error() -> None:
    error = usage_error(routes=["POST /login"], data="{}", form=["user=ann"])

    assert "-d" in error.message
    assert "--form" in error.message


def test_form_is_urlencoded() -> None:
    [spec] = build_requests(["POST /login"], form=["user=ann lee", "next=/a&b", "empty="])

    assert spec.body == b"user=ann+lee&next=%2Fa%26b&empty="
    assert ("content-type", "application/x-www-form-urlencoded") in spec.headers


@pytest.mark.parametrize("field", ["novalue", "=x"])
def test_bad_form_field(field: str) -> None:
    error = usage_error(routes=["POST /login"], form=[field])

    assert field in error.message


def test_headers_are_parsed_and_trimmed() -> None:
    [spec] = build_requests(["/me"], headers=["Authorization:  Bearer a:b:c ", "X-Trace-Id:42"])

    assert spec.headers == (("Authorization", "Bearer a:b:c"), ("X-Trace-Id", "42"))


@pytest.mark.parametrize("header", ["Authorization Bearer x", ": value", "   : x"])
def test_bad_header(header: str) -> None:
    error = usage_error(routes=["/me"], headers=[header])

    assert header in error.message
    assert "Name: value" in error.remedy


def test_body_with_only_get_routes_is_a_usage_error() -> None:
    error = usage_error(routes=["/orders", "GET /health"], data='{"a": 1}')

    assert "body" in error.message
    assert "POST /orders" in error.remedy


def test_form_with_only_get_routes_is_a_usage_error() -> None:
    usage_error(routes=["/login"], form=["user=ann"])


@pytest.mark.parametrize(
    ("kwargs", "bad"),
    [
        ({"routes": ["FETCH /orders"]}, "FETCH"),
        ({"routes": ["/orders"], "method": "yank"}, "YANK"),
    ],
)
def test_bad_method(kwargs: dict[str, Any], bad: str) -> None:
    error = usage_error(**kwargs)

    assert f"'{bad}' is not an HTTP method" in error.message
    assert "POST" in error.remedy


def test_lowercase_method_in_route_is_accepted() -> None:
    [spec] = build_requests(["patch /orders/1"], data="{}")

    assert spec.method == "PATCH"
    assert spec.body == b"{}"


@pytest.mark.parametrize("url", ["http://localhost:8000/items/42", "GET https://api.example.com/x"])
def test_url_instead_of_path(url: str) -> None:
    error = usage_error(routes=[url])

    assert "URL" in error.message
    assert "path" in error.remedy


@pytest.mark.parametrize("route", ["items/42", "GET items", "?q=1"])
def test_path_without_leading_slash(route: str) -> None:
    error = usage_error(routes=[route])

    assert "not a route path" in error.message
    assert "slash" in error.remedy


def test_too_many_words_is_not_a_route() -> None:
    error = usage_error(routes=["GET /a /b"])

    assert "not a route" in error.message

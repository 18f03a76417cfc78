"""Request data that varies per request: {n}, {uuid}, {random} and data files, from the
command line's options to what the app receives."""

from __future__ import annotations

import asyncio
import itertools
import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest

from perfaudit.agent.driver import InProcessDriver
from perfaudit.errors import UsageError
from perfaudit.load.plan import RequestSpec, build_requests
from perfaudit.load.variables import has_variables, render

UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def test_only_the_three_variables_are_replaced() -> None:
    text = '{"email": "u{n}@example.com", "key": "{uuid}", "r": "{random}", "x": "{other}"}'

    sent = json.loads(render(text, 7))

    assert sent["email"] == "u7@example.com"
    assert UUID.match(sent["key"])
    assert sent["r"].isdigit()
    assert sent["x"] == "{other}"
    assert not has_variables('{"plain": {"nested": 1}}')


def test_each_instance_fills_path_query_headers_and_body() -> None:
    [spec] = build_requests(
        ["POST /users/{n}?ref={n}"],
        data='{"email": "u{n}@example.com"}',
        headers=["Idempotency-Key: {uuid}"],
    )

    first, second = spec.instance(1), spec.instance(2)

    assert spec.varies
    assert (first.path, first.query) == ("/users/1", "ref=1")
    assert json.loads(second.body) == {"email": "u2@example.com"}
    assert dict(first.headers)["Idempotency-Key"] != dict(second.headers)["Idempotency-Key"]


def test_form_fields_keep_their_variables() -> None:
    [spec] = build_requests(["POST /login"], form=["username=u{n}@example.com", "password=pw"])

    assert parse_qs(spec.instance(3).body.decode()) == {
        "username": ["u3@example.com"],
        "password": ["pw"],
    }


def test_a_number_variable_makes_valid_json_once_filled_in() -> None:
    [spec] = build_requests(["POST /orders"], data='{"id": {n}}')

    assert json.loads(spec.instance(5).body) == {"id": 5}


def test_a_jsonl_file_gives_one_body_per_request_in_turn(tmp_path: Path) -> None:
    rows = tmp_path / "rows.jsonl"
    rows.write_text('{"sku": "A1"}\n\n{"sku": "B2"}\n')

    [spec] = build_requests(["POST /orders"], data=f"@{rows}")

    bodies = [json.loads(spec.instance(n).body)["sku"] for n in range(1, 5)]
    assert bodies == ["A1", "B2", "A1", "B2"]


def test_a_broken_line_in_a_jsonl_file_is_named(tmp_path: Path) -> None:
    rows = tmp_path / "rows.jsonl"
    rows.write_text('{"sku": "A1"}\n{sku: B2}\n')

    with pytest.raises(UsageError, match=r"Line 2 of .*rows.jsonl is not valid JSON"):
        build_requests(["POST /orders"], data=f"@{rows}")


def test_a_plain_request_does_not_vary() -> None:
    assert not RequestSpec("GET", "/items/42", "q=1", (("X-A", "b"),), b'{"a": 1}').varies


def test_the_app_gets_a_different_request_each_time_across_phases() -> None:
    seen: list[tuple[str, bytes]] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        body = (await receive())["body"]
        length = dict(scope["headers"])[b"content-length"]
        assert int(length) == len(body)
        seen.append((scope["path"], body))
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    [spec] = build_requests(["POST /users/{n}"], data='{"email": "u{n}@example.com"}')
    driver = InProcessDriver(app)

    async def phases() -> None:
        await driver.run(spec, count=5, concurrency=3)  # warm-up
        await driver.run(spec, count=5)  # measured
        await driver.time_request(spec)  # a probe

    asyncio.run(phases())
    assert len({path for path, _ in seen}) == len(seen) == 11
    assert {json.loads(body)["email"] for _, body in seen} == {
        f"u{n}@example.com" for n in range(1, 12)
    }


def test_load_targets_vary_too(tmp_path: Path) -> None:
    from perfaudit.load.rawhttp import RawClient
    from perfaudit.load.targets import build_targets

    [target] = build_targets(
        ["POST http://127.0.0.1:8000/users"], data='{"email": "u{n}@example.com"}'
    )
    client = RawClient([target], timeout_s=1.0)

    first, second = client.payload(0), client.payload(0)
    assert b'"u1@example.com"' in first and b'"u2@example.com"' in second
    assert b"Content-Length: 27\r\n" in first  # the rendered body's length


def test_each_engine_process_numbers_its_own_requests() -> None:
    from perfaudit.load.processes import split_plan
    from perfaudit.load.scenario import LoadPlan, Target

    plan = LoadPlan((Target("http://127.0.0.1:1/u/{n}"),), connections=6, processes=3)
    numbers = [list(itertools.islice(share.numbers(), 4)) for share in split_plan(plan)]

    flat = [n for share in numbers for n in share]
    assert len(set(flat)) == len(flat) == 12
    assert sorted(flat) == list(range(1, 13))

"""What the CLI and the agent say to each other: one JSON object per line.

The CLI writes the job as one line on the agent's stdin and keeps stdin open (its end of
file tells the agent the CLI is gone). The agent answers on a pipe of its own, never on
stdout, which belongs to the app (print statements, logging): a line is an event —

    {"event": "begin", "label": "measure   GET /x", "total": 100}   progress bar
    {"event": "advance", "count": 17}
    {"event": "end"}
    {"event": "imported", "python": "/app/.venv/bin/python"}      the app imported
    {"event": "checkpoint", "session": {…}}   the run so far (kept if the app crashes)
    {"event": "session", "session": {…}}      the run, done or stopped early
    {"event": "routes", "table": {…}}         a `routes` job's answer
    {"event": "error", "kind": "TargetError", "message": …, "remedy": …, "details": …}

Options and request specs go through the model's codec, the session through its own
versioned JSON; both sides are the same perfaudit, so the shapes match.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import re
from pathlib import Path
from typing import Any

from perfaudit.agent.profile_run import ProfileOptions
from perfaudit.agent.routes import RouteInfo, RouteTable
from perfaudit.load.plan import RequestSpec
from perfaudit.model import CodeLocation
from perfaudit.model.codec import from_jsonable, to_jsonable


def encode(message: dict[str, Any]) -> bytes:
    return (json.dumps(message, separators=(",", ":")) + "\n").encode()


def decode(line: bytes) -> dict[str, Any]:
    message: dict[str, Any] = json.loads(line)
    return message


def options_to_json(options: ProfileOptions) -> dict[str, Any]:
    data: dict[str, Any] = to_jsonable(dataclasses.replace(options, request_specs=()))
    data["app_dir"] = str(options.app_dir)
    data["request_specs"] = [_spec_to_json(spec) for spec in options.request_specs]
    return data


def options_from_json(data: dict[str, Any]) -> ProfileOptions:
    specs = tuple(_spec_from_json(spec) for spec in data["request_specs"])
    options = from_jsonable(ProfileOptions, {**data, "request_specs": []})
    return dataclasses.replace(options, app_dir=Path(data["app_dir"]), request_specs=specs)


def _spec_to_json(spec: RequestSpec) -> dict[str, Any]:
    return {
        "method": spec.method,
        "path": spec.path,
        "query": spec.query,
        "headers": [list(pair) for pair in spec.headers],
        "body": base64.b64encode(spec.body).decode(),
        "rows": [base64.b64encode(row).decode() for row in spec.rows],
    }


def _spec_from_json(data: dict[str, Any]) -> RequestSpec:
    return RequestSpec(
        method=data["method"],
        path=data["path"],
        query=data["query"],
        headers=tuple((name, value) for name, value in data["headers"]),
        body=base64.b64decode(data["body"]),
        rows=tuple(base64.b64decode(row) for row in data["rows"]),
    )


def table_to_json(table: RouteTable) -> dict[str, Any]:
    routes = []
    for route in table.routes:
        data = to_jsonable(dataclasses.replace(route, pattern=re.compile("")))
        data["methods"] = sorted(route.methods)
        data["pattern"] = route.pattern.pattern
        routes.append(data)
    return {"routes": routes, "opaque_mounts": list(table.opaque_mounts)}


def table_from_json(data: dict[str, Any]) -> RouteTable:
    routes = []
    for item in data["routes"]:
        location = item["endpoint_location"]
        routes.append(
            RouteInfo(
                methods=frozenset(item["methods"]),
                template=item["template"],
                pattern=re.compile(item["pattern"]),
                endpoint=item["endpoint"],
                required_params=tuple(item["required_params"]),
                needs_body=item["needs_body"],
                websocket=item["websocket"],
                endpoint_location=from_jsonable(CodeLocation, location) if location else None,
                endpoint_async=item["endpoint_async"],
                uses_threadpool=item["uses_threadpool"],
                response_model=item["response_model"],
                after_response=tuple(item["after_response"]),
            )
        )
    return RouteTable(routes=tuple(routes), opaque_mounts=tuple(data["opaque_mounts"]))

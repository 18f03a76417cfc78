"""Turn the command line's routes, method, body and headers into request specs."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlencode

from perfaudit.errors import UsageError
from perfaudit.fileio import read_input
from perfaudit.load.variables import body_for, headers_for, render, varies

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclass(frozen=True, slots=True)
class RequestSpec:
    method: str
    path: str
    query: str = ""
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""
    # Bodies from a data file, one per request in turn (`body` is the first).
    rows: tuple[bytes, ...] = ()

    @property
    def url(self) -> str:
        return f"{self.path}?{self.query}" if self.query else self.path

    @property
    def varies(self) -> bool:
        """Whether requests differ: variables ({n}, {uuid}, {random}) or data-file rows."""
        return varies(self.rows, self.headers, self.path, self.query, self.body)

    def instance(self, n: int) -> RequestSpec:
        """The request as sent the n-th time (n from 1): its row, its variables filled in."""
        return RequestSpec(
            self.method,
            render(self.path, n),
            render(self.query, n),
            headers_for(self.headers, n),
            body_for(self.body, self.rows, n),
        )

    def __str__(self) -> str:
        return f"{self.method} {self.url}"


@dataclass(frozen=True, slots=True)
class Body:
    content: bytes
    content_type: str
    rows: tuple[bytes, ...] = ()  # a data file's bodies, one per request in turn


def build_requests(
    routes: Sequence[str],
    *,
    method: str = "GET",
    data: str | None = None,
    form: Sequence[str] = (),
    headers: Sequence[str] = (),
) -> list[RequestSpec]:
    default_method = check_method(method.upper())
    body = read_body(data, form)
    header_pairs = tuple(parse_header(h) for h in headers)
    specs = [_parse_route(text, default_method) for text in routes]
    if body is not None and not any(s[0] in BODY_METHODS for s in specs):
        raise UsageError(
            "A body was given (-d or --form) but no route sends one.",
            remedy='Name the method with the route, e.g. "POST /orders", or pass -X POST.',
        )
    return [_spec(m, path, query, header_pairs, body) for m, path, query in specs]


def read_body(data: str | None, form: Sequence[str]) -> Body | None:
    if data is not None and form:
        raise UsageError(
            "-d and --form were both given.", remedy="Send a JSON body or a form, not both."
        )
    if form:
        # Braces kept as they are, so that {n}, {uuid} and {random} can be filled in later.
        fields = [_parse_form_field(f) for f in form]
        return Body(urlencode(fields, safe="{}").encode(), "application/x-www-form-urlencoded")
    if data is None:
        return None
    if data.endswith(".jsonl") and data.startswith("@"):
        return _rows(data[1:])
    text = _read_data_file(data[1:]) if data.startswith("@") else check_text(data, "The -d body")
    _check_json(text, "The -d body")
    return Body(text.encode(), "application/json")


def _rows(name: str) -> Body:
    """A JSON Lines file: one request body per line, sent in turn."""
    lines = [line for line in _read_data_file(name).splitlines() if line.strip()]
    if not lines:
        raise UsageError(f"The body file {name} has no line.", remedy="One JSON body per line.")
    for number, line in enumerate(lines, 1):
        _check_json(line, f"Line {number} of {name}")
    rows = tuple(line.encode() for line in lines)
    return Body(rows[0], "application/json", rows)


def _check_json(text: str, what: str) -> None:
    try:
        json.loads(render(text, 1))  # as sent: `{"id": {n}}` is JSON once filled in
    except json.JSONDecodeError as exc:
        raise UsageError(
            f"{what} is not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno}).",
            remedy='Quote it for your shell, e.g. -d \'{"sku": "A1"}\', or pass @file.json.',
        ) from None


BODY_LIMIT = 64 * 2**20  # -d @file: bodies, or rows of bodies, to send

# What a client leaves unescaped in a request target: the rest (spaces, non-ASCII) is
# percent-encoded (UTF-8) as curl and aiohttp send it.
SAFE_CHARS = "/%:@!$&'()*+,;=-._~?"
# RFC 9110's token: what a header's name may be made of.
_TOKEN = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")


def check_text(text: str, what: str) -> str:
    """`text` if it can be sent: undecodable command-line bytes reach Python as lone
    surrogates, which no request can carry."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise UsageError(
            f"{what} holds bytes that are not UTF-8 text.",
            remedy="Pass it as UTF-8 (check the terminal's or the file's encoding).",
        ) from None
    return text


def on_the_wire(target: str) -> str:
    """A path or query as a client sends it: percent-encoded, ASCII."""
    return quote(target, safe=SAFE_CHARS)


def parse_header(text: str) -> tuple[str, str]:
    name, sep, value = check_text(text, "A -H header").partition(":")
    name, value = name.strip(), value.strip()
    if not sep or not name:
        raise UsageError(f"'{text}' is not a header.", remedy='Write -H "Name: value".')
    if not set(name) <= _TOKEN:
        raise UsageError(
            f"'{name}' is not a header name (letters, digits and !#$%&'*+-.^_`|~ only).",
            remedy='Write -H "Name: value", e.g. -H "X-Request-Id: {uuid}".',
        )
    if any((ord(c) < 32 and c != "\t") or ord(c) == 127 for c in value):
        raise UsageError(
            f"The value of header {name} holds a control character.",
            remedy="Remove it; values are sent as UTF-8 text.",
        )
    return name, value


def _spec(
    method: str, path: str, query: str, headers: tuple[tuple[str, str], ...], body: Body | None
) -> RequestSpec:
    if body is None or method not in BODY_METHODS:
        return RequestSpec(method, path, query, headers)
    if not any(name.lower() == "content-type" for name, _ in headers):
        headers = (*headers, ("content-type", body.content_type))
    return RequestSpec(method, path, query, headers, body.content, body.rows)


def _parse_route(text: str, default_method: str) -> tuple[str, str, str]:
    parts = check_text(text, f"The route {text!r}").split()
    if len(parts) == 2:
        method, target = check_method(parts[0].upper()), parts[1]
    elif len(parts) == 1:
        method, target = default_method, parts[0]
    else:
        raise UsageError(
            f"'{text}' is not a route.", remedy='Write "/path?query" or "METHOD /path".'
        )
    if "://" in target:
        raise UsageError(
            f"'{target}' is a URL, but profile drives the app in-process.",
            remedy="Give only the path, e.g. /items/42.",
        )
    if not target.startswith("/"):
        raise UsageError(
            f"'{target}' is not a route path.", remedy=f"Start it with a slash: /{target}."
        )
    path, _, query = target.partition("?")
    return method, path, query


def check_method(method: str) -> str:
    if method not in METHODS:
        raise UsageError(
            f"'{method}' is not an HTTP method.", remedy=f"Use one of {', '.join(sorted(METHODS))}."
        )
    return method


def _parse_form_field(text: str) -> tuple[str, str]:
    key, sep, value = check_text(text, "A --form field").partition("=")
    if not sep or not key:
        raise UsageError(f"'{text}' is not a form field.", remedy="Write --form name=value.")
    return key, value


def _read_data_file(name: str) -> str:
    try:
        return read_input(Path(name), "a body file", BODY_LIMIT).decode("utf-8")
    except UnicodeDecodeError:
        raise UsageError(
            f"The body file {name} is not UTF-8 text.", remedy="Save it as UTF-8 JSON."
        ) from None
    except OSError as exc:
        raise UsageError(
            f"Cannot read the body file {name}: {exc.strerror}.", remedy="Check the path after @."
        ) from None

"""Credentials perfaudit sends (an Authorization header, a password field), kept out of
every report: an app that echoes them into an error message (`detail`, an exception's
text) would otherwise have them copied into the JSON and the Markdown a PR comment posts."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any, Protocol
from urllib.parse import parse_qsl

from perfaudit.model import Session
from perfaudit.model.codec import from_jsonable, to_jsonable

MASK = "***"
# Header and field names that carry a secret: Authorization, Cookie, X-API-Key, a token,
# a password (any case, any separator).
_SECRET_NAME = re.compile(r"auth|cookie|token|secret|passw|api.?key|session|credential", re.I)
_SCHEME = re.compile(r"^(?:Bearer|Basic|Token|Digest)\s+(.+)$", re.I)
MIN_LENGTH = 4  # shorter values ("1", "yes") are everywhere in a report; not worth masking


class Sent(Protocol):
    """A request as planned (load's Target, profile's RequestSpec)."""

    @property
    def headers(self) -> tuple[tuple[str, str], ...]: ...

    @property
    def body(self) -> bytes: ...

    @property
    def rows(self) -> tuple[bytes, ...]: ...


def sent_secrets(requests: Iterable[Sent]) -> frozenset[str]:
    """Every credential the planned requests carry (each data-file row's too)."""
    found: set[str] = set()
    for request in requests:
        for body in (request.body, *request.rows):
            found |= secrets_in(request.headers, body)
    return frozenset(found)


def secrets_in(headers: Iterable[tuple[str, str]], body: bytes = b"") -> frozenset[str]:
    """The credential values among headers and a form or JSON body, as sent."""
    found: set[str] = set()
    for name, value in headers:
        if _SECRET_NAME.search(name):
            found.add(value)
            scheme = _SCHEME.match(value)
            if scheme:
                found.add(scheme.group(1))
            if name.lower() == "cookie":
                found.update(part.partition("=")[2] for part in value.split(";"))
    found.update(value for name, value in _fields(body) if _SECRET_NAME.search(name))
    return frozenset(v.strip() for v in found if len(v.strip()) >= MIN_LENGTH)


def _fields(body: bytes) -> list[tuple[str, str]]:
    text = body.decode("utf-8", "replace")
    try:
        document = json.loads(text)
    except ValueError:
        return parse_qsl(text)
    if isinstance(document, dict):
        return [(str(k), v) for k, v in document.items() if isinstance(v, str)]
    return []


def masked(value: Any, secrets: frozenset[str]) -> Any:
    """`value` (JSON-shaped: dicts, lists, strings…) with every secret in a string masked,
    longest first (a token inside its "Bearer …" header)."""
    if not secrets:
        return value
    ordered = sorted(secrets, key=len, reverse=True)

    def walk(node: Any) -> Any:
        if isinstance(node, str):
            for secret in ordered:
                node = node.replace(secret, MASK)
            return node
        if isinstance(node, dict):
            return {key: walk(item) for key, item in node.items()}
        if isinstance(node, list):
            return [walk(item) for item in node]
        return node

    return walk(value)


def redacted(session: Session, secrets: frozenset[str]) -> Session:
    """The same facts with every credential perfaudit sent masked wherever it shows."""
    return from_jsonable(Session, masked(to_jsonable(session), secrets)) if secrets else session

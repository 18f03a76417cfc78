"""Request data that varies from one request to the next: real apps reject the same e-mail
registered twice, the same idempotency key, the same order number.

In a path, query, header or body, `{n}` becomes the request's number (1, 2, 3… over the
whole run, so no two requests of a run share one), `{uuid}` a random UUID and `{random}` a
random 32-bit number. Nothing else is touched, so a JSON body's own braces stay as they are.
A body may also come from a data file with one request body per line (`-d @rows.jsonl`):
request n sends line n, round and round.
"""

from __future__ import annotations

import random
import re
import uuid

Headers = tuple[tuple[str, str], ...]
TOKENS = ("{n}", "{uuid}", "{random}")
_TOKEN = re.compile(r"\{(n|uuid|random)\}")


def varies(rows: tuple[bytes, ...], headers: Headers, *texts: str | bytes) -> bool:
    """Whether a request differs each time: data-file rows, or variables anywhere in it."""
    return bool(rows) or has_variables(*texts, *(value for _, value in headers))


def body_for(body: bytes, rows: tuple[bytes, ...], n: int) -> bytes:
    """Request n's body (n from 1): its data-file row in turn, variables filled in."""
    return render_bytes(rows[(n - 1) % len(rows)] if rows else body, n)


def headers_for(headers: Headers, n: int) -> Headers:
    return tuple((name, render(value, n)) for name, value in headers)


def has_variables(*texts: str | bytes) -> bool:
    return any(_contains(text) for text in texts)


def _contains(text: str | bytes) -> bool:
    if isinstance(text, bytes):
        return any(token.encode() in text for token in TOKENS)
    return any(token in text for token in TOKENS)


def render(text: str, n: int) -> str:
    """`text` with each variable replaced for request number `n`."""
    if "{" not in text:
        return text
    return _TOKEN.sub(lambda match: _value(match.group(1), n), text)


def render_bytes(data: bytes, n: int) -> bytes:
    if b"{" not in data:
        return data
    return render(data.decode("utf-8", "surrogateescape"), n).encode("utf-8", "surrogateescape")


def _value(name: str, n: int) -> str:
    if name == "n":
        return str(n)
    if name == "uuid":
        return str(uuid.uuid4())
    return str(random.getrandbits(32))

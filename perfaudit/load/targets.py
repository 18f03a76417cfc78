"""Turn `perfaudit load`'s URLs, method, body, headers and weights into Targets."""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import urlsplit

from perfaudit.errors import UsageError
from perfaudit.load.plan import BODY_METHODS, check_method, check_text, parse_header, read_body
from perfaudit.load.scenario import Target


def build_targets(
    urls: Sequence[str],
    *,
    method: str = "GET",
    data: str | None = None,
    form: Sequence[str] = (),
    headers: Sequence[str] = (),
    weights: Sequence[float] = (),
) -> tuple[Target, ...]:
    """`urls`: "URL" or "METHOD URL". `weights`: one per URL, in order, or none."""
    if not urls:
        raise UsageError("No URL to load.", remedy="Pass one, e.g. http://127.0.0.1:8000/items.")
    if weights and len(weights) != len(urls):
        raise UsageError(
            f"{len(weights)} weights for {len(urls)} URLs.",
            remedy="Give one weight per URL, in order, e.g. --weights 3,1.",
        )
    if any(w <= 0 for w in weights):
        raise UsageError("Weights must be positive.", remedy="Pass e.g. --weights 3,1.")
    body = read_body(data, form)
    pairs = tuple(parse_header(h) for h in headers)
    parsed = [_parse(text, check_method(method.upper())) for text in urls]
    if body is not None and not any(m in BODY_METHODS for m, _ in parsed):
        raise UsageError(
            "A body was given (-d or --form) but no URL sends one.",
            remedy='Name the method with the URL, e.g. "POST http://…/orders", or pass -X POST.',
        )
    targets = []
    for i, (target_method, url) in enumerate(parsed):
        target_headers, content, rows = pairs, b"", tuple[bytes, ...]()
        if body is not None and target_method in BODY_METHODS:
            content, rows = body.content, body.rows
            if not any(name.lower() == "content-type" for name, _ in pairs):
                target_headers = (*pairs, ("content-type", body.content_type))
        weight = float(weights[i]) if weights else 1.0
        targets.append(Target(url, target_method, target_headers, content, weight, rows))
    return tuple(targets)


def parse_weights(text: str | None) -> tuple[float, ...]:
    if not text:
        return ()
    try:
        return tuple(float(part) for part in text.split(","))
    except ValueError:
        raise UsageError(
            f"'{text}' is not a list of weights.", remedy="Pass numbers, e.g. --weights 3,1."
        ) from None


def _parse(text: str, default_method: str) -> tuple[str, str]:
    parts = text.split()
    if len(parts) == 2:
        method, url = check_method(parts[0].upper()), parts[1]
    elif len(parts) == 1:
        method, url = default_method, parts[0]
    else:
        raise UsageError(f"'{text}' is not a URL.", remedy='Write "URL" or "METHOD URL".')
    return method, check_url(url)


def check_url(url: str) -> str:
    """`url`, if it is one a server can answer at: http(s), a host, a port in range."""
    try:
        split = urlsplit(check_text(url, f"The URL {url!r}"))
        split.port  # noqa: B018 - urlsplit checks the port only when asked
    except ValueError as bad:  # "Invalid IPv6 URL", "Port out of range 0-65535"
        raise UsageError(
            f"'{url}' is not a URL ({bad}).",
            remedy="Give the full URL, e.g. http://127.0.0.1:8000/items.",
        ) from None
    if split.scheme not in ("http", "https") or not split.hostname:
        raise UsageError(
            f"'{url}' is not an http:// or https:// URL.",
            remedy="Give the full URL, e.g. http://127.0.0.1:8000/items.",
        )
    return url

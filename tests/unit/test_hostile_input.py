"""Every option that takes text, fuzzed: a request is built, or the user is told in one
sentence what is wrong (UsageError) — never an exception of ours (exit 70). What is built
can then be sent: in-process (the ASGI scope) and over HTTP (the raw request's bytes)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from perfaudit.agent.driver import InProcessDriver
from perfaudit.errors import UsageError
from perfaudit.load.plan import RequestSpec, build_requests, parse_header
from perfaudit.load.rawhttp import serialise
from perfaudit.load.targets import build_targets

# Command-line text: any code point, lone surrogates included (undecodable argv bytes
# reach Python as surrogate escapes).
TEXT = st.text(st.characters(codec=None, exclude_categories=()), max_size=40)
INLINE = TEXT.filter(lambda t: not t.startswith("@"))  # "@…" names a file to read
ROUTE = TEXT.map(lambda t: "/" + "".join(t.split()))  # past the route's own checks
HEADER = TEXT | TEXT.map(lambda value: "X-Fuzz: " + value)
FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def built_or_refused(build: object, *args: object, **kwargs: object) -> list[object]:
    try:
        return list(build(*args, **kwargs))  # type: ignore[operator]
    except UsageError:
        return []


@FUZZ
@given(route=ROUTE, header=HEADER, data=st.none() | INLINE, form=st.lists(TEXT, max_size=2))
def test_profile_requests_are_built_or_refused_never_crash(
    route: str, header: str, data: str | None, form: list[str]
) -> None:
    for request in built_or_refused(
        build_requests, ["POST " + route], data=data, form=form, headers=[header]
    ):
        assert isinstance(request, RequestSpec)
        sent = request.instance(1) if request.varies else request
        InProcessDriver._scope_template(sent)  # what the app receives


@FUZZ
@given(url=TEXT, path=ROUTE, header=HEADER, data=st.none() | INLINE)
def test_load_targets_are_built_or_refused_never_crash(
    url: str, path: str, header: str, data: str | None
) -> None:
    for raw in (url, f"POST http://127.0.0.1:8000{path}"):
        for target in built_or_refused(build_targets, [raw], data=data, headers=[header]):
            serialise(target.instance(1) if target.varies else target)  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:99999/", "http://127.0.0.1:-1/", "http://[::1/", "http://:80/"]
)
def test_a_url_no_server_can_answer_at_is_refused(url: str) -> None:
    with pytest.raises(UsageError):
        build_targets([url])


@pytest.mark.parametrize("header", ["X Name: a", "Näme: a", ": a", "X-Bell: \a"])
def test_a_header_no_server_would_parse_is_refused(header: str) -> None:
    with pytest.raises(UsageError):
        parse_header(header)


@pytest.mark.parametrize(
    ("route", "header"), [("/x\udcff", "X-A: b"), ("/x", "X-A: \udcff"), ("/x", "X\udcff: b")]
)
def test_undecodable_command_line_bytes_are_refused(route: str, header: str) -> None:
    with pytest.raises(UsageError, match="not UTF-8"):
        build_requests([route], headers=[header])


def test_a_non_ascii_header_value_is_sent_as_utf_8() -> None:
    [request] = build_requests(["/health"], headers=["X-Name: 日本"])
    scope = InProcessDriver._scope_template(request)
    assert (b"x-name", "日本".encode()) in scope["headers"]


def test_the_scope_is_uvicorn_s_path_decoded_raw_path_and_query_as_sent() -> None:
    """A percent-encoded path reached the handler still encoded ('a%20b') in-process,
    where uvicorn gives 'a b'; a non-ASCII query crashed (latin-1)."""
    [request] = build_requests(["/items/a%20b?q=日本"])
    scope = InProcessDriver._scope_template(request)
    assert scope["path"] == "/items/a b"
    assert scope["raw_path"] == b"/items/a%20b"
    assert scope["query_string"] == b"q=%E6%97%A5%E6%9C%AC"

"""rawhttp's response parser against hand-written byte streams, and its request bytes."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import cast

import pytest

from perfaudit import __version__
from perfaudit.load.rawhttp import BadResponse, ResponseProtocol, serialise
from perfaudit.load.scenario import Target

OK = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\nDate: x\r\n\r\nhello"
CHUNKED = (
    b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\nServer: t\r\n\r\n"
    b"5;name=value\r\nhello\r\n"
    b"A\r\n0123456789\r\n"
    b"0;last\r\nX-Trailer: 1\r\nX-Other: 2\r\n\r\n"
)


class FakeTransport:
    def __init__(self) -> None:
        self.closed = self.aborted = False

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.aborted = True


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    running = asyncio.new_event_loop()
    yield running
    running.close()


def connected(loop: asyncio.AbstractEventLoop) -> tuple[ResponseProtocol, FakeTransport]:
    protocol = ResponseProtocol(loop)
    transport = FakeTransport()
    protocol.connection_made(cast(asyncio.Transport, transport))
    return protocol, transport


def read(protocol: ResponseProtocol, *packets: bytes, head: bool = False) -> tuple[int, str]:
    waiter = protocol.expect(head)
    for packet in packets:
        assert not waiter.done()
        protocol.data_received(packet)
    assert waiter.done()
    return waiter.result()


def test_content_length(loop: asyncio.AbstractEventLoop) -> None:
    protocol, transport = connected(loop)
    assert read(protocol, OK) == (200, "OK")
    assert not protocol.buffer
    assert not transport.closed


def test_chunked_with_extensions_and_trailers(loop: asyncio.AbstractEventLoop) -> None:
    protocol, _ = connected(loop)
    assert read(protocol, CHUNKED) == (201, "Created")
    assert not protocol.buffer


@pytest.mark.parametrize("response", [OK, CHUNKED], ids=["length", "chunked"])
def test_a_response_split_at_every_byte(loop: asyncio.AbstractEventLoop, response: bytes) -> None:
    for cut in range(1, len(response)):
        protocol, _ = connected(loop)
        assert read(protocol, response[:cut], response[cut:])[0] in (200, 201), cut
    protocol, _ = connected(loop)
    assert read(protocol, *(response[i : i + 1] for i in range(len(response))))[0] in (200, 201)


def test_back_to_back_responses_on_one_connection(loop: asyncio.AbstractEventLoop) -> None:
    protocol, transport = connected(loop)
    not_found = b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n"
    waiter = protocol.expect(False)
    protocol.data_received(OK + CHUNKED[:20])  # the next response's start arrives early
    assert waiter.result() == (200, "OK")
    assert read(protocol, CHUNKED[20:] + not_found) == (201, "Created")
    assert read(protocol) == (404, "Not Found")  # already buffered
    assert not transport.closed


@pytest.mark.parametrize(
    ("head", "response"),
    [
        (True, b"HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n"),
        (False, b"HTTP/1.1 204 No Content\r\n\r\n"),
        (False, b"HTTP/1.1 304 Not Modified\r\nContent-Length: 99\r\n\r\n"),
    ],
)
def test_no_body(loop: asyncio.AbstractEventLoop, head: bool, response: bytes) -> None:
    protocol, _ = connected(loop)
    status = int(response.split()[1])
    assert read(protocol, response, head=head)[0] == status
    assert read(protocol, OK) == (200, "OK")  # the next response parses from its start


def test_an_interim_response_is_skipped(loop: asyncio.AbstractEventLoop) -> None:
    protocol, _ = connected(loop)
    assert read(protocol, b"HTTP/1.1 100 Continue\r\n\r\n" + OK) == (200, "OK")


@pytest.mark.parametrize(
    "response",
    [
        b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok",
        b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok",
    ],
)
def test_connection_close_closes_after_the_body(
    loop: asyncio.AbstractEventLoop, response: bytes
) -> None:
    protocol, transport = connected(loop)
    assert read(protocol, response) == (200, "OK")
    assert transport.closed and protocol.closed


def test_a_body_without_length_runs_to_the_close(loop: asyncio.AbstractEventLoop) -> None:
    protocol, _ = connected(loop)
    waiter = protocol.expect(False)
    protocol.data_received(b"HTTP/1.1 200 OK\r\n\r\nsome body")
    assert not waiter.done()
    protocol.connection_lost(None)
    assert waiter.result() == (200, "OK")


def test_eof_mid_response_is_a_reset(loop: asyncio.AbstractEventLoop) -> None:
    protocol, _ = connected(loop)
    waiter = protocol.expect(False)
    protocol.data_received(OK[:-2])
    protocol.connection_lost(None)
    with pytest.raises(ConnectionResetError) as caught:
        waiter.result()
    assert caught.value.errno is not None


@pytest.mark.parametrize(
    "response",
    [
        b"HTTP/1.1 2OO OK\r\n\r\n",
        b"SSH-2.0-OpenSSH_9.6\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: nine\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nokXX",
    ],
)
def test_malformed_responses(loop: asyncio.AbstractEventLoop, response: bytes) -> None:
    protocol, transport = connected(loop)
    waiter = protocol.expect(False)
    protocol.data_received(response)
    with pytest.raises(BadResponse, match=r"malformed|CRLF"):
        waiter.result()
    assert transport.aborted and protocol.closed


def test_request_bytes() -> None:
    target = Target(
        "http://example.test:8080/a b/c?x=1&y=2",
        method="post",
        headers=(("Content-Type", "application/json"), ("accept", "text/plain")),
        body=b'{"a": 1}',
    )
    head, _, body = serialise(target).partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    assert lines[0] == "POST /a%20b/c?x=1&y=2 HTTP/1.1"
    assert lines[1] == "Host: example.test:8080"
    assert f"User-Agent: perfaudit/{__version__}" in lines
    assert "Content-Length: 8" in lines
    assert "Content-Type: application/json" in lines
    assert "accept: text/plain" in lines and "Accept: */*" not in lines  # given replaces
    assert lines[-1] == "Connection: keep-alive"
    assert body == b'{"a": 1}'


def test_a_get_has_no_content_length_and_port_80_no_port() -> None:
    request = serialise(Target("http://example.test"))
    assert request.startswith(b"GET / HTTP/1.1\r\nHost: example.test\r\n")
    assert b"Content-Length" not in request
    assert request.endswith(b"\r\n\r\n")


def test_only_plain_http() -> None:
    with pytest.raises(ValueError, match="http://"):
        serialise(Target("https://example.test/"))


ERROR_THEN_CLOSE = b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 5\r\n\r\noops!"


async def _server_closing_after_each_answer(
    answers: list[bytes], handlers: list[asyncio.Task[None]]
) -> tuple[asyncio.Server, int]:
    """Answers one request per connection, then closes it without saying so (as uvicorn
    does after an unhandled exception's 500)."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        handlers.append(cast("asyncio.Task[None]", asyncio.current_task()))
        try:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(answers.pop(0))
            await writer.drain()
            await asyncio.sleep(0.05)  # the client has sent its next request by now
        finally:
            writer.close()
            await writer.wait_closed()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


@pytest.mark.parametrize(("method", "expected"), [("GET", 200), ("POST", None)])
def test_a_request_on_a_connection_the_server_dropped_is_sent_again_if_idempotent(
    loop: asyncio.AbstractEventLoop, method: str, expected: int | None
) -> None:
    """The next request is not the server failing it: a GET goes again on a new
    connection; a POST (maybe applied twice) fails as it did."""
    from perfaudit.load.rawhttp import RawClient

    async def scenario() -> int | None:
        handlers: list[asyncio.Task[None]] = []
        server, port = await _server_closing_after_each_answer([ERROR_THEN_CLOSE, OK], handlers)
        url = f"http://127.0.0.1:{port}/x"
        client = RawClient([Target(url, "GET"), Target(url, method)], timeout_s=5.0)
        connection = client.connection()
        try:
            assert (await connection.send(0))[0] == 500
            await asyncio.sleep(0.01)  # sent before the server's close arrives
            try:
                return (await connection.send(1))[0]
            except ConnectionError:
                return None
        finally:
            await client.close()
            await asyncio.gather(*handlers, return_exceptions=True)
            server.close()
            await server.wait_closed()

    assert loop.run_until_complete(scenario()) == expected

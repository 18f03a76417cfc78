"""A minimal HTTP/1.1 keep-alive client for plain http:// load: what the engine uses when
every target is http://, because aiohttp costs ~200 µs of client CPU per request and this
costs a fraction of it (research/loadgen.md).

Each request is serialised to bytes once per target. A Connection is one worker's: one
request in flight, on one keep-alive socket per origin, reconnecting when the server
closes it. The parser reads what servers send: a status line, headers, and a body by
Content-Length, chunked (extensions and trailers skipped), or until the connection
closes; none for HEAD, 1xx, 204 and 304. Bodies are discarded. Failures surface as the
OSError, socket.gaierror or BadResponse behind them; the caller times requests out.
"""

from __future__ import annotations

import asyncio
import errno
import itertools
import socket
import time
from collections.abc import Iterator, Sequence
from typing import cast
from urllib.parse import urlsplit

from perfaudit import __version__
from perfaudit.load.plan import on_the_wire
from perfaudit.load.scenario import Target

MAX_HEAD = 65536
# Parser states.
HEAD, LENGTH, CHUNK_SIZE, CHUNK_DATA, CHUNK_END, TRAILERS, TO_EOF = range(7)
CONTENT_LENGTH = b"\r\ncontent-length:"
TRANSFER_ENCODING = b"\r\ntransfer-encoding:"
CONNECTION = b"\r\nconnection:"
# What aiohttp sends by default, so both of the engine's transports send the same request.
DEFAULT_HEADERS = (
    ("Accept", "*/*"),
    ("Accept-Encoding", "gzip, deflate, br"),
    ("User-Agent", f"perfaudit/{__version__}"),
)
# Methods safe to send again (RFC 9110 §9.2.2): a POST might be applied twice.
IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})

Origin = tuple[str, int]


class BadResponse(Exception):
    """The server sent something that is not an HTTP/1.x response."""


def origin(url: str) -> Origin:
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        raise ValueError(f"not a plain http:// URL: {url}")
    return parts.hostname, parts.port or 80


def serialise(target: Target) -> bytes:
    """The request's bytes: request line, Host, aiohttp's default headers, Content-Length
    when there is a body (or the method expects one), the target's headers (which replace
    the defaults of the same name), Connection: keep-alive, then the body."""
    parts = urlsplit(target.url)
    host, port = origin(target.url)
    authority = f"[{host}]" if ":" in host else host
    if port != 80:
        authority += f":{port}"
    path = on_the_wire(parts.path or "/")
    if parts.query:
        path += "?" + on_the_wire(parts.query)
    method, body = target.method.upper(), target.body
    given = {name.lower() for name, _ in target.headers}
    fields = [("Host", authority), *DEFAULT_HEADERS]
    if body or method in ("POST", "PUT", "PATCH"):
        fields.append(("Content-Length", str(len(body))))
    fields = [(name, value) for name, value in fields if name.lower() not in given]
    fields += target.headers
    if "connection" not in given:
        fields.append(("Connection", "keep-alive"))
    lines = [f"{method} {path} HTTP/1.1", *(f"{name}: {value}" for name, value in fields)]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def _field(head: bytes, name: bytes) -> bytes | None:
    """A header's value in a lower-cased response head (its first occurrence), or None."""
    at = head.find(name)
    if at < 0:
        return None
    end = head.find(b"\r\n", at + len(name))
    return head[at + len(name) : end if end >= 0 else None].strip()


def _chunk_size(line: bytes) -> int:
    size = line.split(b";", 1)[0].strip()  # without the chunk extensions
    if not size or size.strip(b"0123456789abcdefABCDEF"):
        raise BadResponse(f"malformed chunk size: {line[:80]!r}")
    return int(size, 16)


class ResponseProtocol(asyncio.Protocol):
    """One TCP connection: reads one response per `expect()`, across any packet split."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.waiter: asyncio.Future[tuple[int, str]] | None = None
        self.head_request = False
        self.closed = False
        self.deadline = 0.0  # time.monotonic() past which the read has timed out
        self.keep_alive = True
        self.answered = False  # a byte of the awaited response has arrived
        self.state = HEAD
        self.remaining = 0
        self.status = 0
        self.reason = ""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's are not subclasses

    def expect(self, head_request: bool) -> asyncio.Future[tuple[int, str]]:
        """A future for the next response's (status, reason), once its body is in."""
        self.waiter = waiter = self.loop.create_future()
        self.head_request = head_request
        self.answered = bool(self.buffer)
        if self.buffer:
            self._parse()
        return waiter

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if self.waiter is not None:
            self.answered = True
            self._parse()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        waiter, self.waiter = self.waiter, None
        if waiter is None or waiter.done():
            return
        if self.state == TO_EOF and exc is None:
            waiter.set_result((self.status, self.reason))
        elif exc is not None:
            waiter.set_exception(exc)
        else:
            waiter.set_exception(
                ConnectionResetError(errno.ECONNRESET, "the server closed the connection")
            )

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.abort()

    def fail(self, exc: BaseException) -> None:
        """End the read with `exc`, and the connection with it."""
        waiter, self.waiter = self.waiter, None
        self.close()
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)

    def _parse(self) -> None:
        try:
            while self.waiter is not None and self._step():
                pass
        except BadResponse as exc:
            self.fail(exc)

    def _step(self) -> bool:
        """Consume what it can of the buffer; False when it needs more bytes."""
        buffer, state = self.buffer, self.state
        if state in (LENGTH, CHUNK_DATA, TO_EOF):
            if len(buffer) < self.remaining or state == TO_EOF:
                self.remaining -= len(buffer)
                buffer.clear()
                return False
            del buffer[: self.remaining]
            if state == LENGTH:
                self._complete()
            else:
                self.state = CHUNK_END
            return True
        if state == CHUNK_END and len(buffer) >= 2 and buffer[:2] != b"\r\n":
            raise BadResponse("a chunk does not end in CRLF")
        end = buffer.find(b"\r\n\r\n" if state == HEAD else b"\r\n")
        if end < 0:
            if len(buffer) > MAX_HEAD:
                raise BadResponse(f"no end of line in {MAX_HEAD} bytes of the response")
            return False
        line = bytes(buffer[:end])
        del buffer[: end + (4 if state == HEAD else 2)]
        if state == HEAD:
            self._head(line)
        elif state == CHUNK_END:  # the line is empty: checked above
            self.state = CHUNK_SIZE
        elif state == TRAILERS:
            if not line:
                self._complete()
        else:  # CHUNK_SIZE
            self.remaining = _chunk_size(line)
            self.state = CHUNK_DATA if self.remaining else TRAILERS
        return True

    def _head(self, head: bytes) -> None:
        line, _, _ = head.partition(b"\r\n")
        parts = line.split(b" ", 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or len(parts[1]) != 3:
            raise BadResponse(f"malformed status line: {line[:80]!r}")
        if not parts[1].isdigit():
            raise BadResponse(f"malformed status line: {line[:80]!r}")
        status = int(parts[1])
        if 100 <= status < 200 and status != 101:
            return  # an interim response: the real one follows
        self.status = status
        self.reason = parts[2].decode("latin-1").strip() if len(parts) == 3 else ""
        head = head.lower()
        connection = _field(head, CONNECTION) or b""
        self.keep_alive = status >= 200 and b"close" not in connection
        if parts[0] == b"HTTP/1.0" and b"keep-alive" not in connection:
            self.keep_alive = False
        encoding = _field(head, TRANSFER_ENCODING)
        length = _field(head, CONTENT_LENGTH)
        if self.head_request or status < 200 or status in (204, 304):
            self._complete()
        elif encoding is not None and encoding.endswith(b"chunked"):
            self.state = CHUNK_SIZE
        elif length is not None:
            if not length.isdigit():
                raise BadResponse(f"malformed Content-Length: {length[:40]!r}")
            self.remaining = int(length)
            if self.remaining:
                self.state = LENGTH
            else:
                self._complete()
        else:  # the body runs to the end of the connection
            self.keep_alive = False
            self.state = TO_EOF

    def _complete(self) -> None:
        self.state = HEAD
        waiter, self.waiter = self.waiter, None
        if not self.keep_alive:
            self.closed = True
            if self.transport is not None:
                self.transport.close()
        if waiter is not None and not waiter.done():
            waiter.set_result((self.status, self.reason))


class RawClient:
    """The targets' requests, serialised once, and the connections that send them. One
    timer sweeps the connections for reads past `timeout_s` (at most a tick late): far
    cheaper than a timer per request, which costs a third of a request's CPU."""

    def __init__(
        self, targets: Sequence[Target], timeout_s: float, numbers: Iterator[int] | None = None
    ) -> None:
        self.requests = [serialise(target) for target in targets]
        # Targets whose requests differ ({n}, a data file): serialised anew for each send.
        self.varying = [target if target.varies else None for target in targets]
        self.numbers = numbers or itertools.count(1)
        self.heads = [target.method.upper() == "HEAD" for target in targets]
        self.idempotent = [target.method.upper() in IDEMPOTENT for target in targets]
        origins = [origin(target.url) for target in targets]
        self.origins = list(dict.fromkeys(origins))
        self.origin_of = [self.origins.index(each) for each in origins]
        self.addresses: dict[int, list[tuple[str, int]]] = {}
        self.connections: list[Connection] = []
        self.timeout_s = timeout_s
        self.tick_s = max(0.005, min(0.05, timeout_s / 10))
        self.timer: asyncio.TimerHandle | None = None

    def payload(self, index: int) -> bytes:
        varying = self.varying[index]
        if varying is None:
            return self.requests[index]
        return serialise(varying.instance(next(self.numbers)))

    def connection(self) -> Connection:
        if self.timer is None:
            self.timer = asyncio.get_running_loop().call_later(self.tick_s, self._sweep)
        connection = Connection(self)
        self.connections.append(connection)
        return connection

    async def close(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
        for connection in self.connections:
            for protocol in connection.protocols:
                if protocol is not None:
                    protocol.close()
        await asyncio.sleep(0)  # let the transports finish closing

    def _sweep(self) -> None:
        now = time.monotonic()
        for connection in self.connections:
            for protocol in connection.protocols:
                if protocol is not None and protocol.waiter is not None and protocol.deadline < now:
                    protocol.fail(TimeoutError())
        self.timer = asyncio.get_running_loop().call_later(self.tick_s, self._sweep)


class Connection:
    """One worker's: at most one request in flight, a socket per origin."""

    __slots__ = ("client", "protocols")

    def __init__(self, client: RawClient) -> None:
        self.client = client
        self.protocols: list[ResponseProtocol | None] = [None] * len(client.origins)

    async def send(self, index: int) -> tuple[int, str]:
        """Send target `index`'s request; (status, reason) once the body is in, or
        TimeoutError past the client's timeout (connecting included).

        A server may close a keep-alive connection after a response without saying so
        (uvicorn does after an unhandled exception's 500): a request sent on it meanwhile
        fails before any byte of its answer. As HTTP clients do (Go's net/http, urllib3), an
        idempotent request that met that on a reused connection is sent once more on a new
        one, timed from the first send; it is not the server failing that request."""
        started = time.monotonic()
        protocol = self.protocols[self.client.origin_of[index]]
        reused = protocol is not None and not protocol.closed
        try:
            return await self._exchange(index, started)
        except ConnectionError:
            sent_on = self.protocols[self.client.origin_of[index]]
            if not (reused and self.client.idempotent[index] and sent_on and not sent_on.answered):
                raise
            return await self._exchange(index, started)

    async def _exchange(self, index: int, started: float) -> tuple[int, str]:
        client = self.client
        where = client.origin_of[index]
        protocol = self.protocols[where]
        if protocol is None or protocol.closed:
            # wait_for, not asyncio.timeout: --verify runs this in the agent, on Python 3.10.
            remaining = max(0.0, started + client.timeout_s - time.monotonic())
            protocol = await asyncio.wait_for(self._connect(where), remaining)
            self.protocols[where] = protocol
        try:
            waiter = protocol.expect(client.heads[index])
            protocol.deadline = started + client.timeout_s
            assert protocol.transport is not None
            protocol.transport.write(client.payload(index))
            return await waiter
        except BaseException:  # timed out, cancelled or failed: the socket's state is unknown
            protocol.close()
            raise

    async def _connect(self, where: int) -> ResponseProtocol:
        loop = asyncio.get_running_loop()
        host, port = self.client.origins[where]
        addresses = self.client.addresses.get(where)
        if addresses is None:
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
            addresses = [(str(info[4][0]), port) for info in infos]
            self.client.addresses[where] = addresses
        failure: OSError | None = None
        for address in addresses:  # the first error if none connects, errno intact
            try:
                transport, protocol = await loop.create_connection(
                    lambda: ResponseProtocol(loop), *address
                )
            except OSError as exc:
                failure = failure or exc
                continue
            sock = transport.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            return protocol
        assert failure is not None
        raise failure

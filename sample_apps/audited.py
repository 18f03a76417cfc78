"""An order-tracking API wrapped in three `BaseHTTPMiddleware` layers.

Planted bottleneck: every request goes through a request-id middleware, a timing-header
middleware (`@app.middleware("http")`) and an audit-trail middleware, all built on
Starlette's `BaseHTTPMiddleware`. Each layer runs the rest of the app in a new task with
memory streams between them, which costs more than these cheap routes themselves. The
work the layers do is trivial; pure ASGI middleware would do the same for a fraction of
the cost. perfaudit should report middleware-overhead first, at `RequestIdMiddleware`
(the outermost layer), naming all three.

    perfaudit profile sample_apps.audited:app /orders/recent /health -c 8
"""

from __future__ import annotations

import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request, Response
from pydantic import BaseModel
from starlette.middleware.base import BaseHTTPMiddleware


class Order(BaseModel):
    id: int
    status: str
    total: float


ORDERS = [Order(id=i, status="shipped" if i % 3 else "open", total=12.5 * i) for i in range(1, 6)]
# The audit trail: kept in memory and shipped elsewhere in batches.
AUDIT_TRAIL: deque[tuple[str, str, int]] = deque(maxlen=10_000)

app = FastAPI(title="audited")


class RequestIdMiddleware(BaseHTTPMiddleware):
    """Give every request an id (or keep the caller's) and echo it back."""

    async def dispatch(
        self, request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        request_id = request.headers.get("x-request-id") or uuid.uuid4().hex
        request.state.request_id = request_id
        response = await call_next(request)
        response.headers["x-request-id"] = request_id
        return response


class AuditMiddleware(BaseHTTPMiddleware):
    """Record who called what, and the answer."""

    async def dispatch(
        self, request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await call_next(request)
        AUDIT_TRAIL.append((request.method, request.url.path, response.status_code))
        return response


@app.middleware("http")
async def add_timing_header(
    request: Request, call_next: Callable[[Request], Awaitable[Response]]
) -> Response:
    started = time.perf_counter()
    response = await call_next(request)
    response.headers["server-timing"] = f"app;dur={(time.perf_counter() - started) * 1000:.2f}"
    return response


# Each add goes outside the ones before: request id → audit → timing → the app.
app.add_middleware(AuditMiddleware)
app.add_middleware(RequestIdMiddleware)


@app.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@app.get("/orders/recent")
async def recent_orders() -> list[Order]:
    return ORDERS


@app.get("/orders/{order_id}")
async def get_order(order_id: int) -> Order:
    return ORDERS[(order_id - 1) % len(ORDERS)]

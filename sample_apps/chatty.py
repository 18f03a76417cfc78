"""A checkout service that logs every step of every request, synchronously, to a file.

Planted bottleneck: `price_cart()` writes a DEBUG record for each line of the cart (and a
few INFO ones around it) through a `FileHandler` with a detailed format. Each record is
formatted (a timestamp, the caller's module and line), written and flushed to disk on
the event loop, inside the request: the logging costs far more than the pricing. A
`QueueHandler` (with a `QueueListener` doing the writing on its own thread) and INFO as
the production level would remove it. perfaudit should report sync-logging first, at
`price_cart`.

    perfaudit profile sample_apps.chatty:app /carts/7/total /health -c 8
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

from fastapi import FastAPI
from pydantic import BaseModel

LINES_PER_CART = 60
PRICES = {f"SKU{i:03d}": 2.5 + (i % 17) * 1.25 for i in range(200)}

log = logging.getLogger("checkout")


class CartTotal(BaseModel):
    cart_id: int
    lines: int
    subtotal: float
    discount: float
    total: float
    priced_at: datetime  # a quote: the client shows when it was priced


def cart_lines(cart_id: int) -> list[tuple[str, int]]:
    """The cart's (sku, quantity) lines, as the cart store would return them."""
    return [
        (f"SKU{(cart_id * 7 + i) % 200:03d}", 1 + (cart_id + i) % 3) for i in range(LINES_PER_CART)
    ]


def price_cart(cart_id: int, lines: list[tuple[str, int]]) -> CartTotal:
    log.info("pricing cart %s with %d lines", cart_id, len(lines))
    subtotal = discount = 0.0
    for sku, quantity in lines:
        unit = PRICES[sku]
        log.debug("cart %s: %s x%d at %.2f", cart_id, sku, quantity, unit)
        subtotal += unit * quantity
        if quantity >= 3:
            discount += unit * 0.1
            log.debug("cart %s: volume discount on %s: %.2f", cart_id, sku, unit * 0.1)
    log.info("cart %s priced: subtotal %.2f, discount %.2f", cart_id, subtotal, discount)
    total = round(subtotal - discount, 2)
    return CartTotal(
        cart_id=cart_id,
        lines=len(lines),
        subtotal=subtotal,
        discount=discount,
        total=total,
        priced_at=datetime.now(UTC),
    )


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    folder = Path(tempfile.mkdtemp(prefix="chatty-"))
    handler = logging.FileHandler(folder / "checkout.log")  # flushes after every record
    handler.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)s %(name)s %(module)s:%(lineno)d %(message)s")
    )
    log.addHandler(handler)
    log.setLevel(logging.DEBUG)
    log.propagate = False
    try:
        yield
    finally:
        log.removeHandler(handler)
        handler.close()
        shutil.rmtree(folder, ignore_errors=True)


app = FastAPI(title="chatty", lifespan=lifespan)


@app.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@app.get("/carts/{cart_id}/total")
async def cart_total(cart_id: int) -> CartTotal:
    return price_cart(cart_id, cart_lines(cart_id))

"""An order service with bugs a load test finds: a handler that raises for some input, and
background work after the response.

    perfaudit profile sample_apps.orders:app /orders/1 /orders/999 "POST /orders" -d '{"sku": "A1"}'
    perfaudit profile sample_apps.orders:app "POST /token" --form username=ada --form password=secret
    perfaudit profile sample_apps.orders:app /me -H "Authorization: Bearer token-ada"
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import BackgroundTasks, FastAPI, Form, Header, HTTPException, Request
from pydantic import BaseModel


class NewOrder(BaseModel):
    sku: str
    qty: int = 1


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, dict[int, dict[str, object]]]]:
    yield {"orders": {1: {"id": 1, "sku": "A1", "qty": 3}}}


app = FastAPI(title="orders", lifespan=lifespan)


def send_receipt(order_id: int) -> None:
    time.sleep(0.002)  # stands in for an SMTP call


@app.get("/orders/{order_id}")
async def get_order(order_id: int, request: Request) -> dict[str, object]:
    return request.state.orders[order_id]  # KeyError for unknown ids: a 500, not a 404


@app.post("/orders", status_code=201)
async def create_order(order: NewOrder, background: BackgroundTasks) -> dict[str, object]:
    background.add_task(send_receipt, 2)
    return {"id": 2, "sku": order.sku, "qty": order.qty}


@app.post("/token")
async def login(
    username: Annotated[str, Form()], password: Annotated[str, Form()]
) -> dict[str, str]:
    if password != "secret":
        raise HTTPException(status_code=401, detail="bad credentials")
    return {"access_token": f"token-{username}", "token_type": "bearer"}


@app.get("/me")
async def me(authorization: Annotated[str, Header()]) -> dict[str, str]:
    if authorization != "Bearer token-ada":
        raise HTTPException(status_code=401, detail="bad token")
    return {"user": "ada"}

"""A shop's order history on PostgreSQL, through asyncpg.

Two planted bottlenecks on GET /customers/{email}/orders, the customer's 20 latest orders
with their items:

- `recent_orders()` filters the 120,000-row `pgo_orders` table `WHERE customer_email = $1`.
  No index covers `customer_email`, so PostgreSQL reads the whole table on every request
  (plan: `Seq Scan on pgo_orders`, ~10–13 ms) to return 20 rows. perfaudit should report
  missing-index at `recent_orders` and suggest `CREATE INDEX ON pgo_orders (customer_email)`.
- `orders_with_items()` then awaits one more query per order for its items
  (`SELECT … FROM pgo_order_items WHERE order_id = $1`, indexed, ~0.2 ms each, ~4 ms for
  the 20): 21 round trips where two would do — the N+1 pattern. perfaudit should report
  n-plus-one-queries at `orders_with_items` and suggest one query with
  `WHERE order_id = ANY($1)`.

The routes are `async def` on an `asyncpg` pool made by the lifespan, so the queries never
block the event loop; a request takes ~26 ms in all. The database comes from
$PERFAUDIT_PG_URL (`postgresql://user@host:port/db`); the lifespan drops and re-creates the
app's tables (all named `pgo_…`, so other apps can share the database) and seeds them with
`generate_series` (~2 s). Every customer (`customer1@example.com` …
`customer6000@example.com`) has exactly 20 orders of 2 items.

    PERFAUDIT_PG_URL=postgresql://postgres@127.0.0.1:5432/postgres \\
        perfaudit profile sample_apps.pg_orders:app /customers/customer42@example.com/orders \\
        /customers/42 /health
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime

import asyncpg  # type: ignore[import-untyped]  # (no py.typed)
from fastapi import FastAPI, HTTPException, Request
from pydantic import BaseModel

from sample_apps._postgres import database_url

CUSTOMER_COUNT = 6_000
ORDER_COUNT = 120_000  # 20 per customer
ITEMS_PER_ORDER = 2
PAGE_SIZE = 20

# Keys and indexes are built after the rows are in: twice as fast as row by row.
SETUP = f"""
SELECT pg_advisory_xact_lock(hashtext('pgo_'));
DROP TABLE IF EXISTS pgo_order_items, pgo_orders, pgo_customers;
CREATE TABLE pgo_customers (id serial, email text NOT NULL, name text NOT NULL);
CREATE TABLE pgo_orders (
    id serial,
    customer_email text NOT NULL,
    status text NOT NULL,
    total numeric(10, 2) NOT NULL,
    created_at timestamptz NOT NULL
);
CREATE TABLE pgo_order_items (
    id serial,
    order_id integer NOT NULL,
    product text NOT NULL,
    quantity integer NOT NULL,
    price numeric(10, 2) NOT NULL
);
SELECT setseed(0.18);
INSERT INTO pgo_customers (id, email, name)
SELECT g, 'customer' || g || '@example.com',
       (ARRAY['Ada', 'Grace', 'Alan', 'Edsger', 'Barbara', 'Donald'])[1 + g % 6] || ' '
       || (ARRAY['Lovelace', 'Hopper', 'Turing', 'Dijkstra', 'Liskov'])[1 + g % 5]
FROM generate_series(1, {CUSTOMER_COUNT}) g;
-- 7919 is prime to {CUSTOMER_COUNT}: each customer gets one order in every {CUSTOMER_COUNT}.
INSERT INTO pgo_orders (id, customer_email, status, total, created_at)
SELECT g, 'customer' || (1 + g * 7919 % {CUSTOMER_COUNT}) || '@example.com',
       (ARRAY['pending', 'paid', 'shipped', 'delivered', 'refunded'])[1 + floor(random() * 5)],
       round((5 + random() * 500)::numeric, 2),
       timestamptz '2024-01-01 00:00Z' + g * interval '4 minutes'
FROM generate_series(1, {ORDER_COUNT}) g;
INSERT INTO pgo_order_items (id, order_id, product, quantity, price)
SELECT (o - 1) * {ITEMS_PER_ORDER} + k, o, 'product-' || floor(random() * 500),
       1 + floor(random() * 4), round((2 + random() * 90)::numeric, 2)
FROM generate_series(1, {ORDER_COUNT}) o, generate_series(1, {ITEMS_PER_ORDER}) k;
ALTER TABLE pgo_customers ADD PRIMARY KEY (id), ADD UNIQUE (email);
ALTER TABLE pgo_orders ADD PRIMARY KEY (id);  -- and no index on customer_email: the plant
ALTER TABLE pgo_order_items ADD PRIMARY KEY (id);
CREATE INDEX pgo_order_items_order_id ON pgo_order_items (order_id);
SELECT setval(pg_get_serial_sequence('pgo_customers', 'id'), {CUSTOMER_COUNT});
SELECT setval(pg_get_serial_sequence('pgo_orders', 'id'), {ORDER_COUNT});
SELECT setval(pg_get_serial_sequence('pgo_order_items', 'id'), {ORDER_COUNT * ITEMS_PER_ORDER});
ANALYZE pgo_customers, pgo_orders, pgo_order_items;
"""
RECENT = """
SELECT id, status, total, created_at FROM pgo_orders
WHERE customer_email = $1
ORDER BY created_at DESC LIMIT $2
"""
ITEMS = "SELECT product, quantity, price FROM pgo_order_items WHERE order_id = $1 ORDER BY id"
CUSTOMER = "SELECT id, email, name FROM pgo_customers WHERE id = $1"


class Item(BaseModel):
    product: str
    quantity: int
    price: float


class Order(BaseModel):
    id: int
    status: str
    total: float
    created_at: datetime
    items: list[Item]


class Customer(BaseModel):
    id: int
    email: str
    name: str


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, asyncpg.Pool]]:
    pool = await asyncpg.create_pool(database_url("pg_orders"), min_size=2, max_size=10)
    try:
        async with pool.acquire() as connection, connection.transaction():
            await connection.execute(SETUP)
        yield {"pool": pool}
    finally:
        await pool.close()


app = FastAPI(title="pg_orders", lifespan=lifespan)


async def recent_orders(connection: asyncpg.Connection, email: str) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await connection.fetch(RECENT, email, PAGE_SIZE)
    return rows


async def orders_with_items(pool: asyncpg.Pool, email: str) -> list[Order]:
    async with pool.acquire() as connection:
        orders = []
        for row in await recent_orders(connection, email):
            items = await connection.fetch(ITEMS, row["id"])  # one query per order
            orders.append(
                Order(
                    id=row["id"], status=row["status"], total=float(row["total"]),
                    created_at=row["created_at"],
                    items=[Item(product=i["product"], quantity=i["quantity"],
                                price=float(i["price"])) for i in items],
                )
            )  # fmt: skip
        return orders


@app.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@app.get("/customers/{email}/orders")
async def customer_orders(request: Request, email: str) -> list[Order]:
    return await orders_with_items(request.state.pool, email)


@app.get("/customers/{customer_id}")
async def get_customer(request: Request, customer_id: int) -> Customer:
    row = await request.state.pool.fetchrow(CUSTOMER, customer_id)
    if row is None:
        raise HTTPException(status_code=404, detail="no such customer")
    return Customer(id=row["id"], email=row["email"], name=row["name"])

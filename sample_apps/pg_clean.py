"""A product catalogue on PostgreSQL, through asyncpg, with nothing planted.

Every route runs one query, on an index, on an `asyncpg` pool made by the lifespan: a
product by its primary key, by its SKU (a unique index), and a category's 20 cheapest
products (an index on `(category, price)`), each well under a millisecond in the database.
perfaudit should find nothing above `low`: the control for the PostgreSQL samples
(`pg_orders.py`, `pg_pool.py`, `pg_psycopg.py`), as `clean.py` is for the others.

The database comes from $PERFAUDIT_PG_URL (`postgresql://user@host:port/db`); the lifespan
drops and re-creates the app's table (`pgc_products`, so other apps can share the database)
and seeds 50,000 products with `generate_series`.

    PERFAUDIT_PG_URL=postgresql://postgres@127.0.0.1:5432/postgres \\
        perfaudit profile sample_apps.pg_clean:app /products/7 /products/sku/SKU-000042 \\
        /categories/garden/products /health
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg  # type: ignore[import-untyped]  # (no py.typed)
from fastapi import FastAPI, HTTPException, Request
from pydantic import BaseModel

from sample_apps._postgres import database_url

PRODUCT_COUNT = 50_000
PAGE_SIZE = 20
CATEGORIES = ("garden", "kitchen", "office", "toys", "books", "tools", "sports", "music")

SETUP = f"""
SELECT pg_advisory_xact_lock(hashtext('pgc_'));
DROP TABLE IF EXISTS pgc_products;
CREATE TABLE pgc_products (
    id integer NOT NULL,
    sku text NOT NULL,
    name text NOT NULL,
    category text NOT NULL,
    price numeric(10, 2) NOT NULL,
    stock integer NOT NULL
);
SELECT setseed(0.5);
INSERT INTO pgc_products
SELECT g, 'SKU-' || lpad(g::text, 6, '0'), 'Product ' || g,
       (ARRAY['{"', '".join(CATEGORIES)}'])[1 + g % {len(CATEGORIES)}],
       round((1 + random() * 499)::numeric, 2), floor(random() * 1000)
FROM generate_series(1, {PRODUCT_COUNT}) g;
ALTER TABLE pgc_products ADD PRIMARY KEY (id), ADD UNIQUE (sku);
CREATE INDEX pgc_products_category_price ON pgc_products (category, price);
ANALYZE pgc_products;
"""
COLUMNS = "id, sku, name, category, price, stock"
BY_ID = f"SELECT {COLUMNS} FROM pgc_products WHERE id = $1"
BY_SKU = f"SELECT {COLUMNS} FROM pgc_products WHERE sku = $1"
CHEAPEST = f"SELECT {COLUMNS} FROM pgc_products WHERE category = $1 ORDER BY price LIMIT $2"


class Product(BaseModel):
    id: int
    sku: str
    name: str
    category: str
    price: float
    stock: int


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, asyncpg.Pool]]:
    pool = await asyncpg.create_pool(database_url("pg_clean"), min_size=2, max_size=10)
    try:
        async with pool.acquire() as connection, connection.transaction():
            await connection.execute(SETUP)
        yield {"pool": pool}
    finally:
        await pool.close()


app = FastAPI(title="pg_clean", lifespan=lifespan)


def product(row: asyncpg.Record | None) -> Product:
    if row is None:
        raise HTTPException(status_code=404, detail="no such product")
    return Product(**{**row, "price": float(row["price"])})


@app.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@app.get("/products/{product_id}")
async def get_product(request: Request, product_id: int) -> Product:
    return product(await request.state.pool.fetchrow(BY_ID, product_id))


@app.get("/products/sku/{sku}")
async def get_product_by_sku(request: Request, sku: str) -> Product:
    return product(await request.state.pool.fetchrow(BY_SKU, sku))


@app.get("/categories/{category}/products")
async def cheapest_in_category(request: Request, category: str) -> list[Product]:
    rows = await request.state.pool.fetch(CHEAPEST, category, PAGE_SIZE)
    return [product(row) for row in rows]

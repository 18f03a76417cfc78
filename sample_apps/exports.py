"""A report-export API whose sync `def` route uploads through a blocking storage SDK.

Planted bottleneck: GET /exports/{export_id} is a plain `def` route, so FastAPI runs it on
one of AnyIO's worker threads, and `upload_to_storage()` holds that thread for ~30 ms
(`time.sleep` stands in for a synchronous object-storage SDK call, like boto3's
`put_object`). The event loop stays free, but AnyIO lends out at most 40 threads: past 40
requests in flight the rest queue for a token, and latency steps up by ~30 ms per 40
waiting. perfaudit should report threadpool-saturation at `upload_to_storage` under load
and suggest an async SDK (or a larger thread limiter, sized with the storage pool).

    perfaudit profile sample_apps.exports:app /exports/7 /health -c 100 -n 400

EXPORTS_STORAGE_PUT_S sets the SDK call's time (a slower storage region). Over real HTTP on
a 2-core machine, 40 threads × 30 ms means 1,300 requests/s, more than uvicorn serves there:
the CPU saturates before the pool does. The attach tests use 0.2 s (200 requests/s).
"""

from __future__ import annotations

import csv
import io
import os
import time
from datetime import date

from fastapi import FastAPI
from pydantic import BaseModel

STORAGE_PUT_S = float(os.environ.get("EXPORTS_STORAGE_PUT_S", "0.03"))
BUCKET = "acme-exports"
ORDERS = [
    (f"ORD-{i:05d}", date(2024, 5, 1 + i % 28).isoformat(), f"customer-{i % 37}", 12.5 + i % 90)
    for i in range(200)
]


class ExportLink(BaseModel):
    export_id: int
    url: str
    rows: int
    bytes: int


app = FastAPI(title="exports")


def render_csv(export_id: int) -> bytes:
    """The orders of one export (a small, cheap slice) as CSV."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(("order", "date", "customer", "total"))
    writer.writerows(ORDERS[export_id % 10 :: 10])
    return out.getvalue().encode()


def upload_to_storage(key: str, data: bytes) -> str:
    """Put `data` in the bucket through the (blocking) storage SDK; return its URL."""
    time.sleep(STORAGE_PUT_S)  # stands in for the SDK's synchronous HTTP PUT
    return f"https://{BUCKET}.storage.example.com/{key}"


@app.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@app.get("/exports/{export_id}")
def create_export(export_id: int) -> ExportLink:
    data = render_csv(export_id)
    url = upload_to_storage(f"exports/{export_id}.csv", data)
    return ExportLink(export_id=export_id, url=url, rows=data.count(b"\n") - 1, bytes=len(data))

"""An audit-trail service that remembers every report it rendered, forever.

Planted bottleneck: `GET /reports/{n}` renders a ~50 KB report and appends it to the
module-level list `RENDERED` "for the audit trail", which nothing ever empties: the
process grows by 50 KB per request until it is killed. perfaudit should rank
memory-growth first, naming the line that builds the report and the list that keeps it.

    perfaudit profile sample_apps.history:app "/reports/{n}"
"""

from __future__ import annotations

from fastapi import FastAPI

app = FastAPI(title="history")

RENDERED: list[dict[str, object]] = []


def render(report_id: int) -> str:
    rows = (f"{report_id:08d},{line:06d},{'x' * 40}\n" for line in range(1000))
    return "".join(rows)


@app.get("/reports/{report_id}")
async def report(report_id: int) -> dict[str, object]:
    body = render(report_id)
    RENDERED.append({"id": report_id, "body": body})
    return {"id": report_id, "lines": body.count("\n")}


@app.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}

"""A product search that loads its whole catalogue to return one page of it.

Planted bottleneck: `GET /search` reads all 20,000 catalogue rows (about 1 KB each: a
20 MB list) into memory on every request, then returns the first 10. perfaudit should
report allocation-heavy at the line that builds the list: each request peaks about
20 MB above what it started with, to send about a kilobyte.

    perfaudit profile sample_apps.search:app /search
"""

from __future__ import annotations

from fastapi import FastAPI

app = FastAPI(title="search")

PAGE = 10
CATALOGUE_ROWS = 20_000


def catalogue_row(index: int) -> str:
    return f"{index:06d},lamp-{index % 97},{'description ' * 80}"


@app.get("/search")
def search(q: str = "lamp") -> dict[str, object]:
    rows = [catalogue_row(i) for i in range(CATALOGUE_ROWS)]
    return {"q": q, "results": [row[:40] for row in rows[:PAGE]]}


@app.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}

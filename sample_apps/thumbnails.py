"""A thumbnail service that shells out to a converter from inside an `async def` route.

Planted bottleneck: `render_thumbnail()` runs the converter with `subprocess.run(...)` from
the `async def` GET /thumbnails/{image_id}. `subprocess.run` waits for the child to finish,
so the event loop is frozen for the whole run (~20 ms) and every other request, /health
included, waits behind it. perfaudit should report event-loop-blocked at `render_thumbnail`
and suggest `asyncio.create_subprocess_exec` or a worker thread.

`gzip -9` stands in for the image converter (ImageMagick's `convert -thumbnail`), since
gzip is on every Debian machine; the source images are random PPM files the lifespan
writes to a temporary folder and deletes at shutdown.

    perfaudit profile sample_apps.thumbnails:app /thumbnails/1 /health -c 8
"""

from __future__ import annotations

import random
import subprocess
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, HTTPException, Request, Response

IMAGE_COUNT = 3
IMAGE_SIDE = 384  # pixels: ~440 KB of RGB, ~20 ms of `gzip -9` here
CONVERTER = ("gzip", "-9", "--stdout")  # stands in for ("convert", "-thumbnail", "128x128")


def write_source_images(folder: Path) -> dict[int, Path]:
    """Uploaded originals, as binary PPM files of noise (photos barely compress either)."""
    rng = random.Random(42)
    header = f"P6 {IMAGE_SIDE} {IMAGE_SIDE} 255\n".encode()
    images = {}
    for image_id in range(1, IMAGE_COUNT + 1):
        path = folder / f"upload-{image_id}.ppm"
        path.write_bytes(header + rng.randbytes(IMAGE_SIDE * IMAGE_SIDE * 3))
        images[image_id] = path
    return images


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, dict[int, Path]]]:
    with tempfile.TemporaryDirectory(prefix="thumbnails-") as folder:
        yield {"images": write_source_images(Path(folder))}


app = FastAPI(title="thumbnails", lifespan=lifespan)


def render_thumbnail(source: Path) -> bytes:
    """Run the converter on `source` and return what it writes to stdout."""
    result = subprocess.run([*CONVERTER, str(source)], check=True, capture_output=True)
    return result.stdout


@app.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@app.get("/thumbnails/{image_id}")
async def thumbnail(image_id: int, request: Request) -> Response:
    source = request.state.images.get(image_id)
    if source is None:
        raise HTTPException(status_code=404, detail=f"no image {image_id}")
    return Response(content=render_thumbnail(source), media_type="application/octet-stream")

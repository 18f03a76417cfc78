"""A feature-flag endpoint declared `def` though it never blocks.

Planted bottleneck: GET /flags is a plain `def` route that filters a small module-level
dict: well under a millisecond of work. Because it is `def`, FastAPI hands every call to
one of AnyIO's worker threads and back, a hop that costs more than the work itself.
perfaudit should report trivial-sync-route at `list_flags` and suggest declaring it
`async def`.

    perfaudit profile sample_apps.flags:app /flags /health -c 8
"""

from __future__ import annotations

from typing import Literal

from fastapi import FastAPI

Client = Literal["web", "ios", "android"]

# Which clients each flag is switched on for; edited by deploys, read on every page load.
FLAGS: dict[str, dict[Client, bool]] = {
    "new-checkout": {"web": True, "ios": False, "android": False},
    "dark-mode": {"web": True, "ios": True, "android": True},
    "saved-carts": {"web": False, "ios": True, "android": True},
    "gift-cards": {"web": False, "ios": False, "android": False},
    "live-chat": {"web": True, "ios": False, "android": True},
}

app = FastAPI(title="flags")


@app.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@app.get("/flags")
def list_flags(client: Client = "web") -> dict[str, bool]:
    return {name: clients[client] for name, clients in FLAGS.items()}

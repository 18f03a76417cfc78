"""What the app's own middleware costs: the route measured through the whole app and with
the user's middleware removed, interleaved.

(Skeleton: the lead wires it into the audit; a helper fills it in.)"""

from __future__ import annotations

from typing import Any

from perfaudit.load.plan import RequestSpec
from perfaudit.model import MiddlewareEvidence


async def measure_middleware(
    app: Any,
    request: RequestSpec,
    *,
    state: dict[str, Any] | None,
    count: int,
    timeout_s: float,
) -> MiddlewareEvidence | None:
    """None when the app has no middleware of its own (or is not a Starlette app)."""
    return None

"""Whether a function takes per-request state — a database session or connection, a
request, an HTTP client — whose contents its result depends on: caching such a function
is wrong, whatever its profile says."""

from __future__ import annotations

import re

# Parameter annotations naming per-request state (as words: `SessionDep`, `AsyncSession`,
# `Annotated[Session, Depends(get_db)]`, `httpx.AsyncClient`).
_TYPES = re.compile(
    r"(Session|Connection|Cursor|Request|WebSocket|Client|Engine|Redis|Pool|UnitOfWork)"
    r"(?:Dep)?\b"
)
# Parameter names that hold it when there is no annotation.
_NAMES = frozenset(
    {"db", "session", "db_session", "conn", "connection", "cursor", "cur", "request", "req"}
    | {"client", "http_client", "websocket", "ws", "engine", "tx", "uow", "redis", "pool"}
)


def per_request_state(params: tuple[str, ...]) -> str | None:
    """The first parameter ("name: Annotation") that holds per-request state, or None."""
    for param in params:
        name, _, annotation = param.partition(":")
        if _TYPES.search(annotation) or name.strip() in _NAMES:
            return param
    return None

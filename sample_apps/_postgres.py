"""Where the PostgreSQL sample apps (pg_*.py) find their database: the environment variable
PERFAUDIT_PG_URL, a plain `postgresql://user@host:port/db` URL (the test suite's private
server gives one; see tests/postgres.py)."""

from __future__ import annotations

import os


def database_url(app: str) -> str:
    url = os.environ.get("PERFAUDIT_PG_URL", "")
    if not url:
        raise RuntimeError(
            f"{app} needs PostgreSQL: set PERFAUDIT_PG_URL to a database's URL "
            "(postgresql://user@host:port/db)."
        )
    return url

"""The database collector: every SQL statement the app runs (sqlite3, SQLAlchemy), with its
normalised shape, time and call site, and the plan of slow SQLite statements.

(Skeleton: the lead wires it into the audit; a helper fills it in.)"""

from __future__ import annotations

from perfaudit.model import DatabaseEvidence


class DatabaseCollector:
    def install(self) -> None:
        """Before the app is imported: learn which databases its connections open."""

    def start(self) -> None:
        """Start recording statements (around the profiled phase)."""

    def stop(self, requests: int) -> DatabaseEvidence | None:
        """Stop recording; None when the app ran no SQL."""
        return None

    def uninstall(self) -> None:
        """Undo install()."""

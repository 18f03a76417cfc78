"""Library methods wrapped for one phase are put back exactly: an inherited one is wrapped
on the subclass and removed again, the base class never touched."""

from __future__ import annotations

from typing import Any

from perfaudit.agent.capture.patches import ClassPatches


class Base:
    def execute(self) -> str:
        return "base"


class Cursor(Base):
    def fetch(self) -> str:
        return "fetch"


def shout(original: Any) -> Any:
    return lambda self: original(self).upper()


def test_own_and_inherited_methods_are_wrapped_and_put_back() -> None:
    patches = ClassPatches()
    patches.wrap(Cursor, "fetch", shout)
    patches.wrap(Cursor, "execute", shout)
    patches.wrap(Cursor, "missing", shout)  # another version of the library: left alone

    assert (Cursor().fetch(), Cursor().execute(), Base().execute()) == ("FETCH", "BASE", "base")
    assert patches.active
    patches.undo()

    assert (Cursor().fetch(), Cursor().execute()) == ("fetch", "base")
    assert "execute" not in Cursor.__dict__ and not hasattr(Cursor, "missing")
    assert not patches.active


def test_a_driver_hook_never_turns_into_the_app_s_error() -> None:
    """The statement's database cannot be read (its connection closed meanwhile): the
    query's own result still reaches the app, and the statement is recorded without it."""
    from perfaudit.agent.capture.drivers import DriverCall, DriverHooks

    recorded: list[DriverCall] = []
    hooks = DriverHooks(
        recorded.append, busy=lambda: False, callsite=lambda: None, stage=lambda site: None
    )

    def unreadable(cursor: object) -> tuple[str, object]:
        raise RuntimeError("the connection is closed")

    execute = hooks._sync_wrapper("psycopg", unreadable)(lambda cursor, query, *a: "rows")

    assert execute(object(), "SELECT 1", (1,)) == "rows"
    assert [(c.sql, c.database, c.params) for c in recorded] == [("SELECT 1", "", (1,))]

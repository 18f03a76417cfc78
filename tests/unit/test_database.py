"""The database collector on real SQLite databases (in memory, in a file, through
SQLAlchemy): statements counted per shape, timed, traced to the line that ran them, and
explained — with nothing but EXPLAIN QUERY PLAN ever run on the app's database."""

from __future__ import annotations

import sqlite3
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import ForeignKey, create_engine, event, select, text
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, relationship

from perfaudit.agent.capture.database import DatabaseCollector, _CallSites
from perfaudit.agent.capture.sql import normalize_sql, sqlite_database
from perfaudit.model import DatabaseEvidence, StatementShape

HERE = str(Path(__file__).resolve())
LOOKUP = "SELECT name FROM authors WHERE id = ?"
SCAN = "SELECT id FROM books WHERE title = ?"


# -- normalisation ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sql", "shape"),
    [
        ("SELECT * FROM books WHERE author_id = 7", "SELECT * FROM books WHERE author_id = ?"),
        ("select *\n  from books\twhere title = 'It''s'  ", "select * from books where title = ?"),
        ("SELECT a FROM t WHERE a IN (1, 2,3) OR b=2.5e3", "SELECT a FROM t WHERE a IN (?) OR b=?"),
        ("SELECT * FROM t WHERE a IN (?, ?, ?)", "SELECT * FROM t WHERE a IN (?)"),
        ("INSERT INTO t VALUES (1, 'a'), (2, 'b'), (3, 'c');", "INSERT INTO t VALUES (?, ?)"),
        ("SELECT t1.col_2 FROM t1 WHERE x = 0x1F", "SELECT t1.col_2 FROM t1 WHERE x = ?"),
        ('SELECT "Col 1" FROM "T 9" WHERE y = -4', 'SELECT "Col 1" FROM "T 9" WHERE y = -?'),
        ("SELECT a::int FROM t WHERE b = :name AND c = $1 AND d = %s AND e = %(e)s",
         "SELECT a::int FROM t WHERE b = ? AND c = ? AND d = ? AND e = ?"),
        ("SELECT 1 -- why\nFROM t /* a\nb */ WHERE x = X'ff'", "SELECT ? FROM t WHERE x = ?"),
    ],
)  # fmt: skip
def test_normalize_sql_replaces_literals_and_collapses_lists(sql: str, shape: str) -> None:
    assert normalize_sql(sql) == shape


def test_statements_differing_only_in_literals_share_a_shape() -> None:
    assert normalize_sql("SELECT * FROM books WHERE author_id = 7") == normalize_sql(
        "SELECT  *  FROM books WHERE author_id = 8"
    )
    assert normalize_sql("SELECT * FROM t WHERE a = 1") != normalize_sql(
        "SELECT * FROM t WHERE b = 1"
    )


@pytest.mark.parametrize(
    ("database", "uri", "expected"),
    [
        (":memory:", False, ":memory:"),
        ("", False, ":memory:"),
        ("file::memory:?cache=shared", True, ":memory:"),
        ("file:db1?mode=memory&cache=shared", True, ":memory:"),
        ("/srv/app/db.sqlite", False, "/srv/app/db.sqlite"),
        (b"/srv/app/db.sqlite", False, "/srv/app/db.sqlite"),
        (Path("/srv/app/db.sqlite"), False, "/srv/app/db.sqlite"),
        ("file:/srv/app/my%20db.sqlite?mode=ro", True, "/srv/app/my db.sqlite"),
        ("file:///srv/app/db.sqlite", True, "/srv/app/db.sqlite"),
    ],
)
def test_sqlite_database_names_a_file_or_memory(database: object, uri: bool, expected: str) -> None:
    assert sqlite_database(database, uri=uri) == expected


def test_a_relative_database_path_is_made_absolute(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.chdir(tmp_path)
    assert sqlite_database("app.db") == str(tmp_path / "app.db")


# -- the collector on sqlite3 -------------------------------------------------------------


@pytest.fixture
def collector() -> Iterator[DatabaseCollector]:
    collector = DatabaseCollector()
    collector.install()
    try:
        yield collector
    finally:
        collector.uninstall()


def library(db: sqlite3.Connection, *, books: int = 300) -> sqlite3.Connection:
    db.execute("CREATE TABLE authors (id INTEGER PRIMARY KEY, name TEXT)")
    db.execute("CREATE TABLE books (id INTEGER PRIMARY KEY, title TEXT, author_id INTEGER)")
    db.executemany("INSERT INTO authors VALUES (?, ?)", [(i, f"author {i}") for i in range(50)])
    db.executemany(
        "INSERT INTO books VALUES (?, ?, ?)", [(i, f"title {i}", i % 50) for i in range(books)]
    )
    db.commit()
    return db


def author_names(db: sqlite3.Connection, ids: range) -> list[str]:
    return [db.execute(LOOKUP, (i,)).fetchone()[0] for i in ids]


def find_book(db: sqlite3.Connection, title: str) -> list[Any]:
    return db.execute(SCAN, (title,)).fetchall()


def by_shape(evidence: DatabaseEvidence | None, sql: str) -> StatementShape:
    assert evidence is not None
    matches = [s for s in evidence.statements if s.shape == normalize_sql(sql)]
    assert len(matches) == 1, [s.shape for s in evidence.statements]
    return matches[0]


def test_counts_each_shape_with_its_call_site_and_plan_in_memory(
    collector: DatabaseCollector,
) -> None:
    db = library(sqlite3.connect(":memory:"))
    collector.start()
    for _ in range(3):
        author_names(db, range(20))
        find_book(db, "title 7")
    evidence = collector.stop(3)

    assert evidence is not None
    assert evidence.requests == 3
    lookup, scan = by_shape(evidence, LOOKUP), by_shape(evidence, SCAN)
    assert lookup.executions == 60
    assert lookup.driver == "sqlite3"
    assert lookup.database == ":memory:"
    assert lookup.example == "SELECT name FROM authors WHERE id = 0"  # literals included
    assert lookup.callsite is not None
    assert (lookup.callsite.file, lookup.callsite.function) == (HERE, "author_names")
    assert lookup.plan == ("SEARCH authors USING INTEGER PRIMARY KEY (rowid=?)",)
    assert lookup.interval_s > 0  # it repeats in a loop
    assert scan.executions == 3
    assert scan.callsite is not None and scan.callsite.function == "find_book"
    assert scan.plan == ("SCAN books",)
    assert lookup.total_s > 0 and scan.total_s > 0
    db.close()


def test_a_file_database_is_explained_on_a_read_only_connection(
    collector: DatabaseCollector, tmp_path: Path, monkeypatch: Any
) -> None:
    path = tmp_path / "library.db"
    db = library(sqlite3.connect(path))
    collector.start()
    find_book(db, "title 7")
    author_names(db, range(3))
    opened: list[tuple[Any, ...]] = []
    executed: list[str] = []

    class SpyConnection(sqlite3.Connection):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            opened.append((*args, kwargs))
            super().__init__(*args, **kwargs)

    class SpyCursor(sqlite3.Cursor):
        def execute(self, sql: str, params: Any = (), /) -> sqlite3.Cursor:
            executed.append(sql)
            return super().execute(sql, params)

    monkeypatch.setattr(sqlite3, "Connection", SpyConnection)
    monkeypatch.setattr(sqlite3, "Cursor", SpyCursor)
    changes_before = db.total_changes
    evidence = collector.stop(1)
    monkeypatch.undo()

    scan = by_shape(evidence, SCAN)
    assert scan.database == str(path)
    assert scan.plan == ("SCAN books",)
    assert [args[0] for args in opened] == [f"{path.as_uri()}?mode=ro"] * 2
    assert sorted(executed) == [
        "EXPLAIN QUERY PLAN SELECT id FROM books WHERE title = 'title 7'",
        "EXPLAIN QUERY PLAN SELECT name FROM authors WHERE id = 0",
    ]
    assert db.total_changes == changes_before
    db.close()


def test_only_explains_statements_with_a_where_clause(collector: DatabaseCollector) -> None:
    db = library(sqlite3.connect(":memory:"))
    collector.start()
    db.execute("SELECT count(*) FROM books").fetchone()
    db.execute("UPDATE books SET title = 'x' WHERE id = 1")
    db.commit()
    evidence = collector.stop(1)

    assert by_shape(evidence, "SELECT count(*) FROM books").plan == ()
    assert by_shape(evidence, "UPDATE books SET title = ? WHERE id = ?").plan == (
        "SEARCH books USING INTEGER PRIMARY KEY (rowid=?)",
    )
    db.close()


def test_statements_outside_start_and_stop_are_not_recorded(
    collector: DatabaseCollector,
) -> None:
    db = library(sqlite3.connect(":memory:"))
    author_names(db, range(5))
    collector.start()
    evidence = collector.stop(1)
    author_names(db, range(5))

    assert evidence is None
    collector.start()
    assert collector.stop(1) is None
    db.close()


def test_a_connection_opened_in_a_worker_thread_is_recorded(
    collector: DatabaseCollector, tmp_path: Path
) -> None:
    """set_trace_callback refuses a connection made in another thread (check_same_thread):
    it is hooked when it opens, in its own thread."""
    library(sqlite3.connect(tmp_path / "library.db")).close()
    ready, done, box = threading.Event(), threading.Event(), {}

    def worker() -> None:
        db = sqlite3.connect(tmp_path / "library.db")  # check_same_thread=True
        ready.set()
        done.wait(5)
        box["names"] = author_names(db, range(4))
        db.close()

    thread = threading.Thread(target=worker)
    thread.start()
    ready.wait(5)
    collector.start()
    done.set()
    thread.join(5)
    evidence = collector.stop(1)

    lookup = by_shape(evidence, LOOKUP)
    assert lookup.executions == 4
    assert lookup.callsite is not None and lookup.callsite.function == "author_names"
    assert lookup.plan == ("SEARCH authors USING INTEGER PRIMARY KEY (rowid=?)",)


def test_a_connection_per_request_is_recorded_every_time(
    collector: DatabaseCollector, tmp_path: Path
) -> None:
    """A new connection often reuses the address (the id) of the one closed before it."""
    library(sqlite3.connect(tmp_path / "library.db")).close()
    collector.start()
    for _ in range(5):
        db = sqlite3.connect(tmp_path / "library.db")
        author_names(db, range(3))
        db.close()
        del db
    evidence = collector.stop(5)

    lookup = by_shape(evidence, LOOKUP)
    assert lookup.executions == 15
    assert lookup.database == str(tmp_path / "library.db")


def test_a_connection_opened_before_install_is_found_at_start() -> None:
    db = library(sqlite3.connect(":memory:"))
    collector = DatabaseCollector()
    collector.install()
    try:
        collector.start()
        find_book(db, "title 3")
        evidence = collector.stop(1)
    finally:
        collector.uninstall()

    scan = by_shape(evidence, SCAN)
    assert scan.database == ""  # not seen opening: unknown, explained on its own connection
    assert scan.plan == ("SCAN books",)
    db.close()


def test_a_statement_is_timed_by_its_own_work_not_what_follows(
    collector: DatabaseCollector,
) -> None:
    """The next statement may come much later: the gap is not the statement's time."""
    db = library(sqlite3.connect(":memory:"), books=50_000)
    collector.start()
    started = time.perf_counter()
    find_book(db, "no such title")  # a scan long enough for many progress ticks
    scan_wall = time.perf_counter() - started
    author_names(db, range(1))  # too short to tick
    time.sleep(max(3 * scan_wall, 0.05))
    author_names(db, range(1))
    evidence = collector.stop(1)

    scan, lookup = by_shape(evidence, SCAN), by_shape(evidence, LOOKUP)
    assert 0.3 * scan_wall < scan.total_s < 1.5 * scan_wall
    assert lookup.total_s < scan_wall  # not the sleep
    db.close()


def test_inside_a_greenlet_the_call_site_is_on_the_parent_greenlets_stack(
    monkeypatch: Any,
) -> None:
    """SQLAlchemy's asyncio mode runs the driver in a greenlet whose stack holds no app
    frame: the app's await is on the parent greenlet's suspended stack."""

    def list_books() -> Iterator[None]:
        yield  # suspended here, as the app's coroutine is while the greenlet runs

    suspended = list_books()
    next(suspended)
    parent = SimpleNamespace(gr_frame=suspended.gi_frame)
    greenlet = SimpleNamespace(getcurrent=lambda: SimpleNamespace(parent=parent))
    monkeypatch.setitem(sys.modules, "greenlet", greenlet)

    with ThreadPoolExecutor(1) as pool:  # a stack of stdlib frames only
        site = pool.submit(_CallSites().find).result()

    assert site is not None
    assert (site.file, site.function) == (HERE, "list_books")


def test_uninstall_restores_connect_and_unhooks(tmp_path: Path) -> None:
    original = sqlite3.connect
    collector = DatabaseCollector()
    collector.install()
    assert sqlite3.connect is not original
    assert sqlite3.dbapi2.connect is sqlite3.connect  # SQLAlchemy's pysqlite calls this one
    db = sqlite3.connect(":memory:")
    collector.uninstall()

    assert sqlite3.connect is original
    assert sqlite3.dbapi2.connect is original
    seen: list[str] = []
    db.set_trace_callback(seen.append)  # ours are gone; the app's own work again
    db.execute("SELECT 1")
    assert seen == ["SELECT 1"]
    db.close()


# -- the collector on SQLAlchemy ------------------------------------------------------------


class Base(DeclarativeBase):
    pass


class Author(Base):
    __tablename__ = "authors"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str]


class Book(Base):
    __tablename__ = "books"
    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str]
    author_id: Mapped[int] = mapped_column(ForeignKey("authors.id"))
    author: Mapped[Author] = relationship()


def orm_library(url: str) -> Any:
    engine = create_engine(url)
    Base.metadata.create_all(engine)
    with Session(engine) as session, session.begin():
        session.add_all([Author(id=i, name=f"author {i}") for i in range(40)])
        session.add_all([Book(id=i, title=f"title {i}", author_id=i) for i in range(40)])
    return engine


def books_with_authors(engine: Any) -> list[str]:
    with Session(engine) as session:
        books = session.scalars(select(Book).order_by(Book.id).limit(25)).all()
        return [book.author.name for book in books]


def titles_like(engine: Any, title: str) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(text("SELECT id FROM books WHERE title = :t"), {"t": title}))


AUTHOR_BY_ID = "SELECT authors.id, authors.name FROM authors WHERE authors.id = ?"


@pytest.mark.parametrize("in_file", [True, False], ids=["file", "memory"])
def test_sqlalchemy_lazy_loads_are_counted_at_the_apps_line(
    collector: DatabaseCollector, tmp_path: Path, in_file: bool
) -> None:
    url = f"sqlite:///{tmp_path / 'orm.db'}" if in_file else "sqlite://"
    engine = orm_library(url)
    books_with_authors(engine)  # warm SQLAlchemy's caches, as the warm-up phase does
    collector.start()
    for _ in range(2):
        books_with_authors(engine)
        titles_like(engine, "title 3")
    evidence = collector.stop(2)

    lazy = by_shape(evidence, AUTHOR_BY_ID)
    assert lazy.driver == "sqlalchemy"
    assert lazy.executions == 50
    assert lazy.callsite is not None
    assert (lazy.callsite.file, lazy.callsite.function) == (HERE, "books_with_authors")
    assert lazy.database == (str(tmp_path / "orm.db") if in_file else ":memory:")
    assert lazy.plan == ("SEARCH authors USING INTEGER PRIMARY KEY (rowid=?)",)
    scan = by_shape(evidence, "SELECT id FROM books WHERE title = ?")
    assert scan.plan == ("SCAN books",)
    assert scan.callsite is not None and scan.callsite.function == "titles_like"
    engine.dispose()


def test_sqlalchemy_statements_no_trace_callback_sees_are_timed_by_its_events(
    collector: DatabaseCollector, tmp_path: Path
) -> None:
    """An app that sets its own trace callback (SQL logging) replaces perfaudit's:
    SQLAlchemy's cursor events still see its statements, with their parameters apart."""
    engine = orm_library(f"sqlite:///{tmp_path / 'orm.db'}")
    logged: list[str] = []

    @event.listens_for(engine, "connect")
    def log_sql(dbapi_connection: sqlite3.Connection, _: Any) -> None:
        dbapi_connection.set_trace_callback(logged.append)

    engine.dispose()  # reconnect, so the listener runs
    collector.start()
    titles_like(engine, "title 3")
    evidence = collector.stop(1)

    scan = by_shape(evidence, "SELECT id FROM books WHERE title = ?")
    assert logged  # the app's logging still works
    assert scan.driver == "sqlalchemy"
    assert scan.example == "SELECT id FROM books WHERE title = ?"
    assert scan.plan == ("SCAN books",)  # explained with its parameters bound
    assert scan.callsite is not None and scan.callsite.function == "titles_like"
    assert scan.total_s > 0
    engine.dispose()

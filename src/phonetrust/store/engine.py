"""Engines: SQLite set up for foreign keys, WAL and real transactions; anything else as given.

On SQLite every transaction takes the write lock when it begins (``BEGIN
IMMEDIATE``), except those begun inside :func:`read_only`: a plain
``BEGIN`` with the connection made query-only, so a reader (``serve``'s
poll, a ``show`` command) never waits for a writer or holds one up, and
cannot write by mistake. Other databases get ``pool_pre_ping``: a
connection the server closed (a restart, a terminated backend) is replaced
at checkout instead of failing the next unit of work.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import URL, ExceptionContext, make_url
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.pool import StaticPool


def sqlite_url(path: Path) -> str:
    """The SQLAlchemy URL of the SQLite database file at ``path``."""
    return URL.create("sqlite+pysqlite", database=str(path)).render_as_string()


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy, not the sqlite3 module, decide where transactions begin
    # (the module would otherwise start them lazily and never around DDL).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA busy_timeout = 10000")
    finally:
        cursor.close()


_READ_ONLY: ContextVar[bool] = ContextVar("phonetrust_read_only", default=False)
_QUERY_ONLY = "phonetrust_query_only"
"""Key in a pooled connection's ``info``: whether ``PRAGMA query_only`` is on."""


@contextlib.contextmanager
def read_only() -> Iterator[None]:
    """Transactions *begun* in this block only read: on SQLite they take no write lock.

    Meant to wrap the opening of one unit of work (the ``BEGIN``), not its body."""
    token = _READ_ONLY.set(True)
    try:
        yield
    finally:
        _READ_ONLY.reset(token)


def _sqlite_on_begin(connection: Connection) -> None:
    # IMMEDIATE takes the write lock up front, so units of work that read then
    # write (publish, the service's check-then-put) wait for each other (up to
    # busy_timeout) instead of failing with "database is locked" halfway. A
    # read-only one reads a WAL snapshot with no lock; query_only makes any
    # write in it fail instead of racing the writers.
    reader = _READ_ONLY.get()
    if connection.info.get(_QUERY_ONLY, False) != reader:
        connection.exec_driver_sql(f"PRAGMA query_only = {int(reader)}")
        connection.info[_QUERY_ONLY] = reader
    connection.exec_driver_sql("BEGIN" if reader else "BEGIN IMMEDIATE")


def make_engine(url: str) -> Engine:
    """An engine for ``url``, with SQLite set up for foreign keys, WAL and real transactions."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        engine = create_engine(parsed, pool_pre_ping=True)
        event.listen(engine, "handle_error", _note_where)
        return engine
    if parsed.database in (None, "", ":memory:"):
        # One shared connection, or each connection would see its own empty database.
        engine = create_engine(
            parsed, poolclass=StaticPool, connect_args={"check_same_thread": False}
        )
    else:
        _create_private(parsed.database)
        engine = create_engine(parsed)
    event.listen(engine, "connect", _sqlite_on_connect)
    event.listen(engine, "begin", _sqlite_on_begin)
    event.listen(engine, "handle_error", _note_where)
    return engine


def _create_private(path: str) -> None:
    """Create the database file 0600 unless it exists: it holds CAPF auth strings, and
    SQLite gives the ``-wal`` and ``-shm`` files the mode of the database file."""
    # There already, or no such directory (SQLite then says so itself): nothing to do.
    with contextlib.suppress(FileExistsError, FileNotFoundError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


DatabaseError = DBAPIError
"""What the database driver raised, as SQLAlchemy wraps it (for the CLI's one error boundary)."""
_WHERE = "phonetrust_where"
_SERVERS = {"postgresql": ("PostgreSQL", 5432)}


def _note_where(context: ExceptionContext) -> None:
    """Remember on the error which database it came from (the driver's message may not say)."""
    error = context.sqlalchemy_exception
    engine = context.engine
    if error is None or engine is None:
        return
    url = engine.url
    backend = url.get_backend_name()
    if backend == "sqlite":
        where = url.database or ":memory:"
    else:
        port = url.port or _SERVERS.get(backend, ("", "?"))[1]
        where = f"{url.host or 'localhost'}:{port}"
    setattr(error, _WHERE, (backend, where))


def describe_database_error(error: DBAPIError) -> str:
    """One line for a person: which database, what went wrong, and (when a database server
    cannot be reached) what to check."""
    backend, where = getattr(error, _WHERE, ("", "an unknown database"))
    lines = str(error.orig if error.orig is not None else error).strip().splitlines()
    reason = lines[0].strip() if lines else type(error).__name__
    if backend != "sqlite" and isinstance(error, (OperationalError, InterfaceError)):
        server = _SERVERS.get(backend, ("the database server",))[0]
        return f"cannot reach the database at {where}: {reason}; is {server} running?"
    return f"database error ({where}): {reason}"

"""Engines: SQLite set up for foreign keys, WAL and real transactions; anything else as given."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
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


def _sqlite_on_begin(connection: Connection) -> None:
    # IMMEDIATE takes the write lock up front, so units of work that read then
    # write (publish, the service's check-then-put) wait for each other (up to
    # busy_timeout) instead of failing with "database is locked" halfway.
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def make_engine(url: str) -> Engine:
    """An engine for ``url``, with SQLite set up for foreign keys, WAL and real transactions."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(parsed)
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
    return engine


def _create_private(path: str) -> None:
    """Create the database file 0600 unless it exists: it holds CAPF auth strings, and
    SQLite gives the ``-wal`` and ``-shm`` files the mode of the database file."""
    # There already, or no such directory (SQLite then says so itself): nothing to do.
    with contextlib.suppress(FileExistsError, FileNotFoundError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))

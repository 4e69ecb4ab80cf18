"""A throw-away copy of the cluster, for the planner to change instead of the real one.

``phonetrust plan`` runs the operation it is asked about for real, on a copy:
whatever the command does, nothing of the real cluster changes and nothing is
served. :func:`scratch_copy` makes that copy: a data directory of its own with
a SQLite database holding the real store's rows, the same cluster key in its
``master.key`` and the same ``node``, so that ``phonetrust <command> --data
<scratch>`` runs there exactly as it would on the real cluster.

How the rows get there depends on where they are:

- SQLite: the online backup API copies the database page by page in one step,
  a consistent snapshot even while servers write (readers of a WAL database
  never wait). Everything comes across, the Alembic version with it.
- PostgreSQL (or any other URL): one REPEATABLE READ, read-only transaction
  (one snapshot, so the copy is consistent) reads every table of
  :mod:`phonetrust.store.schema` into a SQLite database the project's own
  migrations made, so the views of migration 0006 (``run sql``) and the
  Alembic version are there too. Only the current plan version is copied, with
  the files and contents it serves: older versions matter to what phones have
  downloaded, which the planner reads from the real store, never from the
  copy. Version numbers stay the same, so the copy's next version is the real
  cluster's next one.

What is not copied: the ``tftp/`` directory (files only ``serve`` reads), the
service traces of ``activelog/``, ``known_hosts`` and the admin history.

The copy holds every private key, sealed, and the key that opens them: it is
as secret as the real data directory (0700, ``master.key`` 0600). Removing it
is the caller's task; make it inside a :class:`tempfile.TemporaryDirectory`
and it goes when the plan is done.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Select, Table, event, func, insert, select
from sqlalchemy.engine import make_url

from phonetrust.errors import LocalError
from phonetrust.planner import COPY_MARKER
from phonetrust.service.context import Context
from phonetrust.store import migrations, schema
from phonetrust.store.datadir import DataDir
from phonetrust.store.engine import make_engine, read_only
from phonetrust.store.sql import SqlRepository, sqlite_url

SCRATCH_NAME = "data"
"""The scratch data directory's name under the directory it is made in."""
DATABASE_NAME = "phonetrust.db"
"""Where :meth:`DataDir.locate` looks for the SQLite database of a data directory."""
BUSY_TIMEOUT = 10.0
"""Seconds the SQLite backup may wait for a writer holding the whole database (a checkpoint)."""
ROWS_PER_BATCH = 2000
"""Rows read and written at a time in the row copy: bounded memory, few round trips."""


def scratch_copy(
    ctx: Context, where: DataDir, into: Path, *, password: str | None = None
) -> DataDir:
    """A new data directory ``into/data`` holding a copy of the cluster of ``where``.

    ``ctx`` is the real cluster's context (opened on ``where``). The cluster key
    is the one cached in ``where``, or, where none is cached, the one
    ``password`` unseals: the copy's ``master.key`` caches it either way, so
    commands run on the copy need no password. Nothing is written to the real
    store. :class:`LocalError` if ``into/data`` exists already.
    """
    scratch = DataDir(into / SCRATCH_NAME, sqlite_url(into / SCRATCH_NAME / DATABASE_NAME))
    if scratch.root.exists():
        raise LocalError(f"{scratch.root} exists already; a scratch copy needs a new directory")
    cluster_key = where.cluster_key(ctx.repo, ctx.now(), password)
    scratch.create()
    database = scratch.root / DATABASE_NAME
    source = make_url(where.db_url)
    if source.get_backend_name() == "sqlite" and source.database not in (None, "", ":memory:"):
        _backup_sqlite(Path(str(source.database)), database)
    else:
        _copy_rows(ctx, where, scratch.db_url)
    scratch.cache(cluster_key, where.node_uid())
    (scratch.root / COPY_MARKER).write_text(
        "A throw-away copy made by `phonetrust plan`: changes here publish trust lists only.\n"
    )
    return scratch


def _backup_sqlite(source: Path, target: Path) -> None:
    """Copy the SQLite database at ``source`` to ``target`` (made 0600) with the backup API.

    All pages go in one step, under one read transaction: a consistent snapshot.
    """
    os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    reading = contextlib.closing(sqlite3.connect(source, timeout=BUSY_TIMEOUT))
    with reading as reader, contextlib.closing(sqlite3.connect(target)) as writer:
        reader.backup(writer)


def _copy_rows(ctx: Context, where: DataDir, target_url: str) -> None:
    """Every table's rows (the current plan version only), read in one snapshot of the real
    store, written in one transaction into a SQLite database the migrations made."""
    own_engine = not isinstance(ctx.repo, SqlRepository)
    engine = ctx.repo.engine if isinstance(ctx.repo, SqlRepository) else make_engine(where.db_url)
    target = make_engine(target_url)
    event.listen(target, "connect", _throw_away)
    try:
        migrations.upgrade(target)  # the project's own schema: tables, views, Alembic version
        with engine.connect() as reader:
            if reader.dialect.name == "postgresql":
                reader.execution_options(
                    isolation_level="REPEATABLE READ", postgresql_readonly=True
                )
            with read_only():  # only the BEGIN: on SQLite, no write lock for a reader
                transaction = reader.begin()
            with transaction, target.begin() as writer:
                version = reader.execute(select(func.max(schema.plan_versions.c.version))).scalar()
                for table in schema.metadata.sorted_tables:
                    _copy_table(reader, writer, table, _query(table, version))
    finally:
        target.dispose()
        if own_engine:
            engine.dispose()


def _throw_away(dbapi_connection: Any, _record: Any) -> None:
    """A copy made to be thrown away need not survive a power cut: no fsync, and the
    rollback journal in memory (the next connection the project opens goes back to WAL)."""
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA synchronous = OFF")
        cursor.execute("PRAGMA journal_mode = MEMORY")
    finally:
        cursor.close()


def _query(table: Table, version: int | None) -> Select[Any]:
    """All of ``table``, but of the plan only the ``version`` it serves now."""
    files = schema.published_files
    if table is schema.plan_versions:
        return select(table).where(table.c.version == version)
    if table is files:
        return select(table).where(table.c.version == version)
    if table is schema.blobs:
        served = select(files.c.blob).where(files.c.version == version)
        return select(table).where(table.c.sha256.in_(served))
    return select(table)


def _copy_table(reader: Connection, writer: Connection, table: Table, query: Select[Any]) -> None:
    rows = reader.execute(query, execution_options={"yield_per": ROWS_PER_BATCH})
    for batch in rows.mappings().partitions():
        writer.execute(insert(table), [dict(row) for row in batch])

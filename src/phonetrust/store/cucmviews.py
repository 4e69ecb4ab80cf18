"""``run sql``: one checked SELECT over the CUCM views, read-only, bounded in rows and time.

Three fences, each enough alone against a write, together against a read of
anything but the views (private keys, the key vault, CAPF hashes):

1. ``sqlguard`` parses the text and lets through one SELECT naming only the
   views and calling only pure functions; what runs is its re-rendering;
2. the transaction is read-only: SQLite's ``PRAGMA query_only`` (through
   :func:`~phonetrust.store.engine.read_only`), PostgreSQL's ``SET
   TRANSACTION READ ONLY``;
3. on SQLite, an authorizer: the engine itself reports every table it reads
   and every function it calls while preparing the statement, and anything
   outside the views (or read by the views' own definitions) is denied.

Bounds: more than :data:`MAX_ROWS` rows is refused (nothing is printed, so
no listing is silently cut short; ``LIMIT`` narrows it), and a query running
longer than :data:`TIMEOUT` seconds is stopped (SQLite's progress handler,
PostgreSQL's ``statement_timeout``).
"""

from __future__ import annotations

import hashlib
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Final

from cryptography import x509
from sqlalchemy import Connection, Engine, delete, insert, select
from sqlalchemy.exc import DBAPIError, IntegrityError

from phonetrust.errors import LocalError
from phonetrust.formats.names import cucm_name, serial_bytes
from phonetrust.store import sqlguard
from phonetrust.store.engine import read_only
from phonetrust.store.schema import certificate_facts, own_certificates, trusted_certificates

VIEWS: Final = frozenset(
    {
        "processconfig",
        "processnode",
        "typetrustrole",
        "certificate",
        "certificatetrustrolemap",
        "device",
    }
)
"""The names ``run sql`` may read: the views of migration 0006."""

MAX_ROWS: Final = 10_000
TIMEOUT: Final = 10.0
"""Seconds a query may run."""

_PROGRESS_STEPS: Final = 1_000
"""SQLite virtual-machine steps between two looks at the clock."""

_UNDER_VIEWS: Final = frozenset(
    {"cluster", "params", "nodes", "own_certificates", "trusted_certificates"}
    | {"certificate_facts", "devices"}
)
"""The tables the views read (migration 0006)."""

_SQLITE_SELECT: Final = 21
_SQLITE_READ: Final = 20
_SQLITE_FUNCTION: Final = 31
_ALLOWED_FUNCTIONS: Final = frozenset(
    {
        "count",
        "sum",
        "total",
        "avg",
        "min",
        "max",
        "lower",
        "upper",
        "length",
        "substr",
        "substring",
        "trim",
        "ltrim",
        "rtrim",
        "coalesce",
        "ifnull",
        "nullif",
        "iif",
        "abs",
        "round",
        "concat",
        "replace",
        "like",
        "glob",
    }
)
"""SQLite's names for the functions ``sqlguard`` allows (and the ones it renders them as)."""


class SqlFailed(LocalError):
    """The checked query failed in the database (no such column, too slow, too many rows)."""


@dataclass(frozen=True, slots=True)
class QueryResult:
    columns: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]


def facts(der: bytes) -> dict[str, Any]:
    """A ``certificate_facts`` row: names as ``show ctl`` prints them, so that the output of
    reference 002's query compares with ``show itl``; the serial as lower-case hex."""
    try:
        cert = x509.load_der_x509_certificate(der)
        subject, issuer = cucm_name(cert.subject), cucm_name(cert.issuer)
        serial = serial_bytes(cert.serial_number).hex()
    except ValueError:
        subject = issuer = serial = ""
    return {
        "sha256": hashlib.sha256(der).hexdigest(),
        "der": der,
        "subjectname": subject,
        "issuername": issuer,
        "serialnumber": serial,
    }


def refresh_facts(engine: Engine) -> None:
    """Give every stored certificate its facts, and drop the facts of deleted ones.

    Looks first without a write lock; writes only when something is missing or stale, so
    ``run sql`` on a settled cluster never waits for, or holds up, a change."""
    with read_only(), engine.begin() as conn:
        missing, stale = _differences(conn)
    if not missing and not stale:
        return
    try:
        with engine.begin() as conn:
            missing, stale = _differences(conn)
            if stale:
                conn.execute(delete(certificate_facts).where(certificate_facts.c.sha256.in_(stale)))
            if missing:
                conn.execute(insert(certificate_facts), [facts(der) for der in missing.values()])
    except IntegrityError:
        pass  # another node filled the same facts meanwhile: they are the same facts


def _differences(conn: Connection) -> tuple[dict[str, bytes], list[str]]:
    ders = [
        *conn.execute(select(own_certificates.c.der)).scalars(),
        *conn.execute(select(trusted_certificates.c.der)).scalars(),
    ]
    wanted = {hashlib.sha256(der).hexdigest(): der for der in ders}
    have = set(conn.execute(select(certificate_facts.c.sha256)).scalars())
    missing = {sha: der for sha, der in wanted.items() if sha not in have}
    return missing, sorted(have - wanted.keys())


def run_select(
    engine: Engine, text: str, *, max_rows: int = MAX_ROWS, timeout: float = TIMEOUT
) -> QueryResult:
    """Run ``text`` if it is one SELECT over the views; its columns and rows."""
    backend = engine.dialect.name
    sql = sqlguard.checked(text, backend, VIEWS)
    refresh_facts(engine)
    try:
        with read_only(), engine.begin() as conn, _fenced(conn, backend, timeout):
            # no_parameters: the driver gets no parameter list, so psycopg reads
            # LIKE '%pub%' as text, not as placeholders.
            result = conn.exec_driver_sql(sql, execution_options={"no_parameters": True})
            if not result.returns_rows:  # the check lets none through; the fence says so
                raise SqlFailed("run sql: only SELECT statements are allowed")
            columns = tuple(result.keys())
            rows = result.fetchmany(max_rows + 1)
    except DBAPIError as exc:
        raise SqlFailed(_reason(exc, timeout)) from None
    if len(rows) > max_rows:
        raise SqlFailed(
            f"run sql: the query returns more than {max_rows} rows; narrow it (WHERE, LIMIT)"
        )
    return QueryResult(columns, tuple(tuple(row) for row in rows))


@contextmanager
def _fenced(conn: Connection, backend: str, timeout: float) -> Iterator[None]:
    if backend == "postgresql":
        conn.exec_driver_sql("SET TRANSACTION READ ONLY")
        conn.exec_driver_sql(f"SET LOCAL statement_timeout = {int(timeout * 1000)}")
        yield
        return
    raw = conn.connection.driver_connection
    if not isinstance(raw, sqlite3.Connection):
        raise SqlFailed(f"run sql does not support {backend} databases")
    raw.set_authorizer(_authorizer)
    raw.set_progress_handler(_deadline(time.monotonic() + timeout), _PROGRESS_STEPS)
    try:
        yield
    finally:
        raw.set_progress_handler(None, 0)
        raw.set_authorizer(None)


def _authorizer(
    action: int, arg1: str | None, arg2: str | None, _db: str | None, inside: str | None
) -> int:
    """SQLite's own account of the statement: reads of the views (and of what the views
    read, ``inside`` naming the view), the allowed functions, and nothing else."""
    if action == _SQLITE_SELECT:
        return sqlite3.SQLITE_OK
    if action == _SQLITE_READ and (
        (arg1 or "").lower() in VIEWS or (inside or "").lower() in VIEWS
    ):
        return sqlite3.SQLITE_OK
    if action == _SQLITE_READ and arg2 == "" and (arg1 or "").lower() in _UNDER_VIEWS:
        return sqlite3.SQLITE_OK  # count(*) over a flattened view: rows counted, none read
    if action == _SQLITE_FUNCTION and (arg2 or "").lower() in _ALLOWED_FUNCTIONS:
        return sqlite3.SQLITE_OK
    return sqlite3.SQLITE_DENY


def _deadline(at: float) -> Callable[[], int]:
    def check() -> int:
        return int(time.monotonic() > at)  # non-zero interrupts the statement

    return check


def _reason(exc: DBAPIError, timeout: float) -> str:
    first = sqlguard.first_line(exc.orig if exc.orig is not None else exc)
    if first == "interrupted" or "statement timeout" in first:
        return f"run sql: the query took longer than {timeout:g} seconds and was stopped"
    if "not authorized" in first or "prohibited" in first:
        return "run sql: the query reads something other than the CUCM tables"
    return f"run sql: {first}"

"""``run sql``: CUCM's troubleshooting queries, answered from this cluster's database.

The use case only picks the database; what may run and how it is fenced is
``store.cucmviews``'s (the only place with SQL). Output follows CUCM's
layout (reference 001)::

    paramname           paramvalue
    =================== ==========
    ClusterSecurityMode 0

each column as wide as its widest value or name, a line of ``=`` under each
name, values left-aligned, one space between columns; NULL printed as NULL.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from phonetrust.errors import LocalError
from phonetrust.service.context import Context
from phonetrust.store.cucmviews import QueryResult, run_select
from phonetrust.store.sql import SqlRepository


def run_sql(ctx: Context, text: str) -> QueryResult:
    """The rows of one read-only SELECT over the CUCM views (refused otherwise)."""
    repo = ctx.repo
    if not isinstance(repo, SqlRepository):
        raise LocalError("run sql needs the SQL store")
    return run_select(repo.engine, text)


def cell(value: Any) -> str:
    """A value as dbaccess shows it: NULL, t/f for booleans, hex for bytes."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).hex()
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    return " ".join(str(value).splitlines())  # one value, one line


def table_lines(result: QueryResult) -> list[str]:
    """CUCM's columns: names, ``=`` rules, then the rows, trailing spaces dropped."""
    cells = [[cell(v) for v in row] for row in result.rows]
    widths = [
        max([len(name), *(len(row[i]) for row in cells)]) for i, name in enumerate(result.columns)
    ]

    def line(values: list[str]) -> str:
        return " ".join(v.ljust(w) for v, w in zip(values, widths, strict=True)).rstrip()

    return [
        line(list(result.columns)),
        line(["=" * w for w in widths]),
        *(line(row) for row in cells),
    ]

"""Which text ``run sql`` may run: one SELECT over the CUCM views, nothing else.

The check parses the statement with sqlglot, in the dialect of the database
it will run on, and walks the syntax tree: the whole tree must be one
query, every table it names must be one of the CUCM views (unqualified: no
``main.``, ``pg_catalog.``, ``information_schema.``), and every function it
calls must be on a short list of pure ones. Then the tree, not the text, is
what runs: sqlglot writes it back out, so anything the parser did not
understand (a comment trick, a second statement it skipped) cannot reach the
database behind the check's back.

Why a parse and an allow-list rather than the alternatives:

- a keyword deny-list (``INSERT``, ``PRAGMA``, ...) misses what it does not
  name (``SELECT ... INTO``, ``load_extension()``, ``pg_read_file()``,
  ``pragma_table_info`` as a table) and trips on strings that contain one;
- SQLite's authorizer sees exactly what the engine will read, but exists only
  on SQLite. ``store.cucmviews`` adds it there as a second, independent
  fence; on PostgreSQL the second fence is a ``READ ONLY`` transaction.

A query a user can legitimately write (joins, ``WHERE``, ``LIKE``, ``IN``,
``GROUP BY``, ``ORDER BY``, ``LIMIT``, subqueries, ``UNION``) passes; a
``WITH`` clause does not (CUCM's Informix has none, and a recursive one
could run for ever).
"""

from __future__ import annotations

import logging
import re
from typing import Final

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

from phonetrust.errors import LocalError

# sqlglot logs a warning for text it falls back to a Command on; with no handler Python
# would print it on the user's terminal. The refusal already says what was wrong.
logging.getLogger("sqlglot").addHandler(logging.NullHandler())

DIALECTS: Final = {"sqlite": "sqlite", "postgresql": "postgres"}
"""SQLAlchemy backend name to sqlglot dialect name."""

MAX_LENGTH: Final = 10_000
"""Longer text is refused before parsing: no CUCM query is that long, and the parser's
time should not be the user's to choose."""

PURE_FUNCTIONS: Final[tuple[type[exp.Expr], ...]] = (
    exp.Count,
    exp.Sum,
    exp.Avg,
    exp.Min,
    exp.Max,
    exp.Lower,
    exp.Upper,
    exp.Length,
    exp.Substring,
    exp.Trim,
    exp.Coalesce,
    exp.Nullif,
    exp.Abs,
    exp.Round,
    exp.Cast,
    exp.Case,
    exp.If,
    exp.Concat,
    exp.Replace,
)
"""Functions a query may call: they compute from their arguments only (no I/O, no
session state, no sleeping, no sequences)."""

OPERATORS: Final[tuple[type[exp.Expr], ...]] = (exp.Connector, exp.Exists)
"""``AND``, ``OR``, ``EXISTS``: sqlglot files them under functions too."""

FORBIDDEN_CLAUSES: Final = ("into", "locks", "with")
"""``SELECT ... INTO`` makes a table, ``FOR UPDATE`` locks rows, ``WITH`` is refused above."""


_INFORMIX_ROWS: Final = re.compile(
    r"\A\s*select\s+(?:skip\s+(\d{1,9})\s+)?first\s+(\d{1,9})\s+", re.IGNORECASE
)
"""Informix's ``SELECT [SKIP n] FIRST m``, which CUCM administrators type and sqlglot does
not read: taken off the text, then put back on the tree as ``LIMIT m OFFSET n``."""


class SqlRefused(LocalError):
    """The text is not one SELECT over the CUCM views; the message says what is wrong."""


def dialect_of(backend: str) -> str:
    try:
        return DIALECTS[backend]
    except KeyError:
        raise SqlRefused(f"run sql does not support {backend} databases") from None


def checked(text: str, backend: str, views: frozenset[str]) -> str:
    """The SQL to run for ``text`` on ``backend``, or :class:`SqlRefused` saying why not."""
    dialect = dialect_of(backend)
    if len(text) > MAX_LENGTH:
        raise SqlRefused(f"run sql: the query is longer than {MAX_LENGTH} characters")
    if "\0" in text:
        raise SqlRefused("run sql: the query contains a NUL character")
    text, first, skip = _informix_rows(text)
    try:
        statements = [s for s in sqlglot.parse(text, read=dialect) if s is not None]
    except SqlglotError as exc:
        raise SqlRefused(f"run sql: syntax error: {first_line(exc)}") from None
    except RecursionError:
        raise SqlRefused("run sql: the query is nested too deeply") from None
    if not statements:
        raise SqlRefused("run sql: no statement given; usage: run sql SELECT ...")
    if len(statements) > 1:
        raise SqlRefused("run sql: only one statement is allowed")
    statement = statements[0]
    if not isinstance(statement, exp.Query):
        raise SqlRefused(f"run sql: only SELECT statements are allowed, not {_kind(statement)}")
    _check_tree(statement, views)
    if first is not None:
        if not isinstance(statement, exp.Select) or statement.args.get("limit"):
            raise SqlRefused("run sql: FIRST goes with one plain SELECT, without LIMIT")
        statement = statement.limit(first)
        if skip is not None:
            statement = statement.offset(skip)
    try:
        return statement.sql(dialect=dialect, comments=False)
    except SqlglotError as exc:
        raise SqlRefused(f"run sql: cannot run this query: {first_line(exc)}") from None


def _informix_rows(text: str) -> tuple[str, int | None, int | None]:
    """``text`` without Informix's ``SKIP n FIRST m``, and m and n."""
    found = _INFORMIX_ROWS.match(text)
    if found is None:
        return text, None, None
    skip = int(found[1]) if found[1] else None
    return "SELECT " + text[found.end() :], int(found[2]), skip


def _check_tree(statement: exp.Expr, views: frozenset[str]) -> None:
    for node in statement.walk():
        if isinstance(node, (exp.DML, exp.DDL, exp.Command, exp.Pragma)):
            raise SqlRefused(f"run sql: only SELECT statements are allowed, not {_kind(node)}")
        if isinstance(node, exp.Query):
            for clause in FORBIDDEN_CLAUSES:
                if node.args.get(clause):
                    raise SqlRefused(f"run sql: {clause.upper()} is not allowed in a SELECT")
        if isinstance(node, (exp.Placeholder, exp.Parameter)):
            raise SqlRefused("run sql: parameters (?, :name, $1) are not allowed")
        if isinstance(node, exp.Table):
            _check_table(node, views)
        elif isinstance(node, exp.Func) and not isinstance(node, PURE_FUNCTIONS + OPERATORS):
            raise SqlRefused(f"run sql: function {_function_name(node)}() is not allowed")


def _check_table(table: exp.Table, views: frozenset[str]) -> None:
    if not isinstance(table.this, exp.Identifier):
        raise SqlRefused("run sql: only the CUCM tables may follow FROM")
    name = table.name
    if table.args.get("db") or table.args.get("catalog"):
        raise SqlRefused(f"run sql: {table.sql()}: name a table without a schema")
    if name.lower() not in views:
        known = ", ".join(sorted(views))
        raise SqlRefused(f"run sql: no such table {name!r}; the tables are: {known}")


def _kind(node: exp.Expr) -> str:
    key = node.key.upper()
    if isinstance(node, exp.Command):
        return str(node.this).upper()
    return key


def _function_name(node: exp.Func) -> str:
    if isinstance(node, exp.Anonymous):
        return str(node.name)
    return node.sql_name()


def first_line(exc: BaseException) -> str:
    """The first line of an error's text, or its type's name when it has none."""
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__

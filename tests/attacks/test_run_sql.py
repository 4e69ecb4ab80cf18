"""Hostile text given to ``run sql``: it runs as one read of the CUCM views, or it is refused.

The fuzz sentence (style.md, habit 9): whatever the text, ``run sql`` either
returns rows of the views or raises a :class:`LocalError` - never another
exception - and the database is byte for byte what it was, and no row ever
carries a sealed private key, the key vault or a CAPF authentication hash.
Fed four ways: random text, soups of SQL words aimed at the fences, well-formed
SELECTs of the key tables, and the references' two queries with a hostile word
slipped in. (With the parse check removed, the SELECTs find the keys on
PostgreSQL; on SQLite the authorizer alone still holds.)
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from phonetrust.errors import LocalError
from phonetrust.policy.domain import Node, SecurityMode, SignerOption
from phonetrust.store.cucmviews import run_select
from phonetrust.store.repository import ClusterState, KeyVault
from phonetrust.store.schema import metadata
from phonetrust.store.sql import SqlRepository, open_repository, sqlite_url
from phonetrust.testing.postgres import create_schema, drop_schema, running_postgres

T0 = datetime(2026, 3, 6, 19, 45, 13, tzinfo=UTC)
SECRETS = (b"SEALED-PRIVATE-KEY-0123456789", b"WRAPPED-CLUSTER-KEY", b"P12-PASSWORD-SEALED")
MODE = "select paramname,paramvalue from processconfig where paramname='ClusterSecurityMode'"
REFERENCE_002 = (
    "select c.subjectname, c.serialnumber, c.ipv4address, t.name from certificate as c, "
    "certificatetrustrolemap as r, typetrustrole as t where c.pkid = r.fkcertificate "
    "and t.enum = r.tktrustrole"
)
HOSTILE = [
    ";",
    "--",
    "/*",
    "*/",
    "'",
    '"',
    "(",
    ")",
    ",",
    "*",
    "select",
    "from",
    "where",
    "union",
    "all",
    "into",
    "values",
    "delete",
    "insert",
    "update",
    "drop",
    "create",
    "alter",
    "pragma",
    "attach",
    "database",
    "vacuum",
    "begin",
    "commit",
    "rollback",
    "set",
    "copy",
    "grant",
    "for update",
    "with",
    "recursive",
    "private_keys",
    "key_vault",
    "devices",
    "main.private_keys",
    "sqlite_master",
    "pg_catalog.pg_user",
    "information_schema.tables",
    "pragma_table_info('private_keys')",
    "load_extension('x')",
    "pg_read_file('/etc/passwd')",
    "pg_sleep(5)",
    "randomblob(9)",
    "lo_import('/etc/passwd')",
    "set_config('x','y',false)",
    "?",
    ":name",
    "$1",
    "%s",
    "processconfig",
    "certificate",
    "device",
    "typetrustrole",
    "sealed",
    "capf_auth_hash",
    "\0",
    "\n",
    "é",
]
"""Words aimed at each fence: statements, schemas, functions, comments, parameters."""

words = st.sampled_from(HOSTILE)
soups = st.lists(words, max_size=14).map(" ".join)
random_text = st.text(max_size=300)


TABLES = [
    "private_keys",
    "key_vault",
    "devices",
    "main.private_keys",
    "public.private_keys",
    "certificate",
    "device",
    "processconfig",
]
COLUMNS = ["*", "sealed", "wrapped_key", "p12_password", "capf_auth_hash", "count(*)"]


@st.composite
def aimed(draw: st.DrawFn) -> str:
    """Well-formed SELECTs that would read a key table if a fence let them."""
    columns = ", ".join(draw(st.lists(st.sampled_from(COLUMNS), min_size=1, max_size=2)))
    tables = ", ".join(draw(st.lists(st.sampled_from(TABLES), min_size=1, max_size=2)))
    tail = draw(st.sampled_from(["", " limit 1", "; select 1", " union select 1"]))
    return f"select {columns} from {tables}{tail}"  # noqa: S608 - the point of the test


@st.composite
def slipped(draw: st.DrawFn) -> str:
    """A reference query with hostile words slipped in between two of its words."""
    base = draw(st.sampled_from([MODE, REFERENCE_002])).split(" ")
    for _ in range(draw(st.integers(1, 3))):
        base.insert(draw(st.integers(0, len(base))), draw(words))
    return " ".join(base)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def repo(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SqlRepository]:
    """A cluster whose key tables hold recognisable secrets, on each backend."""
    if request.param == "sqlite":
        repository = open_repository(sqlite_url(tmp_path_factory.mktemp("sql") / "x.db"))
        yield _seeded(repository)
        repository.close()
        return
    with running_postgres() as server:
        url = create_schema(server, "hostile_sql")
        repository = open_repository(url)
        yield _seeded(repository)
        repository.close()
        drop_schema(server, "hostile_sql")


def _seeded(repository: SqlRepository) -> SqlRepository:
    sealed, wrapped, p12 = SECRETS
    with repository.unit_of_work() as uow:
        uow.put_cluster(ClusterState("lab", SecurityMode.MIXED, SignerOption.ITLRECOVERY, T0))
        uow.put_node(Node("cucm-pub", ipaddress.IPv4Address("10.0.0.10"), "lab", True))
        uow.put_sealed_key("ab" * 32, sealed, T0)
        uow.put_key_vault(KeyVault(b"salt", wrapped, p12, T0))
        uow.set_param("Auto-registration", "False")
    run_select(repository.engine, MODE)  # the facts cache settles once, before the snapshots
    return repository


def snapshot(repository: SqlRepository) -> dict[str, list[tuple[Any, ...]]]:
    with repository.engine.connect() as conn:
        return {
            t.name: sorted(map(tuple, conn.execute(select(t))), key=repr)
            for t in metadata.sorted_tables
        }


def check(repository: SqlRepository, text: str) -> None:
    before = snapshot(repository)
    try:
        result = run_select(repository.engine, text, timeout=2.0)
    except LocalError:
        pass
    else:
        shown = repr(result.rows)
        for secret in SECRETS:
            assert secret.decode() not in shown
            assert secret.hex() not in shown
    assert snapshot(repository) == before


FUZZ = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@FUZZ
@given(text=random_text)
def test_random_text(repo: SqlRepository, text: str) -> None:
    check(repo, text)


@FUZZ
@given(text=soups)
def test_soups_of_sql_words(repo: SqlRepository, text: str) -> None:
    check(repo, text)


@FUZZ
@given(text=aimed())
def test_selects_aimed_at_the_key_tables(repo: SqlRepository, text: str) -> None:
    check(repo, text)


@FUZZ
@given(text=slipped())
def test_reference_queries_with_a_hostile_word_slipped_in(repo: SqlRepository, text: str) -> None:
    check(repo, text)


def test_the_references_still_run(repo: SqlRepository) -> None:
    """The fuzzing is not vacuous: the untouched queries pass every fence."""
    assert run_select(repo.engine, MODE).rows == (("ClusterSecurityMode", "1"),)
    assert run_select(repo.engine, REFERENCE_002).columns[-1] == "name"

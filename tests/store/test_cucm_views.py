"""The CUCM views of ``run sql`` and their fences, on SQLite and PostgreSQL (``repo``)."""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime, timedelta

import pytest
from alembic import command
from cryptography.hazmat.primitives.serialization import Encoding
from sqlalchemy import inspect, text
from sqlalchemy.exc import DBAPIError

from phonetrust.formats.names import cucm_name
from phonetrust.policy.domain import (
    CertName,
    Node,
    OwnCertificate,
    SecurityMode,
    SignerOption,
    TrustedCertificate,
    TrustStore,
)
from phonetrust.store import migrations
from phonetrust.store.cucmviews import VIEWS, SqlFailed, _fenced, run_select
from phonetrust.store.engine import make_engine, read_only
from phonetrust.store.repository import ClusterState
from phonetrust.store.sql import SqlRepository
from phonetrust.store.sqlguard import SqlRefused
from phonetrust.testing.pki import make_identity, plain_name

T0 = datetime(2026, 3, 6, 19, 45, 13, tzinfo=UTC)
REFERENCE_002 = (
    "select c.subjectname, c.serialnumber, c.ipv4address, t.name from\n"
    "certificate as c, certificatetrustrolemap as r, typetrustrole as t where c.pkid =\n"
    "r.fkcertificate and t.enum = r.tktrustrole"
)
MODE = "select paramname,paramvalue from processconfig where paramname='ClusterSecurityMode'"


def der(common_name: str, serial: int) -> bytes:
    certificate = make_identity(plain_name(common_name), serial=serial).certificate
    return certificate.public_bytes(Encoding.DER)


def lab(repo: SqlRepository, mode: SecurityMode = SecurityMode.NON_SECURE) -> None:
    """A publisher with a CallManager certificate regenerated once, a TVS and a CAPF one."""
    with repo.unit_of_work() as uow:
        uow.put_cluster(ClusterState("lab", mode, SignerOption.ITLRECOVERY, T0))
        uow.put_node(Node("cucm-pub", ipaddress.IPv4Address("10.0.0.10"), "lab", True))
        uow.add_own_certificate(
            OwnCertificate("cucm-pub", CertName.CALLMANAGER, der("old-pub", 0x01), T0)
        )
        later = T0 + timedelta(hours=1)
        uow.add_own_certificate(
            OwnCertificate("cucm-pub", CertName.CALLMANAGER, der("cucm-pub", 0x70CA), later)
        )
        uow.add_own_certificate(OwnCertificate("cucm-pub", CertName.TVS, der("tvs", 0x7A), T0))
        uow.add_own_certificate(OwnCertificate("cucm-pub", CertName.CAPF, der("capf", 0x4B), T0))
        uow.add_trusted(
            TrustedCertificate(TrustStore.PHONE_SAST, der("SAST-ADN0054f509", 0x3C), T0)
        )
        uow.set_param("TVS Certificate Cache TTL (seconds)", "3600")


def test_the_views_are_exactly_the_readable_names(repo: SqlRepository) -> None:
    with repo.engine.connect() as conn:
        assert set(inspect(conn).get_view_names()) == VIEWS


@pytest.mark.parametrize("mode", list(SecurityMode))
def test_cluster_security_mode_query_of_references_000_001(
    repo: SqlRepository, mode: SecurityMode
) -> None:
    lab(repo, mode)
    result = run_select(repo.engine, MODE)
    assert result.columns == ("paramname", "paramvalue")
    assert result.rows == (("ClusterSecurityMode", str(int(mode))),)


def test_processconfig_also_holds_the_parameters_set(repo: SqlRepository) -> None:
    lab(repo)
    rows = run_select(repo.engine, "select * from processconfig order by paramname").rows
    assert rows == (
        ("ClusterSecurityMode", "0"),
        ("TVS Certificate Cache TTL (seconds)", "3600"),
    )


def test_reference_002_join_lists_current_certificates_with_their_roles(
    repo: SqlRepository,
) -> None:
    lab(repo)
    result = run_select(repo.engine, REFERENCE_002)
    assert result.columns == ("subjectname", "serialnumber", "ipv4address", "name")
    assert sorted(result.rows) == sorted(
        [
            (cucm_name(plain_name("cucm-pub")), "70ca", "10.0.0.10", "CCM+TFTP"),
            (
                cucm_name(plain_name("cucm-pub")),
                "70ca",
                "10.0.0.10",
                "Authentication and Authorization",
            ),
            (cucm_name(plain_name("tvs")), "7a", "10.0.0.10", "TVS"),
            (cucm_name(plain_name("capf")), "4b", "10.0.0.10", "CAPF"),
            (cucm_name(plain_name("SAST-ADN0054f509")), "3c", None, "SAST"),
        ]
    )  # the replaced CallManager certificate (serial 01) is not listed


def test_facts_follow_certificates_added_and_removed(repo: SqlRepository) -> None:
    lab(repo)
    query = "select serialnumber from certificate where certname = 'Phone-SAST-trust'"
    assert run_select(repo.engine, query).rows == (("3c",),)
    sast = der("SAST-ADN0054f509", 0x3C)
    with repo.unit_of_work() as uow:
        uow.delete_trusted(TrustStore.PHONE_SAST, sast)
        uow.add_trusted(TrustedCertificate(TrustStore.PHONE_SAST, der("SAST-2", 0x3D), T0))
    assert run_select(repo.engine, query).rows == (("3d",),)
    with repo.engine.connect() as conn:
        kept = conn.execute(text("SELECT serialnumber FROM certificate_facts")).scalars().all()
    assert "3c" not in kept


def test_like_with_percent_signs_and_odd_spacing_run_as_typed(repo: SqlRepository) -> None:
    lab(repo)
    query = "select 'a  b' as x, name from processnode where name like '%pub%'"
    assert run_select(repo.engine, query).rows == (("a  b", "cucm-pub"),)


@pytest.mark.parametrize(
    "query",
    [
        "select * from private_keys",
        "select * from key_vault",
        "select capf_auth_hash from devices",
        "select c.* from certificate c, private_keys k",
        "select (select sealed from private_keys)",
        "delete from processconfig",
        "select 1; delete from params",
        "update params set value = 'x'",
        "drop view device",
        "select * from information_schema.tables",
        "select * from pg_catalog.pg_user",
        "select * from sqlite_master",
    ],
)
def test_anything_but_a_select_over_the_views_is_refused_and_changes_nothing(
    repo: SqlRepository, query: str
) -> None:
    lab(repo)
    with pytest.raises(SqlRefused):
        run_select(repo.engine, query)
    with repo.unit_of_work() as uow:
        assert uow.get_params() == {"TVS Certificate Cache TTL (seconds)": "3600"}


@pytest.mark.parametrize(
    "sql",
    ["DELETE FROM params", "INSERT INTO params VALUES ('x', 'y')", "DROP VIEW device"],
)
def test_the_transaction_refuses_writes_even_past_the_parser(repo: SqlRepository, sql: str) -> None:
    """The second fence alone: a write that reached the database still fails."""
    lab(repo)
    backend = repo.engine.dialect.name
    with pytest.raises(DBAPIError), read_only(), repo.engine.begin() as conn:  # noqa: SIM117
        with _fenced(conn, backend, 5.0):  # entered once the transaction has begun
            conn.exec_driver_sql(sql)
    with repo.unit_of_work() as uow:
        assert uow.get_params() == {"TVS Certificate Cache TTL (seconds)": "3600"}


def test_the_sqlite_authorizer_denies_other_tables_past_the_parser(
    repo: SqlRepository,
) -> None:
    """The third fence alone (SQLite only): a read of a key table that reached the engine."""
    if repo.engine.dialect.name != "sqlite":
        pytest.skip("the authorizer is SQLite's")
    with (
        pytest.raises(DBAPIError, match="prohibited"),
        read_only(),
        repo.engine.begin() as conn,
        _fenced(conn, "sqlite", 5.0),
    ):
        conn.exec_driver_sql("SELECT * FROM private_keys")


def test_too_many_rows_are_refused_not_cut_short(repo: SqlRepository) -> None:
    lab(repo)
    query = "select a.enum from typetrustrole a, typetrustrole b"  # 64 rows
    assert len(run_select(repo.engine, query, max_rows=64).rows) == 64
    with pytest.raises(SqlFailed, match="more than 63 rows"):
        run_select(repo.engine, query, max_rows=63)


def test_a_slow_query_is_stopped(repo: SqlRepository) -> None:
    tables = ", ".join(f"typetrustrole t{i}" for i in range(9))  # 8**9 rows to count
    with pytest.raises(SqlFailed, match=r"took longer than 0\.2 seconds"):
        run_select(repo.engine, f"select count(*) from {tables}", timeout=0.2)  # noqa: S608


def test_database_errors_are_typed(repo: SqlRepository) -> None:
    with pytest.raises(SqlFailed, match="nosuch"):
        run_select(repo.engine, "select nosuch from device")


def test_0006_upgrades_an_existing_database_and_downgrades_cleanly(db_url: str) -> None:
    migrations.upgrade(db_url, "0005")
    engine = make_engine(db_url)
    try:
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO cluster (id, name, security_mode, signer, created_at,"
                    " itl_reset_active, ctl_deleted) VALUES (1, 'old', 1, 'x', :t, false, false)"
                ),
                {"t": T0.replace(tzinfo=None)},
            )
        migrations.upgrade(db_url)
        assert run_select(engine, MODE).rows == (("ClusterSecurityMode", "1"),)
        with engine.begin() as conn:
            cfg = migrations.config()
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "0005")
            assert not set(inspect(conn).get_view_names()) & VIEWS
            assert "certificate_facts" not in inspect(conn).get_table_names()
    finally:
        engine.dispose()


def test_informix_skip_and_first_become_offset_and_limit(repo: SqlRepository) -> None:
    """CUCM's dbaccess reads ``SELECT SKIP n FIRST m``; administrators type it."""
    query = "SELECT SKIP 1 FIRST 2 enum FROM typetrustrole ORDER BY enum"
    assert run_select(repo.engine, query).rows == ((1,), (2,))
    assert run_select(repo.engine, "select first 1 name from typetrustrole").columns == ("name",)
    with pytest.raises(SqlRefused, match="FIRST goes with one plain SELECT"):
        run_select(repo.engine, "select first 1 enum from typetrustrole limit 5")

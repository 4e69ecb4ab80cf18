"""The schema, its migrations and the engine set-up, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import column, create_engine, insert, inspect, table
from sqlalchemy import text as text_sql

from phonetrust.policy.capfauth import is_hash, verify_auth_string
from phonetrust.store import migrations
from phonetrust.store.schema import metadata
from phonetrust.store.sql import open_repository, sqlite_url


def test_migrations_build_exactly_the_schema(db_url: str) -> None:
    migrations.upgrade(db_url)
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            assert compare_metadata(MigrationContext.configure(conn), metadata) == []
            tables = set(inspect(conn).get_table_names())
    finally:
        engine.dispose()
    assert tables == set(metadata.tables) | {"alembic_version"}


def test_upgrade_is_idempotent_and_downgrade_removes_everything(db_url: str) -> None:
    open_repository(db_url).close()
    repository = open_repository(db_url)  # already at head: nothing to do
    with repository.unit_of_work() as uow:
        uow.set_param("kept", "yes")
    with repository.unit_of_work() as uow:
        assert uow.get_params() == {"kept": "yes"}
    with repository.engine.begin() as conn:
        cfg = migrations.config()
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "base")
        assert set(inspect(conn).get_table_names()) <= {"alembic_version"}
    repository.close()


def test_sqlite_has_foreign_keys_and_wal(tmp_path: Path) -> None:
    repository = open_repository(sqlite_url(tmp_path / "x.db"))
    with repository.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    repository.close()


def test_sqlite_url_survives_odd_paths(tmp_path: Path) -> None:
    path = tmp_path / "dir with space?#%" / "données.db"
    path.parent.mkdir()
    repository = open_repository(sqlite_url(path))
    with repository.unit_of_work() as uow:
        uow.set_param("a", "b")
    repository.close()
    assert path.exists()


def test_in_memory_sqlite_keeps_its_data_between_units_of_work() -> None:
    repository = open_repository("sqlite+pysqlite://")
    with repository.unit_of_work() as uow:
        uow.set_param("ClusterSecurityMode", "1")
    with repository.unit_of_work() as uow:
        assert uow.get_params() == {"ClusterSecurityMode": "1"}
    repository.close()


def test_0005_hashes_the_clear_capf_auth_strings(db_url: str) -> None:
    """Strings in clear become salted hashes; unusable ones become none; counters start at 0."""
    migrations.upgrade(db_url, "0004")
    engine = create_engine(db_url)
    row = {
        "model": "8845",
        "protocol": "SIP",
        "cm_group": "Default",
        "profile": "p",
        "capf_operation": "install",
        "capf_auth_mode": 1,
        "capf_key": "RSA-2048",
        "settings": "{}",
        "description": "",
        "capf_status": "",
    }
    values = [("SEP000000000001", "123456"), ("SEP000000000002", ""), ("SEP000000000003", "12")]
    try:
        with engine.begin() as conn:
            for name, text in values:
                columns = {**row, "name": name, "capf_auth_string": text}
                devices = table("devices", *(column(c) for c in columns))
                conn.execute(insert(devices).values(columns))
        migrations.upgrade(db_url)
        with engine.connect() as conn:
            got = {
                r.name: (r.capf_auth_hash, r.capf_auth_failures, r.capf_locked_at)
                for r in conn.execute(text_sql("SELECT * FROM devices"))
            }
            names = {c["name"] for c in inspect(conn).get_columns("devices")}
            assert "capf_auth_string" not in names
    finally:
        engine.dispose()
    digest, failures, locked = got["SEP000000000001"]
    assert is_hash(digest)
    assert "123456" not in digest
    assert verify_auth_string(digest, "123456")
    assert (failures, locked) == (0, None)
    assert got["SEP000000000002"] == ("", 0, None)
    assert got["SEP000000000003"] == ("", 0, None)  # not 4-10 digits: no phone could use it

"""The schema, its migrations and the engine set-up, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect

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

"""The throwaway PostgreSQL server of phonetrust.testing.postgres."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from phonetrust.store.sql import open_repository
from phonetrust.testing import postgres


def test_missing_binaries_say_how_to_install_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(postgres, "DEBIAN_LIB", tmp_path)
    monkeypatch.setattr(shutil, "which", lambda _name: None)
    with pytest.raises(postgres.PostgresUnavailable, match=r"apt-get install postgresql"):
        postgres.find_binaries()


def test_newest_debian_version_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for version in ("9.6", "15", "13"):
        bindir = tmp_path / version / "bin"
        bindir.mkdir(parents=True)
        for tool in ("initdb", "pg_ctl", "postgres"):
            (bindir / tool).touch()
    monkeypatch.setattr(postgres, "DEBIAN_LIB", tmp_path)
    assert postgres.find_binaries() == tmp_path / "15" / "bin"


def test_a_database_of_its_own(postgres_server: str) -> None:
    url = postgres.create_database(postgres_server, "t_helper")
    try:
        repository = open_repository(url)
        with repository.unit_of_work() as uow:
            uow.set_param("x", "y")
        repository.close()
        engine = create_engine(url)
        with engine.connect() as conn:
            assert conn.execute(text("SELECT current_database()")).scalar() == "t_helper"
        engine.dispose()
    finally:
        postgres.drop_database(postgres_server, "t_helper")


def test_names_are_checked(postgres_server: str) -> None:
    with pytest.raises(ValueError, match="database name"):
        postgres.create_schema(postgres_server, 'x"; DROP TABLE y; --')

"""Store fixtures: every test runs on SQLite and on a real PostgreSQL server.

One PostgreSQL server is started per test session (per xdist worker) on
first use; each test gets a schema of its own in its database (a fresh
schema is as empty as a fresh database, and far quicker to make).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from phonetrust.store.sql import SqlRepository, open_repository, sqlite_url
from phonetrust.testing.postgres import create_schema, drop_schema, running_postgres

BACKENDS = ["sqlite", "postgresql"]


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """The URL of the session's PostgreSQL server (its ``phonetrust`` database)."""
    with running_postgres() as url:
        yield url


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database (no tables yet) on each backend."""
    if request.param == "sqlite":
        yield sqlite_url(tmp_path / "store.db")
        return
    server: str = request.getfixturevalue("postgres_server")
    name = f"t_{uuid.uuid4().hex}"
    url = create_schema(server, name)
    yield url
    drop_schema(server, name)


@pytest.fixture
def repo(db_url: str) -> Iterator[SqlRepository]:
    """A migrated, empty repository."""
    repository = open_repository(db_url)
    yield repository
    repository.close()

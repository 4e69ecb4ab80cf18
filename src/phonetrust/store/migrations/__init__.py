"""Alembic migrations of the store, run from code: no ``alembic.ini`` is needed.

``upgrade(url)`` brings a database to the newest revision. The environment
(``env.py``) runs on the connection handed to it in ``Config.attributes``,
so an in-memory SQLite database or an engine the caller already holds is
migrated in place.

To start a new revision during development, from Python::

    from alembic import command
    from phonetrust.store.migrations import config
    command.revision(config(), "what changes", rev_id="0002")

then write its body by hand so that the revisions build exactly
``schema.py`` again (a test compares the two on SQLite and PostgreSQL).
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

from phonetrust.store.engine import make_engine, read_only

SCRIPT_LOCATION = Path(__file__).parent


def config() -> Config:
    """An Alembic configuration built in code, pointing at this package."""
    cfg = Config()
    # set_main_option goes through ConfigParser interpolation: escape '%'.
    cfg.set_main_option("script_location", str(SCRIPT_LOCATION).replace("%", "%%"))
    cfg.set_main_option("path_separator", "os")
    return cfg


def upgrade(target: str | Engine, revision: str = "head") -> None:
    """Run ``alembic upgrade <revision>`` on the database at ``target`` (a URL or an engine)."""
    engine = make_engine(target) if isinstance(target, str) else target
    try:
        if revision == "head" and _at_head(engine):
            return  # the usual case: no write lock, so no wait behind a change in progress
        with engine.begin() as connection:
            cfg = config()
            cfg.attributes["connection"] = connection
            command.upgrade(cfg, revision)
    finally:
        if isinstance(target, str):
            engine.dispose()


def _at_head(engine: Engine) -> bool:
    """Whether the database is at the newest revision already (read without a write lock)."""
    head = ScriptDirectory.from_config(config()).get_current_head()
    with read_only(), engine.begin() as connection:
        return MigrationContext.configure(connection).get_current_revision() == head

"""Opening the cluster a command works on: ``--data``/``--db`` and the security password."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from phonetrust.clock import SystemClock
from phonetrust.service.context import Context
from phonetrust.store.datadir import DATA_ENV, DB_ENV, DataDir
from phonetrust.store.sql import open_repository

PASSWORD_ENV = "PHONETRUST_SECURITY_PASSWORD"  # noqa: S105 - the name of a variable
F = TypeVar("F", bound=Callable[..., Any])


def data_options(func: F) -> F:
    """``--data DIR`` and ``--db URL`` (also from PHONETRUST_DATA / PHONETRUST_DB)."""
    func = click.option(
        "--db",
        envvar=DB_ENV,
        metavar="URL",
        help="Database URL [default: SQLite in the data directory]; "
        "postgresql+psycopg://USER@HOST/DB for PostgreSQL.",
    )(func)
    return click.option(
        "--data",
        envvar=DATA_ENV,
        type=click.Path(file_okay=False, path_type=Path),
        help="Data directory: database, sealed keys [default: ./phonetrust-data].",
    )(func)


def locate(data: Path | None, db: str | None) -> DataDir:
    return DataDir.locate(data, db)


def open_context(data: Path | None, db: str | None, *, actor: str | None = None) -> Context:
    """The cluster of this data directory, keys unlocked by the cached master key.

    Without a cached key, PHONETRUST_SECURITY_PASSWORD (or a prompt) gives it.
    """
    where = locate(data, db)
    master = where.master_key(os.environ.get(PASSWORD_ENV) or None)
    repo = open_repository(where.db_url)
    return Context(repo, where.keystore(master), SystemClock(), actor=actor or _who())


def _who() -> str:
    return os.environ.get("SUDO_USER") or os.environ.get("USER") or "admin"

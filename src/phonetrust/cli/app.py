"""Opening the cluster a command works on: ``--data``/``--db`` and the security password."""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import click

from phonetrust.clock import Clock, ShiftedClock, SystemClock
from phonetrust.errors import LocalError
from phonetrust.planner import CLOCK_SHIFT_ENV, COPY_MARKER, NO_GUARD_ENV, PLAN_COPY_ENV
from phonetrust.service.changes import reading
from phonetrust.service.context import Context
from phonetrust.store import datadir
from phonetrust.store.datadir import DATA_ENV, DB_ENV, NODE_FILE, DataDir
from phonetrust.store.repository import Repository
from phonetrust.store.sql import open_repository

PASSWORD_ENV = datadir.PASSWORD_ENV
"""PHONETRUST_SECURITY_PASSWORD (defined with the data directory: the web layer reads it too)."""
F = TypeVar("F", bound=Callable[..., Any])
OPENED_ON_COPIES: list[Repository] = []
"""Stores opened by commands run on the planner's copy in the planner's own process: the
planner closes them after each step (a command's process would have exited)."""
GUARDED = "phonetrust.guarded"
"""Click context meta key: the running command is guarded; its value is its --yes."""


def guarded(func: F) -> F:
    """A command whose changes the lock-out guard looks at first; adds ``--yes``.

    The guard (:mod:`phonetrust.planner.guard`) predicts, before each change
    commits, which phones its files would lock out, and asks when any would.
    """

    def remember(ctx: click.Context, _: click.Parameter, value: bool) -> bool:
        ctx.meta[GUARDED] = value
        return value

    return click.option(
        "--yes",
        is_flag=True,
        expose_value=False,
        callback=remember,
        help="Go ahead even when the planner predicts phones will be locked out "
        "(the prediction is still shown).",
    )(func)


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
    """The cluster of this data directory, keys unlocked by the cached cluster key.

    Without a cached key, PHONETRUST_SECURITY_PASSWORD gives it.
    """
    where = locate(data, db)
    if not where.exists():
        raise where.no_cluster()
    copy = bool(os.environ.get(PLAN_COPY_ENV))
    if copy and not (where.root / COPY_MARKER).exists():
        raise LocalError(
            f"{PLAN_COPY_ENV} is set, but {where.root} is not a copy made by `phonetrust plan`: "
            "unset it to work on this cluster"
        )
    clock: Clock = SystemClock()
    if copy:
        clock = ShiftedClock(clock, _seconds(os.environ.get(CLOCK_SHIFT_ENV)))
    repo = open_repository(where.db_url)
    if copy:
        OPENED_ON_COPIES.append(repo)
    try:
        now = datetime.fromtimestamp(clock.now(), UTC)
        key = where.cluster_key(repo, now, os.environ.get(PASSWORD_ENV) or None)
    except BaseException:
        repo.close()
        raise
    ctx = Context(repo, where.keystore(repo, key), clock, actor=actor or _who(), sketch=copy)
    return ctx if copy else with_guard(ctx)


def _seconds(text: str | None) -> float:
    try:
        seconds = float(text or 0)
    except ValueError:
        seconds = math.nan
    if not math.isfinite(seconds):
        raise LocalError(f"{CLOCK_SHIFT_ENV}={text!r}: not a number of seconds")
    return seconds


def with_guard(ctx: Context, confirm: Callable[[str], bool] | None = None) -> Context:
    """``ctx`` with the lock-out guard when the running command is :func:`guarded` (and
    PHONETRUST_NO_GUARD is not set); ``confirm`` asks (default: on the terminal)."""
    current = click.get_current_context(silent=True)
    if current is None or GUARDED not in current.meta or os.environ.get(NO_GUARD_ENV):
        return ctx
    from phonetrust.planner.guard import LockoutGuard  # noqa: PLC0415 - loaded when guarding

    assume_yes = bool(current.meta[GUARDED])
    guard = LockoutGuard(click.echo, confirm or _confirm, assume_yes=assume_yes)
    return replace(ctx, guard=guard)


def _confirm(question: str) -> bool:
    """A question on the terminal; no answer (standard input ended) is no."""
    try:
        return click.confirm(question, default=False, err=True)
    except click.Abort:
        return False


def own_node(ctx: Context, where: DataDir) -> str | None:
    """The host of the node this machine is (``cluster init`` or ``join`` recorded it)."""
    uid = where.node_uid()
    if uid is None:
        return None
    with reading(ctx) as uow:
        found = uow.node_by_uid(uid)
    if found is None:
        raise LocalError(
            f"the node of this machine ({where.root / NODE_FILE}) is no longer in the cluster; "
            "name one with --node"
        )
    return found.host


def _who() -> str:
    return os.environ.get("SUDO_USER") or os.environ.get("USER") or "admin"

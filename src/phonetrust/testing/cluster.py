"""Contexts on a data directory, for tests and benchmarks that build a cluster in steps.

``phonetrust cluster init`` writes the key vault in the cluster's own
transaction; a test that calls :func:`phonetrust.service.nodes.init_cluster`
itself starts from :func:`new_context` instead, whose vault is already
committed and whose cluster key is cached in the directory.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from phonetrust.clock import Clock
from phonetrust.errors import LocalError
from phonetrust.pki import keywrap
from phonetrust.service import backup
from phonetrust.service.context import Context
from phonetrust.store.datadir import DataDir
from phonetrust.store.keys import new_vault
from phonetrust.store.sql import open_repository


def new_context(where: DataDir, password: str, clock: Clock) -> Context:
    """A context with a new cluster key sealed under ``password``, and no cluster yet."""
    where.create()
    repo = open_repository(where.db_url)
    cluster_key = keywrap.new_cluster_key()
    with repo.unit_of_work() as uow:
        if uow.get_key_vault() is not None:
            repo.close()
            raise LocalError("the database already holds a cluster's keys")
        uow.put_key_vault(new_vault(password, cluster_key, _now(clock)))
    where.cache(cluster_key, None)
    return Context(repo, where.keystore(repo, cluster_key), clock)


def restored_context(
    where: DataDir, content: dict[str, Any], password: str, clock: Clock
) -> Context:
    """A context on ``content`` (an opened backup) restored into ``where``, as ``backup
    restore`` does it."""
    where.create()
    repo = open_repository(where.db_url)
    cluster_key = keywrap.new_cluster_key()
    ctx = Context(repo, where.keystore(repo, cluster_key), clock)
    backup.restore(ctx, content, new_vault(password, cluster_key, _now(clock)))
    where.cache(cluster_key, None)
    return ctx


def open_context(where: DataDir, clock: Clock, password: str | None = None) -> Context:
    """The context of ``where``'s cluster, from its cached cluster key (or ``password``)."""
    repo = open_repository(where.db_url)
    key = where.cluster_key(repo, _now(clock), password)
    return Context(repo, where.keystore(repo, key), clock)


def _now(clock: Clock) -> datetime:
    return datetime.fromtimestamp(clock.now(), UTC)

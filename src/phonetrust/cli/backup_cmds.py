"""``phonetrust backup create|restore``: the whole cluster in one sealed archive (B5)."""

from __future__ import annotations

import os
from pathlib import Path

import click

from phonetrust.cli.app import PASSWORD_ENV, data_options, locate, open_context
from phonetrust.cli.files import ARCHIVE_LIMIT, read_bytes, write_atomically
from phonetrust.clock import SystemClock
from phonetrust.errors import LocalError
from phonetrust.pki import keywrap
from phonetrust.service import backup
from phonetrust.service.changes import reading
from phonetrust.service.context import Context, publisher
from phonetrust.store.keys import new_vault
from phonetrust.store.sql import open_repository


def _password() -> str:
    return os.environ.get(PASSWORD_ENV) or str(click.prompt("Security password", hide_input=True))


@click.group("backup")
def backup_group() -> None:
    """Back up the cluster (database and every key) and restore it onto a fresh data directory."""


@backup_group.command("create")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path, readable=False))
@data_options
def create(file: Path, data: Path | None, db: str | None) -> None:
    """Write an archive sealed with the security password.

    It does not clear the ITLRecovery backup alert: export ITLRecovery.p12
    for that (file get tftp ITLRecovery.p12).
    """
    ctx = open_context(data, db)
    password = _password()
    ctx.keys.check_password(password)  # a typo here would make the archive unusable
    archive = backup.create(ctx, password)
    write_atomically(file, archive, mode=0o600)  # it holds every key and CAPF auth string
    click.echo(f"Backup written to {file} ({len(archive)} bytes).")


@backup_group.command("restore")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path, readable=False))
@data_options
def restore(file: Path, data: Path | None, db: str | None) -> None:
    """Restore an archive into an empty data directory (and database)."""
    where = locate(data, db)
    if where.exists():
        raise LocalError(f"{where.root} already holds a cluster; restore into a fresh directory")
    archive = read_bytes(file, limit=ARCHIVE_LIMIT)
    password = _password()
    content = backup.open_archive(archive, password)
    with where.creating():
        repo = open_repository(where.db_url)
        try:
            cluster_key = keywrap.new_cluster_key()
            ctx = Context(repo, where.keystore(repo, cluster_key), SystemClock())
            version = backup.restore(ctx, content, new_vault(password, cluster_key, ctx.now()))
            with reading(ctx) as uow:
                uid = uow.node_uid(publisher(uow).host)
            where.cache(cluster_key, uid)
        finally:
            repo.close()
    name = content["cluster"]["name"]
    click.echo(f"Cluster {name!r} restored into {where.root} (file plan version {version}).")

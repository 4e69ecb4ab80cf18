"""``phonetrust tftp upload|list|delete``: extra files every TFTP node of the cluster serves."""

from __future__ import annotations

from pathlib import Path

import click

from phonetrust.cli.app import data_options, open_context
from phonetrust.cli.files import read_bytes
from phonetrust.service import tftpextra


@click.group("tftp")
def tftp_group() -> None:
    """Extra files (firmware, ring lists, backgrounds) served by every TFTP node.

    They are kept in the cluster's database, so every machine serves them; a
    machine's own DATA/tftp directory still overrides them there, and the
    file plan (trust lists, configurations) always wins.
    """


@tftp_group.command("upload")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path, readable=False))
@click.option("--name", help="The name phones ask for [default: FILE's name].")
@data_options
def upload(file: Path, name: str | None, data: Path | None, db: str | None) -> None:
    """Serve FILE from every TFTP node (at most 64 MiB; replaces a file of that name)."""
    content = read_bytes(file, limit=tftpextra.EXTRA_FILE_LIMIT)
    ctx = open_context(data, db)
    stored = tftpextra.upload(ctx, name or file.name, content)
    click.echo(
        f"{stored.name}: {stored.size} bytes, sha1 {stored.sha1}, served by every TFTP node."
    )


@tftp_group.command("list")
@data_options
def list_cmd(data: Path | None, db: str | None) -> None:
    """The extra files: name, size in bytes, SHA-1."""
    files = tftpextra.list_files(open_context(data, db))
    if not files:
        click.echo("No extra TFTP files.")
    for found in files:
        click.echo(f"{found.name}  {found.size}  {found.sha1}")


@tftp_group.command("delete")
@click.argument("name")
@data_options
def delete(name: str, data: Path | None, db: str | None) -> None:
    """Stop serving the extra file NAME."""
    tftpextra.delete(open_context(data, db), name)
    click.echo(f"{name}: deleted; no TFTP node serves it any more.")

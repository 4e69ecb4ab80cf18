"""``phonetrust admin``: CUCM's administration CLI for one node of the cluster."""

from __future__ import annotations

import os
import sys
from dataclasses import replace
from pathlib import Path

import click

from phonetrust.cli.admin import shell
from phonetrust.cli.admin.prompts import Prompter
from phonetrust.cli.admin.session import Session
from phonetrust.cli.app import data_options, locate, open_context, own_node
from phonetrust.cli.boundary import Failed
from phonetrust.planner import NO_GUARD_ENV
from phonetrust.service.changes import reading
from phonetrust.service.context import node as node_of
from phonetrust.service.context import publisher


@click.command("admin")
@click.option(
    "--node",
    "host",
    help="The node the commands run on [default: this machine's node, else the publisher].",
)
@click.option("-c", "command", help='Run one command and exit, e.g. -c "show itl".')
@click.option("--yes", is_flag=True, help="Answer every y/n question with yes.")
@data_options
def admin(
    host: str | None, command: str | None, yes: bool, data: Path | None, db: str | None
) -> None:
    """The admin: shell with CUCM's commands (show ctl, utils ctl ..., utils itl reset ...).

    Without -c: an interactive prompt on a terminal, or one command per line
    from standard input. Questions (y/n, passwords) are answered from the
    terminal, or by --yes and further lines of standard input.
    """
    ctx = open_context(data, db)
    host = host or own_node(ctx, locate(data, db))
    with reading(ctx) as uow:
        name = node_of(uow, host).host if host else publisher(uow).host

    def write(text: str) -> None:
        click.echo(text, nl=False)

    prompter = Prompter(assume_yes=yes, out=write)
    if not os.environ.get(NO_GUARD_ENV):
        from phonetrust.planner.guard import LockoutGuard  # noqa: PLC0415 - only for admin

        def say(line: str) -> None:
            write(line + "\n")

        def confirm(question: str) -> bool:
            return prompter.confirm(question + " ", yes="yes")

        ctx = replace(ctx, guard=LockoutGuard(say, confirm))
    session = Session(ctx, name, locate(data, db), prompter, write)
    if command is not None:
        failure = shell.run_line(session, command)
        if failure is not None:
            raise Failed(failure)
        return
    if sys.stdin.isatty():
        shell.interactive(session)
    elif not shell.scripted(session, sys.stdin):
        raise Failed("some commands failed (see above)")

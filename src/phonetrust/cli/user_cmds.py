"""``phonetrust user ...``: the application users of the web administration and the API.

The first administrator is made with the cluster (``cluster init`` asks for
its password; ``cluster demo`` uses PHONETRUST_ADMIN_PASSWORD or the demo's
published one); these commands make the others, as CUCM's "Application
User" page does. Passwords are asked for on the terminal (twice) or taken
from PHONETRUST_ADMIN_PASSWORD, never from the command line where ``ps``
and the shell history would keep them.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click

from phonetrust.cli.app import data_options, open_context
from phonetrust.errors import LocalError
from phonetrust.service import users
from phonetrust.service.context import Context

ROLE_HELP = f"{users.SUPER_USERS!r} (or 'super') or {users.READ_ONLY!r} (or 'read-only')"
DEMO_ADMIN = "admin"
DEMO_ADMIN_PASSWORD = "phonetrust-demo"  # noqa: S105 - the demo cluster's published login


def ask_password(prompt: str = "Password") -> str:
    """PHONETRUST_ADMIN_PASSWORD, or asked twice on the terminal."""
    given = os.environ.get(users.ADMIN_ENV)
    if given:
        return given
    if not sys.stdin.isatty():
        raise LocalError(f"no terminal to ask for the password: set {users.ADMIN_ENV}")
    return str(click.prompt(prompt, hide_input=True, confirmation_prompt=True))


def first_admin_password(name: str, *, demo: bool) -> str | None:
    """The first administrator's password: the environment's, the demo's, or asked for.

    None when there is no terminal to ask and none in the environment (a
    script): no web user is made then, and :func:`first_admin` says how to
    make one. A login whose password nobody knows would only invite guessing.
    """
    password = os.environ.get(users.ADMIN_ENV)
    if password is None and demo:
        return DEMO_ADMIN_PASSWORD
    if password is None and sys.stdin.isatty():
        password = str(
            click.prompt(
                f"Password of the web administrator {name!r}",
                hide_input=True,
                confirmation_prompt=True,
            )
        )
    if password is not None:
        users.check_password_rules(password)
    return password


def first_admin(ctx: Context, name: str, password: str | None) -> str:
    """Make the cluster's first administrator; what to tell the person who made the cluster."""
    if password is None:
        return (
            "No web administrator made (no terminal to ask, and "
            f"{users.ADMIN_ENV} is not set): make one with "
            f"`phonetrust user add {name} --role super`."
        )
    users.add_user(ctx, name, password, users.SUPER_USERS)
    shown = f", password {password!r}" if password == DEMO_ADMIN_PASSWORD else ""
    return f"Web administrator {name!r}{shown} ({users.SUPER_USERS})."


@click.group("user")
def user_group() -> None:
    """Application users of the web pages and the HTTP API, and their API tokens."""


@user_group.command("add")
@click.argument("name")
@click.option("--role", default="read-only", show_default=True, help=ROLE_HELP)
@data_options
def user_add(name: str, role: str, data: Path | None, db: str | None) -> None:
    """Add a user; its password is asked for (or PHONETRUST_ADMIN_PASSWORD)."""
    ctx = open_context(data, db)
    role = users.role_of(role)
    user = users.add_user(ctx, name, ask_password(f"Password for {name}"), role)
    click.echo(f"User {user.name} added ({user.role}).")


@user_group.command("set")
@click.argument("name")
@click.option("--password", "new_password", is_flag=True, help="Set a new password (asked for).")
@click.option("--role", help=ROLE_HELP)
@click.option("--unlock", is_flag=True, help="End a lock-out after wrong passwords.")
@data_options
def user_set(
    name: str,
    new_password: bool,
    role: str | None,
    unlock: bool,
    data: Path | None,
    db: str | None,
) -> None:
    """Change a user's password or role, or unlock it. A new password ends its sessions."""
    ctx = open_context(data, db)
    password = ask_password(f"New password for {name}") if new_password else None
    user = users.set_user(ctx, name, password=password, role=role, unlock=unlock)
    click.echo(f"User {user.name} changed ({user.role}).")


@user_group.command("remove")
@click.argument("name")
@data_options
def user_remove(name: str, data: Path | None, db: str | None) -> None:
    """Remove a user and its API tokens (never the last super user)."""
    users.remove_user(open_context(data, db), name)
    click.echo(f"User {name} removed.")


@user_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON, the shape of the API's answer.")
@data_options
def user_list(as_json: bool, data: Path | None, db: str | None) -> None:
    """Every user, its role, and whether it is locked out."""
    ctx = open_context(data, db)
    found = users.list_users(ctx)
    now = ctx.now()
    if as_json:
        items = [users.shape(u, now) for u in found]
        click.echo(json.dumps({"items": items, "total": len(items)}, indent=2, sort_keys=True))
        return
    for u in found:
        lock = f"  locked until {u.locked_until:%Y-%m-%d %H:%M:%S}" if users.locked(u, now) else ""
        click.echo(f"{u.name:<20} {u.role}{lock}")


@user_group.command("token")
@click.argument("name")
@click.option("--label", default="API token", show_default=True)
@data_options
def user_token(name: str, label: str, data: Path | None, db: str | None) -> None:
    """Make an API token for NAME; it is printed once (keep it: only its hash is stored)."""
    _, text = users.create_token(open_context(data, db), name, label)
    click.echo(text)


@user_group.command("revoke")
@click.argument("token_id")
@data_options
def user_revoke(token_id: str, data: Path | None, db: str | None) -> None:
    """Revoke an API token by its id (the 16 hex digits after ``pt_``)."""
    users.revoke_token(open_context(data, db), token_id)
    click.echo(f"API token {token_id} revoked.")

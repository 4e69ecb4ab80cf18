"""``phonetrust ctl-client``: the hardware-eToken CTL client (D3, D5) over PKCS#11 tokens.

Tokens are found through a PKCS#11 module (--module, PHONETRUST_PKCS11_MODULE,
default SoftHSM's); a real Cisco eToken works through its vendor's module.
"""

from __future__ import annotations

import os
from pathlib import Path

import click

from phonetrust.cli.app import data_options, guarded, open_context
from phonetrust.errors import LocalError
from phonetrust.pki.etoken import TokenInfo, list_tokens, open_library
from phonetrust.service import ctlclient

PASSWORD_ENV = "PHONETRUST_TOKEN_PASSWORD"  # noqa: S105 - the name of a variable


def _module_option(func: click.decorators.FC) -> click.decorators.FC:
    return click.option("--module", envvar="PHONETRUST_PKCS11_MODULE", help="PKCS#11 module path.")(
        func
    )


def _tokens(module: str | None, labels: tuple[str, ...]) -> list[TokenInfo]:
    present = list_tokens(open_library(module))
    chosen = []
    for label in labels:
        found = [t for t in present if label in (t.label, t.serial)]
        if not found:
            names = ", ".join(f"{t.label} ({t.serial})" for t in present) or "none"
            raise LocalError(f"no eToken {label!r} is inserted (present: {names})")
        chosen.append(found[0])
    return chosen


def _password(token: TokenInfo) -> str:
    return os.environ.get(PASSWORD_ENV) or str(
        click.prompt(f"Enter the password of the Security Token {token.label}", hide_input=True)
    )


@click.group("ctl-client")
def ctl_client_group() -> None:
    """The CTL client: mixed mode and CTL updates signed by hardware eTokens."""


@ctl_client_group.command("tokens")
@_module_option
def tokens_cmd(module: str | None) -> None:
    """List the inserted eTokens."""
    for token in list_tokens(open_library(module)):
        subject = token.x509_certificate().subject.rfc4514_string() if token.certificate else "-"
        click.echo(f"{token.label}\t{token.serial}\t{subject}")


@ctl_client_group.command("set-mixed-mode")
@guarded
@click.option(
    "--token",
    "labels",
    multiple=True,
    required=True,
    help="Token label or serial; the first signs (at least two).",
)
@_module_option
@data_options
def set_mixed_mode(
    labels: tuple[str, ...], module: str | None, data: Path | None, db: str | None
) -> None:
    """Set the cluster to mixed mode with a CTL signed by the first token."""
    ctx = open_context(data, db)
    tokens = _tokens(module, labels)
    for line in ctlclient.tokens_set_mixed_mode(ctx, tokens, _password(tokens[0])):
        click.echo(line)


@ctl_client_group.command("update")
@guarded
@click.option("--token", "label", required=True, help="The signing token (label or serial).")
@click.option("--add-token", "extra", multiple=True, help="A further token to list in the CTL.")
@_module_option
@data_options
def update(
    label: str, extra: tuple[str, ...], module: str | None, data: Path | None, db: str | None
) -> None:
    """Update the CTL file, signed by a token the current CTL lists."""
    ctx = open_context(data, db)
    signing, *added = _tokens(module, (label, *extra))
    for line in ctlclient.tokens_update_ctl(ctx, signing, _password(signing), added):
        click.echo(line)

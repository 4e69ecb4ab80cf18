"""``phonetrust tvs query CERT``: ask a TVS server about a certificate, as a phone would."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import click
from cryptography.hazmat.primitives.serialization import Encoding

from phonetrust.cli.boundary import Failed
from phonetrust.cli.files import load_certificate
from phonetrust.errors import PhonetrustError
from phonetrust.formats import legacy
from phonetrust.formats.tags import Role
from phonetrust.net.tvs_client import query
from phonetrust.protocols.tvs.messages import Answer, Request

DEFAULT_SERVER = "127.0.0.1:2445"
DEFAULT_DEVICE = "CP-7975-SEP001122334455"
FILE = click.Path(path_type=Path, readable=False)


def parse_server(text: str) -> tuple[str, int]:
    """``HOST[:PORT]`` (``[v6]:PORT`` for IPv6); the port defaults to 2445."""
    match = re.fullmatch(
        r"\[(?P<v6>[^\]]+)\](?::(?P<p6>\d+))?|(?P<host>[^:\[\]]+)(?::(?P<port>\d+))?", text
    )
    if match is None:
        raise Failed(f"--server {text!r}: expected HOST:PORT")
    host = match["v6"] or match["host"]
    port = int(match["p6"] or match["port"] or 2445)
    if not 0 < port < 65536:
        raise Failed(f"--server {text!r}: port {port} is not 1-65535")
    return host, port


def parse_sha1(text: str) -> bytes:
    digits = re.sub(r"[\s:]", "", text)
    if not re.fullmatch(r"[0-9A-Fa-f]{40}", digits):
        raise Failed(f"--expect-sha1 {text!r}: expected 40 hex digits (colons allowed)")
    return bytes.fromhex(digits)


def role_label(role: int) -> str:
    return f"{Role(role).spelling} ({role})" if role in Role._value2member_map_ else str(role)


def describe(answer: Answer) -> list[str]:
    if not answer.valid:
        return ["Status: invalid"]
    roles = ", ".join(role_label(r) for r in answer.roles) or "none"
    return ["Status: valid", f"Roles: {roles}", f"TTL: {answer.ttl} seconds"]


@click.group("tvs")
def tvs_group() -> None:
    """Talk to a Trust Verification Service (TLS, TCP 2445)."""


@tvs_group.command("query", short_help="Ask a TVS server whether it vouches for a certificate.")
@click.argument("cert", type=FILE)
@click.option(
    "--server",
    default=DEFAULT_SERVER,
    show_default=True,
    help="The TVS server as HOST:PORT (phonetrust's or a CUCM node's).",
)
@click.option("--device", default=DEFAULT_DEVICE, show_default=True, help="DEVICE NAME to send.")
@click.option(
    "--expect-sha1",
    "expect_sha1",
    metavar="HEX",
    help="Refuse a server whose certificate has another SHA-1 (the ITL's TVS record).",
)
@click.option("--timeout", type=click.FloatRange(min=0.1), default=10.0, show_default=True)
@click.option("--legacy-tls", is_flag=True, help="Allow TLS 1.0 and old ciphers (old servers).")
def query_cmd(
    cert: Path,
    server: str,
    device: str,
    expect_sha1: str | None,
    timeout: float,
    legacy_tls: bool,
) -> None:
    """Send CERT (PEM or DER) to a TVS server and print its verdict, roles and TTL.

    Exit status: 0 valid, 1 invalid or the server could not be asked.
    """
    host, port = parse_server(server)
    expected = None if expect_sha1 is None else parse_sha1(expect_sha1)
    der = load_certificate(cert).public_bytes(Encoding.DER)
    try:
        Request(0, der, device)
    except PhonetrustError as exc:
        raise Failed(f"--device: {exc}") from None
    try:
        answer = asyncio.run(
            query(
                host,
                port,
                der,
                device,
                expected_tvs_sha1=expected,
                timeout=timeout,
                legacy=legacy_tls,
            )
        )
    except PhonetrustError as exc:
        raise Failed(str(exc)) from None
    click.echo(f"TVS {host}:{port}, certificate SHA-1 {legacy.sha1(der).hex()}")
    for line in describe(answer):
        click.echo(line)
    if not answer.valid:
        raise click.exceptions.Exit(1)

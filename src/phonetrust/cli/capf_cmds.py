"""``phonetrust capf enroll``: be a phone's CAPF client, for diagnostics and tests."""

from __future__ import annotations

import asyncio
from pathlib import Path

import click
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from phonetrust.cli.boundary import Failed
from phonetrust.cli.files import read_bytes, write_atomically
from phonetrust.errors import KeyMaterialError
from phonetrust.net.capf_client import EnrollResult, enroll
from phonetrust.pki import pem
from phonetrust.protocols.capf.client import Credential
from phonetrust.protocols.capf.messages import Reason
from phonetrust.protocols.capf.server import Operation

REASONS = {
    Reason.NO_ACTION: "no action",
    Reason.UPDATE_CERTIFICATE: "certificate updated",
    Reason.INVALID_ELEMENT: "invalid element",
    Reason.UNKNOWN_DEVICE: "unknown device",
}


@click.group("capf")
def capf_group() -> None:
    """CAPF: enrol an LSC the way a phone does (diagnostics and tests)."""


def _credential(path: Path | None) -> Credential | None:
    if path is None:
        return None
    cert, key = pem.load_certificate_and_key(read_bytes(path), source=str(path))
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise KeyMaterialError(f"{path}: a phone's key is RSA or EC")
    return cert, key


def _server(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise click.BadParameter(f"{text!r} is not HOST:PORT", param_hint="--server")
    return host.strip("[]"), int(port)


PEM_FILE = click.Path(dir_okay=False, exists=True, path_type=Path)


@capf_group.command("enroll")
@click.argument("device")
@click.option(
    "--server",
    default="127.0.0.1:3804",
    show_default=True,
    metavar="HOST:PORT",
    help="The CAPF server (TCP 3804 on a CAPF node).",
)
@click.option("--auth-string", help="The authentication string, as typed on the phone.")
@click.option("--lsc", type=PEM_FILE, help="The phone's LSC and its key (PEM).")
@click.option("--mic", type=PEM_FILE, help="The phone's MIC and its key (PEM).")
@click.option(
    "--prefer-mic", is_flag=True, help="Authenticate with the MIC even if an LSC is held."
)
@click.option(
    "--key",
    "key_spec",
    metavar="KEY",
    help="Generate this key whatever CAPF asks (RSA-2048, EC-P256, ...) [default: what CAPF asks].",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the new LSC and its key here (PEM, mode 0600).",
)
@click.option(
    "--capf-sha1",
    metavar="HEX",
    help="SHA-1 of the CAPF certificate (as the CTL/ITL record says): refuse any other server.",
)
@click.option("--timeout", default=30.0, show_default=True, help="Seconds for the whole session.")
def enroll_cmd(
    device: str,
    server: str,
    auth_string: str | None,
    lsc: Path | None,
    mic: Path | None,
    prefer_mic: bool,
    key_spec: str | None,
    out: Path | None,
    capf_sha1: str | None,
    timeout: float,
) -> None:
    """Run the CAPF session phone DEVICE (SEP<MAC>) would: install, fetch or delete its LSC."""
    host, port = _server(server)
    result = asyncio.run(
        enroll(
            host,
            port,
            device,
            key_spec=key_spec,
            auth_string=auth_string,
            lsc=_credential(lsc),
            mic=_credential(mic),
            prefer_mic=prefer_mic,
            expected_capf_sha1=capf_sha1,
            timeout=timeout,
        )
    )
    if not result.success:
        raise Failed(_failure(result))
    click.echo(_success(result))
    if out is not None and result.operation is Operation.INSTALL and result.certificate:
        write_atomically(out, pem.to_pem(result.certificate, result.key), mode=0o600)
        click.echo(f"LSC and key written to {out}")


def _reason(result: EnrollResult) -> str:
    if result.reason is None:
        return "no END SESSION reason"
    name = REASONS.get(Reason(result.reason)) if result.reason in REASONS else None
    return f"reason {result.reason}" + (f" ({name})" if name else "")


def _failure(result: EnrollResult) -> str:
    what = result.info or "the operation failed"
    return f"{result.device}: CAPF {result.operation.value}: {what} [{_reason(result)}]"


def _success(result: EnrollResult) -> str:
    if result.operation is Operation.INSTALL and result.certificate is not None:
        cert = result.certificate
        return (
            f"{result.device}: Upgrade Success - LSC serial {cert.serial_number:x}, "
            f"issued by {cert.issuer.rfc4514_string()}, "
            f"valid until {cert.not_valid_after_utc:%Y-%m-%d}"
        )
    if result.operation is Operation.DELETE:
        return f"{result.device}: Delete Success - the phone's LSC is deleted"
    if result.operation is Operation.FETCH:
        return f"{result.device}: Troubleshoot Success - CAPF fetched the phone's certificate"
    return f"{result.device}: no CAPF operation pending"

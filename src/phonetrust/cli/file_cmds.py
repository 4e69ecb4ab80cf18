"""``phonetrust file ...``: show, build, sign, encrypt and decrypt trust files."""

from __future__ import annotations

import ipaddress
import json
import time
from pathlib import Path

import click
from cryptography import x509

from phonetrust.cli.boundary import Failed
from phonetrust.cli.files import (
    load_certificate,
    load_private_key,
    load_signer,
    modified_time,
    read_bytes,
    strip_suffix,
    write_all_atomically,
    write_atomically,
)
from phonetrust.cli.recordspec import IPv4Type, RecordSpec, RecordSpecType
from phonetrust.errors import DecryptionError, KeyMaterialError, ParseError
from phonetrust.formats import listing
from phonetrust.formats.algorithms import Digest
from phonetrust.formats.detect import parse_any
from phonetrust.formats.encsgn import EncryptedFile, decrypt_file, encrypt_file
from phonetrust.formats.record import ETOKEN_DNS_NAME, ITL_DNS_NAME, Record
from phonetrust.formats.sgn import SignedFile, sign_file
from phonetrust.formats.signing import Verification
from phonetrust.formats.stub import build_stub
from phonetrust.formats.summary import summarise
from phonetrust.formats.tags import Role
from phonetrust.formats.trustlist import Kind, TrustList, build_trust_list

FILE = click.Path(path_type=Path, readable=False)
"""A path checked by the command, not by click: a missing or unreadable file is exit 1 with
one line, not a usage error (click's default ``readable=True`` would make it exit 2)."""
UNSPECIFIED_IP = ipaddress.IPv4Address(0)
"""What CTL records carry when no address is given (CUCM always writes IPADDRESS)."""
DIGEST = click.Choice(["sha1", "sha512"], case_sensitive=False)
TIMESTAMP = click.IntRange(0, 0xFFFFFFFF)
"""TIMESTAMP is four bytes in the header."""
RECORD_HELP = (
    "A record to add after the signer's (repeatable, in order). ROLE is one of SAST, CCM, "
    "CCM+TFTP, TFTP, CAPF, APP-SERVER, TVS; PEM holds the certificate. dns= and ip= set "
    "DNSNAME and IPADDRESS, hash-only writes CUCM's ITL form (CERTHASH instead of the "
    "certificate), no-signature leaves out the certificate's signature."
)


@click.group("file")
def file_group() -> None:
    """Read, build, sign and encrypt CTL/ITL, .sgn and .enc.sgn files."""


@file_group.command("show", short_help="Print a trust file's listing (or JSON) and verify it.")
@click.argument("path", type=FILE)
@click.option(
    "--json", "as_json", is_flag=True, help="Print one JSON object instead of the listing."
)
@click.option(
    "--cert",
    type=FILE,
    help="Verify a .sgn or .enc.sgn against this certificate (PEM); for a CTL or ITL, "
    "also check that this certificate signed it.",
)
def show(path: Path, as_json: bool, cert: Path | None) -> None:
    """Print a trust file as CUCM's `show ctl` / `show itl` would, and verify it.

    The kind (CTL, ITL, .sgn, .enc.sgn) is read from the content, not the
    name. Exit status: 0 parsed and verified, 1 not parseable or not
    verified, 2 usage error.
    """
    raw = read_bytes(path)
    try:
        item = parse_any(raw)
    except ParseError as exc:
        raise Failed(f"{path}: not a CTL, ITL, .sgn or .enc.sgn file: {exc}") from None
    verification: Verification | None
    certificate = load_certificate(cert) if cert is not None else None
    checked_against = cert
    if isinstance(item, TrustList):
        verification = item.verify()
        if not verification.verified:
            checked_against = None  # the list fails on its own; the certificate is moot
        elif certificate is not None:
            by_cert = item.verify_with(certificate.public_key())
            verification = Verification(
                by_cert.verified, by_cert.failure, verification.signer_record
            )
    else:
        verification = None if certificate is None else item.verify(certificate)
    if as_json:
        shown = verification or Verification(False, None)
        data = summarise(item, raw, shown)
        if verification is None:
            data["reason"] = "no certificate given to verify against (use --cert)"
        click.echo(json.dumps(data, indent=2))
    elif isinstance(item, TrustList):
        click.echo(listing.render(raw, modified=modified_time(path)), nl=False)
    else:
        size = len(item.content) if isinstance(item, SignedFile) else len(item.ciphertext)
        click.echo(listing.render_signed(raw, item.header, size, verification), nl=False)
    if verification is None:
        raise Failed(f"{path}: signature not verified: no certificate given (use --cert)")
    if not verification.verified:
        against = "" if checked_against is None else f" against {checked_against}"
        raise Failed(f"{path}: verification failed{against}: {verification.reason}")


@file_group.command("build")
@click.argument("path", type=FILE)
@click.option(
    "--signer",
    type=FILE,
    required=True,
    help="PEM with the signer's certificate and private key.",
)
@click.option(
    "--record",
    "records",
    type=RecordSpecType(),
    multiple=True,
    help=RECORD_HELP,
)
@click.option("--digest", type=DIGEST, default="sha1", show_default=True, help="Signature digest.")
@click.option("--filename", help="FILENAME written in the header [default: the name of PATH].")
@click.option("--no-signer-record", is_flag=True, help="Do not put the signer's SAST record first.")
@click.option("--signer-dns", help="DNSNAME of the signer's SAST record (CTL only).")
@click.option(
    "--signer-ip", type=IPv4Type(), help="IPADDRESS of the signer's SAST record (CTL only)."
)
@click.option(
    "--timestamp",
    type=TIMESTAMP,
    metavar="UNIX-TIME",
    help="Unix time to sign with [default: now].",
)
def build(
    path: Path,
    signer: Path,
    records: tuple[RecordSpec, ...],
    digest: str,
    filename: str | None,
    no_signer_record: bool,
    signer_dns: str | None,
    signer_ip: ipaddress.IPv4Address | None,
    timestamp: int | None,
) -> None:
    """Build and sign a CTL or ITL file at PATH.

    The signer PEM holds the signer's certificate and private key; its SAST
    record comes first unless --no-signer-record. Roles: SAST, CCM, CCM+TFTP,
    TFTP, CAPF, APP-SERVER, TVS. Whether it is a CTL or an ITL follows from
    the file name (ITL... is an ITL); ITL records are written CUCM's way
    (2-byte empty DNS name, no IP address), CTL records always carry an IP
    address (0.0.0.0 when none is given).
    """
    name = filename or path.name
    kind = Kind.from_filename(name)
    sign_with = load_signer(signer)
    built: list[Record] = []
    if not no_signer_record:
        own = RecordSpec(Role.SAST, signer, signer_dns, signer_ip)
        built.append(_record(sign_with.certificate, own, kind))
    built.extend(_record(load_certificate(spec.pem), spec, kind) for spec in records)
    trust_list = build_trust_list(
        sign_with,
        built,
        filename=name,
        timestamp=_now(timestamp),
        digest=Digest.from_label(digest),
    )
    write_atomically(path, trust_list.to_wire())
    click.echo(
        f"Wrote {path}: {kind.value}, {len(built)} records, {trust_list.header.size}-byte header."
    )


def _record(cert: x509.Certificate, spec: RecordSpec, kind: Kind) -> Record:
    """A record as CUCM writes it in that kind of list (see ``file build --help``)."""
    dns, ip = spec.dns_name, spec.ip_address
    if kind is Kind.ITL:
        dns_value: bytes | str = ITL_DNS_NAME if dns is None else dns
    else:
        dns_value = ETOKEN_DNS_NAME if dns is None else dns
        ip = ip or UNSPECIFIED_IP
    return Record.from_certificate(
        cert,
        spec.role,
        dns_name=dns_value,
        ip_address=ip,
        hash_only=spec.hash_only,
        include_signature=spec.include_signature,
    )


@file_group.command("sign")
@click.argument("path", type=FILE)
@click.option(
    "--signer",
    type=FILE,
    required=True,
    help="PEM with the signer's certificate and private key.",
)
@click.option("--digest", type=DIGEST, default="sha1", show_default=True, help="Signature digest.")
@click.option(
    "--timestamp",
    type=TIMESTAMP,
    metavar="UNIX-TIME",
    help="Unix time to sign with [default: now].",
)
def sign(path: Path, signer: Path, digest: str, timestamp: int | None) -> None:
    """Sign any file: writes PATH.sgn (header + the file byte for byte)."""
    content = read_bytes(path)
    out = path.with_name(path.name + ".sgn")
    signed = sign_file(
        content,
        load_signer(signer),
        filename=out.name,
        timestamp=_now(timestamp),
        digest=Digest.from_label(digest),
    )
    write_atomically(out, signed.to_wire())
    click.echo(f"Wrote {out}.")


@file_group.command("encrypt", short_help="Encrypt a configuration for one phone.")
@click.argument("path", type=FILE)
@click.option(
    "--signer",
    type=FILE,
    required=True,
    help="PEM with the signer's certificate and private key.",
)
@click.option(
    "--device-cert", type=FILE, required=True, help="The phone's certificate (LSC, else MIC)."
)
@click.option("--digest", type=DIGEST, default="sha1", show_default=True, help="Signature digest.")
@click.option(
    "--timestamp",
    type=TIMESTAMP,
    metavar="UNIX-TIME",
    help="Unix time to sign with [default: now].",
)
def encrypt(
    path: Path, signer: Path, device_cert: Path, digest: str, timestamp: int | None
) -> None:
    """Encrypt a configuration for one phone: writes PATH.enc.sgn and the signed stub PATH.sgn."""
    content = read_bytes(path)
    sign_with = load_signer(signer)
    device = load_certificate(device_cert)
    when, algo = _now(timestamp), Digest.from_label(digest)
    enc_path = path.with_name(path.name + ".enc.sgn")
    stub_path = path.with_name(path.name + ".sgn")
    try:
        encrypted = encrypt_file(
            content, sign_with, device, filename=enc_path.name, timestamp=when, digest=algo
        )
    except KeyMaterialError as exc:
        raise KeyMaterialError(f"{device_cert}: {exc}") from None
    stub = sign_file(
        build_stub(content, device), sign_with, filename=stub_path.name, timestamp=when, digest=algo
    )
    write_all_atomically([(enc_path, encrypted.to_wire()), (stub_path, stub.to_wire())])
    click.echo(f"Wrote {enc_path} and its stub {stub_path}.")


@file_group.command("decrypt")
@click.argument("path", type=FILE)
@click.option("--device-key", type=FILE, required=True, help="The phone's private key (PEM).")
@click.option("--cert", type=FILE, help="Verify the signature against this certificate first.")
@click.option("-o", "--output", type=FILE, help="Where to write [default: PATH without .enc.sgn].")
def decrypt(path: Path, device_key: Path, cert: Path | None, output: Path | None) -> None:
    """Decrypt a .enc.sgn with the phone's key and write the plaintext."""
    raw = read_bytes(path)
    out = output or strip_suffix(path, ".enc.sgn")
    try:
        encrypted = EncryptedFile.from_wire(raw)
    except ParseError as exc:
        raise Failed(f"{path}: not a .enc.sgn file: {exc}") from None
    if cert is not None:
        verification = encrypted.verify(load_certificate(cert))
        if not verification.verified:
            raise Failed(f"{path}: verification failed against {cert}: {verification.reason}")
    key = load_private_key(device_key)
    try:
        plaintext = decrypt_file(encrypted, key)
    except (DecryptionError, KeyMaterialError) as exc:
        raise Failed(f"{path}: cannot decrypt with {device_key}: {exc}") from None
    write_atomically(out, plaintext)
    click.echo(f"Wrote {out} ({len(plaintext)} bytes).")


def _now(timestamp: int | None) -> int:
    return int(time.time()) if timestamp is None else timestamp

"""Certificate factories for tests: exact name lengths, serial lengths and key sizes.

The byte counts CUCM prints depend only on those three things, so a test
can rebuild any reference listing's layout from fresh certificates. Keys
are cached by size because RSA generation dominates test time.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from phonetrust.formats.signing import Signer
from phonetrust.pki.selfsigned import Organisation, self_signed

FIXED_NOW = datetime(2026, 1, 1, tzinfo=UTC)


@functools.cache
def rsa_key(bits: int = 2048, slot: int = 0) -> rsa.RSAPrivateKey:
    """A cached key; ``slot`` gives distinct keys of the same size."""
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def serial_of_length(length: int, seed: int = 0x5A) -> int:
    """A positive serial whose minimal encoding is exactly ``length`` bytes."""
    if length < 1:
        raise ValueError("a serial has at least one byte")
    top = 0x40 | (seed & 0x3F)
    return int.from_bytes(bytes([top]) + bytes((seed + i) & 0xFF for i in range(length - 1)), "big")


def name_of_length(
    length: int, template: str = "CN={cn};OU=TAC;O=Cisco;L=Krakow;ST=Malopolska;C=PL"
) -> x509.Name:
    """A CUCM-style name whose ``;`` rendering plus NUL is ``length`` bytes (SUBJECTNAME)."""
    fixed = len(template.format(cn="")) + 1
    cn_len = length - fixed
    if cn_len < 1:
        raise ValueError(f"name length {length} is too short for the template")
    org = Organisation()
    return org.name(("h" * cn_len)[:cn_len])


def plain_name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


@dataclass(frozen=True)
class Identity:
    certificate: x509.Certificate
    key: rsa.RSAPrivateKey

    @property
    def signer(self) -> Signer:
        return Signer.from_private_key(self.certificate, self.key)


def make_identity(
    subject: x509.Name,
    *,
    bits: int = 2048,
    serial: int | None = None,
    issuer: Identity | None = None,
    issuer_name: x509.Name | None = None,
    slot: int = 0,
    hash_algorithm: hashes.SHA256 | hashes.SHA384 | hashes.SHA512 | None = None,
) -> Identity:
    """A certificate for ``subject``: self-signed, or signed by ``issuer``.

    ``issuer_name`` with no ``issuer`` gives a certificate that claims that
    issuer but is signed by its own key: enough for layout tests, which
    only count bytes.
    """
    key = rsa_key(bits, slot)
    if issuer is None and issuer_name is None:
        cert = self_signed(
            subject, key, now=FIXED_NOW, serial=serial, hash_algorithm=hash_algorithm
        )
        return Identity(cert, key)
    signing_key = issuer.key if issuer is not None else key
    name = issuer.certificate.subject if issuer is not None else issuer_name
    assert name is not None  # noqa: S101 - one of the two is set here
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(serial if serial is not None else serial_of_length(16))
        .not_valid_before(FIXED_NOW)
        .not_valid_after(datetime(2031, 1, 1, tzinfo=UTC))
    )
    cert = builder.sign(signing_key, hash_algorithm or hashes.SHA256())
    return Identity(cert, key)

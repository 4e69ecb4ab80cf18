"""Reading key material from PEM, with errors an administrator can act on."""

from __future__ import annotations

from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

from phonetrust.errors import KeyMaterialError

_CERT_MARK = b"-----BEGIN CERTIFICATE-----"
_KEY_MARKS = (b"PRIVATE KEY-----",)


@dataclass(frozen=True, slots=True)
class PemBundle:
    """What one PEM file held: certificates (in order) and at most one private key."""

    certificates: tuple[x509.Certificate, ...]
    private_key: PrivateKeyTypes | None


def load_bundle(data: bytes, *, source: str = "PEM", password: bytes | None = None) -> PemBundle:
    """Parse every certificate and the private key in ``data``."""
    try:
        certs = tuple(x509.load_pem_x509_certificates(data)) if _CERT_MARK in data else ()
    except ValueError as exc:
        raise KeyMaterialError(f"{source}: unreadable certificate ({exc})") from None
    key = None
    if any(mark in data for mark in _KEY_MARKS):
        try:
            key = serialization.load_pem_private_key(data, password=password)
        except TypeError:
            raise KeyMaterialError(
                f"{source}: the private key is encrypted; give its password"
            ) from None
        except ValueError as exc:
            raise KeyMaterialError(f"{source}: unreadable private key ({exc})") from None
    if not certs and key is None:
        raise KeyMaterialError(f"{source}: no certificate or private key found (is it PEM?)")
    return PemBundle(certs, key)


def load_certificate(data: bytes, *, source: str = "PEM") -> x509.Certificate:
    """The first certificate of a PEM (or a DER certificate)."""
    if _CERT_MARK not in data:
        try:
            return x509.load_der_x509_certificate(data)
        except ValueError:
            raise KeyMaterialError(f"{source}: no certificate found") from None
    bundle = load_bundle(data, source=source)
    if not bundle.certificates:
        raise KeyMaterialError(f"{source}: no certificate found")
    return bundle.certificates[0]


def load_private_key(data: bytes, *, source: str = "PEM") -> PrivateKeyTypes:
    key = load_bundle(data, source=source).private_key
    if key is None:
        raise KeyMaterialError(f"{source}: no private key found")
    return key


def load_certificate_and_key(
    data: bytes, *, source: str = "PEM"
) -> tuple[x509.Certificate, PrivateKeyTypes]:
    """A signer PEM: its certificate and the private key that goes with it."""
    bundle = load_bundle(data, source=source)
    if not bundle.certificates:
        raise KeyMaterialError(f"{source}: no certificate found (a signer PEM holds both)")
    if bundle.private_key is None:
        raise KeyMaterialError(f"{source}: no private key found (a signer PEM holds both)")
    return bundle.certificates[0], bundle.private_key


def to_pem(certificate: x509.Certificate, key: PrivateKeyTypes | None = None) -> bytes:
    """Certificate (and unencrypted key) as PEM, the layout the CLI reads back."""
    out = certificate.public_bytes(serialization.Encoding.PEM)
    if key is not None:
        out += key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    return out

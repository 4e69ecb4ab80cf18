"""Signed files (``.sgn``): a VERSION 1.0 header, then the original file byte for byte.

TFTP signs every configuration file this way with the node's CallManager
key (role TFTP or CCM+TFTP); the phone checks it against its trust lists.
Unsigning is dropping the first HEADER LENGTH bytes.
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography import x509

from phonetrust.errors import ParseError
from phonetrust.formats import names
from phonetrust.formats.algorithms import Digest
from phonetrust.formats.header import Header
from phonetrust.formats.signing import (
    Failure,
    Signer,
    Verification,
    certificate_key,
    check_signature,
)
from phonetrust.formats.trustlist import sign_header, signed_bytes
from phonetrust.wire import Reader

SGN_VERSION = (1, 0)


@dataclass(frozen=True, slots=True)
class SignedFile:
    header: Header
    content: bytes

    def to_wire(self) -> bytes:
        return self.header.to_wire() + self.content

    def signed_bytes(self) -> bytes:
        return signed_bytes(self.header, self.content)

    @classmethod
    def from_wire(cls, data: bytes) -> SignedFile:
        r = Reader(data)
        header = Header.read(r)
        if header.version != SGN_VERSION:
            raise ParseError(
                f".sgn files are version 1.0, this header says {header.version_text}", 0
            )
        return cls(header, data[r.offset :])

    def verify(self, certificate: x509.Certificate) -> Verification:
        return verify_header_signature(self.header, self.signed_bytes(), certificate)


def verify_header_signature(
    header: Header, data: bytes, certificate: x509.Certificate
) -> Verification:
    """Check a signed header against the certificate the verifier trusts.

    The header must name that certificate (serial number), then the
    signature must hold under its key.
    """
    signature = header.signature
    if signature is None:
        return Verification(False, Failure.NO_SIGNATURE)
    if header.signer_serial != names.serial_bytes(certificate.serial_number):
        return Verification(False, Failure.SIGNER_MISMATCH)
    key = certificate_key(certificate)
    if key is None:
        return Verification(False, Failure.KEY_UNUSABLE)
    return check_signature(key, signature, data, header.digest)


def sign_file(
    content: bytes,
    signer: Signer,
    *,
    filename: str,
    timestamp: int,
    digest: Digest = Digest.SHA1,
) -> SignedFile:
    """Sign ``content``; ``filename`` is the ``.sgn`` name the header carries."""
    header = sign_header(
        signer, content, version=SGN_VERSION, filename=filename, digest=digest, timestamp=timestamp
    )
    return SignedFile(header, content)

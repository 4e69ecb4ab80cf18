"""Digest and signature-modulus codes of the headers, and their hash objects."""

from __future__ import annotations

from enum import IntEnum

from cryptography.hazmat.primitives import hashes

from phonetrust.errors import BuildError
from phonetrust.formats import legacy


class Digest(IntEnum):
    """DIGESTALGORTITHM / HASH ALGORITHM / ENCRYPTION HASH ALGORITHM codes."""

    SHA1 = 1
    SHA256 = 2
    SHA512 = 3

    @property
    def label(self) -> str:
        """``sha1`` / ``sha256`` / ``sha512``: the CLI and JSON spelling."""
        return self.name.lower()

    @property
    def listing_name(self) -> str:
        return {Digest.SHA1: "SHA-1", Digest.SHA256: "SHA-256", Digest.SHA512: "SHA-512"}[self]

    def hash_algorithm(self) -> hashes.HashAlgorithm:
        if self is Digest.SHA1:
            return legacy.sha1_hash()
        if self is Digest.SHA256:
            return hashes.SHA256()
        return hashes.SHA512()

    def digest(self, data: bytes) -> bytes:
        h = hashes.Hash(self.hash_algorithm())
        h.update(data)
        return h.finalize()

    @classmethod
    def from_label(cls, text: str) -> Digest:
        try:
            return cls[text.strip().upper().replace("-", "")]
        except KeyError:
            raise BuildError(f"unknown digest {text!r} (choose sha1 or sha512)") from None


SIGNATURE_ALGORITHM_RSA = 0
"""SIGNATUREALGORTITHM value for RSA PKCS#1 v1.5, the only one phones know."""

MODULUS_CODES = {512: 0, 1024: 1, 2048: 2, 4096: 3}
"""SIGNATUREMODULUS codes by RSA key size in bits."""

MODULUS_BITS = {code: bits for bits, code in MODULUS_CODES.items()}


def modulus_code(bits: int) -> int:
    try:
        return MODULUS_CODES[bits]
    except KeyError:
        sizes = ", ".join(str(b) for b in MODULUS_CODES)
        raise BuildError(
            f"an RSA-{bits} key cannot sign a trust file: the header can only say {sizes} bits"
        ) from None

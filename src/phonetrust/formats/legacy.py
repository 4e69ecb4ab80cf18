"""Quarantine for the weak algorithms the formats still require.

CUCM of the reference era signs with SHA-1 and 1024-bit RSA, fingerprints
certificates with SHA-1 and puts an MD5 in the encrypted-config stub. They
are needed for interoperability and must never be chosen by accident, so
every use goes through this module, where it is easy to find and audit.
"""

from __future__ import annotations

import hashlib

from cryptography.hazmat.primitives import hashes

LEGACY_RSA_BITS = frozenset({512, 1024})
"""RSA sizes the format can express but that no new key should have."""


def sha1_hash() -> hashes.HashAlgorithm:
    return hashes.SHA1()  # noqa: S303 - required by the trust list format


def sha1(data: bytes) -> bytes:
    return hashlib.sha1(data).digest()


def md5_hex(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()

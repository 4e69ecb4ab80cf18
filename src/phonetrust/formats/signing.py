"""Who signs, and how a signature is checked.

Signing goes through the small :class:`SigningKey` protocol rather than a
concrete key class, because some signers never expose their private key:
an eToken signs inside its PKCS#11 token. Phones only know RSA PKCS#1 v1.5.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Protocol

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

from phonetrust.errors import KeyMaterialError
from phonetrust.formats.algorithms import Digest


class SigningKey(Protocol):
    """A private RSA key that can produce PKCS#1 v1.5 signatures."""

    @property
    def key_size(self) -> int: ...

    def sign(self, data: bytes, digest: Digest) -> bytes: ...


@dataclass(frozen=True, slots=True)
class RsaKey:
    """A :class:`SigningKey` over a key held in memory by ``cryptography``."""

    key: rsa.RSAPrivateKey

    @property
    def key_size(self) -> int:
        return self.key.key_size

    def sign(self, data: bytes, digest: Digest) -> bytes:
        return self.key.sign(data, padding.PKCS1v15(), digest.hash_algorithm())


@dataclass(frozen=True, slots=True)
class Signer:
    """A certificate and the key that signs in its name."""

    certificate: x509.Certificate
    key: SigningKey

    @classmethod
    def from_private_key(cls, certificate: x509.Certificate, key: object) -> Signer:
        """Pair a certificate with an in-memory key, refusing what phones cannot verify."""
        if not isinstance(key, rsa.RSAPrivateKey):
            raise KeyMaterialError(
                f"the signer key is not RSA ({type(key).__name__}); "
                "phones verify RSA signatures only"
            )
        cert_key = certificate.public_key()
        if not isinstance(cert_key, rsa.RSAPublicKey) or (
            cert_key.public_numbers() != key.public_key().public_numbers()
        ):
            raise KeyMaterialError("the private key does not belong to the signer certificate")
        return cls(certificate, RsaKey(key))


class Failure(Enum):
    """Why a signature was not accepted; the text is what ``show`` and the CLI print."""

    NO_SIGNATURE = "the header carries no signature"
    SIGNER_ABSENT = "no SAST record matches the signer in the header"
    DIGEST_UNSUPPORTED = "the digest algorithm is not supported"
    KEY_UNUSABLE = "the signer's public key is not an RSA key"
    BAD_SIGNATURE = "the signature does not match the file"
    SIGNER_MISMATCH = "the certificate given is not the one named in the header"


@dataclass(frozen=True, slots=True)
class Verification:
    """The outcome of checking a signed file: which record signed it, and whether it holds."""

    verified: bool
    failure: Failure | None = None
    signer_record: int | None = None

    @property
    def reason(self) -> str | None:
        return None if self.failure is None else self.failure.value


def certificate_key(certificate: x509.Certificate) -> PublicKeyTypes | None:
    """The certificate's key, or None when its key bytes do not parse.

    cryptography parses the key lazily: a certificate read from a hostile
    file can parse and still hold key bytes that raise when used. A verifier
    treats that as a key it cannot use, never as a crash.
    """
    try:
        return certificate.public_key()
    except (ValueError, UnsupportedAlgorithm):
        return None


def check_signature(
    public_key: object, signature: bytes, data: bytes, digest: Digest | None
) -> Verification:
    """Verify an RSA PKCS#1 v1.5 signature; never raises for a bad one."""
    if digest is None:
        return Verification(False, Failure.DIGEST_UNSUPPORTED)
    if not isinstance(public_key, rsa.RSAPublicKey):
        return Verification(False, Failure.KEY_UNUSABLE)
    try:
        public_key.verify(signature, data, padding.PKCS1v15(), digest.hash_algorithm())
    except InvalidSignature:
        return Verification(False, Failure.BAD_SIGNATURE)
    return Verification(True)

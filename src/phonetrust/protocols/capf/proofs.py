"""Certificate authentication in CAPF: what a phone signs and how the server checks it.

Both sides live here because they must agree to the byte (spec/protocols.md):
the signed bytes are the device name, a NUL and the certificate DER; for
RSA, SIGNED DATA is the private-key operation on a PKCS#1 type-1 block
around a *bare* SHA-1 hash (no DigestInfo), which ``cryptography`` cannot
make or check through its padding API, so the block is built (and read
back) here; SHA2 SIGNED DATA is the same with SHA-512; EC keys make
ordinary ECDSA signatures.
"""

from __future__ import annotations

import hashlib
import hmac

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

from phonetrust.errors import BuildError
from phonetrust.protocols.capf.elements import HashAlgorithm, Sha2Signature


def rsa_sign_bare(key: rsa.RSAPrivateKey, digest: bytes) -> bytes:
    """The RSA private operation on a PKCS#1 type-1 block around a bare hash (no DigestInfo).

    ``cryptography`` always wraps the hash in a DigestInfo, so the block is
    built here and exponentiated with the private numbers (CRT).
    """
    size = (key.key_size + 7) // 8
    if len(digest) > size - 11:
        raise BuildError(f"a {len(digest)}-byte hash does not fit a {key.key_size}-bit key")
    block = b"\x00\x01" + b"\xff" * (size - 3 - len(digest)) + b"\x00" + digest
    numbers = key.private_numbers()
    m = int.from_bytes(block, "big")
    s1 = pow(m, numbers.dmp1, numbers.p)
    s2 = pow(m, numbers.dmq1, numbers.q)
    h = (numbers.iqmp * (s1 - s2)) % numbers.p
    return (s2 + h * numbers.q).to_bytes(size, "big")


def sign_for_auth(
    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey, data: bytes
) -> tuple[bytes, Sha2Signature]:
    """SIGNED DATA (SHA-1) and SHA2 SIGNED DATA (SHA-512) over ``data``."""
    if isinstance(key, rsa.RSAPrivateKey):
        sha1 = hashlib.sha1(data).digest()  # the protocol's SIGNED DATA is SHA-1
        sha512 = hashlib.sha512(data).digest()
        return (
            rsa_sign_bare(key, sha1),
            Sha2Signature(HashAlgorithm.SHA512, rsa_sign_bare(key, sha512)),
        )
    sha1_ecdsa = ec.ECDSA(hashes.SHA1())  # noqa: S303 - the protocol's SIGNED DATA is SHA-1
    return (
        key.sign(data, sha1_ecdsa),
        Sha2Signature(HashAlgorithm.SHA512, key.sign(data, ec.ECDSA(hashes.SHA512()))),
    )


def rsa_verify_bare(key: rsa.RSAPublicKey, signature: bytes, digest: bytes) -> bool:
    try:
        recovered = key.recover_data_from_signature(signature, padding.PKCS1v15(), None)
    except (InvalidSignature, ValueError):
        return False
    return hmac.compare_digest(recovered, digest)


_SHA2 = {HashAlgorithm.SHA256: hashes.SHA256(), HashAlgorithm.SHA512: hashes.SHA512()}


def verify_auth_signatures(
    key: PublicKeyTypes, data: bytes, signed: bytes | None, sha2: Sha2Signature | None
) -> str | None:
    """None when every signature present verifies (at least one must be); else the problem."""
    if signed is None and sha2 is None:
        return "no SIGNED DATA or SHA2 SIGNED DATA with the certificate"
    checks: list[tuple[str, bytes, hashes.HashAlgorithm]] = []
    if signed is not None:
        checks.append(("SIGNED DATA", signed, hashes.SHA1()))  # noqa: S303 - the protocol
    if sha2 is not None:
        algorithm = _SHA2.get(HashAlgorithm(sha2.algorithm)) if sha2.algorithm in (2, 3) else None
        if algorithm is None:
            return f"SHA2 SIGNED DATA with unknown hash algorithm {sha2.algorithm}"
        checks.append(("SHA2 SIGNED DATA", sha2.signature, algorithm))
    for what, signature, algorithm in checks:
        if isinstance(key, rsa.RSAPublicKey):
            digest = hashes.Hash(algorithm)
            digest.update(data)
            ok = rsa_verify_bare(key, signature, digest.finalize())
        elif isinstance(key, ec.EllipticCurvePublicKey):
            try:
                key.verify(signature, data, ec.ECDSA(algorithm))
                ok = True
            except InvalidSignature:
                ok = False
        else:
            return "the certificate's key is neither RSA nor EC"
        if not ok:
            return f"{what} does not verify with the certificate's key"
    return None


def proof_problem(
    der: bytes, data: bytes, signed: bytes | None, sha2: Sha2Signature | None
) -> str | None:
    """Why the signatures over ``data`` do not prove possession of ``der``'s key (None: they do)."""
    try:
        key = x509.load_der_x509_certificate(der).public_key()
    except (ValueError, UnsupportedAlgorithm):
        return "the certificate is not valid X.509 DER"
    return verify_auth_signatures(key, data, signed, sha2)

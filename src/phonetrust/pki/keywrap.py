"""Private keys at rest: sealed under a random cluster key, itself sealed under the password.

Each private key is stored as AES-256-GCM over its PKCS#8 DER under the
32-byte *cluster key*, with the certificate fingerprint as associated data
so a sealed key cannot be swapped for another certificate's. The cluster
key is sealed under a key-encryption key: the security password stretched
with scrypt (the *master key*), then HKDF-SHA256 with :data:`VAULT_INFO`.
Changing the password re-seals the cluster key only, never a private key.
The same scrypt derivation protects backups and the ITLRecovery.p12 export,
which is why changing the password matters (C5).
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from phonetrust.errors import KeyMaterialError

MAGIC = b"PTKEY1"
SALT_SIZE = 16
NONCE_SIZE = 12
MASTER_KEY_SIZE = 32
SCRYPT_N = 2**14
"""Cost: about 50 ms on this class of machine, once per command or service start."""


def new_salt() -> bytes:
    return os.urandom(SALT_SIZE)


def derive_master_key(password: str, salt: bytes) -> bytes:
    if not password:
        raise KeyMaterialError("the security password must not be empty")
    kdf = Scrypt(salt=salt, length=MASTER_KEY_SIZE, n=SCRYPT_N, r=8, p=1)
    return kdf.derive(password.encode("utf-8"))


VAULT_INFO = b"phonetrust key vault"
P12_SALT = b"phonetrust ITLRecovery.p12"
"""Fixed on purpose: a cluster rebuilt with the same security password can open an old .p12."""


def new_cluster_key() -> bytes:
    return os.urandom(MASTER_KEY_SIZE)


def vault_kek(master_key: bytes) -> bytes:
    """The key that seals the cluster key, from the password's master key."""
    hkdf = HKDF(algorithm=hashes.SHA256(), length=MASTER_KEY_SIZE, salt=None, info=VAULT_INFO)
    return hkdf.derive(master_key)


def p12_password(password: str) -> bytes:
    """ITLRecovery.p12 is protected by a password derived from the security password (C2, C5)."""
    return derive_master_key(password, P12_SALT).hex().encode()


def seal(master_key: bytes, plaintext: bytes, context: bytes) -> bytes:
    """``MAGIC | nonce | AES-GCM(plaintext)`` bound to ``context``."""
    nonce = os.urandom(NONCE_SIZE)
    return MAGIC + nonce + AESGCM(master_key).encrypt(nonce, plaintext, context)


def unseal(master_key: bytes, sealed: bytes, context: bytes) -> bytes:
    if not sealed.startswith(MAGIC) or len(sealed) < len(MAGIC) + NONCE_SIZE + 16:
        raise KeyMaterialError("not a phonetrust sealed blob")
    nonce = sealed[len(MAGIC) : len(MAGIC) + NONCE_SIZE]
    try:
        return AESGCM(master_key).decrypt(nonce, sealed[len(MAGIC) + NONCE_SIZE :], context)
    except InvalidTag:
        raise KeyMaterialError(
            "cannot decrypt: wrong security password, or the data was altered"
        ) from None


def seal_private_key(master_key: bytes, key: PrivateKeyTypes, context: bytes) -> bytes:
    return seal(master_key, private_key_der(key), context)


def unseal_private_key(master_key: bytes, sealed: bytes, context: bytes) -> PrivateKeyTypes:
    der = unseal(master_key, sealed, context)
    return serialization.load_der_private_key(der, password=None)


def private_key_der(key: PrivateKeyTypes) -> bytes:
    """PKCS#8 DER, unencrypted: only ever placed inside another sealed container."""
    return key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def private_key_from_der(der: bytes) -> PrivateKeyTypes:
    return serialization.load_der_private_key(der, password=None)

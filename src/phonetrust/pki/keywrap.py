"""Private keys at rest, encrypted with a key derived from the cluster security password.

The security password is stretched with scrypt into a 32-byte master key;
each private key is stored as AES-256-GCM over its PKCS#8 DER, with the
certificate fingerprint as associated data so a key file cannot be swapped
for another certificate's. The same derivation protects backups and the
ITLRecovery.p12 export, which is why changing the password matters (C5).
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
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

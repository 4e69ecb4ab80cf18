"""Encrypted configuration (``.enc.sgn``): VERSION 2.0 header, AES-128-CBC body.

The header carries, after TIMESTAMP, an ENCRYPTION INFO container (IV,
pad count, and the AES key wrapped with RSA PKCS#1 v1.5 for the device's
certificate) and the algorithm and digest of the plaintext. The file is
then signed like a ``.sgn``. Plaintext padding is 1-16 bytes of ``0x0D``,
not PKCS#7: that is what phones strip.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from phonetrust.errors import DecryptionError, KeyMaterialError, ParseError
from phonetrust.formats.algorithms import Digest
from phonetrust.formats.header import Header
from phonetrust.formats.sgn import verify_header_signature
from phonetrust.formats.signing import Signer, Verification
from phonetrust.formats.tags import HeaderTag
from phonetrust.formats.trustlist import sign_header, signed_bytes
from phonetrust.wire import Reader
from phonetrust.wire.tlv import Container, Element

ENC_VERSION = (2, 0)
AES_KEY_SIZE = 16
BLOCK = 16
PAD_BYTE = b"\x0d"
KEY_ALGORITHM_AES = 1


@dataclass(frozen=True, slots=True)
class EncryptionInfo:
    """The typed content of the header's encryption elements."""

    iv: bytes
    padding_count: int
    key_size_bits: int
    key_algorithm: int
    wrapped_key: bytes
    hash_algorithm: int
    plaintext_hash: bytes

    @classmethod
    def from_header(cls, header: Header) -> EncryptionInfo:
        def leaf(tag: HeaderTag, size: int | None = None) -> bytes:
            node = header.node(tag)
            if not isinstance(node, Element):
                raise ParseError(f"encrypted file header lacks {tag.name}", 0)
            if size is not None and len(node.value) != size:
                raise ParseError(f"{tag.name} must be {size} bytes, not {len(node.value)}", 0)
            return node.value

        if not isinstance(header.node(HeaderTag.ENCRYPTIONINFO), Container):
            raise ParseError("encrypted file header lacks the ENCRYPTION INFO container", 0)
        return cls(
            iv=leaf(HeaderTag.IV, BLOCK),
            padding_count=int.from_bytes(leaf(HeaderTag.PADDINGCOUNT, 2), "big"),
            key_size_bits=int.from_bytes(leaf(HeaderTag.KEYSIZE, 2), "big"),
            key_algorithm=leaf(HeaderTag.KEYALGORITHM, 1)[0],
            wrapped_key=leaf(HeaderTag.KEY),
            hash_algorithm=leaf(HeaderTag.ENCRYPTIONHASHALGORITHM, 1)[0],
            plaintext_hash=leaf(HeaderTag.ENCRYPTIONHASH),
        )

    def nodes(self) -> tuple[Container | Element, ...]:
        return (
            Container(
                HeaderTag.ENCRYPTIONINFO,
                (
                    Container(
                        HeaderTag.IVINFO,
                        (
                            Element(HeaderTag.IVUNKNOWN, b"\0"),
                            Element(HeaderTag.IV, self.iv),
                            Element(HeaderTag.PADDINGCOUNT, self.padding_count.to_bytes(2, "big")),
                        ),
                    ),
                    Container(
                        HeaderTag.KEYINFO,
                        (
                            Element(HeaderTag.KEYUNKNOWN, b"\0"),
                            Element(HeaderTag.KEYSIZE, self.key_size_bits.to_bytes(2, "big")),
                            Element(HeaderTag.KEYALGORITHM, bytes([self.key_algorithm])),
                            Element(HeaderTag.KEY, self.wrapped_key),
                        ),
                    ),
                ),
            ),
            Element(HeaderTag.ENCRYPTIONHASHALGORITHM, bytes([self.hash_algorithm])),
            Element(HeaderTag.ENCRYPTIONHASH, self.plaintext_hash),
        )


@dataclass(frozen=True, slots=True)
class EncryptedFile:
    header: Header
    ciphertext: bytes

    @property
    def encryption(self) -> EncryptionInfo:
        return EncryptionInfo.from_header(self.header)

    def to_wire(self) -> bytes:
        return self.header.to_wire() + self.ciphertext

    def signed_bytes(self) -> bytes:
        return signed_bytes(self.header, self.ciphertext)

    def verify(self, certificate: x509.Certificate) -> Verification:
        return verify_header_signature(self.header, self.signed_bytes(), certificate)

    @classmethod
    def from_wire(cls, data: bytes) -> EncryptedFile:
        r = Reader(data)
        header = Header.read(r)
        if header.version != ENC_VERSION:
            raise ParseError(
                f".enc.sgn files are version 2.0, this header says {header.version_text}", 0
            )
        EncryptionInfo.from_header(header)  # validated now, so a bad file never gets further
        body = data[r.offset :]
        if len(body) % BLOCK:
            raise ParseError(
                f"encrypted body of {len(body)} bytes is not whole AES blocks", r.offset
            )
        return cls(header, body)


def encrypt_file(
    plaintext: bytes,
    signer: Signer,
    device_certificate: x509.Certificate,
    *,
    filename: str,
    timestamp: int,
    digest: Digest = Digest.SHA1,
    aes_key: bytes | None = None,
    iv: bytes | None = None,
) -> EncryptedFile:
    """Encrypt ``plaintext`` for the device and sign the result.

    A fresh random key and IV are drawn per file unless given (tests pin them).
    """
    device_key = device_certificate.public_key()
    if not isinstance(device_key, rsa.RSAPublicKey):
        raise KeyMaterialError(
            "encrypted configuration needs an RSA device certificate (LSC or MIC); "
            "this one has an EC or other non-RSA key"
        )
    key = os.urandom(AES_KEY_SIZE) if aes_key is None else aes_key
    vector = os.urandom(BLOCK) if iv is None else iv
    if len(key) != AES_KEY_SIZE or len(vector) != BLOCK:
        raise KeyMaterialError("AES-128 needs a 16-byte key and a 16-byte IV")
    pad = BLOCK - len(plaintext) % BLOCK
    encryptor = Cipher(algorithms.AES(key), modes.CBC(vector)).encryptor()
    ciphertext = encryptor.update(plaintext + PAD_BYTE * pad) + encryptor.finalize()
    info = EncryptionInfo(
        iv=vector,
        padding_count=pad,
        key_size_bits=device_key.key_size,
        key_algorithm=KEY_ALGORITHM_AES,
        wrapped_key=device_key.encrypt(key, padding.PKCS1v15()),
        hash_algorithm=int(digest),
        plaintext_hash=digest.digest(plaintext),
    )
    header = sign_header(
        signer,
        ciphertext,
        version=ENC_VERSION,
        filename=filename,
        digest=digest,
        timestamp=timestamp,
        extra=info.nodes(),
    )
    return EncryptedFile(header, ciphertext)


@dataclass(frozen=True, slots=True)
class KnownPlaintext:
    """A stand-in for a phone's private key, for the change planner: the document the
    cluster encrypted for the phone, rendered again. It opens the file only if the file's
    plaintext digest is this document's, so a prediction decrypts exactly what the phone
    would (given it holds the key of the certificate the cluster encrypted for)."""

    document: bytes = field(repr=False)


def decrypt_file(encrypted: EncryptedFile, device_key: object) -> bytes:
    """The plaintext, checked against the header's digest; :class:`DecryptionError` otherwise.

    The digest check is what tells a wrong key apart: RSA PKCS#1 v1.5
    decryption with implicit rejection returns garbage instead of failing.
    """
    if isinstance(device_key, KnownPlaintext):
        info = encrypted.encryption
        if info.hash_algorithm not in Digest._value2member_map_:
            raise DecryptionError(f"unknown plaintext digest algorithm {info.hash_algorithm}")
        if Digest(info.hash_algorithm).digest(device_key.document) != info.plaintext_hash:
            raise DecryptionError("the file does not hold the document the cluster renders")
        return device_key.document
    if not isinstance(device_key, rsa.RSAPrivateKey):
        raise KeyMaterialError("the device key must be an RSA private key")
    info = encrypted.encryption
    if info.key_algorithm != KEY_ALGORITHM_AES:
        raise DecryptionError(f"unknown key algorithm {info.key_algorithm} (only 1, AES, exists)")
    if info.hash_algorithm not in Digest._value2member_map_:
        raise DecryptionError(f"unknown plaintext digest algorithm {info.hash_algorithm}")
    try:
        key = device_key.decrypt(info.wrapped_key, padding.PKCS1v15())
    except ValueError:
        raise DecryptionError("the device key cannot unwrap this file's AES key") from None
    if len(key) != AES_KEY_SIZE:
        raise DecryptionError("the device key cannot unwrap this file's AES key")
    decryptor = Cipher(algorithms.AES(key), modes.CBC(info.iv)).decryptor()
    padded = decryptor.update(encrypted.ciphertext) + decryptor.finalize()
    if not 0 < info.padding_count <= min(BLOCK, len(padded)):
        raise DecryptionError(f"padding count {info.padding_count} is impossible")
    plaintext = padded[: len(padded) - info.padding_count]
    if Digest(info.hash_algorithm).digest(plaintext) != info.plaintext_hash:
        raise DecryptionError("the decrypted content does not match its digest: wrong device key?")
    return plaintext

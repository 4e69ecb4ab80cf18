"""Fake Cisco eTokens in SoftHSM, for tests of the hardware CTL client.

:func:`softhsm_tokens` points ``SOFTHSM2_CONF`` at a private configuration
with its own token directory, creates the tokens with ``softhsm2-util``,
generates an RSA key pair inside each (the private key is not extractable)
and stores on it a SAST certificate as Cisco ships them::

    subject  CN=SAST-ADN<8 hex> (trailing space), OU=IPCBU, O=Cisco Systems, Inc.
    issuer   CN=Cisco Manufacturing CA, O=Cisco Systems
    serial   10 bytes, like BD:A3:02:00:00:00:D8:88:64:1F

The certificate is signed in software (SHA-256: this OpenSSL refuses to make
SHA-1 signatures) by a throw-away "Cisco Manufacturing CA" key. On exit the
PKCS#11 module is finalised, the variable restored and the directory removed.

The PKCS#11 module is process-wide: entering re-initialises it (handles
taken before become invalid). Blocks may nest; after an inner one ends, the
next :meth:`SoftHsm.library` call initialises the module again with the
outer block's (restored) configuration, so take token handles afresh.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID
from pkcs11 import Attribute, CertificateType, KeyType, ObjectClass

from phonetrust.pki.etoken import TokenInfo, list_tokens, module_path, open_library
from phonetrust.testing.pki import rsa_key

if TYPE_CHECKING:
    from pkcs11._pkcs11 import lib as Library

CONF_VARIABLE = "SOFTHSM2_CONF"
UTIL = "softhsm2-util"
NOT_BEFORE = datetime(2020, 1, 1, tzinfo=UTC)
NOT_AFTER = datetime(2040, 1, 1, tzinfo=UTC)
KEY_ID = b"\x01"


def softhsm_available(module: str | None = None) -> bool:
    """Whether SoftHSM's tool and PKCS#11 module are installed (tests skip otherwise)."""
    return shutil.which(UTIL) is not None and Path(module_path(module)).is_file()


@dataclass(frozen=True, slots=True)
class SoftToken:
    """One fake eToken: how to find it, its passwords and its SAST certificate."""

    label: str
    pin: str
    so_pin: str
    serial: str
    certificate: x509.Certificate


@dataclass(frozen=True, slots=True)
class SoftHsm:
    """The tokens of one :func:`softhsm_tokens` block and the CA that issued them."""

    module: str
    directory: Path
    ca_certificate: x509.Certificate
    tokens: tuple[SoftToken, ...]

    def library(self) -> Library:
        return open_library(self.module)

    def token_infos(self) -> list[TokenInfo]:
        """The tokens as the CTL client sees them, in creation order."""
        by_serial = {t.serial: t for t in list_tokens(self.library())}
        return [by_serial[t.serial] for t in self.tokens]


def manufacturing_ca_name() -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, "Cisco Manufacturing CA"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Cisco Systems"),
        ]
    )


def sast_name(token_id: str) -> x509.Name:
    """``cn="SAST-ADN<id> ";ou=IPCBU;o="Cisco Systems, Inc."`` as CUCM prints it."""
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, f"SAST-ADN{token_id} "),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "IPCBU"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Cisco Systems, Inc."),
        ]
    )


def etoken_serial() -> int:
    """A 10-byte serial shaped like the eTokens': 3 random bytes, 02 00 00 00, 3 random."""
    raw = bytes([0x80 | secrets.randbelow(0x80)]) + secrets.token_bytes(2)
    return int.from_bytes(raw + b"\x02\x00\x00\x00" + secrets.token_bytes(3), "big")


def _ca(ca_key: rsa.RSAPrivateKey) -> x509.Certificate:
    name = manufacturing_ca_name()
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOT_BEFORE)
        .not_valid_after(NOT_AFTER)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(ca_key, hashes.SHA256())
    )


def _sast_certificate(
    public_key: rsa.RSAPublicKey, token_id: str, ca_key: rsa.RSAPrivateKey
) -> x509.Certificate:
    return (
        x509.CertificateBuilder()
        .subject_name(sast_name(token_id))
        .issuer_name(manufacturing_ca_name())
        .public_key(public_key)
        .serial_number(etoken_serial())
        .not_valid_before(NOT_BEFORE)
        .not_valid_after(NOT_AFTER)
        .sign(ca_key, hashes.SHA256())
    )


def _der_integer(value: int) -> bytes:
    body = value.to_bytes(value.bit_length() // 8 + 1, "big")
    return bytes([0x02, len(body)]) + body


def _init_token(label: str, pin: str, so_pin: str) -> None:
    subprocess.run(  # noqa: S603 - fixed tool, arguments are ours
        [UTIL, "--init-token", "--free", "--label", label, "--pin", pin, "--so-pin", so_pin],
        check=True,
        capture_output=True,
    )


def _provision(
    lib: Library, label: str, pin: str, key_size: int, ca_key: rsa.RSAPrivateKey
) -> tuple[str, x509.Certificate]:
    """Make the key pair in the token and store its certificate there; returns (serial, cert)."""
    token = lib.get_token(token_label=label)
    serial = token.serial.decode("ascii").strip()
    with token.open(rw=True, user_pin=pin) as session:
        public, _ = session.generate_keypair(
            KeyType.RSA,
            key_size,
            id=KEY_ID,
            label=label,
            store=True,
            private_template={Attribute.EXTRACTABLE: False, Attribute.SENSITIVE: True},
        )
        numbers = rsa.RSAPublicNumbers(
            int.from_bytes(public[Attribute.PUBLIC_EXPONENT], "big"),
            int.from_bytes(public[Attribute.MODULUS], "big"),
        )
        cert = _sast_certificate(numbers.public_key(), serial[-8:], ca_key)
        session.create_object(
            {
                Attribute.CLASS: ObjectClass.CERTIFICATE,
                Attribute.CERTIFICATE_TYPE: CertificateType.X_509,
                Attribute.TOKEN: True,
                Attribute.LABEL: label,
                Attribute.ID: KEY_ID,
                Attribute.SUBJECT: cert.subject.public_bytes(),
                Attribute.ISSUER: cert.issuer.public_bytes(),
                Attribute.SERIAL_NUMBER: _der_integer(cert.serial_number),
                Attribute.VALUE: cert.public_bytes(Encoding.DER),
            }
        )
    return serial, cert


@contextmanager
def softhsm_tokens(
    count: int = 2,
    *,
    pin: str = "Cisco123",
    so_pin: str = "Cisco-SO-123",
    key_size: int = 1024,
    module: str | None = None,
) -> Iterator[SoftHsm]:
    """``count`` fresh eTokens in a private SoftHSM, labelled ``eToken1``, ``eToken2``, ..."""
    path = module_path(module)
    previous = os.environ.get(CONF_VARIABLE)
    with tempfile.TemporaryDirectory(prefix="phonetrust-softhsm-") as tmp:
        root = Path(tmp)
        (root / "tokens").mkdir()
        conf = root / "softhsm2.conf"
        conf.write_text(
            f"directories.tokendir = {root / 'tokens'}\n"
            "objectstore.backend = file\n"
            "log.level = ERROR\n"
            "slots.removable = false\n"
        )
        os.environ[CONF_VARIABLE] = str(conf)
        lib: Library | None = None
        try:
            labels = [f"eToken{i + 1}" for i in range(count)]
            for label in labels:
                _init_token(label, pin, so_pin)
            lib = open_library(path)
            lib.reinitialize()  # SoftHSM reads its configuration and tokens at C_Initialize
            ca_key = rsa_key(2048, slot=0xCA)
            tokens = tuple(
                SoftToken(label, pin, so_pin, *_provision(lib, label, pin, key_size, ca_key))
                for label in labels
            )
            yield SoftHsm(path, root, _ca(ca_key), tokens)
        finally:
            if lib is not None and lib.initialized:
                lib.finalize()
            if previous is None:
                os.environ.pop(CONF_VARIABLE, None)
            else:
                os.environ[CONF_VARIABLE] = previous

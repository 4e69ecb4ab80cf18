"""Self-signed role certificates in CUCM's style.

CUCM creates one self-signed certificate per role and node (CallManager,
TVS, CAPF, ITLRecovery, tomcat); their subjects differ only in the CN
(``CAPF-<8 hex>``, ``ITLRECOVERY_<host>``). Time is an argument.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


@dataclass(frozen=True, slots=True)
class Organisation:
    """The OU, O, L, ST and C that every certificate of a cluster shares."""

    unit: str = "TAC"
    organisation: str = "Cisco"
    locality: str = "Krakow"
    state: str = "Malopolska"
    country: str = "PL"

    def name(self, common_name: str) -> x509.Name:
        return x509.Name(
            [
                x509.NameAttribute(NameOID.COMMON_NAME, common_name),
                x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, self.unit),
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, self.organisation),
                x509.NameAttribute(NameOID.LOCALITY_NAME, self.locality),
                x509.NameAttribute(NameOID.STATE_OR_PROVINCE_NAME, self.state),
                x509.NameAttribute(NameOID.COUNTRY_NAME, self.country),
            ]
        )


def new_rsa_key(bits: int = 2048) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def random_serial(size: int = 16) -> int:
    """A positive serial of exactly ``size`` bytes (CUCM's are 16), top bit clear."""
    bits = 8 * size - 1
    return secrets.randbits(bits) | (1 << (bits - 1))


def self_signed(
    subject: x509.Name,
    key: rsa.RSAPrivateKey,
    *,
    now: datetime,
    days: int = 1825,
    serial: int | None = None,
    hash_algorithm: hashes.SHA256 | hashes.SHA384 | hashes.SHA512 | None = None,
) -> x509.Certificate:
    """A self-signed certificate usable for TLS and for signing files."""
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(random_serial() if serial is None else serial)
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=True,
                data_encipherment=True,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=False,
        )
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .sign(key, hash_algorithm or hashes.SHA256())
    )


def capf_common_name() -> str:
    """CUCM names its CAPF certificate ``CAPF-<8 hex>``."""
    return f"CAPF-{secrets.token_hex(4)}"


def itlrecovery_common_name(publisher_host: str) -> str:
    return f"ITLRECOVERY_{publisher_host}"

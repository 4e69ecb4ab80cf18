"""The certificates CUCM gives each node, made the way CUCM makes them.

Every node gets CallManager, TVS, CAPF, ipsec and tomcat certificates,
self-signed RSA-2048 with the cluster's organisation attributes; the
CAPF CN is ``CAPF-<8 hex>``. ITLRecovery (``CN=ITLRECOVERY_<publisher>``,
five years) is made once, on the publisher, and keeps its name for good
(scenario C4), so it is never derived from the node's current name.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from phonetrust.pki.selfsigned import (
    Organisation,
    capf_common_name,
    itlrecovery_common_name,
    new_rsa_key,
    self_signed,
)

ROLE_VALIDITY_DAYS = 5 * 365
"""CUCM's self-signed certificates last five years; so does ITLRecovery."""

NODE_ROLES = ("CallManager", "TVS", "CAPF", "ipsec", "tomcat")


@dataclass(frozen=True, slots=True)
class Issued:
    certificate: x509.Certificate
    key: rsa.RSAPrivateKey


def common_name(role: str, fqdn: str) -> str:
    """The CN CUCM puts in a node's certificate of ``role``."""
    if role == "CAPF":
        return capf_common_name()
    if role == "ITLRecovery":
        return itlrecovery_common_name(fqdn)
    return fqdn


def issue(
    role: str,
    fqdn: str,
    org: Organisation,
    *,
    now: datetime,
    bits: int = 2048,
    common: str | None = None,
) -> Issued:
    """A fresh key and self-signed certificate for ``role`` on the node ``fqdn``.

    ``common`` overrides the CN (ITLRecovery keeps its original one on regeneration).
    """
    key = new_rsa_key(bits)
    cn = common or common_name(role, fqdn)
    cert = self_signed(org.name(cn), key, now=now, days=ROLE_VALIDITY_DAYS)
    return Issued(cert, key)


def organisation_of(certificate: x509.Certificate) -> Organisation:
    """The OU/O/L/ST/C of an existing certificate, so regenerations keep them."""

    def get(oid: x509.ObjectIdentifier, default: str) -> str:
        attrs = certificate.subject.get_attributes_for_oid(oid)
        value = attrs[0].value if attrs else default
        return value if isinstance(value, str) else value.decode("utf-8", "replace")

    base = Organisation()
    return Organisation(
        unit=get(NameOID.ORGANIZATIONAL_UNIT_NAME, base.unit),
        organisation=get(NameOID.ORGANIZATION_NAME, base.organisation),
        locality=get(NameOID.LOCALITY_NAME, base.locality),
        state=get(NameOID.STATE_OR_PROVINCE_NAME, base.state),
        country=get(NameOID.COUNTRY_NAME, base.country),
    )


def common_name_of(certificate: x509.Certificate) -> str:
    attrs = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    value = attrs[0].value if attrs else ""
    return value if isinstance(value, str) else value.decode("utf-8", "replace")

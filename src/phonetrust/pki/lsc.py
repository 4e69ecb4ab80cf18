"""LSCs: the Locally Significant Certificates CAPF issues to phones (protocols.md, CAPF).

An LSC has subject ``CN=<device name>`` followed by the organisation
attributes (OU, O, L, ST, C) of its issuer, in the issuer's order; issuer =
the CAPF certificate's subject; a random positive 128-bit serial;
basicConstraints CA:FALSE; keyUsage digitalSignature + keyEncipherment;
extKeyUsage serverAuth, clientAuth, IPsec end system; SAN URI = the device
name; SHA-256 with the CAPF key. Validity starts five minutes before ``now``
(phones' clocks lag, as for the role certificates) and lasts ``days``.

Also here: the device's key specification as the store writes it
(``RSA-2048``, ``EC-P256``), and whether a certificate was issued by one of
a set of issuers (an LSC by a CAPF certificate of the cluster, a MIC by a
``CAPF-trust`` certificate).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes, PublicKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

from phonetrust.errors import BuildError, KeyMaterialError, LocalError
from phonetrust.protocols.capf.messages import Curve, KeySpec

LSC_VALIDITY_DAYS = 5 * 365
"""CAPF's default certificate validity: five years."""

IPSEC_END_SYSTEM = ObjectIdentifier("1.3.6.1.5.5.7.3.5")
"""id-kp-ipsecEndSystem (RFC 2459), which CUCM puts in every LSC."""

ORGANISATION_OIDS = (
    NameOID.ORGANIZATIONAL_UNIT_NAME,
    NameOID.ORGANIZATION_NAME,
    NameOID.LOCALITY_NAME,
    NameOID.STATE_OR_PROVINCE_NAME,
    NameOID.COUNTRY_NAME,
)

_CLOCK_SKEW = timedelta(minutes=5)

KEY_SPECS = {
    "RSA-1024": KeySpec.rsa(1024),
    "RSA-2048": KeySpec.rsa(2048),
    "RSA-3072": KeySpec.rsa(3072),
    "RSA-4096": KeySpec.rsa(4096),
    "EC-P256": KeySpec.ec(Curve.P256),
    "EC-P384": KeySpec.ec(Curve.P384),
    "EC-P521": KeySpec.ec(Curve.P521),
}
"""Every key a device may be asked to generate, by the name the store keeps."""


def parse_key_spec(text: str) -> KeySpec:
    """``RSA-2048`` or ``EC-P256`` (case, spaces and an underscore forgiven) as a key spec."""
    name = text.strip().upper().replace("_", "-").replace(" ", "-")
    name = {"EC-256": "EC-P256", "EC-384": "EC-P384", "EC-521": "EC-P521"}.get(name, name)
    spec = KEY_SPECS.get(name)
    if spec is None:
        raise LocalError(f"Unknown key {text!r}; use one of " + ", ".join(KEY_SPECS))
    return spec


def lsc_serial() -> int:
    """A random positive serial of 128 bits (16 bytes, top bit clear so DER needs no pad)."""
    return secrets.randbits(127) | (1 << 126)


def lsc_subject(device_name: str, issuer: x509.Certificate) -> x509.Name:
    organisation = [a for a in issuer.subject if a.oid in ORGANISATION_OIDS]
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, device_name), *organisation])


def issue_lsc(
    capf_cert: x509.Certificate,
    capf_key: PrivateKeyTypes,
    device_name: str,
    public_key: PublicKeyTypes,
    *,
    now: datetime,
    days: int = LSC_VALIDITY_DAYS,
) -> x509.Certificate:
    """The LSC for ``device_name``'s ``public_key``, signed by the CAPF key (SHA-256)."""
    if not isinstance(capf_key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise KeyMaterialError("the CAPF key is neither RSA nor EC")
    if not isinstance(public_key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey):
        raise BuildError("an LSC is issued for an RSA or EC key only")
    if days < 1:
        raise LocalError(f"an LSC must be valid for at least one day, not {days}")
    builder = (
        x509.CertificateBuilder()
        .subject_name(lsc_subject(device_name, capf_cert))
        .issuer_name(capf_cert.subject)
        .public_key(public_key)
        .serial_number(lsc_serial())
        .not_valid_before(now - _CLOCK_SKEW)
        .not_valid_after(now + timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=True,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH, IPSEC_END_SYSTEM]
            ),
            critical=False,
        )
        .add_extension(
            x509.SubjectAlternativeName([x509.UniformResourceIdentifier(device_name)]),
            critical=False,
        )
    )
    return builder.sign(capf_key, hashes.SHA256())


def issued_by(
    certificate: x509.Certificate, issuers: Iterable[x509.Certificate]
) -> x509.Certificate | None:
    """The first of ``issuers`` whose subject is ``certificate``'s issuer and whose key
    verifies its signature; None when none does."""
    for issuer in issuers:
        try:
            certificate.verify_directly_issued_by(issuer)
        except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
            continue
        return issuer
    return None


def common_name(certificate: x509.Certificate) -> str:
    attributes = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    value = attributes[0].value if attributes else ""
    return value if isinstance(value, str) else value.decode("utf-8", "replace")

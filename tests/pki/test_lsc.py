"""The LSC CAPF issues, field by field as spec/protocols.md lists them, and key specs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, x25519
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from phonetrust.errors import BuildError, LocalError
from phonetrust.pki.lsc import (
    IPSEC_END_SYSTEM,
    KEY_SPECS,
    issue_lsc,
    issued_by,
    lsc_serial,
    parse_key_spec,
)
from phonetrust.pki.selfsigned import Organisation
from phonetrust.protocols.capf.messages import Curve, KeySpec, KeyType, Tag
from phonetrust.testing.pki import make_identity, plain_name, rsa_key

NOW = datetime(2026, 3, 6, 12, 0, tzinfo=UTC)
DEVICE = "SEP001122334455"
CAPF = make_identity(Organisation(unit="Voice", locality="Gdansk").name("CAPF-1a2b3c4d"), slot=6)
EARLIER = make_identity(Organisation().name("CAPF-00000001"), slot=7)
STRANGER = make_identity(Organisation().name("CAPF-1a2b3c4d"), slot=8)
"""Same subject as CAPF, another key: a forgery that name matching alone would accept."""


def test_the_lsc_is_made_as_cucm_makes_it() -> None:
    phone = ec.generate_private_key(ec.SECP256R1())
    lsc = issue_lsc(CAPF.certificate, CAPF.key, DEVICE, phone.public_key(), now=NOW, days=365)
    assert lsc.subject.rfc4514_string() == (
        "C=PL,ST=Malopolska,L=Gdansk,O=Cisco,OU=Voice,CN=SEP001122334455"
    )
    assert next(iter(lsc.subject)).oid == NameOID.COMMON_NAME
    assert lsc.issuer == CAPF.certificate.subject
    assert lsc.not_valid_before_utc == NOW - timedelta(minutes=5)
    assert lsc.not_valid_after_utc == NOW + timedelta(days=365)
    assert 2**126 <= lsc.serial_number < 2**127
    assert isinstance(lsc.signature_hash_algorithm, hashes.SHA256)
    lsc.verify_directly_issued_by(CAPF.certificate)
    basic = lsc.extensions.get_extension_for_class(x509.BasicConstraints)
    assert basic.critical
    assert not basic.value.ca
    usage = lsc.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature
    assert usage.key_encipherment
    assert not usage.key_cert_sign
    assert not usage.data_encipherment
    eku = lsc.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [
        ExtendedKeyUsageOID.SERVER_AUTH,
        ExtendedKeyUsageOID.CLIENT_AUTH,
        IPSEC_END_SYSTEM,
    ]
    san = lsc.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.UniformResourceIdentifier) == [DEVICE]
    assert lsc.public_key() == phone.public_key()


def test_an_rsa_phone_key_and_serials_differ() -> None:
    key = rsa_key(1024, slot=2).public_key()
    first = issue_lsc(CAPF.certificate, CAPF.key, DEVICE, key, now=NOW)
    second = issue_lsc(CAPF.certificate, CAPF.key, DEVICE, key, now=NOW)
    assert first.serial_number != second.serial_number
    assert first.not_valid_after_utc == NOW + timedelta(days=5 * 365)
    assert len({lsc_serial() for _ in range(100)}) == 100


def test_unusable_inputs_are_refused() -> None:
    phone = ec.generate_private_key(ec.SECP256R1())
    with pytest.raises(LocalError, match="at least one day"):
        issue_lsc(CAPF.certificate, CAPF.key, DEVICE, phone.public_key(), now=NOW, days=0)
    other = x25519.X25519PrivateKey.generate().public_key()
    with pytest.raises(BuildError, match="RSA or EC"):
        issue_lsc(CAPF.certificate, CAPF.key, DEVICE, other, now=NOW)


def test_issued_by_checks_the_signature_not_only_the_name() -> None:
    phone = ec.generate_private_key(ec.SECP256R1())
    lsc = issue_lsc(CAPF.certificate, CAPF.key, DEVICE, phone.public_key(), now=NOW)
    assert issued_by(lsc, [EARLIER.certificate, CAPF.certificate]) is CAPF.certificate
    assert issued_by(lsc, [STRANGER.certificate]) is None
    assert issued_by(lsc, [EARLIER.certificate]) is None
    assert issued_by(lsc, []) is None
    unrelated = make_identity(plain_name("x"), slot=9).certificate
    assert issued_by(unrelated, [CAPF.certificate]) is None


@pytest.mark.parametrize(
    ("text", "spec"),
    [
        ("RSA-1024", KeySpec(KeyType.RSA, 1024)),
        ("RSA-2048", KeySpec(KeyType.RSA, 2048)),
        ("rsa-3072", KeySpec(KeyType.RSA, 3072)),
        ("RSA_4096", KeySpec(KeyType.RSA, 4096)),
        ("EC-P256", KeySpec.ec(Curve.P256)),
        ("ec-p384", KeySpec.ec(Curve.P384)),
        (" EC-P521 ", KeySpec.ec(Curve.P521)),
        ("EC-256", KeySpec.ec(Curve.P256)),
    ],
)
def test_key_specs_parse(text: str, spec: KeySpec) -> None:
    assert parse_key_spec(text) == spec
    assert parse_key_spec(spec.text) == spec


@pytest.mark.parametrize("text", ["RSA-1536", "EC-P224", "DSA-1024", "", "2048"])
def test_unknown_key_specs_are_refused(text: str) -> None:
    with pytest.raises(LocalError, match="Unknown key"):
        parse_key_spec(text)


def test_key_specs_become_the_key_generate_elements() -> None:
    rsa2048 = KEY_SPECS["RSA-2048"].elements()
    assert [(e.tag, e.value) for e in rsa2048] == [
        (Tag.KEY_TYPE, b"\x00"),
        (Tag.KEY_SIZE, b"\x08\x00"),
    ]
    p521 = KEY_SPECS["EC-P521"].elements()
    assert [(e.tag, e.value) for e in p521] == [(Tag.KEY_TYPE, b"\x01"), (Tag.CURVE, b"\x02")]

"""Each device's configuration in the file plan: signed (A5), encrypted (A6), H7 warnings."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding

from phonetrust.errors import KeyMaterialError
from phonetrust.formats import cnfxml_read
from phonetrust.formats.algorithms import Digest
from phonetrust.formats.encsgn import EncryptedFile, decrypt_file
from phonetrust.formats.sgn import SignedFile
from phonetrust.policy.domain import CertName, Device
from phonetrust.service import inventory
from phonetrust.service.changes import change
from phonetrust.testing.pki import make_identity, plain_name
from tests.service.conftest import Lab
from tests.service.helpers import current

NAME = "SEP001122334455"


def test_signed_config_carries_settings_and_the_tvs_list(lab: Lab) -> None:
    inventory.add_devices(lab.ctx, [Device(NAME, "7975")])
    inventory.update_device(lab.ctx, NAME, settings={"webAccess": "1", "sshAccess": "0"})
    for node in ("cucm-pub", "cucm-sub1"):
        data = lab.file(node, f"{NAME}.cnf.xml.sgn")
        assert data is not None
        signed = SignedFile.from_wire(data)
        assert signed.verify(current(lab.ctx, node, CertName.CALLMANAGER)).verified
        assert signed.content == lab.file(node, f"{NAME}.cnf.xml")
        parsed = cnfxml_read.read(signed.content)
        assert parsed.vendor_config["webAccess"] == "1"
        assert [m.address for m in parsed.tvs] == ["10.0.0.10", "10.0.0.11"]


def test_sha512_parameter_resigns_configs_and_warns_for_old_models(lab: Lab) -> None:
    inventory.add_devices(lab.ctx, [Device(NAME, "7975"), Device("SEP0011223344AA", "8845")])
    inventory.set_param(lab.ctx, "TFTP File Signature Digest Algorithm", "SHA-512")
    data = lab.file("cucm-pub", f"{NAME}.cnf.xml.sgn")
    assert data is not None
    assert SignedFile.from_wire(data).header.digest is Digest.SHA512
    warnings = inventory.sha512_warnings(lab.ctx)
    assert warnings == [f"{NAME} (7975) does not support SHA-512 signatures"]


def test_encrypted_profile_serves_enc_sgn_and_stub_only(lab: Lab) -> None:
    profile = "Encrypted Phone Profile with TFTP Encryption"
    inventory.add_devices(lab.ctx, [Device(NAME, "8845", profile=profile)])
    assert lab.file("cucm-pub", f"{NAME}.cnf.xml.enc.sgn") is None
    assert any("no LSC or MIC" in note for note in inventory.plan_notes(lab.ctx))
    phone = make_identity(plain_name(NAME), bits=2048, slot=3)
    inventory.update_device(lab.ctx, NAME, lsc=phone.certificate.public_bytes(Encoding.DER))
    enc = lab.file("cucm-pub", f"{NAME}.cnf.xml.enc.sgn")
    stub = lab.file("cucm-pub", f"{NAME}.cnf.xml.sgn")
    assert enc is not None
    assert stub is not None
    assert lab.file("cucm-pub", f"{NAME}.cnf.xml") is None  # never the plaintext
    plain = decrypt_file(EncryptedFile.from_wire(enc), phone.key)
    assert cnfxml_read.read(plain).full_config
    stub_doc = cnfxml_read.read(SignedFile.from_wire(stub).content)
    assert stub_doc.encr_config
    assert not stub_doc.full_config
    # Unchanged inputs keep the same bytes; a settings change re-encrypts.
    lab.later(60)
    inventory.set_param(lab.ctx, "CAPF Operation Expires in (days)", "12")
    assert lab.file("cucm-pub", f"{NAME}.cnf.xml.enc.sgn") == enc
    inventory.update_device(lab.ctx, NAME, settings={"webAccess": "0"})
    assert lab.file("cucm-pub", f"{NAME}.cnf.xml.enc.sgn") != enc


def test_removing_a_device_removes_its_files(lab: Lab) -> None:
    inventory.add_devices(lab.ctx, [Device(NAME, "7975")])
    assert lab.file("cucm-sub1", f"{NAME}.cnf.xml.sgn") is not None
    inventory.remove_device(lab.ctx, NAME)
    assert lab.file("cucm-sub1", f"{NAME}.cnf.xml.sgn") is None


def test_an_ec_device_certificate_cannot_take_an_encrypting_profile(lab: Lab) -> None:
    profile = "Encrypted Phone Profile with TFTP Encryption"
    ec_key = ec.generate_private_key(ec.SECP256R1())
    ec_cert = (
        x509.CertificateBuilder()
        .subject_name(plain_name(NAME))
        .issuer_name(plain_name(NAME))
        .public_key(ec_key.public_key())
        .serial_number(7)
        .not_valid_before(datetime(2026, 1, 1, tzinfo=UTC))
        .not_valid_after(datetime(2031, 1, 1, tzinfo=UTC))
        .sign(ec_key, hashes.SHA256())
    )
    inventory.add_devices(lab.ctx, [Device(NAME, "8845"), Device("SEP0011223344AA", "8845")])
    inventory.update_device(lab.ctx, NAME, lsc=ec_cert.public_bytes(Encoding.DER))
    with pytest.raises(KeyMaterialError, match="RSA"):
        inventory.update_device(lab.ctx, NAME, profile=profile)
    # A store that holds one anyway (a restore, an older version) still publishes the others.
    with change(lab.ctx, "test", "restored device") as ch:
        uow = ch.uow
        device = uow.get_device(NAME)
        assert device is not None
        uow.put_device(replace(device, profile=profile))
    assert any("not RSA" in note for note in ch.notes)
    assert lab.file("cucm-pub", f"{NAME}.cnf.xml.enc.sgn") is None
    inventory.update_device(lab.ctx, "SEP0011223344AA", settings={"webAccess": "1"})
    other = lab.file("cucm-pub", "SEP0011223344AA.cnf.xml.sgn")
    assert other is not None
    assert cnfxml_read.read(SignedFile.from_wire(other).content).vendor_config["webAccess"] == "1"

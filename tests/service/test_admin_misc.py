"""The remaining admin commands: trust stores, certificate display, TFTP listing, restarts."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from phonetrust.errors import LocalError
from phonetrust.policy.domain import CertName, TrustStore
from phonetrust.policy.models import model
from phonetrust.service import truststores
from phonetrust.testing.pki import make_identity, plain_name
from tests.service.conftest import PASSWORD, Lab
from tests.service.helpers import current, signed_by, trust_list


def test_trust_store_upload_list_and_delete(lab: Lab) -> None:
    token = make_identity(plain_name("SAST-ADN4e31f914 "), bits=1024, slot=2).certificate
    assert truststores.upload(lab.ctx, TrustStore.PHONE_SAST, token, "eToken 1")
    assert not truststores.upload(lab.ctx, TrustStore.PHONE_SAST, token)  # already there
    listed = lab.admin("show cert list trust")
    assert "Phone-SAST-trust/SAST-ADN4e31f914 .pem: eToken 1" in listed
    truststores.delete(lab.ctx, TrustStore.PHONE_SAST, token.public_bytes(Encoding.DER))
    assert "Phone-SAST-trust" not in lab.admin("show cert list trust")
    with pytest.raises(LocalError, match="holds no such certificate"):
        truststores.delete(lab.ctx, TrustStore.PHONE_SAST, token.public_bytes(Encoding.DER))


def test_show_cert_own_prints_the_current_certificate(lab: Lab) -> None:
    cert = current(lab.ctx, "cucm-sub1", CertName.TVS)
    out = lab.admin("show cert own TVS/TVS.pem", node="cucm-sub1")
    assert f"Serial Number: {cert.serial_number:X}" in out
    assert "Subject Name: CN=cucm-sub1.lab.example, OU=TAC, O=Cisco" in out
    assert out.startswith("[\n")
    assert out.endswith("]\n")


def test_file_list_tftp_shows_the_node_files_with_sizes(lab: Lab) -> None:
    lab.admin("utils ctl set-cluster mixed-mode", "y")
    out = lab.admin("file list tftp *.tlv detail", node="cucm-sub1")
    lines = out.splitlines()
    assert [line.split()[-1] for line in lines[:-1]] == ["CTLFile.tlv", "ITLFile.tlv"]
    ctl = lab.file("cucm-sub1", "CTLFile.tlv")
    assert ctl is not None
    assert lines[0].split()[-2] == f"{len(ctl):,}"
    assert lines[-1] == "dir count = 0, file count = 2"


def test_system_restart_reloads_and_ends_an_itl_reset(lab: Lab) -> None:
    lab.admin("utils itl reset localkey", PASSWORD)
    out = lab.admin("utils system restart", "yes")
    assert "phonetrust does not restart the machine" in out
    itl = trust_list(lab.file("cucm-pub", "ITLFile.tlv"))
    assert signed_by(itl, current(lab.ctx, "cucm-pub", CertName.CALLMANAGER))


def test_help_lists_every_command(lab: Lab) -> None:
    out = lab.admin("help")
    for usage in ("show ctl", "utils itl reset remotekey HOST USER PATH", "set cert regen NAME"):
        assert usage in out


@pytest.mark.parametrize(
    ("name", "sbd", "tftp_in_ctl", "sha512"),
    [
        ("7960", False, True, False),
        ("CP-7940", False, True, False),
        ("7975", True, False, False),
        ("8845", True, False, True),
        ("Jabber", False, False, True),
        ("9999-unknown", True, False, True),
    ],
)
def test_model_capabilities(name: str, sbd: bool, tftp_in_ctl: bool, sha512: bool) -> None:
    caps = model(name)
    assert (caps.security_by_default, caps.tftp_address_in_ctl, caps.sha512) == (
        sbd,
        tftp_in_ctl,
        sha512,
    )

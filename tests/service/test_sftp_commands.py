"""The admin commands that use SFTP, against a real OpenSSH server: C2 and the C5 export."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from phonetrust.errors import PhonetrustError
from phonetrust.policy.domain import CertName
from phonetrust.service import alerts
from phonetrust.testing.pki import make_identity, plain_name
from phonetrust.testing.sshd import SshServer, running_sshd
from tests.service.conftest import PASSWORD, Lab
from tests.service.helpers import current, signed_by, trust_list


@pytest.fixture(scope="module")
def sshd() -> Iterator[SshServer]:
    with running_sshd() as server:
        yield server


def test_file_get_tftp_uploads_the_recovery_key_and_clears_the_alert(
    lab: Lab, sshd: SshServer
) -> None:
    out = lab.admin(
        "file get tftp ITLRecovery.p12",
        "y",
        *sshd.file_get_answers(),
        "yes",
    )
    assert "Number of files affected: 1" in out
    assert f"The authenticity of host '[{sshd.host}]:{sshd.port}" in out
    assert "Transfer completed." in out
    uploaded = (sshd.root / "ITLRecovery.p12").read_bytes()
    key, cert, _ = pkcs12.load_key_and_certificates(uploaded, lab.ctx.keys.p12_password())
    assert cert == current(lab.ctx, "cucm-pub", CertName.ITLRECOVERY)
    assert key is not None
    with lab.ctx.repo.unit_of_work() as uow:
        assert alerts.check_daily(uow, lab.ctx.now()) == []
    # The host key was remembered: a second export asks no question about it.
    again = lab.admin(
        "file get tftp ITLRecovery.p12",
        "y",
        *sshd.file_get_answers(),
    )
    assert "authenticity" not in again


def test_remotekey_reset_fetches_the_p12_and_replaces_the_local_recovery_key(
    lab: Lab, sshd: SshServer
) -> None:
    other = make_identity(plain_name("ITLRECOVERY_old-pub.lab.example"), bits=2048, slot=7)
    p12 = pkcs12.serialize_key_and_certificates(
        b"ITLRecovery",
        other.key,
        other.certificate,
        None,
        serialization.BestAvailableEncryption(lab.ctx.keys.p12_password()),
    )
    path = sshd.put("backups/ITLRecovery.p12", p12)
    server = f"{sshd.host}:{sshd.port}"
    out = lab.admin(
        f"utils itl reset remotekey {server} {sshd.user} {path}",
        sshd.password,
        "yes",
        PASSWORD,
    )
    assert "The reset ITL file was generated successfully" in out
    assert current(lab.ctx, "cucm-pub", CertName.ITLRECOVERY) == other.certificate
    for node in ("cucm-pub", "cucm-sub1"):
        assert signed_by(trust_list(lab.file(node, "ITLFile.tlv")), other.certificate)


def test_remotekey_with_a_missing_file_or_wrong_login_changes_nothing(
    lab: Lab, sshd: SshServer
) -> None:
    before = lab.file("cucm-sub1", "ITLFile.tlv")
    server = f"{sshd.host}:{sshd.port}"
    with pytest.raises(PhonetrustError, match="no such file"):
        lab.admin(
            f"utils itl reset remotekey {server} {sshd.user} /nowhere/ITLRecovery.p12",
            sshd.password,
            "yes",
            PASSWORD,
        )
    with pytest.raises(PhonetrustError, match="login failed"):
        lab.admin(
            f"utils itl reset remotekey {server} {sshd.user} /x.p12", "wrong", "yes", PASSWORD
        )
    assert lab.file("cucm-sub1", "ITLFile.tlv") == before


def test_remotekey_with_a_p12_of_another_password_is_refused(lab: Lab, sshd: SshServer) -> None:
    other = make_identity(plain_name("ITLRECOVERY_x"), bits=2048, slot=8)
    p12 = pkcs12.serialize_key_and_certificates(
        b"x", other.key, other.certificate, None, serialization.BestAvailableEncryption(b"other")
    )
    path = sshd.put("other.p12", p12)
    recovery = current(lab.ctx, "cucm-pub", CertName.ITLRECOVERY)
    with pytest.raises(PhonetrustError, match="wrong password"):
        lab.admin(
            f"utils itl reset remotekey {sshd.host}:{sshd.port} {sshd.user} {path}",
            sshd.password,
            "yes",
            PASSWORD,
        )
    assert current(lab.ctx, "cucm-pub", CertName.ITLRECOVERY) == recovery

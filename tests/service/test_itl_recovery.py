"""ITL recovery: C1 (localkey), C3 (publisher only), C5 (backup alert), E1 (rollback ITL), H3."""

from __future__ import annotations

from datetime import timedelta

import pytest
from cryptography.hazmat.primitives.serialization import Encoding, pkcs12

from phonetrust.errors import BuildError, LocalError
from phonetrust.policy import params as P
from phonetrust.policy.domain import CertName, Node, OwnCertificate, Service, check_ipv4
from phonetrust.service import alerts, inventory, security
from phonetrust.testing.pki import make_identity, plain_name
from tests.service.conftest import PASSWORD, Lab
from tests.service.helpers import current, signed_by, trust_list


def test_reset_localkey_serves_the_publisher_itl_signed_by_itlrecovery_everywhere(lab: Lab) -> None:
    normal_pub = trust_list(lab.file("cucm-pub", "ITLFile.tlv"))
    out = lab.admin("utils itl reset localkey", PASSWORD)
    assert out.splitlines()[:8] == [
        "Enter CCM Administrator password :" + "*" * len(PASSWORD),
        "",
        "Locating active Tftp servers in the cluster.....",
        "",
        "Following is the list of Active tftp servers in the cluster",
        "",
        "['cucm-pub', 'cucm-sub1']",
        "The reset ITL file was generated successfully",
    ]
    assert "Successfully transferred reset ITL to node cucm-sub1" in out
    assert "Cisco Tftp service restarted on host cucm-sub1" in out
    recovery = current(lab.ctx, "cucm-pub", CertName.ITLRECOVERY)
    pub, sub = lab.file("cucm-pub", "ITLFile.tlv"), lab.file("cucm-sub1", "ITLFile.tlv")
    assert pub == sub
    reset = trust_list(pub)
    assert signed_by(reset, recovery)
    assert reset.records == normal_pub.records  # the content is the publisher's, re-signed
    listing = lab.admin("show itl")
    assert "This etoken was not used to sign the ITL file." in listing
    # C1: after the next TFTP restart, CallManager signs again.
    lab.admin("utils service restart Cisco Tftp")
    again = trust_list(lab.file("cucm-pub", "ITLFile.tlv"))
    assert signed_by(again, current(lab.ctx, "cucm-pub", CertName.CALLMANAGER))
    sub_again = trust_list(lab.file("cucm-sub1", "ITLFile.tlv"))
    assert signed_by(sub_again, current(lab.ctx, "cucm-sub1", CertName.CALLMANAGER))


def test_reset_with_a_wrong_password_changes_nothing(lab: Lab) -> None:
    before = lab.file("cucm-sub1", "ITLFile.tlv")
    with pytest.raises(LocalError, match="wrong security password"):
        lab.admin("utils itl reset localkey", "not-the-password")
    assert lab.file("cucm-sub1", "ITLFile.tlv") == before


def test_reset_on_a_subscriber_is_refused_and_p12_is_not_found_there(lab: Lab) -> None:
    with pytest.raises(LocalError, match="publisher"):
        lab.admin("utils itl reset localkey", PASSWORD, node="cucm-sub1")
    with pytest.raises(LocalError, match=r"ITLRecovery.p12: file not found"):
        lab.admin("file get tftp ITLRecovery.p12", "y", node="cucm-sub1")


def test_recovery_backup_alert_is_daily_until_exported_and_rearmed_by_password_change(
    lab: Lab,
) -> None:
    def open_kinds() -> list[str]:
        with lab.ctx.repo.unit_of_work() as uow:
            return [a.kind for a in alerts.check_daily(uow, lab.ctx.now())]

    assert open_kinds() == [alerts.RECOVERY_BACKUP]
    with lab.ctx.repo.unit_of_work() as uow:
        first = uow.list_alerts()[0].raised_at
    lab.later(timedelta(days=1, minutes=1).total_seconds())
    assert open_kinds() == [alerts.RECOVERY_BACKUP]
    with lab.ctx.repo.unit_of_work() as uow:
        assert uow.list_alerts()[0].raised_at > first  # raised again the next day
    p12 = security.export_recovery(lab.ctx, "cucm-pub")
    key, cert, _ = pkcs12.load_key_and_certificates(p12, lab.ctx.keys.p12_password())
    assert cert == current(lab.ctx, "cucm-pub", CertName.ITLRECOVERY)
    assert key is not None
    assert open_kinds() == [alerts.RECOVERY_BACKUP]  # the bytes alone are no backup
    security.recovery_exported(lab.ctx, "cucm-pub", "backup@sftp:22:/keys")
    assert open_kinds() == []
    lab.later(3 * 86400)
    assert open_kinds() == []
    lab.admin("set password user security", PASSWORD, "Another-Password-9", "Another-Password-9")
    assert open_kinds() == [alerts.RECOVERY_BACKUP]
    # The keys were re-sealed under the new password and still sign: a new CallManager
    # key is made, sealed and used to sign the ITL, and the recovery key still opens.
    before = current(lab.ctx, "cucm-pub", CertName.CALLMANAGER)
    lab.admin("set cert regen CallManager", "yes")
    after = current(lab.ctx, "cucm-pub", CertName.CALLMANAGER)
    assert after.serial_number != before.serial_number
    assert signed_by(trust_list(lab.file("cucm-pub", "ITLFile.tlv")), after)
    resealed = security.export_recovery(lab.ctx, "cucm-pub")
    key, cert, _ = pkcs12.load_key_and_certificates(resealed, lab.ctx.keys.p12_password())
    assert key is not None
    assert cert == current(lab.ctx, "cucm-pub", CertName.ITLRECOVERY)


def test_rollback_parameter_serves_an_itl_with_empty_functions(lab: Lab) -> None:
    inventory.set_param(lab.ctx, P.ROLLBACK, "true")
    itl = trust_list(lab.file("cucm-pub", "ITLFile.tlv"))
    assert all(r.role is None and r.role_code is None for r in itl.records)
    assert itl.verify_with(current(lab.ctx, "cucm-pub", CertName.CALLMANAGER).public_key()).verified
    listing = lab.admin("show itl")
    # Reference 002: that line is the symptom of a broken CallManager.pem; this file is
    # validly signed (the FUNCTIONs are empty on purpose), so show itl must say so.
    assert "Verification of the ITL file failed" not in listing
    assert listing.rstrip().endswith("The ITL file was verified successfully.")
    assert listing.count("\tFUNCTION\t0\n") == len(itl.records)  # each FUNCTION empty
    inventory.set_param(lab.ctx, P.ROLLBACK, "False")
    restored = trust_list(lab.file("cucm-pub", "ITLFile.tlv"))
    assert all(r.role is not None for r in restored.records)


def test_an_itl_above_64_kb_is_refused_and_nothing_is_published(lab: Lab) -> None:
    """H3: sixty TVS nodes push the ITL past what phones accept; the change is refused whole."""
    with lab.ctx.repo.unit_of_work() as uow:
        version = uow.current_version()
        before = uow.published_file("cucm-pub", "ITLFile.tlv")
        for i in range(60):
            host = f"tvs{i}"
            uow.put_node(
                Node(host, check_ipv4(f"10.0.1.{i + 1}"), services=frozenset({Service.TVS}))
            )
            cert = make_identity(plain_name(host + "-" * 40), bits=4096).certificate
            der = cert.public_bytes(Encoding.DER)
            uow.add_own_certificate(OwnCertificate(host, CertName.TVS, der, lab.ctx.now()))
    with pytest.raises(BuildError, match=r"64 KB"):
        inventory.set_param(lab.ctx, P.CAPF_EXPIRY_DAYS, "11")
    with lab.ctx.repo.unit_of_work() as uow:
        assert uow.current_version() == version
        assert uow.published_file("cucm-pub", "ITLFile.tlv") == before
    assert inventory.list_params(lab.ctx)[P.CAPF_EXPIRY_DAYS] == "10"

"""``phonetrust diagnose``: every check OK on a healthy cluster, and FAILing on one broken
in its own way (reference 004's checklist, 002's signer comparison, C5, D5, B2)."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

from click.testing import CliRunner
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from phonetrust.cli.main import cli
from phonetrust.formats.signing import Signer
from phonetrust.formats.trustlist import build_trust_list
from phonetrust.pki.selfsigned import new_rsa_key, self_signed
from phonetrust.planner.checks import Status
from phonetrust.planner.diagnose import Report, checklist
from phonetrust.planner.probe import probe
from phonetrust.policy import etokens
from phonetrust.policy.domain import CertName, TrustStore
from phonetrust.service import fileplan, security, truststores
from phonetrust.service.context import publisher
from tests.planner.booted import boot_for_real
from tests.scenarios.conftest import run_async, site_of
from tests.service.conftest import Lab
from tests.service.helpers import current

MAC = "00AA11BB22CC"


def exported(lab: Lab) -> None:
    security.recovery_exported(lab.ctx, "cucm-pub", "sftp://backup/")


def report_of(lab: Lab) -> Report:
    return checklist(lab.ctx)[0]


def assert_only(report: Report, *failing: str) -> None:
    """Exactly ``failing`` FAIL; every other check is OK."""
    found = {c.name: c.status for c in report.checks}
    expected = {n: Status.FAIL if n in failing else Status.OK for n in found}
    assert found == expected, [c for c in report.checks if c.status is not Status.OK]


def test_a_healthy_cluster_is_ok_everywhere(lab: Lab) -> None:
    exported(lab)
    assert_only(report_of(lab))
    lab.admin("utils ctl set-cluster mixed-mode", "y")
    assert_only(report_of(lab))


def test_callmanager_regenerated_without_ctl_update(lab: Lab) -> None:
    exported(lab)
    lab.admin("utils ctl set-cluster mixed-mode", "y")
    lab.later(3600)
    lab.admin("set cert regen CallManager", "yes")
    report = report_of(lab)
    assert_only(report, "certificates", "ctl-age")
    serial = current(lab.ctx, "cucm-pub", CertName.CALLMANAGER).serial_number
    assert any(
        f"{serial:X}"[-8:] in d.replace(":", "") for d in report.by_name("certificates").detail
    )
    assert "utils ctl update CTLFile" in report.by_name("ctl-age").action
    lab.admin("utils ctl update CTLFile", "y")
    assert_only(report_of(lab))


def _tamper(lab: Lab, host: str, name: str, data: bytes) -> None:
    """One node's published file replaced, the rest of the plan kept (a broken TFTP node)."""
    with lab.ctx.repo.unit_of_work() as uow:
        hosts = [n.host for n in uow.list_nodes()]
        files = {(h, n): d for h in hosts for n, d in uow.published_files(h).items()}
        files[host, name] = data
        uow.publish(files)


def test_tftp_nodes_serving_different_lists(lab: Lab) -> None:
    exported(lab)
    lab.admin("utils ctl set-cluster mixed-mode", "y")
    old_ctl, old_itl = lab.file("cucm-sub1", "CTLFile.tlv"), lab.file("cucm-sub1", "ITLFile.tlv")
    assert old_ctl is not None
    assert old_itl is not None
    lab.later(3600)
    lab.admin("set cert regen TVS", "yes", node="cucm-sub1")
    lab.admin("set cert regen CAPF", "yes")
    lab.admin("utils ctl update CTLFile", "y")
    assert_only(report_of(lab))
    _tamper(lab, "cucm-sub1", "ITLFile.tlv", old_itl)
    report = report_of(lab)
    assert_only(report, "same-lists", "services-listed")
    assert any("cucm-sub1" in d for d in report.by_name("same-lists").detail)
    _tamper(lab, "cucm-sub1", "CTLFile.tlv", old_ctl)
    detail = report_of(lab).by_name("same-lists").detail
    assert any("different CTLs" in d for d in detail), detail


def test_itl_signer_against_callmanager(lab: Lab) -> None:
    """Reference 002: a CallManager.pem without its key (a restore that lacked it)."""
    exported(lab)
    cm = current(lab.ctx, "cucm-sub1", CertName.CALLMANAGER)
    lab.ctx.keys.delete(cm.public_bytes(Encoding.DER))
    report = report_of(lab)
    assert_only(report, "list-signers")
    assert "set cert regen CallManager" in report.by_name("list-signers").action
    # An ITL signed by a certificate that is not the node's CallManager.pem.
    pub_itl = lab.file("cucm-pub", "ITLFile.tlv")
    assert pub_itl is not None
    _tamper(lab, "cucm-sub1", "ITLFile.tlv", pub_itl)
    detail = report_of(lab).by_name("list-signers").detail
    assert any("run sql and OS Administration show" in d for d in detail)


def test_itl_reset_in_force_is_a_warning(lab: Lab) -> None:
    exported(lab)
    lab.admin("utils itl reset localkey", "Cisco-Security-123")
    signers = report_of(lab).by_name("list-signers")
    assert signers.status is Status.WARN
    lab.admin("utils service restart Cisco Tftp")
    assert report_of(lab).by_name("list-signers").status is Status.OK


def test_recovery_never_exported_then_password_changed(lab: Lab) -> None:
    assert_only(report_of(lab), "recovery-backup")
    exported(lab)
    assert_only(report_of(lab))
    lab.later(60)
    security.change_security_password(lab.ctx, "Cisco-Security-123", "Another-Password-1")
    check = report_of(lab).by_name("recovery-backup")
    assert check.status is Status.FAIL
    assert "file get tftp ITLRecovery.p12" in check.action


def _token(serial: int) -> tuple[x509.Certificate, Signer]:
    key = new_rsa_key()
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, f"SAST-ADN{serial:08x} "),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Cisco Systems"),
        ]
    )
    cert = self_signed(name, key, now=datetime.now(UTC))
    return cert, Signer.from_private_key(cert, key)


def test_an_etoken_the_cluster_no_longer_has(lab: Lab) -> None:
    exported(lab)
    (first, signer), (second, _) = _token(1), _token(2)
    with lab.ctx.repo.unit_of_work() as uow:
        records = etokens.hardware_ctl_records(
            fileplan.node_certs(uow), publisher(uow), first, [first, second]
        )
    ctl = build_trust_list(signer, records, filename="CTLFile.tlv", timestamp=int(lab.clock.now()))
    security.publish_hardware_ctl(lab.ctx, ctl.to_wire())
    for cert in (first, second):
        truststores.upload(lab.ctx, TrustStore.PHONE_SAST, cert)
    assert_only(report_of(lab))
    truststores.delete(lab.ctx, TrustStore.PHONE_SAST, second.public_bytes(Encoding.DER))
    report = report_of(lab)
    assert_only(report, "etokens")
    assert any("SAST-ADN00000002" in d for d in report.by_name("etokens").detail)


def test_a_phone_locked_by_callmanager_and_tvs_regenerated_together(lab: Lab) -> None:
    exported(lab)
    run_async(boot_for_real(lab, MAC))
    assert_only(report_of(lab))
    lab.admin("set cert regen CallManager", "yes")
    lab.later(301)
    lab.admin("set cert regen TVS", "yes")
    check = report_of(lab).by_name("locked")
    assert check.status is Status.FAIL
    assert check.detail[0].startswith("1 of 1 devices seen are locked")
    assert "by model: 8845 1; by CallManager group: Publisher only 1" in check.detail[1]
    assert "an ITL reset reaches 1 of them" in check.detail[2]
    assert check.detail[3].startswith(f"SEP{MAC}: ")
    assert "Trust List Update Failed" in check.detail[3]


async def _services(lab: Lab) -> None:
    async with site_of(lab, "cucm-pub", "cucm-sub1") as site:
        await site.synced()
        _, targets = await asyncio.to_thread(checklist, lab.ctx)
        ok = await probe(targets, site.routes, 2.0)
        assert ok.status is Status.OK, ok
        assert len(ok.detail) == 5  # TFTP, TVS, CAPF on the publisher; TFTP, TVS on cucm-sub1
        await site.stop("cucm-sub1")
        down = await probe(targets, site.routes, 1.0)
        assert down.status is Status.FAIL
        failing = [d for d in down.detail if "no answer" in d]
        assert len(failing) == 2
        assert all(d.startswith("cucm-sub1") for d in failing)
        assert "phonetrust serve --node" in down.action


def test_services_answering_and_a_stopped_node(lab: Lab) -> None:
    run_async(_services(lab))


# -- the command ----------------------------------------------------------------------------


def _run(lab: Lab, *args: str) -> tuple[int, str]:
    done = CliRunner().invoke(cli, [*args, "--data", str(lab.where.root)], prog_name="phonetrust")
    return done.exit_code, done.stdout


def test_the_command_prints_a_line_per_check_and_exits_1_on_fail(lab: Lab) -> None:
    code, out = _run(lab, "diagnose", "--no-probe")
    assert code == 1, out
    lines = out.splitlines()
    assert lines[0] == "OK   node certificates against the CTL and ITL records"
    assert "FAIL ITLRecovery.p12 exported" in lines
    at = lines.index("FAIL ITLRecovery.p12 exported")
    assert lines[at + 2].startswith("  -> `file get tftp ITLRecovery.p12`")
    exported(lab)
    code, out = _run(lab, "diagnose", "--no-probe", "--json")
    assert code == 0, out
    document = json.loads(out)
    assert document["status"] == "OK"
    assert [c["name"] for c in document["checks"]][:2] == ["certificates", "ctl-age"]


def test_a_warning_alone_exits_0(lab: Lab) -> None:
    exported(lab)
    lab.admin("utils itl reset localkey", "Cisco-Security-123")
    code, out = _run(lab, "diagnose", "--no-probe")
    assert code == 0, out
    assert "WARN list signers against CallManager.pem" in out.splitlines()


def test_the_probe_reaches_nobody_on_unrouted_addresses(lab: Lab) -> None:
    exported(lab)
    routes = [f"--route={ip}=127.0.0.1:1" for ip in ("10.0.0.10", "10.0.0.11")]
    code, out = _run(lab, "diagnose", "--timeout", "0.5", *routes)
    assert code == 1, out
    assert "FAIL services answering on their ports" in out.splitlines()

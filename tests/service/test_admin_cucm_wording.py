"""Admin commands worded and ordered as CUCM's (references 000-004), issue 10 items 3-7.

Each command says what it refuses before it asks anything, asks what CUCM
asks, and changes nothing when the answer is no.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pytest
from cryptography import x509

from phonetrust.cli.admin import shell
from phonetrust.cli.admin.prompts import Prompter
from phonetrust.cli.admin.session import Session
from phonetrust.errors import LocalError
from phonetrust.policy import params as P
from phonetrust.policy.domain import CertName, SecurityMode
from phonetrust.policy.rules import NotPublisherError
from phonetrust.service import inventory
from tests.service.conftest import PASSWORD, Lab
from tests.service.helpers import current

HOLD = (
    "CallManager certificate was modified in the last 5 minutes. Please re-try\n"
    "regenerating TVS certificate at a later time"
)
UPDATE_QUESTION = "This operation will update the CTLFile. Do you want to continue? (y/n):"


def _run(lab: Lab, line: str, *answers: str, node: str = "cucm-pub") -> tuple[str, str | None]:
    """One command as the shell runs it: what it printed, and its failure (None: success)."""
    out = io.StringIO()

    def write(text: str) -> None:
        out.write(text)

    prompts = Prompter(
        stdin=io.StringIO("".join(a + "\n" for a in answers)), out=write, interactive=False
    )
    failure = shell.run_line(Session(lab.ctx, node, lab.where, prompts, write), line)
    return out.getvalue(), failure


def _state(lab: Lab) -> tuple[bytes | None, bytes | None, SecurityMode, int]:
    with lab.ctx.repo.unit_of_work() as uow:
        state = uow.get_cluster()
        assert state is not None
        return (
            uow.published_file("cucm-pub", "CTLFile.tlv"),
            uow.published_file("cucm-sub1", "CTLFile.tlv"),
            state.security_mode,
            uow.current_version(),
        )


# -- item 3: the hold refuses before the WARNING ------------------------------------


def test_hold_refuses_tvs_at_once_without_warning_or_question(lab: Lab) -> None:
    lab.admin("set cert regen CallManager", "yes")
    tvs = current(lab.ctx, "cucm-pub", CertName.TVS)
    lab.later(60)
    out, failure = _run(lab, "set cert regen TVS", "yes")
    assert failure == HOLD
    assert out == ""  # no WARNING, no "Proceed with regeneration" before the refusal
    assert current(lab.ctx, "cucm-pub", CertName.TVS) == tvs


@pytest.mark.parametrize("later", ["TVS", "CAPF", "ITLRecovery", "CallManager"])
def test_hold_applies_to_every_other_certificate_of_the_node(lab: Lab, later: str) -> None:
    """Reference 003: no certificate of the node within five minutes of a regeneration."""
    lab.admin("set cert regen CallManager", "yes")
    out, failure = _run(lab, f"set cert regen {later}", "yes")
    assert failure is not None
    assert failure.startswith("CallManager certificate was modified in the last 5 minutes.")
    assert "Proceed with regeneration" not in out


def test_hold_in_c_mode_and_piped_mode_fails_without_asking(lab: Lab) -> None:
    regen = lab.cli("admin", "--yes", "-c", "set cert regen CallManager")
    assert regen.returncode == 0, regen.stderr
    refused = lab.cli("admin", "-c", "set cert regen TVS", stdin="yes\n")
    assert refused.returncode == 1
    assert "WARNING" not in refused.stdout
    assert "Proceed with regeneration" not in refused.stdout
    assert "Please re-try" in refused.stderr
    piped = lab.cli("admin", stdin="set cert regen TVS\n")
    assert piped.returncode == 1
    assert "admin:set cert regen TVS\nCallManager certificate was modified" in piped.stdout
    assert "Proceed with regeneration" not in piped.stdout


# -- item 4: utils ctl update CTLFile asks first -------------------------------------


def test_update_ctlfile_asks_and_prints_cucm_lines(lab: Lab) -> None:
    lab.admin("utils ctl set-cluster mixed-mode", "y")
    lab.later(10)
    before = _state(lab)
    out = lab.admin("utils ctl update CTLFile", "y")
    assert out.splitlines() == [
        UPDATE_QUESTION + "y",
        "Updating CTL file",
        "CTL file Updated",
        "Please Restart the TFTP and Cisco CallManager services on all nodes in the cluster "
        "that run these services",
    ]
    assert _state(lab)[0] != before[0]


def test_update_ctlfile_answered_n_changes_nothing(lab: Lab) -> None:
    lab.admin("utils ctl set-cluster mixed-mode", "y")
    lab.later(10)
    before = _state(lab)
    out = lab.admin("utils ctl update CTLFile", "n")
    assert out.startswith(UPDATE_QUESTION + "n\n")
    assert "Updating CTL file" not in out
    assert _state(lab) == before  # same CTL bytes on both nodes, same mode, no new version


def test_update_ctlfile_on_a_non_secure_cluster_refuses_before_asking(lab: Lab) -> None:
    out, failure = _run(lab, "utils ctl update CTLFile", "y")
    assert failure is not None
    assert "not in Mixed Mode" in failure
    assert out == ""


# -- item 5: set-cluster mixed-mode on a mixed cluster -------------------------------


def test_mixed_mode_again_says_so_and_changes_nothing_unless_confirmed(lab: Lab) -> None:
    lab.admin("utils ctl set-cluster mixed-mode", "y")
    lab.later(10)
    before = _state(lab)
    out = lab.admin("utils ctl set-cluster mixed-mode", "n")
    assert out.splitlines()[0] == "The cluster is already in Mixed Mode"
    assert "Do you want to continue? (y/n):n" in out
    assert "Moving Cluster" not in out
    assert _state(lab) == before
    again = lab.admin("utils ctl set-cluster mixed-mode", "y")
    assert "The cluster is already in Mixed Mode" in again
    assert "Cluster set to Mixed Mode" in again
    assert _state(lab)[0] != before[0]  # confirmed: the CTL is signed anew


def test_first_mixed_mode_says_nothing_about_already(lab: Lab) -> None:
    out = lab.admin("utils ctl set-cluster mixed-mode", "y")
    assert "already" not in out


# -- item 6: wording -----------------------------------------------------------------


def test_itl_reset_on_a_subscriber_is_not_a_publisher_node(lab: Lab) -> None:
    for line in ("utils itl reset localkey", "utils itl reset remotekey h u /x.p12"):
        out, failure = _run(lab, line, PASSWORD, node="cucm-sub1")
        assert failure is not None
        assert failure.startswith("This is not a Publisher Node")
        assert out == ""  # refused before any password question
    with pytest.raises(NotPublisherError):
        lab.admin("utils itl reset localkey", PASSWORD, node="cucm-sub1")


def test_itlrecovery_p12_is_not_found_on_a_subscriber(lab: Lab) -> None:
    out, failure = _run(lab, "file get tftp ITLRecovery.p12", "y", node="cucm-sub1")
    assert failure == "ITLRecovery.p12: file not found"
    assert out == ""


def test_show_cert_own_in_the_reference_layout(lab: Lab) -> None:
    cert = current(lab.ctx, "cucm-pub", CertName.CALLMANAGER)
    lines = lab.admin("show cert own CallManager/CallManager.pem").splitlines()
    assert lines[:4] == [
        "[",
        "Version: V3",
        f"Serial Number: {cert.serial_number:X}",
        "SignatureAlgorithm: SHA256withRSA (1.2.840.113549.1.1.11)",
    ]
    issuer = ", ".join(a.rfc4514_string() for a in cert.issuer)
    assert lines[4] == f"Issuer Name: {issuer}"
    assert lines[4].startswith("Issuer Name: CN=cucm-pub.lab.example, OU=TAC, O=Cisco, ")
    assert lines[5].startswith("Validity From: ")
    assert lines[6].startswith("To: ")
    assert lines[7].startswith("Subject Name: CN=cucm-pub.lab.example, OU=TAC, ")
    assert lines[8] == "Key: RSA (1.2.840.113549.1.1.1)"
    assert lines[9] == "Key value:"
    assert lines[10].startswith("3082010a0282010100")  # PKCS#1 RSAPublicKey, as CUCM shows it
    assert lines[11] == f"Extensions: {len(cert.extensions)} present"
    assert len(cert.extensions) > 0
    assert lines[-1] == "]"
    for ext in cert.extensions:
        assert f"(OID.{ext.oid.dotted_string})" in "\n".join(lines)
    if any(isinstance(e.value, x509.KeyUsage) for e in cert.extensions):
        assert "Extension: KeyUsage (OID.2.5.29.15)" in lines


@pytest.mark.parametrize(
    "line", ["file delete tftp CTLFile.tlv", "file delete activelog cm/tftpdata/CTLFile.tlv"]
)
def test_deleting_an_absent_ctl_says_so_before_any_prompt(lab: Lab, line: str) -> None:
    out, failure = _run(lab, line, "y")
    assert failure is not None
    assert "CTLFile.tlv: file not found" in failure
    assert out == ""  # no "Delete the File CTLFile.tlv?" about a file that is not there


def test_file_delete_activelog_ctl_deletes_it_as_file_delete_tftp_does(lab: Lab) -> None:
    lab.admin("utils ctl set-cluster mixed-mode", "y")
    out = lab.admin("file delete activelog cm/tftpdata/CTLFile.tlv", "y", node="cucm-sub1")
    assert out.splitlines() == [
        "Delete the File CTLFile.tlv?",
        'Enter "y" followed by return to continue: y',
        "files: found = 1, deleted = 1",
    ]
    assert lab.file("cucm-sub1", "CTLFile.tlv") is None
    assert lab.file("cucm-pub", "CTLFile.tlv") is not None
    with pytest.raises(LocalError, match="file not found"):
        lab.admin("file delete activelog cm/tftpdata/CTLFile.tlv", "y", node="cucm-sub1")


# -- item 7: file list tftp with dates -------------------------------------------------


def _local(when: datetime) -> str:
    return when.astimezone().strftime("%d %b,%Y %H:%M:%S")


def test_file_list_detail_prints_date_time_size_and_name(lab: Lab) -> None:
    lab.later(86400)
    inventory.set_param(lab.ctx, P.ROLLBACK, "true")  # a change: new ITLs, signed now
    itl_time = lab.ctx.now()
    lab.later(3600)
    lab.admin("utils ctl set-cluster mixed-mode", "y")
    ctl_time = lab.ctx.now()
    ctl, itl = lab.file("cucm-pub", "CTLFile.tlv"), lab.file("cucm-pub", "ITLFile.tlv")
    assert ctl is not None
    assert itl is not None
    out = lab.admin("file list tftp *.tlv detail")
    assert out.splitlines() == [
        f"{_local(ctl_time)} {len(ctl):,} CTLFile.tlv",
        f"{_local(itl_time)} {len(itl):,} ITLFile.tlv",  # unchanged since: its own time
        "dir count = 0, file count = 2",
    ]
    assert ctl_time.astimezone(UTC) != itl_time.astimezone(UTC)


def test_file_list_without_detail_lists_names_only(lab: Lab) -> None:
    lab.admin("utils ctl set-cluster mixed-mode", "y")
    out = lab.admin("file list tftp *.tlv")
    assert out.splitlines() == ["CTLFile.tlv", "ITLFile.tlv", "dir count = 0, file count = 2"]


def test_file_list_refuses_an_unknown_option(lab: Lab) -> None:
    with pytest.raises(LocalError, match="unknown option"):
        lab.admin("file list tftp *.tlv details")

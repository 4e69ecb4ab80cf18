"""Mixed mode and the CTL: D1, D2, D4 (tokenless part), D6, D9, D10, H4, H5."""

from __future__ import annotations

from dataclasses import replace

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from phonetrust.errors import LocalError
from phonetrust.formats.tags import Role
from phonetrust.policy import params as P
from phonetrust.policy.domain import CertName, SecurityMode, SignerOption
from phonetrust.service import inventory, nodes
from phonetrust.service.changes import reading
from tests.service.conftest import Lab
from tests.service.helpers import current, roles, signed_by, trust_list

D10 = (
    "Length of CTL file: 0\n"
    "CTL File not found. Please run CTLClient plugin or run the CLI - utils ctl.. "
    "to generate the CTL file.\n"
    "Error parsing the CTL File.\n"
)


def test_show_ctl_without_ctl_prints_the_not_found_text(lab: Lab) -> None:
    assert lab.admin("show ctl") == D10


def test_set_mixed_mode_writes_the_same_tokenless_ctl_on_every_node(lab: Lab) -> None:
    out = lab.admin("utils ctl set-cluster mixed-mode", "y")
    assert out.splitlines() == [
        "This operation sets the cluster to Mixed mode. Do you want to continue? (y/n):y",
        "Moving Cluster to Mixed Mode",
        "Cluster set to Mixed Mode",
        "Please Restart the TFTP and Cisco CallManager services on all nodes in the cluster "
        "that run these services",
    ]
    pub_ctl, sub_ctl = lab.file("cucm-pub", "CTLFile.tlv"), lab.file("cucm-sub1", "CTLFile.tlv")
    assert pub_ctl is not None
    assert pub_ctl == sub_ctl
    ctl = trust_list(pub_ctl)
    assert signed_by(ctl, current(lab.ctx, "cucm-pub", CertName.CALLMANAGER))
    # D2 / H4: signer SAST, one CCM+TFTP per node, CAPF, no TVS and no eToken records.
    assert roles(ctl) == [Role.SAST, Role.CCM_TFTP, Role.CCM_TFTP, Role.CAPF]
    assert ctl.signer_index() == 0
    assert all(r.ip_address is not None for r in ctl.records)
    with reading(lab.ctx) as uow:
        state = uow.get_cluster()
        assert state is not None
        assert state.security_mode is SecurityMode.MIXED
    params = inventory.list_params(lab.ctx)
    assert params[P.CLUSTER_SECURITY_MODE] == "1"
    assert params[P.AUTO_REGISTRATION] == "False"
    listing = lab.admin("show ctl", node="cucm-sub1")
    assert "This etoken was used to sign the CTL file." in listing
    assert listing.rstrip().endswith("The CTL file was verified successfully.")


def test_answering_n_leaves_the_cluster_non_secure(lab: Lab) -> None:
    out = lab.admin("utils ctl set-cluster mixed-mode", "n")
    assert "Cluster set to Mixed Mode" not in out
    assert lab.file("cucm-pub", "CTLFile.tlv") is None
    assert inventory.list_params(lab.ctx)[P.CLUSTER_SECURITY_MODE] == "0"


def test_utils_ctl_on_a_subscriber_is_refused(lab: Lab) -> None:
    with pytest.raises(LocalError, match="publisher"):
        lab.admin("utils ctl set-cluster mixed-mode", "y", node="cucm-sub1")
    assert lab.file("cucm-pub", "CTLFile.tlv") is None


def test_ctl_follows_a_regeneration_only_after_update_ctlfile(lab: Lab) -> None:
    lab.admin("utils ctl set-cluster mixed-mode", "y")
    first = lab.file("cucm-pub", "CTLFile.tlv")
    lab.admin("set cert regen CallManager", "yes")
    new_cm = current(lab.ctx, "cucm-pub", CertName.CALLMANAGER)
    assert lab.file("cucm-pub", "CTLFile.tlv") == first  # D6: the CTL waits for the update
    out = lab.admin("utils ctl update CTLFile", "y")
    assert "Please Restart the TFTP" in out
    updated = trust_list(lab.file("cucm-pub", "CTLFile.tlv"))
    assert signed_by(updated, new_cm)
    assert updated.records[1].matches_certificate(new_cm.public_bytes(Encoding.DER))


def test_update_ctlfile_on_a_non_secure_cluster_is_refused(lab: Lab) -> None:
    with pytest.raises(LocalError, match="not in Mixed Mode"):
        lab.admin("utils ctl update CTLFile")


def test_back_to_non_secure_keeps_the_stale_ctl_until_deleted_on_each_node(lab: Lab) -> None:
    lab.admin("utils ctl set-cluster mixed-mode", "y")
    out = lab.admin("utils ctl set-cluster non-secure-mode", "y")
    assert "Cluster set to Non Secure Mode" in out
    assert inventory.list_params(lab.ctx)[P.AUTO_REGISTRATION] == "True"
    assert lab.file("cucm-pub", "CTLFile.tlv") is not None  # D9: left in place
    out = lab.admin("file delete tftp CTLFile.tlv", "y", node="cucm-sub1")
    assert "files: found = 1, deleted = 1" in out
    assert lab.file("cucm-sub1", "CTLFile.tlv") is None
    assert lab.file("cucm-pub", "CTLFile.tlv") is not None
    lab.admin("file delete tftp CTLFile.tlv", "y")
    assert lab.admin("show ctl") == D10
    with pytest.raises(LocalError, match="not found"):
        lab.admin("file delete tftp CTLFile.tlv", "y")


def test_itlrecovery_signer_option_signs_itl_and_ctl_with_itlrecovery(lab: Lab) -> None:
    with lab.ctx.repo.unit_of_work() as uow:
        state = uow.get_cluster()
        assert state is not None
        uow.put_cluster(replace(state, signer=SignerOption.ITLRECOVERY))
    lab.admin("utils ctl set-cluster mixed-mode", "y")
    recovery = current(lab.ctx, "cucm-pub", CertName.ITLRECOVERY)
    assert signed_by(trust_list(lab.file("cucm-pub", "CTLFile.tlv")), recovery)
    itl = trust_list(lab.file("cucm-sub1", "ITLFile.tlv"))
    assert signed_by(itl, recovery)
    signer = itl.signer_index()
    assert signer is not None, "the ITL's header names none of its SAST records"
    assert itl.records[signer].role is Role.SAST


def test_itl_holds_what_h4_says(lab: Lab) -> None:
    itl = trust_list(lab.file("cucm-pub", "ITLFile.tlv"))
    cm = current(lab.ctx, "cucm-pub", CertName.CALLMANAGER)
    der = cm.public_bytes(Encoding.DER)
    assert roles(itl) == [Role.SAST, Role.CCM_TFTP, Role.CAPF, Role.TVS, Role.SAST, Role.TVS]
    assert itl.records[0].matches_certificate(der)
    assert itl.records[1].matches_certificate(der)
    tvs = [r for r in itl.records if r.role is Role.TVS]
    assert all(r.certificate_der is None and r.cert_hash is not None for r in tvs)
    for node in ("cucm-pub", "cucm-sub1"):
        tvs_der = current(lab.ctx, node, CertName.TVS).public_bytes(Encoding.DER)
        assert any(r.matches_certificate(tvs_der) for r in tvs)
    recovery = current(lab.ctx, "cucm-pub", CertName.ITLRECOVERY).public_bytes(Encoding.DER)
    assert itl.records[4].matches_certificate(recovery)
    listing = lab.admin("show itl")
    assert listing.count("This etoken was used to sign the ITL file.") == 1
    assert listing.count("This etoken was not used to sign the ITL file.") == 1


def test_itl_stays_byte_identical_when_nothing_in_it_changes(lab: Lab) -> None:
    before = lab.file("cucm-pub", "ITLFile.tlv")
    lab.later(3600)
    inventory.set_param(lab.ctx, P.CAPF_EXPIRY_DAYS, "20")
    assert lab.file("cucm-pub", "ITLFile.tlv") == before


def test_renaming_a_node_changes_the_ctl_only_after_update(lab: Lab) -> None:
    lab.admin("utils ctl set-cluster mixed-mode", "y")
    before = lab.file("cucm-sub1", "CTLFile.tlv")
    nodes.rename_node(lab.ctx, "cucm-sub1", "cucm-sub9")
    assert lab.file("cucm-sub9", "CTLFile.tlv") == before
    lab.admin("utils ctl update CTLFile", "y")
    names = [r.dns_name for r in trust_list(lab.file("cucm-pub", "CTLFile.tlv")).records]
    assert "cucm-sub9" in names
    assert "cucm-sub1" not in names

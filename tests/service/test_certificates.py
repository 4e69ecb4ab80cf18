"""Certificates: regeneration and its hold (B1 server side, B3), renames (B4), ITLRecovery (C4)."""

from __future__ import annotations

import pytest

from phonetrust.errors import LocalError
from phonetrust.pki.roles import common_name_of
from phonetrust.policy.domain import CertName
from phonetrust.service import nodes
from tests.service.conftest import Lab
from tests.service.helpers import current, signed_by, trust_list

HOLD_MESSAGE = (
    "CallManager certificate was modified in the last 5 minutes. Please re-try\n"
    "regenerating TVS certificate at a later time"
)


def test_regenerate_callmanager_prints_cucm_text_and_resigns_the_itl(lab: Lab) -> None:
    before = current(lab.ctx, "cucm-pub", CertName.CALLMANAGER)
    out = lab.admin("set cert regen CallManager", "yes")
    assert "WARNING: This operation will overwrite any CA signed certificate" in out
    assert "Proceed with regeneration (yes|no)? yes" in out
    assert "Successfully Regenerated Certificate for CallManager." in out
    assert "You must restart services related to CallManager for the regenerated" in out
    after = current(lab.ctx, "cucm-pub", CertName.CALLMANAGER)
    assert after.serial_number != before.serial_number
    itl = trust_list(lab.file("cucm-pub", "ITLFile.tlv"))
    assert signed_by(itl, after)  # B1: the new ITL is signed by the new key
    sub_itl = trust_list(lab.file("cucm-sub1", "ITLFile.tlv"))
    assert signed_by(sub_itl, current(lab.ctx, "cucm-sub1", CertName.CALLMANAGER))


def test_answering_no_regenerates_nothing(lab: Lab) -> None:
    before = current(lab.ctx, "cucm-pub", CertName.CALLMANAGER)
    out = lab.admin("set cert regen CallManager", "no")
    assert "aborted" in out
    assert current(lab.ctx, "cucm-pub", CertName.CALLMANAGER) == before


def test_second_regeneration_within_five_minutes_is_refused_with_cucm_message(lab: Lab) -> None:
    lab.admin("set cert regen CallManager", "yes")
    tvs_before = current(lab.ctx, "cucm-pub", CertName.TVS)
    lab.later(4 * 60 + 59)
    with pytest.raises(LocalError) as refused:
        lab.admin("set cert regen TVS", "yes")
    assert str(refused.value) == HOLD_MESSAGE
    assert current(lab.ctx, "cucm-pub", CertName.TVS) == tvs_before
    lab.later(2)
    lab.admin("set cert regen TVS", "yes")
    assert current(lab.ctx, "cucm-pub", CertName.TVS) != tvs_before


def test_hold_timer_is_per_node(lab: Lab) -> None:
    lab.admin("set cert regen CallManager", "yes")
    before = current(lab.ctx, "cucm-sub1", CertName.TVS)
    lab.admin("set cert regen TVS", "yes", node="cucm-sub1")
    assert current(lab.ctx, "cucm-sub1", CertName.TVS) != before


def test_rename_regenerates_every_node_certificate_but_keeps_itlrecovery(lab: Lab) -> None:
    names = [CertName.CALLMANAGER, CertName.TVS, CertName.CAPF, CertName.IPSEC, CertName.TOMCAT]
    before = {n: current(lab.ctx, "cucm-pub", n) for n in [*names, CertName.ITLRECOVERY]}
    nodes.rename_node(lab.ctx, "cucm-pub", "cucm-pub2", "new.example")
    for n in names:
        assert current(lab.ctx, "cucm-pub2", n).serial_number != before[n].serial_number
    assert (
        common_name_of(current(lab.ctx, "cucm-pub2", CertName.CALLMANAGER))
        == "cucm-pub2.new.example"
    )
    recovery = current(lab.ctx, "cucm-pub2", CertName.ITLRECOVERY)
    assert recovery == before[CertName.ITLRECOVERY]
    assert common_name_of(recovery) == "ITLRECOVERY_cucm-pub.lab.example"
    itl = trust_list(lab.file("cucm-pub2", "ITLFile.tlv"))
    assert lab.file("cucm-pub", "ITLFile.tlv") is None
    assert signed_by(itl, current(lab.ctx, "cucm-pub2", CertName.CALLMANAGER))


def test_regenerating_itlrecovery_keeps_its_original_name(lab: Lab) -> None:
    before = current(lab.ctx, "cucm-pub", CertName.ITLRECOVERY)
    nodes.rename_node(lab.ctx, "cucm-pub", "renamed")
    lab.later(600)
    lab.admin("set cert regen ITLRecovery", "yes", node="renamed")
    after = current(lab.ctx, "renamed", CertName.ITLRECOVERY)
    assert after.serial_number != before.serial_number
    assert common_name_of(after) == common_name_of(before)
    assert (after.not_valid_after_utc - after.not_valid_before_utc).days >= 5 * 365
    # C4: the ITL keeps the old recovery record until the next TFTP restart.
    kept = trust_list(lab.file("renamed", "ITLFile.tlv"))
    assert any(
        r.serial is not None and int.from_bytes(r.serial, "big") == before.serial_number
        for r in kept.records
    )
    lab.admin("utils service restart Cisco Tftp", node="renamed")
    itl = trust_list(lab.file("renamed", "ITLFile.tlv"))
    recovery_records = [r for r in itl.records if r.subject and "ITLRECOVERY" in r.subject]
    assert len(recovery_records) == 1
    assert recovery_records[0].serial is not None
    assert int.from_bytes(recovery_records[0].serial, "big") == after.serial_number


def test_unknown_certificate_name_is_refused(lab: Lab) -> None:
    with pytest.raises(LocalError, match="Invalid certificate name"):
        lab.admin("set cert regen Bogus", "yes")

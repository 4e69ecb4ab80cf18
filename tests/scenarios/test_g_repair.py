"""Scenarios G1-G2: the verification checklist, and when (and how) to delete a phone's ITL.

G1 walks the checklist of the reference documents against a running
cluster: each node's certificates against the CTL/ITL records, the CTL's
age against the certificates', the TFTP server serving the CTL, and the
phone's list hashes against what ``show ctl`` / ``show itl`` print. G2
locks a phone (CallManager and TVS regenerated together on the only server
of its CallManager group), checks the four conditions the documents set
before an ITL may be deleted, deletes it on the phone and watches the phone
trust the cluster again on first use.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from phonetrust.formats.names import serial_bytes
from phonetrust.formats.record import Record
from phonetrust.formats.tags import Role
from phonetrust.formats.trustlist import TrustList
from phonetrust.net.tls import client_context
from phonetrust.policy import phone_trust as trust
from phonetrust.policy.domain import CertName
from phonetrust.policy.phone_decisions import (
    ERASING,
    ITL_INSTALLED,
    TRUST_LIST_UPDATE_FAILED,
    Via,
)
from phonetrust.service import inventory
from phonetrust.sim.phone import BootReport, Phone
from tests.scenarios.conftest import Site, run_async, site_of
from tests.service.conftest import Lab
from tests.service.helpers import current

MAC = "001122334455"
NODES = ("cucm-pub", "cucm-sub1")


# -- G1: the checklist ------------------------------------------------------------------------


def shown_hashes(listing: str) -> tuple[str, str]:
    """(MD5, SHA-1) as ``show ctl`` / ``show itl`` print them."""
    md5 = re.search(r"^([0-9a-f]{32})\(MD5\)$", listing, re.MULTILINE)
    sha1 = re.search(r"^([0-9a-f]{40})\(SHA1\)$", listing, re.MULTILINE)
    assert md5 is not None, listing[:300]
    assert sha1 is not None, listing[:300]
    return md5.group(1), sha1.group(1)


def last_modified(listing: str) -> datetime:
    found = re.search(r"was last modified on (.+)$", listing, re.MULTILINE)
    assert found is not None
    return datetime.strptime(found.group(1), "%a %b %d %H:%M:%S UTC %Y").replace(tzinfo=UTC)


def same_certificate(record: Record, cert: x509.Certificate) -> list[str]:
    """What differs between a list record and a node's current certificate (serial, CN, dates)."""
    problems = []
    if record.serial != serial_bytes(cert.serial_number):
        problems.append("serial")
    held = record.certificate()
    if held is None:  # a hash-only record (TVS in the ITL): the hash is all there is
        if not record.matches_certificate(cert.public_bytes(Encoding.DER)):
            problems.append("hash")
        return problems
    if held.subject != cert.subject:
        problems.append("CN")
    if (held.not_valid_before_utc, held.not_valid_after_utc) != (
        cert.not_valid_before_utc,
        cert.not_valid_after_utc,
    ):
        problems.append("dates")
    return problems


def checklist(lab: Lab, nodes: tuple[str, ...]) -> list[str]:
    """The G1 checklist, as an administrator runs it; every mismatch found."""
    problems: list[str] = []
    ctl_data = lab.file("cucm-pub", "CTLFile.tlv")
    if ctl_data is None:
        return ["no CTL is served"]
    ctl = TrustList.from_wire(ctl_data)
    ctl_time = last_modified(lab.admin("show ctl"))
    for node in nodes:
        cm = current(lab.ctx, node, CertName.CALLMANAGER)
        records = [r for r in ctl.records if r.role is Role.CCM_TFTP and r.dns_name == node]
        if not records:
            problems.append(f"{node}: no CCM+TFTP record in the CTL")
        for rec in records:
            problems += [f"{node}: CTL CallManager {p}" for p in same_certificate(rec, cm)]
        if cm.not_valid_before_utc > ctl_time:
            problems.append(f"{node}: the CTL is older than the CallManager certificate")
        itl_data = lab.file(node, "ITLFile.tlv")
        assert itl_data is not None
        itl = TrustList.from_wire(itl_data)
        for role, name, owner in (
            (Role.CCM_TFTP, CertName.CALLMANAGER, node),
            (Role.TVS, CertName.TVS, node),
            (Role.CAPF, CertName.CAPF, "cucm-pub"),
        ):
            cert = current(lab.ctx, owner, name)
            der = cert.public_bytes(Encoding.DER)
            matching = [r for r in itl.records if r.role is role and r.matches_certificate(der)]
            if not matching:
                problems.append(f"{node}: ITL has no {role.spelling} record for {owner} {name}")
    return problems


async def _g1(lab: Lab) -> None:
    async with site_of(lab, *NODES) as site:
        await site.admin("utils ctl set-cluster mixed-mode", "y")
        assert checklist(lab, NODES) == []
        phone = await site.phone(MAC)
        report = await phone.boot()
        # The TFTP server serves the CTL, and the phone took it.
        assert report.steps[0].what == f"CTLSEP{MAC}.tlv"
        assert report.steps[0].outcome == "accepted"
        # The phone's hashes (Settings > Security > Trust List) are what show ctl/itl print.
        assert phone.state.ctl_file is not None
        assert phone.state.itl_file is not None
        ctl_listing, itl_listing = lab.admin("show ctl"), lab.admin("show itl")
        assert (phone.state.ctl_file.md5, phone.state.ctl_file.sha1) == shown_hashes(ctl_listing)
        assert (phone.state.itl_file.md5, phone.state.itl_file.sha1) == shown_hashes(itl_listing)
        assert report.ctl_md5 == shown_hashes(ctl_listing)[0]

        # A certificate newer than the CTL: the checklist says the CTL must be updated.
        lab.later(3600)
        await site.admin("set cert regen CallManager", "yes")
        found = checklist(lab, NODES)
        assert "cucm-pub: CTL CallManager serial" in found
        assert "cucm-pub: the CTL is older than the CallManager certificate" in found
        assert not any(p.startswith("cucm-sub1") for p in found)
        await site.admin("utils ctl update CTLFile", "y")
        assert checklist(lab, NODES) == []
        updated = await phone.boot()
        assert not updated.locked
        ctl_listing = lab.admin("show ctl")
        assert phone.state.ctl_file.md5 == shown_hashes(ctl_listing)[0]
        assert phone.state.itl_file.sha1 == shown_hashes(lab.admin("show itl"))[1]


def test_g1_checklist_certificates_lists_and_phone_hashes(lab: Lab) -> None:
    run_async(_g1(lab))


# -- G2: when to delete an ITL --------------------------------------------------------------------


# The G2 decision (Conditions.delete_itl) is written here, in the test, from the reference
# documents: no product code makes it yet, so this test shows the four conditions can be
# observed on a real cluster and phone, not that phonetrust decides. Issue 12 moves the
# decision into the product (`phonetrust diagnose phone`: "must its ITL be deleted by hand");
# this test should then assert the product's verdict instead of computing its own.
@dataclass(frozen=True)
class Conditions:
    itl_differs: bool
    """The phone's ITL hash is not the server's (Settings > Security > Trust List vs show itl)."""
    tvs_differs: bool
    """The TVS certificate in the phone's ITL is not the one TVS presents (packet capture)."""
    failure_shown: bool
    """The phone shows a verification failure for the ITL or its configuration."""
    no_key_backup: bool
    """No backup of the old TFTP (CallManager) private key exists."""

    @property
    def delete_itl(self) -> bool:
        return self.itl_differs and self.tvs_differs and self.failure_shown and self.no_key_backup


async def presented_tvs_certificate(site: Site, node: str) -> bytes:
    """What TVS presents on TCP 2445 (the document reads it from a packet capture)."""
    port = site.nodes[node].ports["tvs"]
    _, writer = await asyncio.open_connection("127.0.0.1", port, ssl=client_context())
    try:
        der = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
    finally:
        writer.close()
    assert isinstance(der, bytes)
    return der


async def conditions(
    site: Site, phone: Phone, report: BootReport, *, key_backup: bool
) -> Conditions:
    assert phone.state.itl_file is not None
    server_md5, _ = shown_hashes(site.lab.admin("show itl"))
    tvs = await presented_tvs_certificate(site, "cucm-pub")
    failures = {TRUST_LIST_UPDATE_FAILED, "Trust List Verification Failed"}
    return Conditions(
        itl_differs=phone.state.itl_file.md5 != server_md5,
        tvs_differs=not trust.check_tvs_server(phone.state, tvs).accepted,
        failure_shown=bool(failures & set(report.status)) or report.config_failed is not None,
        no_key_backup=not key_backup,
    )


async def _g2(lab: Lab) -> None:
    async with site_of(lab) as site:
        # The phone's CallManager group has one server: no other TVS to turn to.
        await asyncio.to_thread(inventory.put_group, lab.ctx, "Publisher", ["cucm-pub"])
        phone = await site.phone(MAC)
        await asyncio.to_thread(inventory.update_device, lab.ctx, f"SEP{MAC}", group="Publisher")
        await site.synced()
        healthy = await phone.boot()
        assert healthy.config_applied
        assert phone.state.tvs_servers == (("10.0.0.10", 2445),)
        fine = await conditions(site, phone, healthy, key_backup=False)
        assert not fine.itl_differs  # hashes match: deleting the ITL would fix nothing
        assert not fine.tvs_differs
        assert not fine.delete_itl

        await site.admin("set cert regen CallManager", "yes")
        lab.later(301)
        await site.admin("set cert regen TVS", "yes")
        locked = await phone.boot()
        assert locked.locked
        found = await conditions(site, phone, locked, key_backup=False)
        assert found == Conditions(True, True, True, True)
        assert found.delete_itl
        # With a backup of the old key, restoring it is the repair, not deleting ITLs.
        assert not (await conditions(site, phone, locked, key_backup=True)).delete_itl
        url = await phone.open_url(phone.service_url("directory"))
        assert not url.ok

        # Settings > Security > Trust List > Erase, then a reset: trust on first use again.
        phone.erase()
        assert ERASING in phone.log.status_text()
        assert phone.state.itl_file is None
        again = await phone.boot()
        assert not again.locked
        assert ITL_INSTALLED in again.status
        itl_step = next(s for s in again.steps if s.what == f"ITLSEP{MAC}.tlv")
        assert itl_step.detail == Via.TOFU.value
        assert phone.state.itl_file is not None
        assert phone.state.itl_file.raw == lab.file("cucm-pub", "ITLFile.tlv")
        assert again.config_applied
        assert (await phone.open_url(phone.service_url("directory"))).ok
        assert not (await conditions(site, phone, again, key_backup=False)).delete_itl


def test_g2_delete_the_itl_only_when_all_conditions_hold(lab: Lab) -> None:
    run_async(_g2(lab))

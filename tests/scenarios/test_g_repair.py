"""Scenarios G1-G2: the verification checklist, and when (and how) to delete a phone's ITL.

G1 runs ``phonetrust diagnose``'s checklist (:mod:`phonetrust.planner.diagnose`)
against a running cluster: each node's certificates against the CTL/ITL
records, the CTL's age against the certificates', the TFTP servers serving
the same lists and answering on their ports, and the phone's list hashes
against what ``show ctl`` / ``show itl`` print. G2 locks a phone
(CallManager and TVS regenerated together on the only server of its
CallManager group) and asks ``phonetrust diagnose phone``
(:mod:`phonetrust.planner.phonediag`) for the four conditions the documents
set before an ITL may be deleted, with their evidence; then deletes it on the
phone and watches the phone trust the cluster again on first use.
"""

from __future__ import annotations

import asyncio
import hashlib
import re

from phonetrust.net.tls import client_context
from phonetrust.planner.checks import Status
from phonetrust.planner.diagnose import Report, checklist
from phonetrust.planner.phonediag import PhoneDiagnosis, Verdict, diagnose_phone
from phonetrust.planner.probe import probe
from phonetrust.policy.phone_decisions import ERASING, ITL_INSTALLED, Via
from phonetrust.service import inventory
from phonetrust.sim.phone import Phone
from tests.scenarios.conftest import Site, run_async, site_of
from tests.service.conftest import Lab

MAC = "001122334455"
NODES = ("cucm-pub", "cucm-sub1")
LIST_CHECKS = ("certificates", "ctl-age", "same-lists", "list-signers", "services-listed")


# -- G1: the checklist ------------------------------------------------------------------------


def shown_hashes(listing: str) -> tuple[str, str]:
    """(MD5, SHA-1) as ``show ctl`` / ``show itl`` print them."""
    md5 = re.search(r"^([0-9a-f]{32})\(MD5\)$", listing, re.MULTILINE)
    sha1 = re.search(r"^([0-9a-f]{40})\(SHA1\)$", listing, re.MULTILINE)
    assert md5 is not None, listing[:300]
    assert sha1 is not None, listing[:300]
    return md5.group(1), sha1.group(1)


async def run_checklist(site: Site) -> Report:
    """The product's checklist, its services probe through the site's loopback routes."""
    report, targets = await asyncio.to_thread(checklist, site.lab.ctx)
    services = await probe(targets, site.routes, 2.0)
    return Report((*report.checks, services))


def statuses(report: Report, *names: str) -> dict[str, Status]:
    return {n: report.by_name(n).status for n in names}


async def _g1(lab: Lab) -> None:
    async with site_of(lab, *NODES) as site:
        await site.admin("utils ctl set-cluster mixed-mode", "y")
        report = await run_checklist(site)
        assert statuses(report, *LIST_CHECKS, "services") == dict.fromkeys(
            (*LIST_CHECKS, "services"), Status.OK
        ), [c for c in report.checks if c.status is not Status.OK]
        phone = await site.phone(MAC)
        report_boot = await phone.boot()
        # The TFTP server serves the CTL, and the phone took it.
        assert report_boot.steps[0].what == f"CTLSEP{MAC}.tlv"
        assert report_boot.steps[0].outcome == "accepted"
        # The phone's hashes (Settings > Security > Trust List) are what show ctl/itl print.
        assert phone.state.ctl_file is not None
        assert phone.state.itl_file is not None
        ctl_listing, itl_listing = lab.admin("show ctl"), lab.admin("show itl")
        assert (phone.state.ctl_file.md5, phone.state.ctl_file.sha1) == shown_hashes(ctl_listing)
        assert (phone.state.itl_file.md5, phone.state.itl_file.sha1) == shown_hashes(itl_listing)
        assert report_boot.ctl_md5 == shown_hashes(ctl_listing)[0]

        # A certificate newer than the CTL: the checklist says the CTL must be updated.
        lab.later(3600)
        await site.admin("set cert regen CallManager", "yes")
        report = await run_checklist(site)
        certificates, age = report.by_name("certificates"), report.by_name("ctl-age")
        assert (certificates.status, age.status) == (Status.FAIL, Status.FAIL)
        assert any("cucm-pub CallManager.pem" in d and "serial" in d for d in certificates.detail)
        assert any("older than cucm-pub CallManager.pem" in d for d in age.detail)
        assert not any("cucm-sub1 CallManager.pem" in d for d in certificates.detail + age.detail)
        assert "utils ctl update CTLFile" in certificates.action
        await site.admin("utils ctl update CTLFile", "y")
        report = await run_checklist(site)
        assert statuses(report, *LIST_CHECKS) == dict.fromkeys(LIST_CHECKS, Status.OK)
        updated = await phone.boot()
        assert not updated.locked
        ctl_listing = lab.admin("show ctl")
        assert phone.state.ctl_file.md5 == shown_hashes(ctl_listing)[0]
        assert phone.state.itl_file.sha1 == shown_hashes(lab.admin("show itl"))[1]


def test_g1_checklist_certificates_lists_and_phone_hashes(lab: Lab) -> None:
    run_async(_g1(lab))


# -- G2: when to delete an ITL --------------------------------------------------------------------


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


async def diagnosed(site: Site, phone: Phone, *, key_backup: bool | None = None) -> PhoneDiagnosis:
    """``phonetrust diagnose phone MAC --itl FILE``, its ITL copied off the phone."""
    assert phone.state.itl_file is not None
    return await asyncio.to_thread(
        diagnose_phone,
        site.lab.ctx,
        MAC,
        itl=phone.state.itl_file.raw,
        key_backup=key_backup,
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
        fine = await diagnosed(site, phone, key_backup=False)
        assert fine.verdict is Verdict.HEALTHY
        assert not fine.itl_differs.holds  # hashes match: deleting the ITL would fix nothing
        assert not fine.tvs_differs.holds
        assert not fine.delete_itl

        await site.admin("set cert regen CallManager", "yes")
        lab.later(301)
        await site.admin("set cert regen TVS", "yes")
        locked = await phone.boot()
        assert locked.locked
        found = await diagnosed(site, phone, key_backup=False)
        conditions = (found.itl_differs, found.tvs_differs, found.failure_shown)
        assert [c.holds for c in (*conditions, found.no_key_backup)] == [True] * 4
        assert found.delete_itl
        # The evidence: the phone's hash against the server's, the ITL's TVS record against the
        # certificate TVS really presents, the phone's own words.
        served = lab.file("cucm-pub", "ITLFile.tlv")
        assert served is not None
        assert phone.state.itl_file is not None
        assert any(phone.state.itl_file.md5 in e for e in found.itl_differs.evidence)
        assert any(hashlib.sha1(served).hexdigest() in e for e in found.itl_differs.evidence)
        presented = hashlib.sha1(await presented_tvs_certificate(site, "cucm-pub")).hexdigest()
        assert any(
            presented in e and "matches no TVS record" in e for e in found.tvs_differs.evidence
        )
        assert "Trust List Update Failed" in found.failure_shown.evidence[0]
        # Reference 003 comes first: this ITL holds the ITLRecovery record, so a reset reaches it.
        assert found.recovery_reaches.holds
        assert found.verdict is Verdict.ITL_RESET
        # With a backup of the old key, restoring it is the repair, not deleting ITLs.
        assert not (await diagnosed(site, phone, key_backup=True)).delete_itl
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
        after = await diagnosed(site, phone, key_backup=False)
        assert after.verdict is Verdict.HEALTHY
        assert not after.delete_itl


def test_g2_delete_the_itl_only_when_all_conditions_hold(lab: Lab) -> None:
    run_async(_g2(lab))

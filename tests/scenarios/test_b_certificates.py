"""Scenarios B1-B5: certificate changes on a cluster whose phones hold only an ITL.

Each test boots simulated phones against the cluster's real services, makes
the administrator's change (regeneration, rename, backup and restore, a
rebuild), reboots the same phones (their flash keeps the installed ITL) and
checks what they make of it: which ITL they hold, whether they had to ask
TVS, the status messages, whether a changed setting reached them, whether
the secure directory URL opens, whether they are locked.

"One node" scenarios put the phone in a CallManager group of the publisher
alone, so its configuration names one TVS server, as on a single-node
cluster (the lab's subscriber would otherwise be a second TVS to fall back
on, which is scenario B4's multi-node case).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from phonetrust.errors import KeyMaterialError, LocalError
from phonetrust.policy import params as P
from phonetrust.policy.domain import CertName, Device
from phonetrust.policy.phone_decisions import (
    HOST_NOT_FOUND,
    TRUST_LIST_UPDATE_FAILED,
    TRUST_LIST_UPDATED,
)
from phonetrust.service import backup, inventory, nodes
from phonetrust.sim.phone import BootReport, Phone
from phonetrust.store.datadir import DataDir
from phonetrust.testing.clock import FakeClock
from phonetrust.testing.cluster import restored_context
from tests.scenarios.conftest import Site, run_async, site_of
from tests.service.conftest import PASSWORD, Lab, install
from tests.service.helpers import current, signed_by, trust_list

MAC = "001122334455"
OTHER_MAC = "001122334466"
HOLD_MESSAGE = (
    "CallManager certificate was modified in the last 5 minutes. Please re-try\n"
    "regenerating TVS certificate at a later time"
)
HOLD = 301
"""Seconds to wait out the 5-minute certificate hold timer (B3)."""

NOT_COVERED: dict[str, str] = {}


# -- helpers --------------------------------------------------------------------------


async def _single_node(site: Site) -> None:
    """The Default CallManager group holds the publisher alone: phones get one TVS server."""
    await asyncio.to_thread(inventory.put_group, site.lab.ctx, "Default", ["cucm-pub"])
    await site.synced()


async def _set(site: Site, mac: str, **settings: str) -> None:
    """An administrator changes a device setting: the next configuration carries it."""
    await asyncio.to_thread(
        inventory.update_device, site.lab.ctx, f"SEP{mac}", settings=dict(settings)
    )
    await site.synced()


async def _booted(site: Site, mac: str, tftp: str = "cucm-pub") -> Phone:
    """A phone of the cluster that has booted once and holds the node's ITL."""
    phone = await site.phone(mac, tftp=tftp)
    report = await phone.boot()
    assert not report.locked, report.summary()
    assert phone.state.itl_file is not None
    assert phone.state.itl_file.raw == site.lab.file(tftp, "ITLFile.tlv")
    return phone


def _itl_step(report: BootReport) -> tuple[str, str]:
    steps = [s for s in report.steps if s.what.startswith("ITL")]
    assert steps, report.steps
    return steps[-1].outcome, steps[-1].detail


async def _assert_locked(phone: Phone, held: bytes, setting: str) -> None:
    """B2's outcome: the new ITL refused (the old one stays), no new config, no secure URL."""
    report = await phone.boot()
    assert report.locked
    assert TRUST_LIST_UPDATE_FAILED in report.status
    assert report.list_failed is not None
    assert phone.state.itl_file is not None
    assert phone.state.itl_file.raw == held
    assert not report.config_applied
    assert setting not in phone.settings
    url = await phone.open_url(phone.service_url("directory"))
    assert not url.ok
    assert url.display == HOST_NOT_FOUND


async def _assert_works(phone: Phone, cluster: Lab, node: str, setting: str) -> BootReport:
    """The phone holds the node's current ITL, applied the new setting and opens secure URLs."""
    report = await phone.boot()
    assert not report.locked, report.summary()
    assert phone.state.itl_file is not None
    assert phone.state.itl_file.raw == cluster.file(node, "ITLFile.tlv")
    assert report.config_applied
    assert phone.settings.get(setting) == "1"
    url = await phone.open_url(phone.service_url("directory"))
    assert url.ok, url
    return report


def _rebuilt(root: Path, clock: FakeClock) -> Lab:
    """The lab cluster installed again from scratch: same names, addresses, password; new keys."""
    ctx = install(root, clock)
    return Lab(DataDir.locate(root), ctx, clock)


def _restored(root: Path, archive: bytes, clock: FakeClock) -> Lab:
    """A rebuilt node restored from the backup archive (DRS restore)."""
    where = DataDir.locate(root)
    ctx = restored_context(where, backup.open_archive(archive, PASSWORD), PASSWORD, clock)
    return Lab(where, ctx, clock)


# -- B1 ---------------------------------------------------------------------------------


async def _b1(lab: Lab) -> None:
    async with site_of(lab) as site:
        await _single_node(site)
        phone = await _booted(site, MAC)
        old_tvs = current(lab.ctx, "cucm-pub", CertName.TVS)
        await site.admin("set cert regen CallManager", "yes")
        new_cm = current(lab.ctx, "cucm-pub", CertName.CALLMANAGER)
        assert signed_by(trust_list(lab.file("cucm-pub", "ITLFile.tlv")), new_cm)
        assert current(lab.ctx, "cucm-pub", CertName.TVS) == old_tvs
        await _set(site, MAC, webAccess="1")
        # Nothing reaches the phone until it is reset: it still holds the old ITL.
        assert phone.state.itl_file is not None
        assert phone.state.itl_file.raw != lab.file("cucm-pub", "ITLFile.tlv")
        report = await _assert_works(phone, lab, "cucm-pub", "webAccess")
        # The new signer is unknown locally: TVS (unchanged certificate) vouched for it.
        assert report.tvs_queries >= 1
        assert _itl_step(report) == ("accepted", "vouched for by TVS")
        assert TRUST_LIST_UPDATED in report.status
        config = [s for s in report.steps if s.what.endswith(".cnf.xml.sgn")][-1]
        assert config.outcome == "accepted"
        assert config.detail == "signer or certificate found in the CTL or ITL"
        # From now on the new CallManager is in the phone's ITL: no TVS for the ITL or config.
        await _set(site, MAC, webAccess="1", sshAccess="1")
        again = await phone.boot()
        assert not again.locked
        assert again.tvs_queries == 0
        assert phone.settings.get("sshAccess") == "1"


def test_b1_regenerate_callmanager_only(lab: Lab) -> None:
    run_async(_b1(lab))


# -- B2 ---------------------------------------------------------------------------------


async def _b2(lab: Lab) -> None:
    async with site_of(lab) as site:
        await _single_node(site)
        phone = await _booted(site, MAC)
        assert phone.state.itl_file is not None
        held = phone.state.itl_file.raw
        await site.admin("set cert regen CallManager", "yes")
        lab.later(HOLD)
        await site.admin("set cert regen TVS", "yes")
        await _set(site, MAC, webAccess="1")
        # Neither the new ITL's signer nor the TVS server is in the phone's ITL.
        await _assert_locked(phone, held, "webAccess")
        console = phone.log.console_text()
        assert "verifyCertWithHashFromTL: cert hash and hash in TL MISMATCH" in console
        # Recovery (C1): its ITL holds the ITLRecovery record, so the reset ITL is accepted.
        await site.admin("utils itl reset localkey", PASSWORD)
        report = await _assert_works(phone, lab, "cucm-pub", "webAccess")
        assert _itl_step(report) == ("accepted", "signer or certificate found in the CTL or ITL")
        assert report.tvs_queries == 0


def test_b2_regenerate_callmanager_and_tvs_locks_until_itl_reset(lab: Lab) -> None:
    run_async(_b2(lab))


async def _b2_manual(lab: Lab, tmp_path: Path) -> None:
    """A phone whose ITL lacks the cluster's ITLRecovery record needs its ITL deleted by hand.

    Its ITL came from another installation of the cluster (new keys, new ITLRecovery).
    """
    async with site_of(lab) as site:
        phone = await _booted(site, MAC)
    rebuilt = await asyncio.to_thread(_rebuilt, tmp_path / "rebuilt", lab.clock)
    try:
        await asyncio.to_thread(inventory.add_devices, rebuilt.ctx, [Device(f"SEP{MAC}", "8845")])
        async with site_of(rebuilt) as site:
            phone.routes = site.routes
            await _single_node(site)
            await _set(site, MAC, webAccess="1")
            assert phone.state.itl_file is not None
            held = phone.state.itl_file.raw
            await _assert_locked(phone, held, "webAccess")
            await site.admin("utils itl reset localkey", PASSWORD)
            await _assert_locked(phone, held, "webAccess")
            phone.erase()  # Settings > Security > Trust List > Erase, on the phone itself
            report = await _assert_works(phone, rebuilt, "cucm-pub", "webAccess")
            assert _itl_step(report) == ("accepted", "trusted on first use")
    finally:
        rebuilt.ctx.repo.close()


def test_b2_without_recovery_record_needs_manual_itl_deletion(
    lab: Lab,
    tmp_path: Path,
) -> None:
    run_async(_b2_manual(lab, tmp_path))


# -- B3 ---------------------------------------------------------------------------------


async def _b3(lab: Lab) -> None:
    async with site_of(lab) as site:
        await _single_node(site)
        phone = await _booted(site, MAC)
        tvs = current(lab.ctx, "cucm-pub", CertName.TVS)
        await site.admin("set cert regen CallManager", "yes")
        lab.later(4 * 60 + 59)
        with pytest.raises(LocalError) as refused:
            await site.admin("set cert regen TVS", "yes")
        assert str(refused.value) == HOLD_MESSAGE
        assert current(lab.ctx, "cucm-pub", CertName.TVS) == tvs
        # Meanwhile the phones reset and take the first change through TVS.
        await _set(site, MAC, webAccess="1")
        report = await _assert_works(phone, lab, "cucm-pub", "webAccess")
        assert _itl_step(report) == ("accepted", "vouched for by TVS")
        lab.later(2)
        await site.admin("set cert regen TVS", "yes")
        assert current(lab.ctx, "cucm-pub", CertName.TVS) != tvs
        # The second change is signed by the CallManager the phone now holds: no lock.
        await _set(site, MAC, webAccess="1", sshAccess="1")
        report = await _assert_works(phone, lab, "cucm-pub", "sshAccess")
        assert _itl_step(report) == ("accepted", "signer or certificate found in the CTL or ITL")


def test_b3_hold_timer_refuses_second_regeneration(lab: Lab) -> None:
    run_async(_b3(lab))


# -- B4 ---------------------------------------------------------------------------------


async def _rename(site: Site, old: str, new: str, domain: str | None = None) -> None:
    """A host name (or domain) change: the node restarts with all its certificates new."""
    running = old in site.nodes
    if running:
        await site.stop(old)
    await asyncio.to_thread(nodes.rename_node, site.lab.ctx, old, new, domain)
    if running:
        await site.start(new)
    await site.synced()


@dataclass(frozen=True)
class Renames:
    """Renames after which the phone refuses the new ITL (B4's locking cases)."""

    serving: tuple[str, ...]
    """The nodes serving (the subscriber's TVS could vouch when it runs)."""
    one_tvs: bool
    """The phone's group names the publisher alone: one TVS server in its configuration."""
    renames: tuple[tuple[str, str, str | None], ...]
    """(old host, new host, new domain or None), in order."""


LOCKING_RENAMES = [
    pytest.param(
        Renames(("cucm-pub",), True, (("cucm-pub", "cucm-pub", "new.example"),)),
        id="single-node-itl-only",
    ),
    pytest.param(
        Renames(
            ("cucm-pub", "cucm-sub1"),
            False,
            (("cucm-pub", "cucm-pub2", None), ("cucm-sub1", "cucm-sub2", None)),
        ),
        id="multi-node-all-at-once",
    ),
    # The subscriber's TVS would vouch, but the phone's group names only the publisher.
    pytest.param(
        Renames(("cucm-pub", "cucm-sub1"), True, (("cucm-pub", "cucm-pub2", None),)),
        id="multi-node-group-with-one-tvs",
    ),
]


async def _b4_locks(lab: Lab, case: Renames) -> None:
    async with site_of(lab, *case.serving) as site:
        if case.one_tvs:
            await _single_node(site)
        phone = await _booted(site, MAC)
        assert phone.state.itl_file is not None
        held = phone.state.itl_file.raw
        for old, new, domain in case.renames:
            await _rename(site, old, new, domain)
        phone.routes = site.routes
        await _set(site, MAC, webAccess="1")
        await _assert_locked(phone, held, "webAccess")


@pytest.mark.parametrize("case", LOCKING_RENAMES)
def test_b4_renames_that_lock_phones(lab: Lab, case: Renames) -> None:
    run_async(_b4_locks(lab, case))


async def _b4_rollback(lab: Lab) -> None:
    async with site_of(lab) as site:
        await _single_node(site)
        phone = await _booted(site, MAC)
        # E1 first: phones take the ITL with empty functions (signed by the current key).
        await asyncio.to_thread(inventory.set_param, lab.ctx, P.ROLLBACK, "True")
        await site.synced()
        report = await phone.boot()
        assert not report.locked
        assert phone.state.itl_file is not None
        assert phone.state.itl_file.rollback
        await _rename(site, "cucm-pub", "cucm-pub", "new.example")
        phone.routes = site.routes
        await _set(site, MAC, webAccess="1")
        # The rollback ITL anchors nothing: the new files are taken as they come.
        report = await phone.boot()
        assert not report.locked, report.summary()
        assert report.config_applied
        assert phone.settings.get("webAccess") == "1"
        # Rollback parameter back to False: the normal ITL of the renamed node is installed.
        await asyncio.to_thread(inventory.set_param, lab.ctx, P.ROLLBACK, "False")
        await _set(site, MAC, webAccess="1", sshAccess="1")
        report = await _assert_works(phone, lab, "cucm-pub", "sshAccess")
        assert phone.state.itl_file is not None
        assert not phone.state.itl_file.rollback
        new_cm = current(lab.ctx, "cucm-pub", CertName.CALLMANAGER)
        assert signed_by(phone.state.itl_file.trust_list, new_cm)


def test_b4_rename_single_node_with_rollback_parameter_first(lab: Lab) -> None:
    run_async(_b4_rollback(lab))


async def _b4_one_at_a_time(lab: Lab) -> None:
    async with site_of(lab, "cucm-pub", "cucm-sub1") as site:
        phone = await _booted(site, MAC)
        await _rename(site, "cucm-pub", "cucm-pub2")
        phone.routes = site.routes
        await _set(site, MAC, webAccess="1")
        # The publisher's new TVS is unknown; the subscriber's TVS vouches for its new signer.
        report = await _assert_works(phone, lab, "cucm-pub2", "webAccess")
        assert _itl_step(report) == ("accepted", "vouched for by TVS")
        assert [s.outcome for s in report.steps if s.what.startswith("TVS")] == [
            "unusable",
            "answered",
        ]
        lab.later(HOLD)
        await _rename(site, "cucm-sub1", "cucm-sub2")
        phone.routes = site.routes
        await _set(site, MAC, webAccess="1", sshAccess="1")
        # The publisher's CallManager is now in the phone's ITL: the next ITL needs no TVS.
        report = await _assert_works(phone, lab, "cucm-pub2", "sshAccess")
        assert _itl_step(report) == ("accepted", "signer or certificate found in the CTL or ITL")


def test_b4_rename_multi_node_one_at_a_time_works(lab: Lab) -> None:
    run_async(_b4_one_at_a_time(lab))


# -- B5 ---------------------------------------------------------------------------------


async def _b5_restore(lab: Lab, tmp_path: Path) -> None:
    async with site_of(lab) as site:
        await _single_node(site)
        phone = await _booted(site, MAC)
    archive = await asyncio.to_thread(backup.create, lab.ctx, PASSWORD)
    restored = await asyncio.to_thread(_restored, tmp_path / "restored", archive, lab.clock)
    try:
        cm = current(restored.ctx, "cucm-pub", CertName.CALLMANAGER)
        assert cm == current(lab.ctx, "cucm-pub", CertName.CALLMANAGER)
        async with site_of(restored) as site:
            phone.routes = site.routes
            lab.later(60)
            await _set(site, MAC, webAccess="1")
            report = await _assert_works(phone, restored, "cucm-pub", "webAccess")
            # Same CallManager key: everything verifies locally, TVS is not even asked.
            assert report.tvs_queries == 0
            assert phone.state.itl_file is not None
            assert signed_by(phone.state.itl_file.trust_list, cm)
    finally:
        restored.ctx.repo.close()


def test_b5_restore_from_backup_keeps_phones_trusting(
    lab: Lab,
    tmp_path: Path,
) -> None:
    run_async(_b5_restore(lab, tmp_path))


async def _b5_rebuilt(lab: Lab, tmp_path: Path) -> None:
    async with site_of(lab) as site:
        phone = await _booted(site, MAC)
    rebuilt = await asyncio.to_thread(_rebuilt, tmp_path / "rebuilt", lab.clock)
    try:
        await asyncio.to_thread(inventory.add_devices, rebuilt.ctx, [Device(f"SEP{MAC}", "8845")])
        async with site_of(rebuilt, "cucm-pub", "cucm-sub1") as site:
            phone.routes = site.routes
            await _set(site, MAC, webAccess="1")
            assert phone.state.itl_file is not None
            # Another cluster for the phone: no TVS of its ITL, no signer it knows.
            await _assert_locked(phone, phone.state.itl_file.raw, "webAccess")
    finally:
        rebuilt.ctx.repo.close()


def test_b5_rebuilt_without_restore_locks_phones(lab: Lab, tmp_path: Path) -> None:
    run_async(_b5_rebuilt(lab, tmp_path))


async def _b5_lost_key(lab: Lab) -> None:
    """A restore that lacked CallManager.pem: no ITL can be signed until CallManager is regenerated.

    phonetrust refuses to publish rather than serve an ITL that fails verification, so phones
    keep the last good files; regenerating CallManager then reaches them as in B1.
    """
    async with site_of(lab) as site:
        await _single_node(site)
        phone = await _booted(site, MAC)
        before = lab.file("cucm-pub", "ITLFile.tlv")
        cm = current(lab.ctx, "cucm-pub", CertName.CALLMANAGER)
        lab.ctx.keys.delete(cm.public_bytes(Encoding.DER))
        with pytest.raises(KeyMaterialError, match="is missing"):
            await _set(site, MAC, webAccess="1")
        assert lab.file("cucm-pub", "ITLFile.tlv") == before
        report = await phone.boot()
        assert not report.locked
        assert "webAccess" not in phone.settings
        await site.admin("set cert regen CallManager", "yes")
        await _set(site, MAC, webAccess="1")
        report = await _assert_works(phone, lab, "cucm-pub", "webAccess")
        assert _itl_step(report) == ("accepted", "vouched for by TVS")


def test_b5_backup_without_callmanager_key_blocks_until_regenerated(lab: Lab) -> None:
    run_async(_b5_lost_key(lab))

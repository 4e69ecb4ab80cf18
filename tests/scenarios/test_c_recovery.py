"""Scenarios C1-C6: ITL recovery with the publisher's ITLRecovery key, end to end.

Phones boot against the cluster's real services, the administrator runs
``utils itl reset localkey|remotekey`` (remotekey over a real OpenSSH
server), restarts TFTP, regenerates or exports the recovery key, and the
same phones boot again: the tests check whether each accepts the reset ITL,
then the normally signed one, and that the server can tell in advance
which phones a reset will reach.

Phones are put in a CallManager group of the publisher alone where only
the publisher is served, so their configuration names one TVS server.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import Encoding, pkcs12

from phonetrust.errors import LocalError
from phonetrust.formats.tags import Role
from phonetrust.net import tftp_remote
from phonetrust.pki.roles import common_name_of
from phonetrust.policy.domain import CertName, Device
from phonetrust.policy.phone_decisions import HOST_NOT_FOUND, TRUST_LIST_UPDATE_FAILED
from phonetrust.protocols.tftp.packets import PeerError
from phonetrust.service import alerts, backup, inventory, nodes, security
from phonetrust.service.recoverable import RecoveryReach, recovery_reach
from phonetrust.sim.phone import BootReport, Phone
from phonetrust.store.datadir import DataDir
from phonetrust.testing.clock import FakeClock
from phonetrust.testing.sshd import SshServer, running_sshd
from tests.scenarios.conftest import Site, run_async, site_of
from tests.service.conftest import PASSWORD, Lab, install
from tests.service.helpers import current, signed_by, trust_list

MAC_A = "00AA00000001"
MAC_B = "00AA00000002"
MAC_C = "00AA00000003"
HOLD = 301
"""Seconds to wait out the 5-minute certificate hold timer (B3)."""
RECOVERY_CN = "ITLRECOVERY_cucm-pub.lab.example"
BY_LIST = "signer or certificate found in the CTL or ITL"

NOT_COVERED: dict[str, str] = {}


@pytest.fixture(scope="module")
def sshd() -> Iterator[SshServer]:
    with running_sshd() as server:
        yield server


# -- helpers --------------------------------------------------------------------------


async def _single_node(site: Site) -> None:
    """The Default CallManager group holds the publisher alone: phones get one TVS server."""
    await asyncio.to_thread(inventory.put_group, site.lab.ctx, "Default", ["cucm-pub"])
    await site.synced()


async def _booted(site: Site, mac: str, tftp: str = "cucm-pub") -> Phone:
    phone = await site.phone(mac, tftp=tftp)
    report = await phone.boot()
    assert not report.locked, report.summary()
    return phone


def _recovery_der(cluster: Lab) -> bytes:
    return current(cluster.ctx, "cucm-pub", CertName.ITLRECOVERY).public_bytes(Encoding.DER)


def _holds(phone: Phone, der: bytes) -> bool:
    """Whether the ITL the phone holds has a (role-bearing) record for certificate ``der``."""
    itl = phone.state.itl
    return itl is not None and any(
        r.role is not None and r.matches_certificate(der) for r in itl.records
    )


def _itl_step(report: BootReport) -> tuple[str, str]:
    steps = [s for s in report.steps if s.what.startswith("ITL")]
    assert steps, report.steps
    return steps[-1].outcome, steps[-1].detail


async def _works(phone: Phone, cluster: Lab, node: str = "cucm-pub") -> BootReport:
    """Not locked, holds the node's ITL, applied its configuration, opens the secure URL."""
    report = await phone.boot()
    assert not report.locked, report.summary()
    assert phone.state.itl_file is not None
    assert phone.state.itl_file.raw == cluster.file(node, "ITLFile.tlv")
    assert report.config_applied
    url = await phone.open_url(phone.service_url("directory"))
    assert url.ok, url
    return report


async def _locked(phone: Phone) -> None:
    held = None if phone.state.itl_file is None else phone.state.itl_file.raw
    report = await phone.boot()
    assert report.locked
    assert TRUST_LIST_UPDATE_FAILED in report.status
    assert phone.state.itl_file is not None
    assert phone.state.itl_file.raw == held
    assert not report.config_applied
    url = await phone.open_url(phone.service_url("directory"))
    assert not url.ok
    assert url.display == HOST_NOT_FOUND


def _rebuilt(root: Path, clock: FakeClock) -> Lab:
    """The lab cluster installed again without a restore: same names and password, new keys."""
    ctx = install(root, clock)
    return Lab(DataDir.locate(root), ctx, clock)


def _export(cluster: Lab, sshd: SshServer) -> str:
    return cluster.admin(
        "file get tftp ITLRecovery.p12",
        "y",
        *sshd.file_get_answers(),
        "yes",
    )


async def _reach(cluster: Lab, want: dict[str, str | None]) -> dict[str, RecoveryReach]:
    """The server's listing, once the TFTP download log holds the ITL hash each phone got."""
    rows: dict[str, RecoveryReach] = {}
    async with asyncio.timeout(10):
        while True:
            rows = {r.device: r for r in await asyncio.to_thread(recovery_reach, cluster.ctx)}
            if all(rows[name].itl_sha1 == sha1 for name, sha1 in want.items()):
                return rows
            await asyncio.sleep(0.1)


def _sha1(phone: Phone) -> str | None:
    return None if phone.state.itl_file is None else phone.state.itl_file.sha1


# -- C1 ---------------------------------------------------------------------------------


async def _c1(lab: Lab) -> None:
    async with site_of(lab, "cucm-pub", "cucm-sub1") as site:
        on_pub = await _booted(site, MAC_A)
        on_sub = await _booted(site, MAC_B, tftp="cucm-sub1")
        recovery = _recovery_der(lab)
        # Every ITL of the cluster carries the publisher's ITLRecovery as a SAST record.
        for phone in (on_pub, on_sub):
            assert phone.state.itl is not None
            sast = [r for r in phone.state.itl.records if r.matches_certificate(recovery)]
            assert [r.role for r in sast] == [Role.SAST]
            assert RECOVERY_CN in (sast[0].subject or "")
        assert "This etoken was not used to sign the ITL file." in lab.admin("show itl")

        out = await site.admin("utils itl reset localkey", PASSWORD)
        assert "The reset ITL file was generated successfully" in out
        reset = lab.file("cucm-pub", "ITLFile.tlv")
        assert reset == lab.file("cucm-sub1", "ITLFile.tlv")
        assert signed_by(trust_list(reset), current(lab.ctx, "cucm-pub", CertName.ITLRECOVERY))
        report = await _works(on_pub, lab)
        # Accepted on the phone's own ITL: the reset signer is its ITLRecovery record.
        assert _itl_step(report) == ("accepted", BY_LIST)
        assert report.tvs_queries == 0
        # The subscriber serves the same reset ITL, and its phones take it just the same.
        # (Its configuration stays signed by the subscriber's CallManager, which the
        # publisher's ITL content does not name: not asserted here.)
        report = await on_sub.boot()
        assert _itl_step(report) == ("accepted", BY_LIST)
        assert on_sub.state.itl_file is not None
        assert on_sub.state.itl_file.raw == reset

        # After the next TFTP restart each node's ITL is signed by its CallManager again,
        # and the phones take it.
        await site.admin("utils service restart Cisco Tftp")
        for phone, node in ((on_pub, "cucm-pub"), (on_sub, "cucm-sub1")):
            itl = trust_list(lab.file(node, "ITLFile.tlv"))
            assert signed_by(itl, current(lab.ctx, node, CertName.CALLMANAGER))
            report = await _works(phone, lab, node)
            assert _itl_step(report)[0] == "accepted"
        # The publisher's CallManager was in the reset ITL: no TVS needed for its ITL.
        report = await on_pub.boot()
        assert report.tvs_queries == 0


def test_c1_itl_reset_localkey_then_tftp_restart(lab: Lab) -> None:
    run_async(_c1(lab))


# -- C2 ---------------------------------------------------------------------------------


async def _c2(lab: Lab, sshd: SshServer, tmp_path: Path) -> None:
    """A publisher rebuilt without backup, saved by the ITLRecovery.p12 exported before."""
    async with site_of(lab) as site:
        await _single_node(site)
        phone = await _booted(site, MAC_A)
    assert "Transfer completed." in await asyncio.to_thread(_export, lab, sshd)
    original = current(lab.ctx, "cucm-pub", CertName.ITLRECOVERY)
    exported = sshd.root / "ITLRecovery.p12"
    assert exported.is_file()

    rebuilt = await asyncio.to_thread(_rebuilt, tmp_path / "rebuilt", lab.clock)
    try:
        async with site_of(rebuilt) as site:
            await _single_node(site)
            await asyncio.to_thread(
                inventory.add_devices, rebuilt.ctx, [Device(f"SEP{MAC_A}", "8845")]
            )
            await site.synced()
            phone.routes = site.routes
            await _locked(phone)
            # The rebuilt publisher's own recovery key is not in the phone's ITL.
            await site.admin("utils itl reset localkey", PASSWORD)
            await _locked(phone)
            server = f"{sshd.host}:{sshd.port}"
            out = await site.admin(
                f"utils itl reset remotekey {server} {sshd.user} {exported}",
                sshd.password,
                "yes",
                PASSWORD,
            )
            assert "The reset ITL file was generated successfully" in out
            # The .p12's key replaced the local recovery key.
            assert current(rebuilt.ctx, "cucm-pub", CertName.ITLRECOVERY) == original
            report = await _works(phone, rebuilt)
            assert _itl_step(report) == ("accepted", BY_LIST)
            # Trust restored for good: the CallManager-signed ITL after the TFTP restart.
            await site.admin("utils service restart Cisco Tftp")
            report = await _works(phone, rebuilt)
            assert _itl_step(report) == ("accepted", BY_LIST)
            assert report.tvs_queries == 0
            assert _holds(phone, original.public_bytes(Encoding.DER))
    finally:
        rebuilt.ctx.repo.close()


def test_c2_itl_reset_remotekey_over_sftp(
    lab: Lab,
    sshd: SshServer,
    tmp_path: Path,
) -> None:
    run_async(_c2(lab, sshd, tmp_path))


# -- C3 ---------------------------------------------------------------------------------


async def _c3(lab: Lab) -> None:
    # A key file dropped into the TFTP directory next to an ordinary one.
    tftp_dir = lab.where.root / "tftp"
    tftp_dir.mkdir(exist_ok=True)
    (tftp_dir / "RingList.xml").write_text("<CiscoIPPhoneRingList/>")
    p12 = await asyncio.to_thread(_p12_of, lab)
    (tftp_dir / "ITLRecovery.p12").write_bytes(p12)
    async with site_of(lab, "cucm-pub", "cucm-sub1") as site:
        phone = await _booted(site, MAC_A, tftp="cucm-sub1")
        served = lab.file("cucm-sub1", "ITLFile.tlv")
        with pytest.raises(LocalError) as refused:
            await site.admin("utils itl reset localkey", PASSWORD, node="cucm-sub1")
        assert "publisher" in str(refused.value)
        with pytest.raises(LocalError, match=r"ITLRecovery\.p12: file not found"):
            await site.admin("file get tftp ITLRecovery.p12", "y", node="cucm-sub1")
        # Nothing changed for the phones of the subscriber.
        assert lab.file("cucm-sub1", "ITLFile.tlv") == served
        report = await phone.boot()
        assert not report.locked
        assert _itl_step(report) == (
            "accepted",
            "same file as the one installed",
        )
        # No TFTP server ever hands out the recovery key, whatever a phone asks.
        for node in ("cucm-pub", "cucm-sub1"):
            where = site.routes.resolve(node, 69)
            ring, _ = await tftp_remote.fetch(where, "RingList.xml", timeout=5, rto=0.3)
            assert ring == b"<CiscoIPPhoneRingList/>"
            for name in ("ITLRecovery.p12", "itlrecovery.P12", "../keys/ITLRecovery.p12"):
                with pytest.raises(PeerError):
                    await tftp_remote.fetch(where, name, timeout=5, rto=0.3)


def _p12_of(cluster: Lab) -> bytes:
    return security.export_recovery(cluster.ctx, "cucm-pub")


def test_c3_reset_and_p12_are_publisher_only(lab: Lab) -> None:
    run_async(_c3(lab))


# -- C4 ---------------------------------------------------------------------------------


async def _c4(lab: Lab) -> None:
    async with site_of(lab) as site:
        await _single_node(site)
        phone = await _booted(site, MAC_A)
        before = current(lab.ctx, "cucm-pub", CertName.ITLRECOVERY)
        # A domain change regenerates every certificate of the node but ITLRecovery (B4)...
        await site.stop("cucm-pub")
        await asyncio.to_thread(nodes.rename_node, lab.ctx, "cucm-pub", "cucm-pub", "new.example")
        await site.start("cucm-pub")
        phone.routes = site.routes
        assert current(lab.ctx, "cucm-pub", CertName.ITLRECOVERY) == before
        assert common_name_of(before) == RECOVERY_CN
        await _locked(phone)
        # ...so the recovery key the phone holds still resets it.
        await site.admin("utils itl reset localkey", PASSWORD)
        assert _itl_step(await _works(phone, lab)) == ("accepted", BY_LIST)
        await site.admin("utils service restart Cisco Tftp")
        await _works(phone, lab)

        # Regenerating ITLRecovery resets no phone and changes no ITL until TFTP restarts.
        lab.later(HOLD)
        served = lab.file("cucm-pub", "ITLFile.tlv")
        await site.admin("set cert regen ITLRecovery", "yes")
        after = current(lab.ctx, "cucm-pub", CertName.ITLRECOVERY)
        assert after.serial_number != before.serial_number
        assert common_name_of(after) == RECOVERY_CN  # the original host name and domain
        assert (after.not_valid_after_utc - after.not_valid_before_utc).days >= 5 * 365
        assert lab.file("cucm-pub", "ITLFile.tlv") == served
        report = await _works(phone, lab)
        assert _itl_step(report) == ("accepted", "same file as the one installed")
        await site.admin("utils service restart Cisco Tftp")
        new_der = after.public_bytes(Encoding.DER)
        assert any(
            r.matches_certificate(new_der)
            for r in trust_list(lab.file("cucm-pub", "ITLFile.tlv")).records
        )
        report = await _works(phone, lab)
        assert _itl_step(report) == ("accepted", BY_LIST)
        assert report.tvs_queries == 0
        assert _holds(phone, new_der)
        assert not _holds(phone, before.public_bytes(Encoding.DER))


def test_c4_recovery_certificate_survives_renames_and_regeneration(lab: Lab) -> None:
    run_async(_c4(lab))


# -- C5 ---------------------------------------------------------------------------------


def _open_alerts(cluster: Lab) -> list[str]:
    with cluster.ctx.repo.unit_of_work() as uow:
        return [a.kind for a in alerts.check_daily(uow, cluster.ctx.now())]


async def _c5(lab: Lab, sshd: SshServer) -> None:
    async with site_of(lab) as site:
        await _single_node(site)
        phone = await _booted(site, MAC_A)
        assert _open_alerts(lab) == [alerts.RECOVERY_BACKUP]
        with lab.ctx.repo.unit_of_work() as uow:
            first = uow.list_alerts()[0].raised_at
        lab.later(timedelta(days=1, minutes=1).total_seconds())
        assert _open_alerts(lab) == [alerts.RECOVERY_BACKUP]
        with lab.ctx.repo.unit_of_work() as uow:
            assert uow.list_alerts()[0].raised_at > first  # raised again the next day
        # A full backup holds the key but does not clear the alert.
        await asyncio.to_thread(backup.create, lab.ctx, PASSWORD)
        assert _open_alerts(lab) == [alerts.RECOVERY_BACKUP]
        # The export to SFTP does.
        assert "Transfer completed." in await asyncio.to_thread(_export, lab, sshd)
        exported = (sshd.root / "ITLRecovery.p12").read_bytes()
        assert _open_alerts(lab) == []
        lab.later(3 * 86400)
        assert _open_alerts(lab) == []
        # A new security password protects future exports: the saved .p12 no longer fits.
        await site.admin(
            "set password user security", PASSWORD, "Another-Password-9", "Another-Password-9"
        )
        assert _open_alerts(lab) == [alerts.RECOVERY_BACKUP]
        with pytest.raises(ValueError, match=r"(?i)password|decrypt|mac"):
            pkcs12.load_key_and_certificates(exported, lab.ctx.keys.p12_password())
        # The phones notice nothing: same keys, re-sealed.
        report = await phone.boot()
        assert not report.locked
        assert _itl_step(report) == ("accepted", "same file as the one installed")


def test_c5_recovery_backup_alert(lab: Lab, sshd: SshServer) -> None:
    run_async(_c5(lab, sshd))


# -- C6 ---------------------------------------------------------------------------------


async def _c6(lab: Lab) -> None:
    async with site_of(lab) as site:
        await _single_node(site)
        a = await _booted(site, MAC_A)
        b = await _booted(site, MAC_B)
        await site.phone(MAC_C)  # registered, never booted
        rows = await _reach(lab, {f"SEP{MAC_A}": _sha1(a), f"SEP{MAC_B}": _sha1(b)})
        recovery = _recovery_der(lab)
        assert rows[f"SEP{MAC_A}"].holds_recovery is True
        assert rows[f"SEP{MAC_B}"].holds_recovery is True
        assert rows[f"SEP{MAC_C}"] == RecoveryReach(f"SEP{MAC_C}")

        # A new recovery key reaches the ITL at the TFTP restart; only phone A reboots.
        lab.later(HOLD)
        await site.admin("set cert regen ITLRecovery", "yes")
        await site.admin("utils service restart Cisco Tftp")
        assert (await a.boot()).config_applied
        recovery = _recovery_der(lab)
        rows = await _reach(lab, {f"SEP{MAC_A}": _sha1(a), f"SEP{MAC_B}": _sha1(b)})
        for phone in (a, b):
            assert rows[phone.name].holds_recovery is _holds(phone, recovery)
            assert rows[phone.name].node == "cucm-pub"
        assert rows[a.name].holds_recovery is True
        assert rows[b.name].holds_recovery is False
        assert rows[f"SEP{MAC_C}"].holds_recovery is None

        # The listing is what a reset then does: both phones locked, only A recovers.
        lab.later(HOLD)
        await site.admin("set cert regen CallManager", "yes")
        lab.later(HOLD)
        await site.admin("set cert regen TVS", "yes")
        await site.admin("utils itl reset localkey", PASSWORD)
        await _works(a, lab)
        await _locked(b)


def test_c6_server_lists_phones_whose_itl_holds_the_recovery_record(lab: Lab) -> None:
    run_async(_c6(lab))

"""Scenarios A1-A8: a phone's boot and verification with Security By Default, end to end.

Each test runs the cluster's real services on loopback, boots simulated
phones against them, changes the cluster the way an administrator does, and
reboots the phones to see what they accept. Where a scenario is about a file
the cluster would never serve (a tampered list, a configuration signed by a
stranger), a rogue TFTP server on loopback serves the cluster's own files
with that one file replaced: the attacker of the scenario, on real sockets.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.hazmat.primitives.serialization import Encoding

from phonetrust.errors import KeyMaterialError, LocalError
from phonetrust.formats import cnfxml_read
from phonetrust.formats.sgn import SignedFile, sign_file
from phonetrust.formats.signing import Signer
from phonetrust.formats.trustlist import TrustList
from phonetrust.net import tftp_remote
from phonetrust.net.tftp import TftpServer
from phonetrust.net.tls import server_context
from phonetrust.policy import params as P
from phonetrust.policy.domain import (
    CallManagerGroup,
    CapfAuthMode,
    CapfOperation,
    CertName,
    Device,
    TrustStore,
)
from phonetrust.protocols.tftp.packets import ErrorCode, PeerError
from phonetrust.service import inventory, truststores
from phonetrust.service.identity import own_identity
from phonetrust.service.tftpfiles import Stored, load_source
from phonetrust.sim.network import Endpoint
from phonetrust.sim.phone import BootReport, Phone
from phonetrust.sim.storage import DeviceIdentity, DeviceKeys
from phonetrust.testing.pki import make_identity, plain_name
from tests.scenarios.conftest import Site, run_async, site_of
from tests.service.conftest import PASSWORD, Lab

MAC = "001122334455"
ENCRYPTED_PROFILE = "Encrypted Phone Profile with TFTP Encryption"
TOFU = "trusted on first use"
BY_LIST = "signer or certificate found in the CTL or ITL"
BY_TVS = "vouched for by TVS"
HOLD = 301
"""Seconds past the five-minute hold timer between two regenerations on one node (B3)."""

NOT_COVERED: dict[str, str] = {}


# -- helpers -----------------------------------------------------------------------------------


def _step(report: BootReport, name: str) -> tuple[str, str]:
    """The outcome and detail of the last step about ``name`` in this boot."""
    found = [s for s in report.steps if s.what == name]
    assert found, f"{name} not dealt with: {report.steps}"
    return found[-1].outcome, found[-1].detail


async def _admin(site: Site, line: str, *answers: str, node: str = "cucm-pub") -> None:
    """A regeneration or other change, then past the hold timer so the next one may follow."""
    await site.admin(line, *answers, node=node)
    site.lab.later(HOLD)


async def _set_param(site: Site, name: str, value: str) -> None:
    await asyncio.to_thread(inventory.set_param, site.lab.ctx, name, value)
    await site.synced()


async def _update(site: Site, name: str, **changes: object) -> None:
    await asyncio.to_thread(inventory.update_device, site.lab.ctx, name, **changes)
    await site.synced()


@asynccontextmanager
async def _rogue_tftp(
    cluster: Lab, node: str, files: Mapping[str, bytes]
) -> AsyncIterator[Endpoint]:
    """A TFTP server serving ``node``'s files with ``files`` put in their place (an attacker)."""
    source = await asyncio.to_thread(load_source, cluster.ctx, node)
    plan = dict(source.plan)
    for name, data in files.items():
        assert name in plan, f"{name} is not a file {node} serves"
        plan[name] = Stored.of(data)
    server = await TftpServer.start(
        dataclasses.replace(source, plan=plan), host="127.0.0.1", port=0
    )
    try:
        yield ("127.0.0.1", server.port)
    finally:
        await server.stop()


@asynccontextmanager
async def _intercepted(phone: Phone, rogue: Endpoint) -> AsyncIterator[None]:
    """The phone's TFTP traffic reaches ``rogue`` instead of its server, for a while."""
    honest = phone.routes
    phone.routes = honest.with_route(phone.tftp[0], phone.tftp[1], rogue)
    try:
        yield
    finally:
        phone.routes = honest


def _corrupt_signature(data: bytes) -> bytes:
    """The same trust list with one bit of its signature flipped (the signature ends the header)."""
    header_size = TrustList.from_wire(data).header.size
    flipped = bytearray(data)
    flipped[header_size - 8] ^= 0x01
    return bytes(flipped)


# -- A1 ----------------------------------------------------------------------------------------


async def _a1(lab: Lab) -> None:
    async with site_of(lab) as site:
        phone = await site.phone(MAC)
        report = await phone.boot()
        # Per-device CTL first; a non-secure cluster has none, so CTLFile.tlv, then the ITL.
        assert report.requested == [
            f"CTLSEP{MAC}.tlv",
            "CTLFile.tlv",
            f"ITLSEP{MAC}.tlv",
            f"SEP{MAC}.cnf.xml.sgn",
        ]
        assert report.status == ["File Not Found <CTLFile.tlv>", "ITL installed"]
        assert report.config_applied
        assert not report.locked
        # With a list in force, a reset phone asks for the signed file, never the unsigned one.
        again = await phone.boot()
        assert f"SEP{MAC}.cnf.xml" not in again.requested
        assert again.requested[-1] == f"SEP{MAC}.cnf.xml.sgn"


def test_a1_boot_order(lab: Lab) -> None:
    run_async(_a1(lab))


async def _a1_fallback(lab: Lab) -> None:
    """A phone the cluster does not know has no per-device files: it takes the cluster's."""
    async with site_of(lab) as site:
        phone = await site.phone(MAC, register=False)
        report = await phone.boot()
        assert report.requested[:4] == [
            f"CTLSEP{MAC}.tlv",
            "CTLFile.tlv",
            f"ITLSEP{MAC}.tlv",
            "ITLFile.tlv",
        ]
        assert _step(report, "ITLFile.tlv") == ("accepted", TOFU)
        assert phone.state.itl_file is not None
        assert phone.state.itl_file.raw == lab.file("cucm-pub", "ITLFile.tlv")
        assert f"SEP{MAC}.cnf.xml" not in report.requested  # a list is in force: signed only


def test_a1_missing_per_device_files_fall_back_to_cluster_files(lab: Lab) -> None:
    run_async(_a1_fallback(lab))


async def _a1_encrypted(lab: Lab) -> None:
    """With TFTP Encrypted Config the signed stub comes first, then the .enc.sgn; never plain."""
    own = make_identity(plain_name(f"CP-8845-SEP{MAC}"), slot=21)
    async with site_of(lab) as site:
        await asyncio.to_thread(
            inventory.add_devices,
            lab.ctx,
            [
                Device(
                    f"SEP{MAC}",
                    "8845",
                    profile=ENCRYPTED_PROFILE,
                    lsc=own.certificate.public_bytes(Encoding.DER),
                    settings={"webAccess": "1"},
                )
            ],
        )
        await site.synced()
        keys = DeviceKeys(lsc=DeviceIdentity(own.certificate, own.key))
        phone = await site.phone(MAC, register=False, keys=keys)
        for _ in range(2):  # first boot, then a reset with the ITL in force
            report = await phone.boot()
            assert report.requested == [
                f"CTLSEP{MAC}.tlv",
                "CTLFile.tlv",
                f"ITLSEP{MAC}.tlv",
                f"SEP{MAC}.cnf.xml.sgn",
                f"SEP{MAC}.cnf.xml.enc.sgn",
            ]
            assert report.config_applied, report.summary()
            assert phone.settings["webAccess"] == "1"


def test_a1_encrypted_profile_fetches_enc_sgn_after_the_signed_stub(lab: Lab) -> None:
    run_async(_a1_encrypted(lab))


# -- A2 ----------------------------------------------------------------------------------------


async def _a2(lab: Lab) -> None:
    async with site_of(lab) as site:
        phone = await site.phone(MAC)
        first = await phone.boot()
        assert _step(first, f"ITLSEP{MAC}.tlv") == ("accepted", TOFU)
        assert first.tvs_queries == 0
        assert "ITL installed" in first.status
        tofu_itl = lab.file("cucm-pub", "ITLFile.tlv")
        assert phone.state.itl_file is not None
        assert phone.state.itl_file.raw == tofu_itl
        # From then on the ITL's signers decide: a list signed by a new CallManager key,
        # while the TVS the ITL names has a new key too, is refused - no second TOFU.
        await _admin(site, "set cert regen CallManager", "yes")
        await _admin(site, "set cert regen TVS", "yes")
        again = await phone.boot()
        assert again.list_failed is not None
        assert "Trust List Update Failed" in again.status
        assert phone.state.itl_file.raw == tofu_itl
        # A phone fresh from the box, on the same cluster, takes the same list on first use.
        fresh = await site.phone("0011223344AA")
        report = await fresh.boot()
        assert _step(report, "ITLSEP0011223344AA.tlv") == ("accepted", TOFU)
        assert fresh.state.itl_file is not None
        assert fresh.state.itl_file.raw == lab.file("cucm-pub", "ITLFile.tlv") != tofu_itl
        assert report.config_applied
        assert not report.locked


def test_a2_no_lists_trust_the_first_list_then_its_signers(lab: Lab) -> None:
    run_async(_a2(lab))


async def _a2_rollback(lab: Lab) -> None:
    async with site_of(lab) as site:
        held = await site.phone(MAC)  # holds the rollback ITL later
        kept = await site.phone("0011223344BB")  # keeps the normal ITL throughout
        for phone in (held, kept):
            assert not (await phone.boot()).locked
        await _set_param(site, P.ROLLBACK, "True")
        rolled = await held.boot()
        assert "Trust List Updated" in rolled.status
        assert held.state.itl_file is not None
        assert held.state.itl_file.rollback
        fresh = await site.phone("0011223344AA")  # first list ever: the rollback ITL
        assert _step(await fresh.boot(), "ITLSEP0011223344AA.tlv") == ("accepted", TOFU)
        assert fresh.state.itl_file is not None
        assert fresh.state.itl_file.rollback
        # New keys everywhere, then back to a normal ITL: what the empty ITL's holders
        # download next they trust blindly; the holder of a real ITL cannot follow.
        await _admin(site, "set cert regen CallManager", "yes")
        await _admin(site, "set cert regen TVS", "yes")
        await _set_param(site, P.ROLLBACK, "False")
        new_itl = lab.file("cucm-pub", "ITLFile.tlv")
        for phone in (held, fresh):
            report = await phone.boot()
            assert _step(report, f"ITLSEP{phone.mac}.tlv") == ("accepted", TOFU), report.steps
            assert report.tvs_queries == 0
            assert "Trust List Updated" in report.status
            assert phone.state.itl_file is not None
            assert phone.state.itl_file.raw == new_itl
            assert not phone.state.itl_file.rollback
            assert report.config_applied
        before = kept.state.itl_file
        refused = await kept.boot()
        assert "Trust List Update Failed" in refused.status
        assert refused.locked
        assert kept.state.itl_file == before


def test_a2_empty_rollback_itl_trusts_the_next_list_blindly(lab: Lab) -> None:
    run_async(_a2_rollback(lab))


# -- A3 ----------------------------------------------------------------------------------------


async def _a3(lab: Lab) -> None:
    async with site_of(lab) as site:
        await site.admin("utils ctl set-cluster mixed-mode", "y")
        phone = await site.phone(MAC)
        first = await phone.boot()
        assert _step(first, f"CTLSEP{MAC}.tlv") == ("accepted", TOFU)
        # With a CTL in force the ITL is no longer taken on first use: its signer is checked.
        assert _step(first, f"ITLSEP{MAC}.tlv") == ("accepted", BY_LIST)
        assert "CTL and ITL installed" in first.status
        # A phone holding a CTL and no ITL (its ITL erased).
        phone.state = dataclasses.replace(phone.state, itl_file=None)
        report = await phone.boot()
        assert _step(report, f"ITLSEP{MAC}.tlv") == ("accepted", BY_LIST)
        assert report.tvs_queries == 0
        assert phone.state.itl_file is not None
        assert phone.state.itl_file.raw == lab.file("cucm-pub", "ITLFile.tlv")
        # An ITL signed by ITLRecovery - in the CTL, but not as CCM+TFTP - is refused by such
        # a phone, and it cannot ask TVS (only an ITL names TVS).
        both = await site.phone("0011223344AA")  # holds both lists when the reset comes
        assert not (await both.boot()).locked
        await site.admin("utils itl reset localkey", PASSWORD)
        reset_itl = lab.file("cucm-pub", "ITLFile.tlv")
        phone.state = dataclasses.replace(phone.state, itl_file=None)
        refused = await phone.boot()
        assert _step(refused, f"ITLSEP{MAC}.tlv")[0] == "rejected"
        assert "Trust List Update Failed" in refused.status
        assert refused.tvs_queries == 0
        assert phone.state.itl_file is None
        assert phone.state.ctl_file is not None
        # A phone fresh from the box takes the CTL on first use, then is in the same position.
        fresh = await site.phone("0011223344BB")
        fresh_report = await fresh.boot()
        assert _step(fresh_report, "CTLSEP0011223344BB.tlv") == ("accepted", TOFU)
        assert _step(fresh_report, "ITLSEP0011223344BB.tlv")[0] == "rejected"
        assert fresh.state.itl_file is None
        # The phone holding both lists takes the reset ITL: ITLRecovery is a signer of its ITL.
        both_report = await both.boot()
        assert _step(both_report, "ITLSEP0011223344AA.tlv") == ("accepted", BY_LIST)
        assert both.state.itl_file is not None
        assert both.state.itl_file.raw == reset_itl
        assert not both_report.locked


def test_a3_ctl_without_itl_takes_only_an_itl_signed_by_its_ccm_tftp(lab: Lab) -> None:
    run_async(_a3(lab))


# -- A4 ----------------------------------------------------------------------------------------


async def _a4(lab: Lab) -> None:
    async with site_of(lab) as site:
        await site.admin("utils ctl set-cluster mixed-mode", "y")
        phone = await site.phone(MAC)
        await phone.boot()
        assert phone.state.ctl_file is not None
        assert phone.state.itl_file is not None
        ctl = phone.state.ctl_file.raw
        # A new ITL signed by a signer of the lists (CallManager) is taken without TVS.
        await _admin(site, "set cert regen TVS", "yes")
        report = await phone.boot()
        assert _step(report, f"ITLSEP{MAC}.tlv") == ("accepted", BY_LIST)
        assert "Trust List Updated" in report.status
        assert report.tvs_queries == 0
        assert phone.state.itl_file.raw == lab.file("cucm-pub", "ITLFile.tlv")
        # A new ITL signed by a new CallManager key, in neither list: TVS vouches for it.
        await _admin(site, "set cert regen CallManager", "yes")
        report = await phone.boot()
        assert _step(report, f"ITLSEP{MAC}.tlv") == ("accepted", BY_TVS)
        assert "Trust List Updated" in report.status
        assert report.tvs_queries >= 1
        vouched = lab.file("cucm-pub", "ITLFile.tlv")
        assert phone.state.itl_file.raw == vouched
        assert phone.state.ctl_file.raw == ctl  # D6: the CTL waits for utils ctl update
        assert report.config_applied
        # A list whose signature does not hold (changed on the way): verification fails.
        assert vouched is not None
        async with (
            _rogue_tftp(lab, "cucm-pub", {"ITLFile.tlv": _corrupt_signature(vouched)}) as rogue,
            _intercepted(phone, rogue),
        ):
            tampered = await phone.boot()
        assert _step(tampered, f"ITLSEP{MAC}.tlv") == ("rejected", "the signature does not hold")
        assert "Trust List Verification Failed" in tampered.status
        assert tampered.list_failed is not None
        assert phone.state.itl_file.raw == vouched
        # Signer unknown and TVS unusable (its key changed too): the update fails, old lists stay.
        await _admin(site, "set cert regen CallManager", "yes")
        await _admin(site, "set cert regen TVS", "yes")
        failed = await phone.boot()
        assert _step(failed, f"ITLSEP{MAC}.tlv")[0] == "rejected"
        assert "Trust List Update Failed" in failed.status
        assert failed.locked
        assert phone.state.itl_file.raw == vouched
        assert phone.state.ctl_file.raw == ctl
        assert "TVS cert verification failed" in phone.log.console_text()


def test_a4_new_lists_need_a_listed_or_tvs_vouched_signer(lab: Lab) -> None:
    run_async(_a4(lab))


# -- A5 ----------------------------------------------------------------------------------------


def _signed_by(key_cert: tuple[object, object], plain: bytes, name: str, now: float) -> bytes:
    cert, key = key_cert
    signer = Signer.from_private_key(cert, key)  # type: ignore[arg-type]
    return sign_file(plain, signer, filename=name, timestamp=int(now)).to_wire()


async def _a5(lab: Lab) -> None:
    name = f"SEP{MAC}"
    async with site_of(lab) as site:
        phone = await site.phone(MAC)
        await _update(site, name, settings={"webAccess": "0", "sshAccess": "0"})
        assert (await phone.boot()).config_applied
        assert phone.settings["webAccess"] == "0"
        # The administrator's changes reach the phone through a configuration it verifies.
        await _update(site, name, settings={"webAccess": "1", "spanToPCPort": "1"})
        assert (await phone.boot()).config_applied
        assert phone.settings["webAccess"] == "1"
        assert phone.settings["spanToPCPort"] == "1"
        genuine = lab.file("cucm-pub", f"{name}.cnf.xml")
        assert genuine is not None
        forged = genuine.replace(b"<sshAccess>0</sshAccess>", b"<sshAccess>1</sshAccess>")
        assert forged != genuine
        sgn = f"{name}.cnf.xml.sgn"
        now = lab.clock.now()
        stranger = make_identity(plain_name("CallManager"), slot=22)
        recovery = await asyncio.to_thread(own_identity, lab.ctx, "cucm-pub", CertName.ITLRECOVERY)
        # Signed by an unknown key; signed by a key of the ITL that is not a TFTP record
        # (ITLRecovery, SAST: it signs lists, and TVS vouches for it as that only): neither
        # configuration is applied.
        for signer, asks_tvs in (((stranger.certificate, stranger.key), False), (recovery, True)):
            files = {sgn: _signed_by(signer, forged, sgn, now)}
            async with _rogue_tftp(lab, "cucm-pub", files) as rogue, _intercepted(phone, rogue):
                report = await phone.boot()
            assert not report.config_applied
            assert report.config_failed is not None
            assert f"invalid file {sgn}, authenticated fail." in report.status
            assert phone.settings["sshAccess"] == "0"
            assert (report.tvs_queries >= 1) is asks_tvs
        # The cluster's keys change behind the phone's back: what the database now says
        # (web access, SSH, settings access, span to PC) does not reach it.
        await _admin(site, "set cert regen CallManager", "yes")
        await _admin(site, "set cert regen TVS", "yes")
        await _update(
            site,
            name,
            settings={
                "webAccess": "0",
                "sshAccess": "1",
                "settingsAccess": "0",
                "spanToPCPort": "0",
            },
        )
        locked = await phone.boot()
        assert locked.locked
        assert not locked.config_applied
        assert f"invalid file {sgn}, authenticated fail." in locked.status
        assert phone.settings["webAccess"] == "1"
        assert phone.settings["sshAccess"] == "0"
        assert phone.settings["spanToPCPort"] == "1"
        assert "settingsAccess" not in phone.settings


def test_a5_config_signed_by_an_unknown_key_is_not_applied(lab: Lab) -> None:
    run_async(_a5(lab))


# -- A6 ----------------------------------------------------------------------------------------

SECRET = "a6-very-private-value"  # noqa: S105 - a setting to look for on the wire


async def _schedule_install(site: Site, name: str, key: str) -> None:
    """An LSC install by null string, as the administrator schedules it on the device page."""
    await asyncio.to_thread(
        inventory.schedule_capf,
        site.lab.ctx,
        name,
        operation=CapfOperation.INSTALL,
        auth_mode=CapfAuthMode.NULL_STRING,
        key=key,
    )
    await site.synced()


async def _a6(lab: Lab) -> None:
    name = f"SEP{MAC}"
    async with site_of(lab) as site:
        phone = await site.phone(MAC)
        await _schedule_install(site, name, "RSA-2048")
        enrolment = await phone.boot()
        assert enrolment.enrolled, enrolment.steps
        assert phone.keys.lsc is not None
        await _update(
            site, name, profile=ENCRYPTED_PROFILE, settings={"sshUserId": SECRET, "webAccess": "1"}
        )
        report = await phone.boot()
        assert report.requested[-2:] == [f"{name}.cnf.xml.sgn", f"{name}.cnf.xml.enc.sgn"]
        assert report.config_applied, report.summary()
        assert phone.settings["sshUserId"] == SECRET
        assert phone.config is not None
        assert phone.config.full_config
        # What a network observer sees: no plaintext in the encrypted file nor the stub,
        # and the unsigned configuration is not served at all.
        where = site.routes.resolve("10.0.0.10", 69)
        wire, _ = await tftp_remote.fetch(where, f"{name}.cnf.xml.enc.sgn", timeout=5.0)
        stub, _ = await tftp_remote.fetch(where, f"{name}.cnf.xml.sgn", timeout=5.0)
        for seen in (wire, stub):
            assert SECRET.encode() not in seen
            assert b"sshUserId" not in seen
        assert not cnfxml_read.read(SignedFile.from_wire(stub).content).full_config
        with pytest.raises(PeerError) as missing:
            await tftp_remote.fetch(where, f"{name}.cnf.xml", timeout=5.0)
        assert missing.value.code == ErrorCode.FILE_NOT_FOUND
        # The same phone's lists with another key (the file is not wrapped for it): unreadable.
        other = make_identity(plain_name(f"CP-8845-{name}"), slot=23)
        impostor = await site.phone(
            MAC, register=False, keys=DeviceKeys(lsc=DeviceIdentity(other.certificate, other.key))
        )
        impostor.state = dataclasses.replace(phone.state)
        refused = await impostor.boot()
        assert not refused.config_applied
        assert refused.config_failed is not None
        assert f"invalid file {name}.cnf.xml.enc.sgn, decryption fail." in refused.status
        assert impostor.config is None or SECRET not in impostor.settings.values()


def test_a6_encrypted_config_opens_with_the_phones_own_lsc(lab: Lab) -> None:
    run_async(_a6(lab))


async def _a6_ec(lab: Lab) -> None:
    """The key is wrapped with RSA (formats.md): an EC LSC cannot receive encrypted config.

    The administrator is told when moving such a device to an encrypting profile, and the
    phone keeps taking its signed configuration.
    """
    name = f"SEP{MAC}"
    async with site_of(lab) as site:
        phone = await site.phone(MAC)
        await _schedule_install(site, name, "EC-P256")
        assert (await phone.boot()).enrolled
        with pytest.raises(KeyMaterialError, match="RSA"):
            await _update(site, name, profile=ENCRYPTED_PROFILE)
        report = await phone.boot()
        assert report.config_applied
        assert f"{name}.cnf.xml.enc.sgn" not in report.requested


def test_a6_encrypted_config_needs_an_rsa_device_key(lab: Lab) -> None:
    run_async(_a6_ec(lab))


async def _a6_mic(lab: Lab) -> None:
    """No LSC: the configuration is wrapped for the phone's MIC, which opens it."""
    name = f"SEP{MAC}"
    mic = make_identity(plain_name(f"CP-8845-{name}"), slot=24)
    async with site_of(lab) as site:
        device = Device(
            name,
            "8845",
            profile=ENCRYPTED_PROFILE,
            mic=mic.certificate.public_bytes(Encoding.DER),
            settings={"sshUserId": SECRET},
        )
        await asyncio.to_thread(inventory.add_devices, lab.ctx, [device])
        await site.synced()
        keys = DeviceKeys(mic=DeviceIdentity(mic.certificate, mic.key))
        phone = await site.phone(MAC, register=False, keys=keys)
        report = await phone.boot()
        assert report.config_applied, report.summary()
        assert phone.settings["sshUserId"] == SECRET


def test_a6_encrypted_config_opens_with_the_mic_when_no_lsc(lab: Lab) -> None:
    run_async(_a6_mic(lab))


# -- A7 ----------------------------------------------------------------------------------------


async def _a7(lab: Lab) -> None:
    async with site_of(lab) as site:
        phone = await site.phone(MAC)
        assert (await phone.boot()).config_applied
        url = phone.service_url("directory")
        assert url == "https://10.0.0.10:8443/ccmcip/xmldirectory.jsp"
        # tomcat is in neither list: the first use asks TVS, whose own certificate the phone
        # checks against the ITL's TVS record.
        first = await phone.open_url(url)
        assert first.ok, first
        assert first.tvs_asked
        assert phone.tvs_queries == 1
        console = phone.log.console_text()
        assert "TVS cert verified with hash from TL" in console
        assert "saveCertToTvsCache" in console
        assert "86400" in console
        # Within the TTL the cached answer serves; TVS is not contacted.
        lab.later(86_000)
        second = await phone.open_url(url)
        assert second.ok
        assert not second.tvs_asked
        assert phone.tvs_queries == 1
        # After the TTL, TVS is asked again.
        lab.later(401)
        third = await phone.open_url(url)
        assert third.ok
        assert third.tvs_asked
        assert phone.tvs_queries == 2
        # A TVS presenting a certificate that is not the ITL's TVS record is not used.
        await _admin(site, "set cert regen TVS", "yes")
        lab.later(86_401)
        refused = await phone.open_url(url)
        assert not refused.ok
        assert refused.display == "Host Not Found"
        assert phone.tvs_queries == 2
        assert "TVS cert verification failed" in phone.log.console_text()
        # The phone's next boot brings the ITL with the new TVS record: the service works again.
        assert not (await phone.boot()).locked
        assert (await phone.open_url(url)).ok


def test_a7_https_service_asks_tvs_and_caches_for_the_ttl(lab: Lab) -> None:
    run_async(_a7(lab))


@asynccontextmanager
async def _https_server(certificate: x509.Certificate, key: PrivateKeyTypes) -> AsyncIterator[int]:
    """An HTTPS server of someone else's (a directory on another host), on a loopback port."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
            await writer.drain()
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(
        answer, "127.0.0.1", 0, ssl=server_context(certificate, key)
    )
    try:
        yield int(server.sockets[0].getsockname()[1])
    finally:
        server.close()
        await server.wait_closed()


async def _a7_trust_store(lab: Lab) -> None:
    """TVS vouches for what the trust stores hold, not only for the cluster's own certificates."""
    outside = make_identity(plain_name("directory.example"), slot=25)
    url = "https://directory.example:8443/xmldirectory"
    async with site_of(lab) as site, _https_server(outside.certificate, outside.key) as port:
        site.routes = site.routes.with_route("directory.example", 8443, ("127.0.0.1", port))
        phone = await site.phone(MAC)
        assert (await phone.boot()).config_applied
        unknown = await phone.open_url(url)
        assert not unknown.ok
        assert unknown.tvs_asked
        assert unknown.display == "Host Not Found"
        await asyncio.to_thread(
            truststores.upload, lab.ctx, TrustStore.TOMCAT, outside.certificate, "directory"
        )
        await site.synced()
        known = await phone.open_url(url)
        assert known.ok, known
        assert known.tvs_asked
        assert known.http_status.startswith("200")


def test_a7_tvs_vouches_for_trust_store_certificates(lab: Lab) -> None:
    run_async(_a7_trust_store(lab))


# -- A8 ----------------------------------------------------------------------------------------


async def _a8(lab: Lab) -> None:
    name = f"SEP{MAC}"
    async with site_of(lab, "cucm-pub", "cucm-sub1") as site:
        for host in ("cucm-pub", "cucm-sub1"):  # TVS runs wherever CallManager runs
            assert "tvs" in site.nodes[host].ports
        phone = await site.phone(MAC, tftp="cucm-sub1")
        assert (await phone.boot()).config_applied
        # The Default group: the publisher, then the subscriber.
        assert list(phone.state.tvs_servers) == [("10.0.0.10", 2445), ("10.0.0.11", 2445)]
        # Another group, another order: the phone's TVS list follows its configuration.
        await asyncio.to_thread(inventory.put_group, lab.ctx, "Sub First", ["cucm-sub1"])
        await _update(site, name, group="Sub First")
        assert (await phone.boot()).config_applied
        assert list(phone.state.tvs_servers) == [("10.0.0.11", 2445)]
        with pytest.raises(LocalError, match="must list 1 to 3 nodes, not 4"):
            CallManagerGroup("Too Many", ("cucm-pub", "cucm-sub1", "a", "b"))
        await _update(site, name, group="Default")
        assert (await phone.boot()).config_applied
        # The first TVS is down: the phone asks the next one of its list.
        await site.stop("cucm-pub")
        await _admin(site, "set cert regen CallManager", "yes", node="cucm-sub1")
        report = await phone.boot()
        assert _step(report, "TVS 10.0.0.10:2445")[0] == "unusable"
        assert _step(report, "TVS 10.0.0.11:2445") == ("answered", "valid")
        assert _step(report, f"ITLSEP{MAC}.tlv") == ("accepted", BY_TVS)
        assert "Trust List Updated" in report.status
        assert phone.state.itl_file is not None
        assert phone.state.itl_file.raw == lab.file("cucm-sub1", "ITLFile.tlv")
        assert report.config_applied


def test_a8_tvs_list_is_the_callmanager_group_with_failover(lab: Lab) -> None:
    run_async(_a8(lab))

"""Scenarios H1-H7: facts from Cisco's later guides, end to end.

H1 collects every status message a phone shows through real boots; H2 the
TVS cache flush after an updated list; H3 the 64 KB ITL limit; H4 what the
lists a phone holds contain; H5 the ITLRecovery signer option (a cluster
made with ``signer=itlrecovery``, as ``phonetrust cluster init --signer
itlrecovery`` makes it); H6 CAPF's "By Existing Certificate" precedence
and one-use authentication strings; H7 SHA-512 signatures per model.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from phonetrust.errors import BuildError
from phonetrust.formats.algorithms import Digest
from phonetrust.formats.record import Record
from phonetrust.formats.tags import Role
from phonetrust.formats.trustlist import TrustList, build_trust_list
from phonetrust.net.tftp import TftpServer
from phonetrust.policy import params as P
from phonetrust.policy.domain import (
    CapfAuthMode,
    CapfOperation,
    CertName,
    Node,
    OwnCertificate,
    Service,
    SignerOption,
    check_ipv4,
)
from phonetrust.policy.phone_decisions import (
    CONFIG_AUTH_FAILED,
    CTL_AND_ITL_INSTALLED,
    CTL_INSTALLED,
    CTL_UPDATE_FAILED,
    ERASING,
    FILE_NOT_FOUND,
    ITL_INSTALLED,
    NO_TRUST_LIST,
    TRUST_LIST_UPDATE_FAILED,
    TRUST_LIST_UPDATED,
    TRUST_LIST_VERIFICATION_FAILED,
    Reason,
    Via,
)
from phonetrust.service import inventory
from phonetrust.service.tftpfiles import Stored, TftpSource
from phonetrust.sim.storage import DeviceKeys
from phonetrust.testing.pki import make_identity, plain_name
from tests.scenarios.conftest import run_async, site_of
from tests.scenarios.far import build_cluster, copy_cluster
from tests.scenarios.test_f_capf_calls import (
    manufacturing_ca,
    mic_for,
    record,
    schedule,
    upload_capf_trust,
)
from tests.service.conftest import Lab
from tests.service.helpers import current, signed_by

MAC = "001122334455"
OLD_MAC = "0011223344AA"
NOT_FOUND_CTL = FILE_NOT_FOUND.format(file="CTLFile.tlv")


# -- H1: status messages ------------------------------------------------------------------------


async def _h1_lists(lab: Lab) -> None:
    async with site_of(lab) as site:
        modern = await site.phone(MAC)
        old = await site.phone(OLD_MAC, "7960")
        # Non-secure cluster: no CTL ("harmless"), an ITL for the modern phone, nothing for the
        # 7960, which has no Security By Default.
        assert (await modern.boot()).status == [NOT_FOUND_CTL, ITL_INSTALLED]
        assert (await old.boot()).status == [NOT_FOUND_CTL, NO_TRUST_LIST]
        await site.admin("utils ctl set-cluster mixed-mode", "y")
        assert (await old.boot()).status == [CTL_INSTALLED]
        assert (await modern.boot()).status == [CTL_AND_ITL_INSTALLED]
        fresh = await site.phone("00AA00000001")
        assert (await fresh.boot()).status == [CTL_INSTALLED, CTL_AND_ITL_INSTALLED]
        # A new publisher CallManager certificate and an updated CTL.
        await site.admin("set cert regen CallManager", "yes")
        await site.admin("utils ctl update CTLFile", "y")
        assert (await modern.boot()).status == [TRUST_LIST_UPDATED, TRUST_LIST_UPDATED]
        # The 7960 has no TVS to vouch for the new signer (D7): its CTL and config both fail.
        assert (await old.boot()).status == [
            CTL_UPDATE_FAILED,
            CONFIG_AUTH_FAILED.format(file=f"SEP{OLD_MAC}.cnf.xml.sgn"),
        ]
        old.erase()
        assert old.log.status_text().rstrip().endswith(ERASING)
        assert (await old.boot()).status == [CTL_INSTALLED]


def test_h1_status_messages_of_installed_and_updated_lists(lab: Lab) -> None:
    run_async(_h1_lists(lab))


async def _h1_failures(lab: Lab) -> None:
    async with site_of(lab) as site:
        phone = await site.phone(MAC)
        assert (await phone.boot()).config_applied
        real = lab.file("cucm-pub", "ITLFile.tlv")
        config = lab.file("cucm-pub", f"SEP{MAC}.cnf.xml.sgn")
        assert real is not None
        assert config is not None
        itl = TrustList.from_wire(real)
        # An ITL whose signature was tampered with on the way.
        signature = itl.header.signature
        assert signature is not None
        at = real.index(signature)
        tampered = real[:at] + bytes([signature[0] ^ 0x01]) + real[at + 1 :]
        # An ITL properly signed by a key the cluster never had.
        stranger = make_identity(plain_name("cucm-pub.lab.example"), slot=31)
        forged = build_trust_list(
            stranger.signer,
            [
                Record.from_certificate(stranger.certificate, Role.SAST),
                Record.from_certificate(stranger.certificate, Role.CCM_TFTP),
                *itl.records[2:],
            ],
            filename="ITLFile.tlv",
            timestamp=int(lab.clock.now()),
        ).to_wire()
        for served, expected, reason in (
            (tampered, TRUST_LIST_VERIFICATION_FAILED, Reason.BAD_SIGNATURE),
            (forged, TRUST_LIST_UPDATE_FAILED, Reason.TVS_REFUSED),
        ):
            source = TftpSource(
                "rogue",
                1,
                {"ITLFile.tlv": Stored.of(served), f"SEP{MAC}.cnf.xml.sgn": Stored.of(config)},
                devices=frozenset({f"SEP{MAC}"}),
            )
            rogue = await TftpServer.start(source, port=0)
            try:
                phone.tftp = ("127.0.0.1", rogue.port)
                report = await phone.boot()
            finally:
                await rogue.stop()
            assert expected in report.status
            assert report.list_failed is not None
            assert reason.value in report.list_failed
            assert phone.state.itl_file is not None
            assert phone.state.itl_file.raw == real  # the old list stays in force
            assert report.config_applied  # ... and the cluster's own signed file still verifies


def test_h1_status_messages_of_refused_lists(lab: Lab) -> None:
    run_async(_h1_failures(lab))


# -- H2: the TVS cache is flushed after an accepted updated list --------------------------------


async def _h2(lab: Lab) -> None:
    async with site_of(lab) as site:
        await site.admin("utils ctl set-cluster mixed-mode", "y")
        phone = await site.phone(MAC)
        assert (await phone.boot()).config_applied
        url = phone.service_url("directory")
        first = await phone.open_url(url)
        assert first.ok
        assert first.tvs_asked
        cached = await phone.open_url(url)
        assert cached.ok
        assert not cached.tvs_asked  # within the TTL: the cached answer
        assert len(phone.state.tvs_cache) == 1
        before = lab.file("cucm-pub", "CTLFile.tlv")
        lab.later(60)
        await site.admin("utils ctl update CTLFile", "y")
        assert lab.file("cucm-pub", "CTLFile.tlv") != before
        report = await phone.boot()
        assert TRUST_LIST_UPDATED in report.status
        assert "tvsFlushCertCache: Completed TVS Certificate cache flush request" in (
            phone.log.console_text()
        )
        assert len(phone.state.tvs_cache) == 0
        again = await phone.open_url(url)
        assert again.ok
        assert again.tvs_asked  # the cache was flushed: TVS is asked again


def test_h2_tvs_cache_flushed_after_an_updated_list(lab: Lab) -> None:
    run_async(_h2(lab))


# -- H3: ITL size ---------------------------------------------------------------------------------


def add_tvs_nodes(lab: Lab, count: int) -> None:
    """``count`` TVS-only nodes with 4096-bit certificates, straight into the store (as the
    service test does: generating their keys through the admin path would take minutes)."""
    with lab.ctx.repo.unit_of_work() as uow:
        for i in range(count):
            host = f"tvs{i}"
            uow.put_node(
                Node(host, check_ipv4(f"10.0.1.{i + 1}"), services=frozenset({Service.TVS}))
            )
            cert = make_identity(plain_name(host + "-" * 40), bits=4096).certificate
            der = cert.public_bytes(Encoding.DER)
            uow.add_own_certificate(OwnCertificate(host, CertName.TVS, der, lab.ctx.now()))


async def _h3(lab: Lab) -> None:
    async with site_of(lab) as site:
        phone = await site.phone(MAC)
        assert (await phone.boot()).config_applied
        held = lab.file("cucm-pub", "ITLFile.tlv")
        await asyncio.to_thread(add_tvs_nodes, lab, 60)
        # The next change would publish an ITL above 64 KB: refused whole, and it says why.
        with pytest.raises(BuildError, match=r"64 KB"):
            await asyncio.to_thread(
                inventory.update_device, lab.ctx, f"SEP{MAC}", settings={"webAccess": "1"}
            )
        await site.synced()
        assert lab.file("cucm-pub", "ITLFile.tlv") == held
        # The phone keeps its ITL, keeps verifying the cluster's files, and the refused
        # change did not reach it.
        report = await phone.boot()
        assert not report.locked
        assert report.config_applied
        assert phone.state.itl_file is not None
        assert phone.state.itl_file.raw == held
        assert len(held or b"") <= 64 * 1024
        assert "webAccess" not in phone.settings


def test_h3_an_itl_above_64_kb_is_never_published(lab: Lab) -> None:
    run_async(_h3(lab))


# -- H4: what the lists hold -------------------------------------------------------------------


async def _h4(lab: Lab) -> None:
    async with site_of(lab, "cucm-pub", "cucm-sub1") as site:
        await site.admin("utils ctl set-cluster mixed-mode", "y")
        phone = await site.phone(MAC, tftp="cucm-sub1")
        assert (await phone.boot()).config_applied
        ctl, itl = phone.state.ctl, phone.state.itl
        assert ctl is not None
        assert itl is not None
        assert Role.TVS not in {r.role for r in ctl.records}  # never a TVS record in a CTL

        def der(node: str, name: CertName) -> bytes:
            return current(lab.ctx, node, name).public_bytes(Encoding.DER)

        def roles_of(cert: bytes) -> list[Role | None]:
            return [r.role for r in itl.records if r.matches_certificate(cert)]

        # The TFTP node's CallManager certificate twice: the signer (SAST) and CCM+TFTP.
        assert roles_of(der("cucm-sub1", CertName.CALLMANAGER)) == [Role.SAST, Role.CCM_TFTP]
        signer = itl.signer_index()
        assert signer is not None, "the ITL's header names none of its SAST records"
        assert itl.records[signer].matches_certificate(der("cucm-sub1", CertName.CALLMANAGER))
        # Every TVS of the phone's CallManager servers, the CAPF, the ITLRecovery record.
        assert phone.state.tvs_servers == (("10.0.0.10", 2445), ("10.0.0.11", 2445))
        assert roles_of(der("cucm-pub", CertName.TVS)) == [Role.TVS]
        assert roles_of(der("cucm-sub1", CertName.TVS)) == [Role.TVS]
        assert roles_of(der("cucm-pub", CertName.CAPF)) == [Role.CAPF]
        recovery = [
            r for r in itl.records if r.matches_certificate(der("cucm-pub", CertName.ITLRECOVERY))
        ]
        assert [r.role for r in recovery] == [Role.SAST]
        assert "ITLRECOVERY_cucm-pub" in (recovery[0].subject or "")
        assert len(itl.records) == 6
        assert phone.state.itl_file is not None
        assert phone.state.itl_file.raw == lab.file("cucm-sub1", "ITLFile.tlv")


def test_h4_ctl_has_no_tvs_and_the_itl_holds_what_it_should(lab: Lab) -> None:
    run_async(_h4(lab))


# -- H5: the ITLRecovery signer option -----------------------------------------------------------


@pytest.fixture(scope="session")
def recovery_signed_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    publisher = Node("cucm-pub", check_ipv4("10.0.0.10"), "lab.example")
    root = tmp_path_factory.mktemp("h5") / "data"
    return build_cluster(root, "h5", publisher, signer=SignerOption.ITLRECOVERY)


@pytest.fixture
def recovery_signed(recovery_signed_template: Path, tmp_path: Path) -> Iterator[Lab]:
    cluster = copy_cluster(recovery_signed_template, tmp_path / "h5")
    yield cluster
    cluster.ctx.repo.close()


async def _h5(cluster: Lab) -> None:
    async with site_of(cluster) as site:
        recovery = current(cluster.ctx, "cucm-pub", CertName.ITLRECOVERY)
        assert signed_by(
            TrustList.from_wire(cluster.file("cucm-pub", "ITLFile.tlv") or b""), recovery
        )
        phone = await site.phone(MAC)
        first = await phone.boot()
        assert first.config_applied
        await site.admin("utils ctl set-cluster mixed-mode", "y")
        ctl = cluster.file("cucm-pub", "CTLFile.tlv")
        assert signed_by(TrustList.from_wire(ctl or b""), recovery)
        mixed = await phone.boot()
        assert not mixed.locked
        assert phone.state.ctl_file is not None
        assert phone.state.ctl_file.raw == ctl
        # CallManager and TVS regenerated together - the B2 lock-out with the default signer -
        # leave the signer unchanged: the phones take the new lists on their own, no TVS needed.
        await site.admin("set cert regen CallManager", "yes")
        cluster.later(301)
        await site.admin("set cert regen TVS", "yes")
        await site.admin("utils ctl update CTLFile", "y")
        report = await phone.boot()
        assert not report.locked, report.summary()
        assert report.config_applied
        assert report.tvs_queries == 0
        itl_step = next(s for s in report.steps if s.what == f"ITLSEP{MAC}.tlv")
        assert itl_step.detail == Via.TRUST_LIST.value
        assert phone.state.itl_file is not None
        assert phone.state.itl_file.raw == cluster.file("cucm-pub", "ITLFile.tlv")
        assert (await phone.open_url(phone.service_url("directory"))).ok


def test_h5_itlrecovery_signer_option(recovery_signed: Lab) -> None:
    run_async(_h5(recovery_signed))


# -- H6: CAPF by existing certificate; one-use authentication strings ---------------------------


async def _h6_existing(lab: Lab, directory: Path) -> None:
    ca = manufacturing_ca()
    await asyncio.to_thread(upload_capf_trust, lab, ca[0], directory)
    async with site_of(lab) as site:
        phone = await site.phone(MAC, keys=DeviceKeys(mic=mic_for(MAC, "8845", ca)))
        bare = await site.phone(OLD_MAC)
        assert (await phone.boot()).config_applied
        assert (await bare.boot()).config_applied
        # MIC first: the phone has only its MIC, which CAPF-trust vouches for.
        await schedule(site, MAC, CapfAuthMode.EXISTING_MIC_FIRST)
        assert (await phone.boot()).enrolled
        assert phone.keys.lsc is not None
        first_lsc = phone.keys.lsc.certificate
        # LSC first: now it has an LSC, which authenticates the renewal.
        await schedule(site, MAC, CapfAuthMode.EXISTING_LSC_FIRST)
        assert (await phone.boot()).enrolled
        assert phone.keys.lsc.certificate.serial_number != first_lsc.serial_number
        # MIC first again, with both on the phone: the MIC is presented, and accepted.
        await schedule(site, MAC, CapfAuthMode.EXISTING_MIC_FIRST)
        assert (await phone.boot()).enrolled
        assert record(lab).capf_status == "Upgrade Success"
        # Neither an LSC nor a MIC: nothing to authenticate with.
        for mode in (CapfAuthMode.EXISTING_LSC_FIRST, CapfAuthMode.EXISTING_MIC_FIRST):
            await schedule(site, OLD_MAC, mode)
            failed = await bare.boot()
            assert not failed.enrolled
            assert bare.keys.lsc is None
            assert "no LSC or MIC" in record(lab, OLD_MAC).capf_status


def test_h6_existing_certificate_precedence(lab: Lab, tmp_path: Path) -> None:
    run_async(_h6_existing(lab, tmp_path))


async def _h6_one_use(lab: Lab) -> None:
    async with site_of(lab) as site:
        phone = await site.phone(MAC, auth_string="13579")
        assert (await phone.boot()).config_applied
        await schedule(site, MAC, CapfAuthMode.AUTH_STRING, auth_string="13579")
        assert (await phone.boot()).enrolled
        assert record(lab).capf_auth_hash == ""
        # A new operation without a new string: the one the user knows is spent.
        await asyncio.to_thread(
            inventory.update_device, lab.ctx, f"SEP{MAC}", capf_operation=CapfOperation.INSTALL
        )
        await site.synced()
        held = phone.keys.lsc
        reused = await phone.boot()
        assert not reused.enrolled
        assert phone.keys.lsc == held
        assert "already used" in record(lab).capf_status


def test_h6_authentication_strings_are_one_use(lab: Lab) -> None:
    run_async(_h6_one_use(lab))


# -- H7: SHA-512 --------------------------------------------------------------------------------


async def _h7(lab: Lab) -> None:
    async with site_of(lab) as site:
        modern = await site.phone(MAC, "8845")
        old = await site.phone(OLD_MAC, "7975")
        assert (await modern.boot()).config_applied
        assert (await old.boot()).config_applied
        old_itl = old.state.itl_file
        await asyncio.to_thread(inventory.set_param, lab.ctx, P.TFTP_DIGEST, "SHA-512")
        await site.synced()
        # The planner's warning names the model that will fail.
        warnings = await asyncio.to_thread(inventory.sha512_warnings, lab.ctx)
        assert warnings == [f"SEP{OLD_MAC} (7975) does not support SHA-512 signatures"]
        itl = TrustList.from_wire(lab.file("cucm-pub", "ITLFile.tlv") or b"")
        assert itl.header.digest is Digest.SHA512
        ok = await modern.boot()
        assert not ok.locked
        assert ok.config_applied
        assert modern.state.itl_file is not None
        assert modern.state.itl_file.raw == lab.file("cucm-pub", "ITLFile.tlv")
        failed = await old.boot()
        assert failed.locked
        assert failed.list_failed is not None
        assert Reason.DIGEST_UNSUPPORTED.value in failed.list_failed
        assert failed.config_failed is not None
        assert Reason.DIGEST_UNSUPPORTED.value in failed.config_failed
        assert old.state.itl_file == old_itl


def test_h7_sha512_digest_per_model(lab: Lab) -> None:
    run_async(_h7(lab))

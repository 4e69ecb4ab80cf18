"""Scenarios E1-E3: the rollback parameter, centralized TFTP, phones moved between clusters.

E2 and E3 need a second cluster: ``far`` (publisher far-pub, 10.0.2.10),
built once per session the way tests/service/conftest.py builds the lab
and copied for each test, so that its keys - and so its phones' trust - are
its own. Both clusters serve on loopback; a phone gets the routes of both.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import MappingProxyType

import pytest

from phonetrust.policy import params as P
from phonetrust.policy.domain import CertName, Device, TrustStore
from phonetrust.policy.models import model as phone_model
from phonetrust.policy.phone_decisions import (
    FILE_NOT_FOUND,
    ITL_INSTALLED,
    TRUST_LIST_UPDATE_FAILED,
    TRUST_LIST_UPDATED,
    Via,
)
from phonetrust.service import inventory, truststores
from phonetrust.sim.network import Routes
from phonetrust.sim.phone import Phone
from tests.scenarios.conftest import Site, run_async, site_of
from tests.service.conftest import Lab
from tests.service.helpers import current

MAC = "001122334455"
FAR_MAC = "00AABB000002"


def merged(*sites: Site) -> Routes:
    """One routes table for the services of several clusters."""
    table: dict[tuple[str, int], tuple[str, int]] = {}
    for site in sites:
        table.update(site.routes.table)
    return Routes(MappingProxyType(table))


def tftp_of(site: Site, host: str) -> tuple[str, int]:
    return (str(site.nodes[host].node.ip), 69)


async def set_param(site: Site, name: str, value: str) -> None:
    """An enterprise parameter change (``phonetrust param set``), then wait until it is served."""
    await asyncio.to_thread(inventory.set_param, site.lab.ctx, name, value)
    await site.synced()


async def set_setting(site: Site, device: str, **settings: str) -> None:
    await asyncio.to_thread(inventory.update_device, site.lab.ctx, device, settings=settings)
    await site.synced()


# -- E1: Prepare Cluster for Rollback to pre 8.0 ------------------------------------------------


async def _e1(lab: Lab) -> None:
    async with site_of(lab) as site:
        phone = await site.phone(MAC)
        first = await phone.boot()
        assert first.config_applied
        assert phone.service_url().startswith("https://")
        normal_itl = lab.file("cucm-pub", "ITLFile.tlv")

        await set_param(site, P.ROLLBACK, "True")
        report = await phone.boot()
        assert not report.locked
        assert TRUST_LIST_UPDATED in report.status
        assert phone.state.itl_file is not None
        assert phone.state.itl_file.raw == lab.file("cucm-pub", "ITLFile.tlv") != normal_itl
        assert phone.state.itl_file.rollback  # every FUNCTION empty
        assert not phone.state.has_anchors
        # Secure URL parameters become HTTP: no certificate to check, no TVS.
        url = phone.service_url("directory")
        assert url.startswith("http://")
        assert ":8080/" in url
        opened = await phone.open_url(url)
        assert opened.ok
        assert not opened.tvs_asked

        # Any signer now: CallManager and TVS regenerated together (B2 would lock the phone).
        await site.admin("set cert regen CallManager", "yes")
        lab.later(301)
        await site.admin("set cert regen TVS", "yes")
        await set_setting(site, f"SEP{MAC}", webAccess="1")
        after = await phone.boot()
        assert not after.locked, after.summary()
        assert after.config_applied
        assert phone.settings["webAccess"] == "1"
        assert after.tvs_queries == 0  # nothing was verified, so nothing was asked

        # Not to be left on: turned off, the phone takes the normal ITL first-use and HTTPS again.
        await set_param(site, P.ROLLBACK, "False")
        back = await phone.boot()
        assert not back.locked
        assert phone.state.itl_file.raw == lab.file("cucm-pub", "ITLFile.tlv")
        assert not phone.state.itl_file.rollback
        assert phone.state.has_anchors
        secure = await phone.open_url(phone.service_url("directory"))
        assert phone.service_url().startswith("https://")
        assert secure.ok
        assert secure.tvs_asked


def test_e1_rollback_itl_turns_trust_checks_off(lab: Lab) -> None:
    run_async(_e1(lab))


async def _e1_needs_trust(lab: Lab) -> None:
    async with site_of(lab) as site:
        phone = await site.phone(MAC)
        assert (await phone.boot()).config_applied
        held = phone.state.itl_file
        # The phone is already locked out (B2) when the rollback parameter is set ...
        await site.admin("set cert regen CallManager", "yes")
        lab.later(301)
        await site.admin("set cert regen TVS", "yes")
        await set_param(site, P.ROLLBACK, "True")
        report = await phone.boot()
        # ... so the rollback ITL, signed by a key it cannot verify, never reaches it.
        assert report.locked
        assert TRUST_LIST_UPDATE_FAILED in report.status
        assert phone.state.itl_file == held
        assert phone.service_url().startswith("https://")


def test_e1_rollback_needs_a_working_trust_state(lab: Lab) -> None:
    run_async(_e1_needs_trust(lab))


# -- E2: centralized TFTP -------------------------------------------------------------------


async def _e2(lab: Lab, far: Lab) -> None:
    async with site_of(lab) as central, site_of(far, "far-pub") as remote:
        await asyncio.to_thread(inventory.add_devices, far.ctx, [Device(f"SEP{FAR_MAC}", "8845")])
        await remote.synced()
        far_tftp = remote.nodes["far-pub"].ports["tftp"]
        await set_param(central, P.ALTERNATE_FILE_SERVERS, f"127.0.0.1:{far_tftp}")
        # A phone of the far cluster whose DHCP option 150 names the central TFTP.
        phone = Phone(
            FAR_MAC,
            phone_model("8845"),
            tftp_of(central, "cucm-pub"),
            routes=merged(central, remote),
            clock=lab.clock,
            timeout=5.0,
            rto=0.3,
        )
        report = await phone.boot()
        assert report.requested == [
            f"CTLSEP{FAR_MAC}.tlv",
            "CTLFile.tlv",
            f"ITLSEP{FAR_MAC}.tlv",
            f"SEP{FAR_MAC}.cnf.xml.sgn",
        ]
        assert not report.locked, report.summary()
        assert report.config_applied
        # Its per-device files came from its own cluster, and it trusts them.
        assert phone.state.itl_file is not None
        assert phone.state.itl_file.raw == far.file("far-pub", "ITLFile.tlv")
        assert phone.state.itl_file.raw != lab.file("cucm-pub", "ITLFile.tlv")
        assert phone.state.tvs_servers == (("10.0.2.10", 2445),)
        # A reset: the same files again (the central TFTP caches what it relays, briefly).
        again = await phone.boot()
        assert not again.locked
        assert again.config_applied
        assert again.tvs_queries == 0
        # Its HTTPS services are its own cluster's, vouched for by its own TVS.
        opened = await phone.open_url(phone.service_url("directory"))
        assert "far-pub" in opened.url or "10.0.2.10" in opened.url
        assert opened.ok
        assert opened.tvs_asked
        # A phone of the central cluster still gets the central cluster's files.
        own = await central.phone(MAC)
        assert (await own.boot()).config_applied
        assert own.state.itl_file is not None
        assert own.state.itl_file.raw == lab.file("cucm-pub", "ITLFile.tlv")


def test_e2_central_tftp_serves_remote_phones_their_own_files(lab: Lab, far: Lab) -> None:
    run_async(_e2(lab, far))


async def _e2_central_itl(lab: Lab, far: Lab) -> None:
    async with site_of(lab) as central, site_of(far, "far-pub") as remote:
        await asyncio.to_thread(inventory.add_devices, far.ctx, [Device(f"SEP{FAR_MAC}", "8845")])
        await remote.synced()
        phone = Phone(
            FAR_MAC,
            phone_model("8845"),
            tftp_of(central, "cucm-pub"),
            routes=merged(central, remote),
            clock=lab.clock,
            timeout=5.0,
            rto=0.3,
        )
        # The central TFTP cannot reach the remote cluster yet: no ITLSEP<MAC>.tlv for the
        # phone, which falls back to ITLFile.tlv - the central cluster's - and trusts it.
        first = await phone.boot()
        assert ITL_INSTALLED in first.status
        assert FILE_NOT_FOUND.format(file=f"SEP{FAR_MAC}.cnf.xml.sgn") in first.status
        assert phone.state.itl_file is not None
        assert phone.state.itl_file.raw == lab.file("cucm-pub", "ITLFile.tlv")
        far_tftp = remote.nodes["far-pub"].ports["tftp"]
        await set_param(central, P.ALTERNATE_FILE_SERVERS, f"127.0.0.1:{far_tftp}")
        # Now its own cluster's files arrive, and it trusts none of them.
        broken = await phone.boot()
        assert broken.locked
        assert TRUST_LIST_UPDATE_FAILED in broken.status
        assert broken.config_failed is not None
        assert not broken.config_applied
        assert phone.state.itl_file.raw == lab.file("cucm-pub", "ITLFile.tlv")
        # Only deleting the ITL on the phone brings it to its own cluster.
        phone.erase()
        fixed = await phone.boot()
        assert not fixed.locked
        assert fixed.config_applied
        assert phone.state.itl_file.raw == far.file("far-pub", "ITLFile.tlv")


def test_e2_a_central_itlfile_breaks_trust_in_remote_files(lab: Lab, far: Lab) -> None:
    run_async(_e2_central_itl(lab, far))


# -- E3: moving phones between clusters -------------------------------------------------------


async def _nothing(old: Site, far: Lab, phone: Phone) -> None:
    """No preparation: the phone holds its old cluster's ITL."""


async def _rollback(old: Site, far: Lab, phone: Phone) -> None:
    """The old cluster's rollback parameter (E1): the phone takes the ITL with empty functions."""
    await set_param(old, P.ROLLBACK, "True")
    prepared = await phone.boot()
    assert not prepared.locked
    assert phone.state.itl_file is not None
    assert phone.state.itl_file.rollback


async def _trust_export(old: Site, far: Lab, phone: Phone) -> None:
    """The new cluster's TFTP (CallManager) certificate, imported into the old cluster's
    Phone-SAST-trust: the old cluster's TVS now vouches for it."""
    far_cm = current(far.ctx, "far-pub", CertName.CALLMANAGER)
    await asyncio.to_thread(truststores.upload, old.lab.ctx, TrustStore.PHONE_SAST, far_cm)
    await old.synced()


async def _erase(old: Site, far: Lab, phone: Phone) -> None:
    """Settings > Security > Trust List > Erase, on the phone itself."""
    phone.erase()


@dataclass(frozen=True)
class Move:
    """One way of moving a phone to another cluster: what is done first, and what follows."""

    prepare: Callable[[Site, Lab, Phone], Awaitable[None]]
    via: Via | None
    """How the phone accepts the new cluster's ITL; None: it refuses it and is locked."""


MOVES = [
    pytest.param(Move(_nothing, None), id="without-preparation-locks-the-phone"),
    pytest.param(Move(_rollback, Via.TOFU), id="after-the-rollback-parameter"),
    pytest.param(Move(_trust_export, Via.TVS), id="after-bulk-trust-export"),
    pytest.param(Move(_erase, Via.TOFU), id="after-erasing-the-lists"),
]


async def _moved(lab: Lab, far: Lab, move: Move) -> None:
    """A phone of ``lab`` moves to ``far`` after ``move.prepare``."""
    async with site_of(lab) as old, site_of(far, "far-pub") as new:
        await asyncio.to_thread(inventory.add_devices, far.ctx, [Device(f"SEP{MAC}", "8845")])
        await new.synced()
        phone = await old.phone(MAC)
        assert (await phone.boot()).config_applied
        old_itl = phone.state.itl_file
        await move.prepare(old, far, phone)
        # The move: DHCP option 150 now names the new cluster's TFTP.
        phone.tftp = tftp_of(new, "far-pub")
        phone.routes = merged(old, new)
        report = await phone.boot()
        assert phone.state.itl_file is not None
        if move.via is None:
            # The new ITL verifies against nothing the phone holds, and the old TVS does not
            # know its signer: the phone is locked on its old cluster's ITL.
            assert report.locked
            assert TRUST_LIST_UPDATE_FAILED in report.status
            assert report.tvs_queries >= 1
            assert phone.state.itl_file == old_itl
            assert not report.config_applied
            return
        assert not report.locked, report.summary()
        assert report.config_applied
        assert phone.state.itl_file.raw == far.file("far-pub", "ITLFile.tlv")
        step = next(s for s in report.steps if s.what == f"ITLSEP{MAC}.tlv")
        assert step.detail == move.via.value
        opened = await phone.open_url(phone.service_url("directory"))
        assert opened.ok
        assert "10.0.2.10" in str(phone.state.tvs_servers)


@pytest.mark.parametrize("move", MOVES)
def test_e3_moving_a_phone_between_clusters(lab: Lab, far: Lab, move: Move) -> None:
    run_async(_moved(lab, far, move))

"""The fleet runner: many real phones against the lab's real services, counted and grouped.

The services run on loopback (the scenario suite's :class:`Site`); each
phone boots for real. What is checked is the runner's own contract: every
phone booted exactly once, no more than ``concurrency`` at a time, phones
taken from the iterator only as workers free up, the summary's groups
(hashes, lock reasons with the MAC taken out), and console logs dropped
unless asked for.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from phonetrust.errors import LocalError
from phonetrust.policy.domain import Device, Node, Service, check_ipv4
from phonetrust.policy.models import model
from phonetrust.policy.phone_trust import InstalledList, PhoneTrust
from phonetrust.service import inventory
from phonetrust.sim.fleet import FleetSummary, PhoneOutcome, run_fleet, tftp_node
from phonetrust.sim.phone import BootReport, Phone
from tests.scenarios.conftest import Site, run_async, site_of
from tests.service.conftest import Lab
from tests.sim import itl, world

MACS = [f"0011223344{i:02X}" for i in range(6)]


async def _register(site: Site, macs: list[str], model_name: str) -> None:
    devices = [Device(f"SEP{mac}", model_name) for mac in macs]
    await asyncio.to_thread(inventory.add_devices, site.lab.ctx, devices)
    await site.synced()


def _make(site: Site, mac: str, model_name: str = "8845", kind: type[Phone] = Phone) -> Phone:
    """A phone of the site (as :meth:`Site.phone` makes it), of class ``kind``."""
    publisher = site.nodes["cucm-pub"].node
    return kind(
        mac, model(model_name), str(publisher.ip), routes=site.routes, clock=site.lab.clock, rto=0.3
    )


async def _counts_and_concurrency(cluster: Lab) -> None:
    async with site_of(cluster) as site:
        await _register(site, MACS[:4], "8845")
        await _register(site, MACS[4:], "7960")
        in_flight = 0
        most = 0

        class Counted(Phone):
            """A real phone that counts how many of its kind are booting at once."""

            async def boot(self) -> BootReport:
                nonlocal in_flight, most
                in_flight += 1
                most = max(most, in_flight)
                try:
                    return await super().boot()
                finally:
                    in_flight -= 1

        phones = [_make(site, m, "8845", Counted) for m in MACS[:4]]
        phones += [_make(site, m, "7960", Counted) for m in MACS[4:]]
        seen: list[PhoneOutcome] = []
        summary = await run_fleet(phones, concurrency=2, progress=seen.append)
    itl_md5 = InstalledList(_itl(cluster)).md5
    assert most == 2
    assert sorted(o.name for o in seen) == sorted(f"SEP{m}" for m in MACS)
    assert summary.phones == 6
    assert summary.models == {"8845": 4, "7960": 2}
    assert summary.itl == {itl_md5: 4, "none": 2}
    assert summary.ctl == {"none": 6}
    assert summary.locked_phones == 0
    assert summary.applied == 6
    assert summary.failed_phones == 0
    assert summary.elapsed > 0
    assert summary.outcomes == [], "outcomes are kept only when asked"
    assert all(p.log.console == () for p in phones), "a fleet drops finished phones' logs"
    assert all(p.state.itl_file is not None for p in phones[:4]), "but not their flash"
    lines = summary.lines()
    assert lines[0] == "Phones booted: 6 (2 x 7960, 4 x 8845)"
    assert f"        4  {itl_md5}" in lines
    assert "Locked: 0" in lines


def _itl(cluster: Lab) -> bytes:
    data = cluster.file("cucm-pub", "ITLFile.tlv")
    assert data is not None
    return data


def test_every_phone_boots_once_within_the_concurrency(lab: Lab) -> None:
    run_async(_counts_and_concurrency(lab))


async def _locked_reasons_group(cluster: Lab) -> None:
    """Phones that hold another cluster's ITL (and no TVS to ask) lock for one reason."""
    async with site_of(cluster) as site:
        await _register(site, MACS[:3], "8845")
        foreign = InstalledList(itl(world().cm2))
        phones = [_make(site, m) for m in MACS[:3]]
        for p in phones[:2]:
            p.state = PhoneTrust(model("8845"), itl_file=foreign, has_mic=False)
        summary = await run_fleet(phones, concurrency=3, keep_logs=True, keep_outcomes=True)
    assert summary.locked_phones == 2
    assert len(summary.locked) == 1, summary.locked
    (reason,) = summary.locked
    assert reason.startswith("ITLSEP<MAC>.tlv: "), reason
    assert summary.itl == {foreign.md5: 2, InstalledList(_itl(cluster)).md5: 1}
    assert summary.applied == 1
    assert [o.locked is not None for o in summary.outcomes].count(True) == 2
    assert all(o.console and "tlRequestFile" in o.console for o in summary.outcomes)
    assert f"        2  {reason}" in summary.lines()


def test_locked_phones_group_by_reason_without_their_mac(lab: Lab) -> None:
    run_async(_locked_reasons_group(lab))


async def _lazy_source(cluster: Lab) -> None:
    """A generator of phones is drawn only as workers free up: memory stays per-flight."""
    async with site_of(cluster) as site:
        await _register(site, MACS, "8845")
        made = 0
        finished = 0
        ahead: list[int] = []

        def phones() -> Iterator[Phone]:
            nonlocal made
            for mac in MACS:
                ahead.append(made - finished)
                made += 1
                yield _make(site, mac)

        def done(_: PhoneOutcome) -> None:
            nonlocal finished
            finished += 1

        summary = await run_fleet(phones(), concurrency=2, progress=done)
    assert summary.phones == len(MACS)
    assert max(ahead) <= 2, ahead


def test_a_generator_is_drawn_lazily(lab: Lab) -> None:
    run_async(_lazy_source(lab))


class Broken(Phone):
    """A phone whose simulator fails: the storm must go on without it."""

    async def boot(self) -> BootReport:
        raise RuntimeError("flash corrupted")


async def _a_broken_phone(cluster: Lab) -> FleetSummary:
    async with site_of(cluster) as site:
        await _register(site, MACS[:2], "8845")
        good = _make(site, MACS[0])
        bad = _make(site, MACS[1], kind=Broken)
        return await run_fleet([bad, good], concurrency=1)


def test_a_failing_phone_is_counted_not_fatal(lab: Lab) -> None:
    summary = run_async(_a_broken_phone(lab))
    assert summary.phones == 2
    assert summary.errors == {"RuntimeError: flash corrupted": 1}
    assert summary.applied == 1
    assert "Simulator failures: 1" in summary.lines()


def test_concurrency_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        run_async(run_fleet([], concurrency=0))
    assert run_async(run_fleet([])).phones == 0


def _node(host: str, *, publisher: bool = False, tftp: bool = True) -> Node:
    services = frozenset(Service) if tftp else frozenset(Service) - {Service.TFTP}
    return Node(host, check_ipv4("10.0.0.1"), publisher=publisher, services=services)


PUB = _node("cucm-pub", publisher=True)
SUB = _node("cucm-sub")
NO_TFTP = _node("cucm-cm", tftp=False)


@pytest.mark.parametrize(
    ("nodes", "wanted", "chosen"),
    [
        pytest.param([SUB, PUB], None, "cucm-pub", id="the publisher by default"),
        pytest.param([NO_TFTP, SUB], None, "cucm-sub", id="else the first TFTP node"),
        pytest.param([PUB, SUB], "CUCM-SUB", "cucm-sub", id="the node asked for, any case"),
    ],
)
def test_the_fleet_boots_against_the_tftp_node_it_should(
    nodes: list[Node], wanted: str | None, chosen: str
) -> None:
    assert tftp_node(nodes, wanted).host == chosen


@pytest.mark.parametrize(
    ("nodes", "wanted", "says"),
    [
        pytest.param([PUB, NO_TFTP], "cucm-cm", "that node does not run TFTP", id="no TFTP"),
        pytest.param([PUB], "ghost", r"unknown node \(nodes: cucm-pub\)", id="unknown"),
        pytest.param([NO_TFTP], None, "no node of the cluster runs TFTP", id="none runs TFTP"),
    ],
)
def test_a_fleet_without_a_usable_tftp_node_says_why(
    nodes: list[Node], wanted: str | None, says: str
) -> None:
    with pytest.raises(LocalError, match=says):
        tftp_node(nodes, wanted)

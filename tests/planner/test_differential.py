"""The planner's proof: its verdict for each phone is what the phone really does (issue 12).

Each case replays a scenario of ``spec/scenarios.md`` in which phones change
state (B, C, D, E) on a real cluster served on loopback by ``phonetrust
serve``. The phones boot for real first, so the TFTP servers record what
each downloaded; then the administrator's change runs for real with a
recording guard on the context: inside every change's transaction, after
the new files are published, the guard asks the planner what every phone
would do (:func:`~phonetrust.planner.predict.predict` from
:func:`~phonetrust.planner.lastknown.last_known`, exactly as the lock-out
guard does) and keeps the answer without refusing anything. Then every
phone reboots for real, and its real boot report is judged by the same
:func:`~phonetrust.planner.predict.classify` the planner judged its own
boot with: the outcome (keeps, signer, TVS, first use, locks) and, for a
lock, the phone's words must be the same.

Each case also states the outcome the scenario is about (B2 locks, D1's
subscriber phone needs TVS, ...), so a case cannot pass by proving nothing.

The planner predicts a phone from the lists it last *downloaded*; a phone
that refused a download (locked for real) holds older lists than the store
knows, which the planner documents rather than guesses. The bench tells
such phones apart (their held lists differ from their recorded downloads)
and leaves them out of later comparisons, saying so; the cases below avoid
them.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from functools import partial

import pytest

from phonetrust.planner.lastknown import last_known
from phonetrust.planner.offline import Servers
from phonetrust.planner.predict import Outcome, Prediction, classify, predict
from phonetrust.planner.whatif import moved
from phonetrust.policy import params as P
from phonetrust.policy.domain import CertName, Device, TrustStore
from phonetrust.service import inventory, nodes, truststores
from phonetrust.service.context import Context
from phonetrust.sim.phone import BootReport, Phone
from phonetrust.store.repository import UnitOfWork
from tests.scenarios.conftest import Site, run_async, site_of
from tests.scenarios.test_e_clusters import merged, tftp_of
from tests.service.conftest import PASSWORD, Lab
from tests.service.helpers import current
from tests.waiting import until

HOLD = 301
"""Seconds past the 5-minute certificate hold (B3)."""
NODES = ("cucm-pub", "cucm-sub1")
MIXED = "utils ctl set-cluster mixed-mode"
UPDATE_CTL = "utils ctl update CTLFile"
KEEPS, SIGNER, TVS, FIRST_USE, LOCKS = (
    Outcome.KEEPS,
    Outcome.SIGNER,
    Outcome.TVS,
    Outcome.FIRST_USE,
    Outcome.LOCKS,
)


# -- the bench ----------------------------------------------------------------------------


@dataclass
class Recorder:
    """A change guard that predicts, as the lock-out guard does, and never refuses."""

    predictions: list[Prediction] = field(default_factory=list)

    def begin(self, ctx: Context, uow: UnitOfWork) -> None:
        """Nothing: the recorder reads the phones from the version before the change."""

    def __call__(self, ctx: Context, uow: UnitOfWork, before: int) -> None:
        known = last_known(uow, version=before)
        self.predictions.append(predict(known, Servers.read(uow), ctx.clock))


@contextmanager
def recording(lab: Lab) -> Iterator[Recorder]:
    """Every change made through ``lab.ctx`` in the block is predicted (services started
    before keep their own context: their changes are not the administrator's)."""
    recorder = Recorder()
    lab.ctx = replace(lab.ctx, guard=recorder)
    try:
        yield recorder
    finally:
        lab.ctx = replace(lab.ctx, guard=None)


def _sha1(data: bytes) -> str:
    return hashlib.sha1(data).hexdigest()


def verdict_of(prediction: Prediction, phone: Phone) -> tuple[Outcome, str]:
    found = prediction.verdict(phone.name)
    assert found is not None, f"{phone.name}: no verdict in {prediction.verdicts}"
    return found.outcome, found.reason


def real_verdict(report: BootReport, phone: Phone) -> tuple[Outcome, str]:
    return classify(report, phone.mac)


@dataclass
class Bench:
    """A site's phones, booted for real, and their comparisons with the planner."""

    site: Site
    phones: dict[str, Phone] = field(default_factory=dict)
    nodes: dict[str, str] = field(default_factory=dict)
    """Each phone's TFTP node (by label)."""
    last: dict[str, BootReport] = field(default_factory=dict)
    served: dict[str, dict[str, str]] = field(default_factory=dict)
    """What each phone's last boot downloaded, by file name: SHA-1."""
    stale: set[str] = field(default_factory=set)
    """Phones that refused a download: the store no longer knows what they hold."""
    compared: int = 0

    @property
    def lab(self) -> Lab:
        return self.site.lab

    async def add(self, label: str, mac: str, model: str = "8845", tftp: str = "cucm-pub") -> None:
        """A phone of the cluster that boots once, unlocked."""
        phone = await self.site.phone(mac, model, tftp=tftp)
        self.phones[label], self.nodes[label] = phone, tftp
        report = await phone.boot()
        assert not report.locked, report.summary()
        self.last[label] = report
        self.served[label] = self.snapshot(label)

    def snapshot(self, label: str) -> dict[str, str]:
        """What the phone's last boot was served and the TFTP server records (file, SHA-1):
        its per-device lists and configuration, as the store publishes them now."""
        phone, node, report = self.phones[label], self.nodes[label], self.last[label]
        wanted = {
            f"{kind}File.tlv"
            for kind in ("CTL", "ITL")
            if f"{kind}SEP{phone.mac}.tlv" in report.requested
        }
        wanted |= {n for n in report.requested if n.startswith(phone.name) and ".cnf.xml" in n}
        out: dict[str, str] = {}
        with self.lab.ctx.repo.unit_of_work() as uow:
            for name in wanted:
                data = uow.published_file(node, name)
                if data is not None:
                    out[name] = _sha1(data)
        return out

    def _recorded(self, label: str) -> bool:
        """The store holds the downloads of the phone's last boot (the TFTP server writes
        them every second)."""
        with self.lab.ctx.repo.unit_of_work() as uow:
            rows = {d.filename: d.sha1 for d in uow.list_downloads(self.phones[label].name)}
        return all(rows.get(name) == sha1 for name, sha1 in self.served[label].items())

    async def recorded(self) -> None:
        for label in self.phones:
            await until(partial(self._recorded, label), timeout=10, poll=0.05)
            self._check_stale(label)

    def _check_stale(self, label: str) -> None:
        phone = self.phones[label]
        with self.lab.ctx.repo.unit_of_work() as uow:
            rows = {d.filename: d.sha1 for d in uow.list_downloads(phone.name)}
        held = {
            "CTLFile.tlv": phone.state.ctl_file,
            "ITLFile.tlv": phone.state.itl_file,
        }
        for name, installed in held.items():
            if rows.get(name) != (None if installed is None else installed.sha1):
                self.stale.add(label)

    async def change(self, action: Callable[[], Awaitable[object]]) -> Prediction:
        """Run ``action`` (the administrator's change, for real) with the planner recording;
        the last prediction it made is the cluster the phones will boot against."""
        await self.recorded()
        with recording(self.lab) as recorder:
            await action()
        assert recorder.predictions, "the action made no change"
        return recorder.predictions[-1]

    async def reboot(
        self,
        prediction: Prediction,
        expected: Mapping[str, Outcome],
        *,
        only: tuple[str, ...] | None = None,
    ) -> None:
        """Every phone (or ``only`` these) reboots for real: predicted == real, and the
        real outcome is the one the scenario is about."""
        real: dict[str, tuple[Outcome, str]] = {}
        said: dict[str, tuple[Outcome, str]] = {}
        for label, phone in self.phones.items():
            if only is not None and label not in only:
                continue
            report = await phone.boot()
            self.last[label] = report
            self.served[label] = self.snapshot(label)
            real[label] = real_verdict(report, phone)
            if label not in self.stale:
                said[label] = verdict_of(prediction, phone)
        compared = {k: v for k, v in real.items() if k in said}
        assert said == compared, "\n".join(
            f"{label}: predicted {said[label]}, real {real[label]}; {self.last[label].summary()}"
            for label in said
            if said[label] != real[label]
        )
        self.compared += len(said)
        assert set(expected) <= set(self.phones), expected
        outcomes = {label: real[label][0] for label in real if label in expected}
        assert outcomes == {k: expected[k] for k in outcomes}, outcomes

    async def step(self, action: Callable[[], Awaitable[object]], **expected: Outcome) -> None:
        await self.reboot(await self.change(action), expected)

    def admin(self, *lines: tuple[str, ...], later: float = 0) -> Callable[[], Awaitable[None]]:
        """Admin commands (each a line and its answers), ``later`` seconds apart."""

        async def run() -> None:
            for i, (line, *answers) in enumerate(lines):
                if i and later:
                    self.lab.later(later)
                await self.site.admin(line, *answers)

        return run

    def call(self, fn: Callable[..., object], *args: object) -> Callable[[], Awaitable[None]]:
        """A service call on the lab's context of the moment (guarded while recording)."""

        async def run() -> None:
            await asyncio.to_thread(fn, self.lab.ctx, *args)
            await self.site.synced()

        return run


def then(*actions: Callable[[], Awaitable[None]]) -> Callable[[], Awaitable[None]]:
    """Several changes, one after the other, with no reboot between."""

    async def run() -> None:
        for action in actions:
            await action()

    return run


REGEN_CM = ("set cert regen CallManager", "yes")
REGEN_TVS = ("set cert regen TVS", "yes")
REGEN_RECOVERY = ("set cert regen ITLRecovery", "yes")
RESET = ("utils itl reset localkey", PASSWORD)
RESTART_TFTP = ("utils service restart Cisco Tftp",)


async def single_node(bench: Bench) -> None:
    """The Default CallManager group holds the publisher alone: phones get one TVS server."""
    await asyncio.to_thread(inventory.put_group, bench.lab.ctx, "Default", ["cucm-pub"])
    await bench.site.synced()


async def modern_and_old(bench: Bench, *, sub: bool = False) -> None:
    """An 8845 (Security By Default) and a 7960 (no ITL, no TVS) on the publisher's TFTP,
    and with ``sub`` an 8845 on the subscriber's."""
    await bench.add("m", "00D1FF000001", "8845")
    await bench.add("o", "00D1FF000002", "7960")
    if sub:
        await bench.add("s", "00D1FF000003", "8845", tftp="cucm-sub1")


# -- B: certificate changes, ITL only ---------------------------------------------------------


async def b1_two_node_group(bench: Bench) -> None:
    """B1 with the lab's group (publisher and subscriber): the phone asks TVS."""
    await modern_and_old(bench, sub=True)
    await bench.step(bench.admin(REGEN_CM), m=TVS, o=KEEPS, s=KEEPS)


async def b1_one_node(bench: Bench) -> None:
    await single_node(bench)
    await modern_and_old(bench)
    await bench.step(bench.admin(REGEN_CM), m=TVS, o=KEEPS)


async def b2_together_one_node(bench: Bench) -> None:
    """B2: CallManager and TVS regenerated with no reboot between, one TVS: locked."""
    await single_node(bench)
    await modern_and_old(bench)
    await bench.step(bench.admin(REGEN_CM, REGEN_TVS, later=HOLD), m=LOCKS, o=KEEPS)


async def b2_together_two_node_group(bench: Bench) -> None:
    """B4's multi-node case: the subscriber's TVS, unchanged, vouches for the new signer."""
    await modern_and_old(bench, sub=True)
    await bench.step(bench.admin(REGEN_CM, REGEN_TVS, later=HOLD), m=TVS, o=KEEPS, s=SIGNER)


async def b3_one_at_a_time(bench: Bench) -> None:
    """B3: one certificate, reboot, the other: the phone trusts the second change's signer."""
    await single_node(bench)
    await modern_and_old(bench)
    await bench.step(bench.admin(REGEN_CM), m=TVS, o=KEEPS)
    bench.lab.later(HOLD)
    await bench.step(bench.admin(REGEN_TVS), m=SIGNER, o=KEEPS)


async def b4_domain_change_one_node(bench: Bench) -> None:
    """B4: a domain change regenerates every certificate of the single node: locked."""
    await single_node(bench)
    await modern_and_old(bench)
    await bench.recorded()
    await bench.site.stop("cucm-pub")
    with recording(bench.lab) as recorder:
        await asyncio.to_thread(
            nodes.rename_node, bench.lab.ctx, "cucm-pub", "cucm-pub", "new.example"
        )
    await bench.site.start("cucm-pub")
    for phone in bench.phones.values():
        phone.routes = bench.site.routes
    await bench.reboot(recorder.predictions[-1], {"m": LOCKS, "o": KEEPS})


async def b4_rollback_first(bench: Bench) -> None:
    """B4 with E1 first: the rollback ITL anchors nothing, the renamed node's files are taken."""
    await single_node(bench)
    await modern_and_old(bench)
    await bench.step(bench.call(inventory.set_param, P.ROLLBACK, "True"), m=SIGNER, o=KEEPS)
    await bench.step(bench.admin(REGEN_CM, REGEN_TVS, later=HOLD), m=FIRST_USE, o=KEEPS)
    await bench.step(bench.call(inventory.set_param, P.ROLLBACK, "False"), m=FIRST_USE, o=KEEPS)


# -- C: ITL recovery ---------------------------------------------------------------------------


async def c1_reset_then_tftp_restart(bench: Bench) -> None:
    """C1 on both nodes: the reset ITL on the recovery signer's word, then the normal ITL."""
    await modern_and_old(bench, sub=True)
    await bench.step(bench.admin(RESET), m=SIGNER, o=KEEPS, s=LOCKS)
    await bench.step(bench.admin(RESTART_TFTP), m=SIGNER, o=KEEPS, s=TVS)


async def c1_reset_after_b2(bench: Bench) -> None:
    """B2's change, then the reset before any phone reboots: phones recover on the reset ITL."""
    await single_node(bench)
    await modern_and_old(bench)
    await bench.step(bench.admin(REGEN_CM, REGEN_TVS, RESET, later=HOLD), m=SIGNER, o=KEEPS)
    await bench.step(bench.admin(RESTART_TFTP), m=SIGNER, o=KEEPS)


async def c4_recovery_regenerated(bench: Bench) -> None:
    """C4: a new recovery key changes no ITL until TFTP restarts; then it is taken."""
    await single_node(bench)
    await modern_and_old(bench)
    await bench.step(bench.admin(REGEN_RECOVERY), m=KEEPS, o=KEEPS)
    await bench.step(bench.admin(RESTART_TFTP), m=SIGNER, o=KEEPS)


async def c6_only_phones_holding_the_record(bench: Bench) -> None:
    """C6: phone m reboots after the new recovery key reaches the ITL, phone n does not;
    after B2's change and a reset, m recovers and n is locked."""
    await single_node(bench)
    await bench.add("m", "00D1FF000001", "8845")
    await bench.add("n", "00D1FF000004", "8845")
    prediction = await bench.change(bench.admin(REGEN_RECOVERY, RESTART_TFTP))
    await bench.reboot(prediction, {"m": SIGNER}, only=("m",))
    bench.lab.later(HOLD)
    await bench.step(bench.admin(REGEN_CM, REGEN_TVS, RESET, later=HOLD), m=SIGNER, n=LOCKS)


# -- D: mixed mode ----------------------------------------------------------------------------


async def d1_mixed_mode(bench: Bench) -> None:
    """D1: the publisher's phone takes the CTL on its ITL's word, the subscriber's through
    TVS, the 7960 (no lists) on first use."""
    await modern_and_old(bench, sub=True)
    await bench.step(bench.admin((MIXED, "y")), m=SIGNER, o=FIRST_USE, s=TVS)


async def d6_regen_without_ctl_update(bench: Bench) -> None:
    """D6/D7 without the CTL update: the ITL is taken through TVS; the 7960's CTL does not
    name the new signer of its configuration."""
    await modern_and_old(bench, sub=True)
    await bench.step(bench.admin((MIXED, "y")), m=SIGNER, o=FIRST_USE, s=TVS)
    await bench.step(bench.admin(REGEN_CM), m=TVS, o=LOCKS, s=KEEPS)


async def d6_regen_with_ctl_update(bench: Bench) -> None:
    """D6/D7: regeneration and ``utils ctl update CTLFile`` before any reboot: TVS vouches
    for the new CTL's signer; the 7960 has no TVS and locks."""
    await modern_and_old(bench, sub=True)
    await bench.step(bench.admin((MIXED, "y")), m=SIGNER, o=FIRST_USE, s=TVS)
    await bench.step(bench.admin(REGEN_CM, (UPDATE_CTL, "y")), m=TVS, o=LOCKS, s=TVS)


async def d9_back_to_non_secure(bench: Bench) -> None:
    """D9: non-secure mode keeps the CTL served; deleting it leaves the phones their own."""
    await modern_and_old(bench)
    await bench.step(bench.admin((MIXED, "y")), m=SIGNER, o=FIRST_USE)
    await bench.step(bench.admin(("utils ctl set-cluster non-secure-mode", "y")), m=KEEPS, o=KEEPS)
    await bench.step(bench.admin(("file delete tftp CTLFile.tlv", "y")), m=KEEPS, o=KEEPS)


# -- E: rollback and moves ----------------------------------------------------------------------


async def e1_rollback_then_regenerations(bench: Bench) -> None:
    """E1: the rollback ITL, then B2's change (no lock), then rollback off."""
    await modern_and_old(bench)
    await bench.step(bench.call(inventory.set_param, P.ROLLBACK, "True"), m=SIGNER, o=KEEPS)
    await bench.step(bench.admin(REGEN_CM, REGEN_TVS, later=HOLD), m=FIRST_USE, o=KEEPS)
    await bench.step(bench.call(inventory.set_param, P.ROLLBACK, "False"), m=FIRST_USE, o=KEEPS)


async def e1_rollback_too_late(bench: Bench) -> None:
    """E1 needs a working trust state: set after B2's change, the rollback ITL is refused."""
    await single_node(bench)
    await modern_and_old(bench)
    rollback = bench.call(inventory.set_param, P.ROLLBACK, "True")
    await bench.step(then(bench.admin(REGEN_CM, REGEN_TVS, later=HOLD), rollback), m=LOCKS, o=KEEPS)


Scenario = Callable[[Bench], Awaitable[None]]

CASES = [
    pytest.param(b1_two_node_group, id="B1-two-node-group"),
    pytest.param(b1_one_node, id="B1-one-node"),
    pytest.param(b2_together_one_node, id="B2-together-one-node"),
    pytest.param(b2_together_two_node_group, id="B4-together-two-node-group"),
    pytest.param(b3_one_at_a_time, id="B3-one-at-a-time"),
    pytest.param(b4_domain_change_one_node, id="B4-domain-change-one-node"),
    pytest.param(b4_rollback_first, id="B4-E1-rollback-first"),
    pytest.param(c1_reset_then_tftp_restart, id="C1-reset-then-tftp-restart"),
    pytest.param(c1_reset_after_b2, id="C1-reset-after-B2"),
    pytest.param(c4_recovery_regenerated, id="C4-recovery-regenerated"),
    pytest.param(c6_only_phones_holding_the_record, id="C6-only-phones-holding-the-record"),
    pytest.param(d1_mixed_mode, id="D1-mixed-mode"),
    pytest.param(d6_regen_without_ctl_update, id="D6-D7-regen-without-ctl-update"),
    pytest.param(d6_regen_with_ctl_update, id="D6-D7-regen-with-ctl-update"),
    pytest.param(d9_back_to_non_secure, id="D9-back-to-non-secure"),
    pytest.param(e1_rollback_then_regenerations, id="E1-rollback-then-regenerations"),
    pytest.param(e1_rollback_too_late, id="E1-rollback-too-late"),
]


async def _run(lab: Lab, scenario: Scenario) -> None:
    async with site_of(lab, *NODES) as site:
        bench = Bench(site)
        await scenario(bench)
        assert bench.compared > 0
        assert not bench.stale, f"phones left out (they refused a download): {bench.stale}"


@pytest.mark.parametrize("scenario", CASES)
def test_predicted_verdicts_are_real_boots(lab: Lab, scenario: Scenario) -> None:
    run_async(_run(lab, scenario))


# -- E3: phones moved to another cluster ------------------------------------------------------


async def _nothing(bench: Bench, far: Lab) -> None:
    """No preparation."""


async def _rollback(bench: Bench, far: Lab) -> None:
    await bench.step(bench.call(inventory.set_param, P.ROLLBACK, "True"), m=SIGNER, o=KEEPS)


async def _trust_export(bench: Bench, far: Lab) -> None:
    far_cm = current(far.ctx, "far-pub", CertName.CALLMANAGER)
    await bench.step(
        bench.call(truststores.upload, TrustStore.PHONE_SAST, far_cm), m=KEEPS, o=KEEPS
    )


Prepare = Callable[[Bench, Lab], Awaitable[None]]

MOVES = [
    pytest.param(_nothing, LOCKS, id="E3-move-without-preparation"),
    pytest.param(_rollback, FIRST_USE, id="E3-move-after-rollback"),
    pytest.param(_trust_export, TVS, id="E3-move-after-bulk-trust-export"),
]


async def _move(
    lab: Lab,
    far: Lab,
    prepare: Prepare,
    modern: Outcome,
    predictor: Callable[[Lab, Lab], Prediction],
) -> None:
    async with site_of(lab) as old, site_of(far, "far-pub") as new:
        bench = Bench(old)
        await modern_and_old(bench)
        await asyncio.to_thread(
            inventory.add_devices,
            far.ctx,
            [Device(p.name, p.model.name) for p in bench.phones.values()],
        )
        await new.synced()
        await prepare(bench, far)
        await bench.recorded()
        prediction = await asyncio.to_thread(predictor, lab, far)
        for phone in bench.phones.values():
            phone.tftp = tftp_of(new, "far-pub")
            phone.routes = merged(old, new)
        await bench.reboot(prediction, {"m": modern, "o": KEEPS})


def planned_move(lab: Lab, far: Lab) -> Prediction:
    """``phonetrust plan --to-cluster``'s own prediction of the move."""
    prediction = moved(lab.ctx, far.where).steps[-1].prediction
    assert prediction is not None
    return prediction


@pytest.mark.parametrize(("prepare", "modern"), MOVES)
def test_predicted_moves_are_real_moves(
    lab: Lab, far: Lab, prepare: Prepare, modern: Outcome
) -> None:
    run_async(_move(lab, far, prepare, modern, planned_move))

"""The planner's proof on drawn sequences: predicted == real after every reboot (issue 12).

Hypothesis draws one to three administrator's operations (regenerations on
either node, the CallManager group, mixed mode, the CTL update, the ITL
reset, a TFTP restart, the rollback parameter), each followed or not by a
reboot of every phone. Each example runs on a fresh copy of the lab
cluster, served on loopback, with three phones (an 8845 of each node and a
7960 of the publisher). Each operation runs for real with the recording
guard of :mod:`tests.planner.test_differential`; when the phones reboot,
each one's real verdict must be the last prediction's (the changes made
since the last reboot add up, as they do for the phones).

A phone that refuses a list for real is then erased by hand and booted
again (G2's remedy), so that it holds again what it downloaded: the
planner predicts a phone from its downloads, and a refused list would
otherwise leave it holding lists the store cannot know.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import hypothesis.strategies as st
from hypothesis import HealthCheck, given, settings

from phonetrust.errors import LocalError
from phonetrust.planner.predict import Prediction
from phonetrust.policy import params as P
from phonetrust.service import inventory
from phonetrust.store.datadir import DataDir
from phonetrust.testing.clock import FakeClock
from phonetrust.testing.cluster import open_context
from tests.planner.test_differential import HOLD, NODES, Bench, recording
from tests.scenarios.conftest import run_async, site_of
from tests.service.conftest import PASSWORD, START, Lab

PUB, SUB = NODES


@dataclass(frozen=True)
class Op:
    """One administrator's operation, run for real on the bench's cluster."""

    text: str
    run: Callable[[Bench], Awaitable[None]]

    def __repr__(self) -> str:  # hypothesis prints the falsifying sequence with it
        return self.text


def _admin(line: str, *answers: str, node: str = PUB, hold: bool = False) -> Op:
    async def run(bench: Bench) -> None:
        if hold:  # past the 5-minute hold of the previous regeneration (B3)
            bench.lab.later(HOLD)
        await bench.site.admin(line, *answers, node=node)

    return Op(f"{line} on {node}" if node != PUB else line, run)


def _group(*members: str) -> Op:
    async def run(bench: Bench) -> None:
        await asyncio.to_thread(inventory.put_group, bench.lab.ctx, "Default", list(members))
        await bench.site.synced()

    return Op(f"group Default = {', '.join(members)}", run)


def _rollback(value: str) -> Op:
    async def run(bench: Bench) -> None:
        await asyncio.to_thread(inventory.set_param, bench.lab.ctx, P.ROLLBACK, value)
        await bench.site.synced()

    return Op(f"param rollback {value}", run)


OPS = [
    *(
        _admin(f"set cert regen {cert}", "yes", node=node, hold=True)
        for cert in ("CallManager", "TVS")
        for node in NODES
    ),
    _admin("set cert regen ITLRecovery", "yes", hold=True),
    _group(PUB),
    _group(SUB),
    _group(PUB, SUB),
    _admin("utils ctl set-cluster mixed-mode", "y"),
    _admin("utils ctl update CTLFile", "y"),
    _admin("utils itl reset localkey", PASSWORD),
    _admin("utils service restart Cisco Tftp"),
    _rollback("True"),
    _rollback("False"),
]

SEQUENCES = st.lists(st.tuples(st.sampled_from(OPS), st.booleans()), min_size=1, max_size=3)
"""(operation, whether every phone reboots after it); the last one always reboots."""


def fresh_lab(template: Path, where: Path) -> Lab:
    """A private copy of the lab cluster (the ``lab`` fixture's, made once per example)."""
    root = where / "data"
    shutil.copytree(template, root)
    data = DataDir.locate(root)
    clock = FakeClock(START + 3600)
    return Lab(data, open_context(data, clock), clock)


async def _resync(bench: Bench) -> None:
    """Phones that refused a list have their lists erased by hand and boot again, so
    that they hold what they downloaded (a refused configuration leaves the lists in
    step: those phones boot on as they are)."""
    for label, phone in bench.phones.items():
        if bench.last[label].list_failed is not None:
            phone.erase()
            report = await phone.boot()
            assert report.list_failed is None, report.summary()
            bench.last[label] = report
            bench.served[label] = bench.snapshot(label)


async def _replay(lab: Lab, sequence: list[tuple[Op, bool]]) -> int:
    async with site_of(lab, *NODES) as site:
        bench = Bench(site)
        await bench.add("m", "00E1FF000001", "8845")
        await bench.add("s", "00E1FF000002", "8845", tftp=SUB)
        await bench.add("o", "00E1FF000003", "7960")
        pending: Prediction | None = None
        for i, (op, reboot) in enumerate(sequence):
            await bench.recorded()
            # A refused operation (a CTL update outside mixed mode) changes nothing.
            with recording(lab) as recorder, contextlib.suppress(LocalError):
                await op.run(bench)
            if recorder.predictions:
                pending = recorder.predictions[-1]
            if (reboot or i == len(sequence) - 1) and pending is not None:
                await bench.reboot(pending, {})
                pending = None
                await _resync(bench)
        assert not bench.stale, f"phones left out (they refused a download): {bench.stale}"
        return bench.compared


@settings(
    max_examples=10,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(sequence=SEQUENCES)
def test_predicted_verdicts_follow_any_sequence(
    template: Path, sequence: list[tuple[Op, bool]]
) -> None:
    with tempfile.TemporaryDirectory(prefix="phonetrust-differential-") as tmp:
        lab = fresh_lab(template, Path(tmp))
        try:
            run_async(_replay(lab, sequence))
        finally:
            lab.ctx.repo.close()

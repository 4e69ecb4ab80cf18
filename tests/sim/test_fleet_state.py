"""``phone fleet --state DIR``: a fleet whose phones remember their flash between runs.

The point of the option is that a second run boots the *same* phones: ones
that hold the lists the first run gave them, so an administrator's change
that locks real phones (B2: CallManager and TVS regenerated together on one
node) locks these too, while phones fresh from the factory take the new ITL
on first use. The fleet boots against the cluster's real services, served in
this process as ``phone fleet`` serves them; the interruption test needs no
server at all, only phones whose boot is canned.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import replace
from pathlib import Path

from click.testing import CliRunner

from phonetrust.cli.main import cli
from phonetrust.policy.domain import Device
from phonetrust.policy.models import model
from phonetrust.policy.phone_trust import InstalledList, PhoneTrust
from phonetrust.service import inventory
from phonetrust.sim import storage
from phonetrust.sim.fleet import FleetSummary, PhoneOutcome, boot_in_process, run_fleet
from phonetrust.sim.network import Routes
from phonetrust.sim.phone import BootReport, Phone
from tests.cli.helpers import Result
from tests.service.conftest import Lab
from tests.sim import itl, world

MACS = [f"0011223344{i:02X}" for i in range(3)]
HOLD = 301
"""Seconds to wait out the 5-minute certificate hold between the two regenerations (B3)."""


def _quiet(_: int) -> AbstractContextManager[Callable[[PhoneOutcome], None]]:
    """A progress that hears nothing: the summary is what the tests read."""
    return contextlib.nullcontext(lambda _: None)


def _one_node_cluster(lab: Lab) -> None:
    """Three 8845 of a CallManager group of the publisher alone: one TVS server, as B2 needs."""
    inventory.add_devices(lab.ctx, [Device(f"SEP{mac}", "8845") for mac in MACS])
    inventory.put_group(lab.ctx, "Default", ["cucm-pub"])


def _fleet(lab: Lab, state: Path | None) -> FleetSummary:
    """``phone fleet`` of every device, the cluster served here, as the command runs it."""
    return asyncio.run(
        boot_in_process(
            lab.ctx,
            inventory.list_devices(lab.ctx),
            node=None,
            routes=Routes(),
            concurrency=3,
            timeout=5.0,
            tftp_dir=lab.where.tftp_dir,
            progress=_quiet,
            state_dir=state,
        )
    )


def _regenerate_callmanager_and_tvs(lab: Lab) -> None:
    """B2: both certificates new, so the new ITL is vouched for by nothing a phone holds."""
    lab.admin("set cert regen CallManager", "yes")
    lab.later(HOLD)
    lab.admin("set cert regen TVS", "yes")


def _itl_md5(lab: Lab) -> str:
    published = lab.file("cucm-pub", "ITLFile.tlv")
    assert published is not None
    return hashlib.md5(published).hexdigest()  # what `show itl` prints


def _saved_itl_md5s(state: Path) -> dict[str, str]:
    """Each phone directory's ITL, by phone, as the phone's Trust List screen shows it."""
    return {
        f"SEP{mac}": hashlib.md5((state / f"SEP{mac}" / storage.ITL_FILE).read_bytes()).hexdigest()
        for mac in MACS
    }


def test_phones_that_remember_lock_where_fresh_phones_do_not(lab: Lab, tmp_path: Path) -> None:
    _one_node_cluster(lab)
    state = tmp_path / "flash"
    old = _itl_md5(lab)

    first = _fleet(lab, state)
    assert first.locked_phones == 0, first.lines()
    assert first.failed_phones == 0, first.lines()
    assert first.itl == {old: 3}
    assert _saved_itl_md5s(state) == dict.fromkeys((f"SEP{m}" for m in MACS), old)

    _regenerate_callmanager_and_tvs(lab)
    new = _itl_md5(lab)
    assert new != old

    remembered = _fleet(lab, state)
    assert remembered.locked_phones == 3, remembered.lines()
    (reason,) = remembered.locked
    assert reason.startswith("ITLSEP<MAC>.tlv: "), reason
    assert remembered.itl == {old: 3}, "a locked phone keeps the ITL it held"
    assert remembered.applied == 0
    # Saved though locked: what the directory holds is still the old list.
    assert _saved_itl_md5s(state) == dict.fromkeys((f"SEP{m}" for m in MACS), old)

    fresh = _fleet(lab, None)
    assert fresh.locked_phones == 0, fresh.lines()
    assert fresh.itl == {new: 3}, "phones without a flash trust the new ITL on first use"
    assert _saved_itl_md5s(state) == dict.fromkeys((f"SEP{m}" for m in MACS), old), (
        "a fleet without --state touches no directory"
    )


def test_an_unloadable_directory_is_that_phones_failure_and_stays_as_it_was(
    lab: Lab, tmp_path: Path
) -> None:
    """Damaged, or another model's: the phone does not boot; the others boot and are saved."""
    _one_node_cluster(lab)
    state = tmp_path / "flash"
    damaged = state / f"SEP{MACS[0]}"
    damaged.mkdir(parents=True)
    (damaged / storage.STATE_FILE).write_text("{not json")
    other_model = state / f"SEP{MACS[1]}"
    storage.save(other_model, PhoneTrust(model("7975"), has_mic=False))
    before = {p: p.read_bytes() for d in (damaged, other_model) for p in sorted(d.iterdir())}

    summary = _fleet(lab, state)
    assert summary.phones == 3
    assert summary.failed_phones == 2, summary.lines()
    assert len(summary.errors) == 2, summary.errors
    assert all(e.startswith(f"StorageError: {state}/SEP<MAC>: ") for e in summary.errors)
    assert any("cannot load the phone's state" in e for e in summary.errors), summary.errors
    assert any("model 7975, the device 8845" in e for e in summary.errors), summary.errors
    assert summary.itl == {_itl_md5(lab): 1}, "the third phone booted"
    assert "Simulator failures: 2" in summary.lines()
    after = {p: p.read_bytes() for d in (damaged, other_model) for p in sorted(d.iterdir())}
    assert after == before, "a directory that could not be loaded is not written over"
    assert (state / f"SEP{MACS[2]}" / storage.ITL_FILE).exists()


class Canned(Phone):
    """A phone whose boot takes an ITL at once, or never ends (MAC ``...02``): no server."""

    async def boot(self) -> BootReport:
        if self.mac == MACS[2]:
            await asyncio.Event().wait()
        self.state = replace(self.state, itl_file=InstalledList(itl(world().cm2)))
        return BootReport(self.name)


def _canned(mac: str) -> Phone:
    return Canned(mac, model("8845"), "127.0.0.1")


async def _interrupted(state: Path) -> None:
    two_done = asyncio.Event()
    done: list[PhoneOutcome] = []

    def heard(outcome: PhoneOutcome) -> None:
        done.append(outcome)
        if len(done) == 2:
            two_done.set()

    fleet = asyncio.create_task(
        run_fleet((_canned(m) for m in MACS), concurrency=3, progress=heard, state_dir=state)
    )
    await two_done.wait()
    fleet.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await fleet


def test_an_interrupted_fleet_keeps_finished_phones_and_leaves_the_others(
    tmp_path: Path,
) -> None:
    state = tmp_path / "flash"
    held = InstalledList(itl(world().cm))
    unfinished = state / f"SEP{MACS[2]}"
    storage.save(unfinished, PhoneTrust(model("8845"), itl_file=held, has_mic=False))
    before = {p: p.read_bytes() for p in sorted(unfinished.iterdir())}

    asyncio.run(_interrupted(state))

    taken = InstalledList(itl(world().cm2)).md5
    for mac in MACS[:2]:
        saved, _ = storage.load(state / f"SEP{mac}")
        assert saved.itl_file is not None
        assert saved.itl_file.md5 == taken
    assert {p: p.read_bytes() for p in sorted(unfinished.iterdir())} == before


def _cli(*args: str | Path) -> Result:
    """The command in this process, through click, as tests/cli runs in-process commands."""
    text_args = tuple(str(a) for a in args)
    done = CliRunner().invoke(cli, text_args, prog_name="phonetrust")
    return Result(text_args, done.exit_code, done.stdout, done.stderr)


def test_the_fleet_command_keeps_and_reads_the_flash(lab: Lab, tmp_path: Path) -> None:
    _one_node_cluster(lab)
    state = tmp_path / "flash"
    base = ("phone", "fleet", "--data", lab.where.root, "--concurrency", "3", "--state", state)

    first = _cli(*base)
    assert first.code == 0, first
    assert first.stdout.splitlines()[-1] == f"Flash kept in {state} (a directory per phone).", first
    old = _itl_md5(lab)
    assert f"        3  {old}" in first.stdout.splitlines(), first
    assert _saved_itl_md5s(state) == dict.fromkeys((f"SEP{m}" for m in MACS), old)

    _regenerate_callmanager_and_tvs(lab)
    again = _cli(*base)
    assert again.code == 1, again
    assert "Locked: 3" in again.stdout.splitlines(), again

    (state / f"SEP{MACS[0]}" / storage.STATE_FILE).write_text("{not json")
    damaged = _cli(*base)
    assert damaged.code == 1, damaged
    lines = damaged.stdout.splitlines()
    assert "Simulator failures: 1" in lines, damaged
    assert any(line.strip().startswith("1  StorageError: ") for line in lines), damaged
    assert "Locked: 2" in lines, damaged

    assert "remember" in _cli("phone", "fleet", "--help").stdout

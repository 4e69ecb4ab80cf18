"""``phonetrust plan``'s work: run the steps on a copy of the cluster, predict after each.

The real store is read first, for what every phone holds now
(:func:`~.lastknown.last_known`). A scratch copy (:mod:`.scratch`) then
takes the steps one by one, each a real ``phonetrust`` command run on the
copy (:mod:`.steps`); after each, every phone is rebooted in memory against
the copy's new files (:mod:`.predict`). Phones keep what they hold until a
``reboot`` step: then each takes the state its predicted boot left it in,
so "regenerate, reboot, regenerate" is told apart from "regenerate twice";
the copy's clock moves on :data:`REBOOT_SECONDS` too. A step that fails
stops the plan there, as it would stop an administrator. Each safe procedure
planned after the steps reads the store again, on a copy of its own.

The copy publishes only trust lists (:attr:`~phonetrust.service.context.Context.sketch`):
re-signing ten thousand configuration files at each step would cost more
than the whole prediction, which reads one per class of alike phones; those
are made when a predicted boot asks for them, as the real build makes them.

The copy is removed when the plan ends; nothing is served and nothing of
the real cluster changes.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from phonetrust.clock import Clock, ShiftedClock, SystemClock
from phonetrust.errors import LocalError
from phonetrust.planner.lastknown import KnownPhone
from phonetrust.planner.offline import Servers
from phonetrust.planner.predict import Outcome, Prediction, predict, reboot_all
from phonetrust.planner.procedures import Procedure, cluster_facts, procedures_for
from phonetrust.planner.scratch import scratch_copy
from phonetrust.planner.steps import Step, StepRun, run_step
from phonetrust.service import fileplan
from phonetrust.service.changes import reading
from phonetrust.service.context import Context
from phonetrust.store.datadir import DataDir
from phonetrust.store.sql import open_repository


class Runner(Protocol):
    """Runs one command step on the copy, its clock ``clock_shift`` seconds ahead
    (:func:`~.steps.run_step` in a subprocess; the CLI runs it in its own process)."""

    def __call__(self, step: Step, scratch: DataDir, *, clock_shift: float) -> StepRun: ...


REBOOT_SECONDS = 600.0
"""How far the copy's clock moves on at a planned reboot: phones take minutes to come
back, and an administrator who reboots between two regenerations is past CUCM's
5-minute hold by then."""


@dataclass(frozen=True, slots=True)
class StepOutcome:
    """One step of a plan: what the command said, and what the phones would do after it."""

    step: Step
    run: StepRun | None = None
    """None for a ``reboot`` or ``wait`` step."""
    prediction: Prediction | None = None
    """After a command: every phone rebooted now. After ``reboot``: None (the phones
    took the previous prediction's states)."""

    @property
    def failed(self) -> bool:
        return self.run is not None and not self.run.ok


@dataclass(frozen=True, slots=True)
class Plan:
    """Every step planned (up to the first that failed) and the phones as they are now."""

    steps: tuple[StepOutcome, ...]
    now: Prediction
    """Every phone rebooted against the cluster as it is, before any step: phones locked
    already are not the plan's doing."""
    safer: tuple[tuple[Procedure, Plan], ...] = ()
    """The safe procedures the references teach for operations among the steps, each
    planned the same way."""

    @property
    def failed(self) -> StepOutcome | None:
        return next((s for s in self.steps if s.failed), None)

    @property
    def locks(self) -> bool:
        """Some step leaves phones locked that are not locked now."""
        already = {v.device for v in self.now.locked}
        return any(
            v.device not in already
            for s in self.steps
            if s.prediction is not None
            for v in s.prediction.locked
        )


def plan(
    ctx: Context,
    where: DataDir,
    steps: Sequence[Step],
    *,
    runner: Runner = run_step,
    progress: Callable[[str], None] = lambda _: None,
    password: str | None = None,
    procedures: bool = True,
    node: str | None = None,
) -> Plan:
    """Plan ``steps`` on a copy of the cluster of ``where`` (opened as ``ctx``).

    ``procedures``: also plan the safe procedures for the operations among the steps
    (``node``: the node ``admin`` commands act on without ``--node``).
    """
    progress("Reading what every phone last downloaded...")
    with reading(ctx) as uow:
        known, now = reboot_all(uow, ctx.clock)
        facts = cluster_facts(uow, node) if procedures else None
    with tempfile.TemporaryDirectory(prefix="phonetrust-plan-") as tmp:
        progress("Copying the cluster...")
        scratch = scratch_copy(ctx, where, Path(tmp), password=password)
        done: list[StepOutcome] = []
        last: Prediction = now
        shift = 0.0
        for step in steps:
            if step.reboot:
                known = rebooted(known, last)
                shift += REBOOT_SECONDS
                done.append(StepOutcome(step))
                continue
            if step.wait:
                shift += step.wait
                done.append(StepOutcome(step))
                continue
            progress(f"Running {step.text} on the copy...")
            # The copy's commands read the wall clock, moved to this context's time plus the
            # waits and reboots so far (a test's context has a clock of its own).
            offset = ctx.clock.now() + shift - SystemClock().now()
            run = runner(step, scratch, clock_shift=offset)
            if not run.ok:
                done.append(StepOutcome(step, run))
                break
            progress("Booting every phone against the new files...")
            last = predict_on(scratch, known, ShiftedClock(ctx.clock, shift), made=True)
            done.append(StepOutcome(step, run, last))
    safer: list[tuple[Procedure, Plan]] = []
    for procedure in [] if facts is None else procedures_for(steps, facts):
        progress(f"Planning the safe procedure: {procedure.title}...")
        planned = plan(
            ctx, where, procedure.steps, runner=runner, password=password, procedures=False
        )
        safer.append((procedure, planned))
    return Plan(tuple(done), now, tuple(safer))


def predict_on(
    where: DataDir, known: Mapping[str, KnownPhone], clock: Clock, *, made: bool = False
) -> Prediction:
    """Every phone of ``known`` rebooted against the cluster of ``where``.

    ``made``: ``where`` is the planner's copy, whose configuration files are made as
    phones ask for them (with its keys: the copy caches its cluster key).
    """
    repo = open_repository(where.db_url)
    try:
        with repo.unit_of_work() as uow:
            make = None
            if made:
                keys = where.keystore(repo, where.cluster_key(repo, _utc(clock)))
                make = fileplan.DeviceFiles(Context(repo, keys, clock, sketch=True), uow)
            return predict(known, Servers.read(uow, make=make), clock)
    finally:
        repo.close()


def _utc(clock: Clock) -> datetime:
    return datetime.fromtimestamp(clock.now(), UTC)


def rebooted(known: Mapping[str, KnownPhone], prediction: Prediction) -> dict[str, KnownPhone]:
    """The phones after the boots ``prediction`` made: each holds what its boot left it."""
    after = {v.device: v for v in prediction.verdicts}
    out = dict(known)
    for name, kp in known.items():
        verdict = after.get(name)
        if verdict is not None and verdict.after is not None:
            out[name] = replace(kp, state=verdict.after)
    return out


def newly_locked(plan_: Plan, outcome: StepOutcome) -> int:
    """Phones this step leaves locked that were not locked before any step."""
    if outcome.prediction is None:
        return 0
    already = {v.device for v in plan_.now.locked}
    return sum(1 for v in outcome.prediction.of(Outcome.LOCKS) if v.device not in already)


def moved(ctx: Context, target: DataDir) -> Plan:
    """The phones of ``ctx``'s cluster, holding what they hold, moved to ``target``'s
    cluster (E3): their TFTP server is now its publisher (DHCP option 150), and they
    still ask the TVS servers their old configuration names, which answer as the old
    cluster's TVS does."""
    with reading(ctx) as uow:
        known, now = reboot_all(uow, ctx.clock)
        here = Servers.read(uow)
    step = Step(("plan", "--to-cluster", str(target.root)), "command line", 1)
    repo = open_repository(target.db_url)
    try:
        with repo.unit_of_work() as uow:
            there = Servers.read(uow)
            address = there.tftp_address()
            if address is None:
                raise LocalError(f"{target.root}: no node of that cluster runs TFTP")
            retargeted = {n: replace(kp, tftp=address) for n, kp in known.items()}
            after = predict(retargeted, there.with_tvs_of(here), ctx.clock)
    finally:
        repo.close()
    return Plan((StepOutcome(step, StepRun(step, 0, ""), after),), now)

"""``phonetrust plan``'s work: run the steps on a copy of the cluster, predict after each.

The real store is read once, for what every phone holds now
(:func:`~.lastknown.last_known`). A scratch copy (:mod:`.scratch`) then
takes the steps one by one, each a real ``phonetrust`` command run on the
copy (:mod:`.steps`); after each, every phone is rebooted in memory against
the copy's new files (:mod:`.predict`). Phones keep what they hold until a
``reboot`` step: then each takes the state its predicted boot left it in,
so "regenerate, reboot, regenerate" is told apart from "regenerate twice".
A step that fails stops the plan there, as it would stop an administrator.

The copy is removed when the plan ends; nothing is served and nothing of
the real cluster changes.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from phonetrust.clock import Clock
from phonetrust.planner.lastknown import KnownPhone, last_known
from phonetrust.planner.offline import Servers
from phonetrust.planner.predict import Outcome, Prediction, predict
from phonetrust.planner.scratch import scratch_copy
from phonetrust.planner.steps import Step, StepRun, run_step
from phonetrust.service.changes import reading
from phonetrust.service.context import Context
from phonetrust.store.datadir import DataDir
from phonetrust.store.sql import open_repository

Runner = Callable[[Step, DataDir], StepRun]
"""Runs one command step on the scratch data directory (:func:`~.steps.run_step`)."""


@dataclass(frozen=True, slots=True)
class StepOutcome:
    """One step of a plan: what the command said, and what the phones would do after it."""

    step: Step
    run: StepRun | None = None
    """None for a ``reboot`` step."""
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
) -> Plan:
    """Plan ``steps`` on a copy of the cluster of ``where`` (opened as ``ctx``)."""
    progress("Reading what every phone last downloaded...")
    with reading(ctx) as uow:
        known = last_known(uow)
        now = predict(known, Servers.read(uow), ctx.clock)
    with tempfile.TemporaryDirectory(prefix="phonetrust-plan-") as tmp:
        progress("Copying the cluster...")
        scratch = scratch_copy(ctx, where, Path(tmp), password=password)
        done: list[StepOutcome] = []
        last: Prediction = now
        for step in steps:
            if step.reboot:
                known = rebooted(known, last)
                done.append(StepOutcome(step))
                continue
            progress(f"Running {step.text} on the copy...")
            run = runner(step, scratch)
            if not run.ok:
                done.append(StepOutcome(step, run))
                break
            progress("Booting every phone against the new files...")
            last = predict_on(scratch, known, ctx.clock)
            done.append(StepOutcome(step, run, last))
    return Plan(tuple(done), now)


def predict_on(scratch: DataDir, known: Mapping[str, KnownPhone], clock: Clock) -> Prediction:
    """Every phone of ``known`` rebooted against the cluster in ``scratch``."""
    repo = open_repository(scratch.db_url)
    try:
        with repo.unit_of_work() as uow:
            return predict(known, Servers.read(uow), clock)
    finally:
        repo.close()


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
    cluster (E1, E2): booted against its files and its TVS, as they are now."""
    with reading(ctx) as uow:
        known = last_known(uow)
        now = predict(known, Servers.read(uow), ctx.clock)
    step = Step(("plan", "--to-cluster", str(target.root)), "command line", 1)
    after = predict_on(target, known, ctx.clock)
    return Plan((StepOutcome(step, StepRun(step, 0, ""), after),), now)

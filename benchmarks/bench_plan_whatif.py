"""Planning one operation against booting the fleet:
``python benchmarks/bench_plan_whatif.py [--devices N] [--quick] [--keep DIR] [--repeat R]``.

Builds a demo cluster of 10,000 devices (``--devices N``; ``--quick``: 20,
one run each) with the product's own ``phonetrust cluster demo``, then, in
the same run:

- the baseline: ``phonetrust phone fleet`` boots every device once, in a
  subprocess, as :mod:`bench_fleet` does. Its TFTP servers record each
  device's downloads in the store: the states the planner starts from. Its
  "Elapsed:" line is the boots' time; its whole wall time is printed too;
- ``phonetrust plan --json -- admin -c "set cert regen CallManager"`` in a
  subprocess, as a person types it (its whole wall time, best and median of
  ``--repeat`` runs). Its JSON must give every phone a verdict, none
  ``unknown`` (they all booted); the verdicts' counts are printed;
- the same plan in this process (:func:`phonetrust.planner.whatif.plan`),
  with the time of each of its phases taken from its progress lines, and
  the prediction alone (``last_known``, ``Servers.read`` and ``predict``
  in one read-only unit of work);
- a second operation that changes every phone's verdict,
  ``admin -c "utils ctl set-cluster mixed-mode"`` (command, one run);
- the prediction against reality: the fleet boots again keeping each
  phone's flash (``phone fleet --state``), the operation is run for real,
  and the same fleet boots again from its flash; how many phones lock, keep
  their ITL, take a new one or have none must be what the plan predicted
  (the baseline above keeps no flash: saving 10,000 phones' files is not
  part of a boot);
- the lock-out guard on the demo cluster (``cluster demo``'s four phones,
  booted once): the same guarded change (``group set``, which republishes
  the plan and, unlike a regeneration, can be repeated at once) with the
  guard and without it (PHONETRUST_NO_GUARD), alternating, and the guard's
  own work in this process. Goal: under a second.

Then the ratio of the plan command to the fleet's boots (goal: at most
0.10) and whether the plan command took under 10 s (on 2 cores). The exit
status is 1 when the fleet or a plan failed or a phone's verdict is missing
or unknown; the speed goals are printed, never enforced.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench_fleet import BOOTED, ELAPSED, FLEET, fleet  # the same fleet, run the same way
from bench_fleet import build as build_cluster

from phonetrust.cli.app import PASSWORD_ENV, open_context
from phonetrust.cli.cluster_cmds import DEMO_PASSWORD
from phonetrust.cli.phone_cmds import DEFAULT_CONCURRENCY
from phonetrust.cli.plan_cmd import run_here
from phonetrust.planner import NO_GUARD_ENV
from phonetrust.planner.guard import LockoutGuard
from phonetrust.planner.predict import reboot_all
from phonetrust.planner.steps import command_step
from phonetrust.planner.whatif import plan
from phonetrust.service.changes import reading
from phonetrust.service.context import Context
from phonetrust.store.datadir import DataDir

DEVICES = 10_000
QUICK_DEVICES = 20
REPEAT = 3
OPERATION = ("admin", "-c", "set cert regen CallManager")
SECOND = ("admin", "-c", "utils ctl set-cluster mixed-mode")
"""Moves every phone: each takes its first CTL (or, without one, a new ITL's signer)."""
GOAL_RATIO = 0.10
GOAL_SECONDS = 10.0
EXIT_LOCKS = 1
"""``phonetrust plan``'s status when phones would lock: a plan made, not a failure."""


@dataclass(frozen=True, slots=True)
class PlanRun:
    """One ``phonetrust plan --json`` in a subprocess."""

    status: int
    seconds: float
    data: dict[str, Any] | None
    stderr: str


def plan_command(root: Path, operation: Sequence[str]) -> PlanRun:
    """Run ``phonetrust plan --json -- OPERATION`` on ``root``, timing its whole run."""
    command = [sys.executable, "-c", FLEET, "plan", "--json", "--data", str(root), "--"]
    started = time.perf_counter()
    done = subprocess.run(  # noqa: S603 - our own interpreter and command
        [*command, *operation],
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - started
    try:
        data = json.loads(done.stdout)
    except json.JSONDecodeError:
        data = None
    return PlanRun(done.returncode, seconds, data, done.stderr)


def check(run: PlanRun, devices: int) -> tuple[dict[str, int] | None, str]:
    """The verdicts' counts of the plan's step, and what is wrong with it ("" if nothing):
    the plan failed, or not every one of the ``devices`` phones got a known verdict."""
    if run.data is None or run.status not in (0, EXIT_LOCKS):
        return None, f"the plan failed (status {run.status}): {run.stderr.strip()[-500:]}"
    if run.data.get("failed") is not None:
        step = run.data["steps"][-1]
        return None, f"the step failed (status {step.get('status')}): {step.get('output')}"
    prediction = run.data["steps"][0]["prediction"]
    counts: dict[str, int] = prediction["counts"]
    phones = prediction["phones"]
    if len(phones) != devices or sum(counts.values()) != devices:
        return counts, f"{len(phones):,} verdicts for {devices:,} phones"
    if counts.get("unknown") or run.data["now"]["counts"].get("unknown"):
        return counts, f"{counts.get('unknown', 0):,} phones unknown: the fleet's boots not seen"
    return counts, ""


def timed(action: Callable[[], object], repeat: int) -> list[float]:
    """The seconds of each of ``repeat`` runs of ``action``."""
    out: list[float] = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        out.append(time.perf_counter() - started)
    return out


class Phases:
    """The seconds between a plan's progress lines: the time of each of its phases."""

    NAMES = ("read + predict now", "scratch copy", "the step", "predict on copy")

    def __init__(self) -> None:
        self.marks: list[float] = []

    def progress(self, _text: str) -> None:
        self.marks.append(time.perf_counter())

    def seconds(self, end: float) -> list[float]:
        marks = [*self.marks, end]
        return [b - a for a, b in itertools.pairwise(marks)]


def in_process(ctx: Context, root: Path, repeat: int) -> tuple[list[float], list[float]]:
    """``plan(...)`` of :data:`OPERATION` in this process: the seconds of each run and,
    for the fastest, of each phase."""
    steps = [command_step(OPERATION)]
    where = DataDir.locate(root)
    password = os.environ.get(PASSWORD_ENV) or None
    runs: list[float] = []
    best: list[float] = []
    for _ in range(repeat):
        phases = Phases()
        started = time.perf_counter()
        result = plan(
            ctx, where, steps, runner=run_here, progress=phases.progress, password=password
        )
        ended = time.perf_counter()
        if result.failed is not None:
            raise SystemExit(f"the in-process plan failed: {result.failed.run}")
        runs.append(ended - started)
        if min(runs) == runs[-1]:
            best = phases.seconds(ended)
    return runs, best


def prediction_alone(ctx: Context) -> None:
    """What every phone would do now: the planner's reading and its boots, no step."""
    with reading(ctx) as uow:
        reboot_all(uow, ctx.clock)


GUARD_GOAL = 1.0
GUARDED = ("group", "set", "Default", "cucm-pub", "cucm-sub", "--yes")
"""A guarded change that republishes the plan and can be made again at once (a certificate
regeneration cannot: CUCM's 5-minute hold)."""


class _Rollback(Exception):
    """Leaves the timed transaction without committing it."""


def guard_cost(root: Path, repeat: int) -> tuple[list[float], list[float], list[float]]:
    """On the demo cluster in ``root`` (its phones booted): the guard's own work in this
    process, and the regeneration command's wall time with and without the guard."""
    ctx = open_context(root, None)
    own: list[float] = []
    try:
        for _ in range(repeat):
            guard = LockoutGuard(lambda _: None, lambda _: True)
            with contextlib.suppress(_Rollback):
                _guard_once(ctx, guard, own)
            if guard.last is None or not guard.last.verdicts:
                raise SystemExit("the guard predicted nothing: were the demo phones booted?")
    finally:
        ctx.repo.close()
    command = [sys.executable, "-c", FLEET, *GUARDED, "--data", str(root)]
    guarded: list[float] = []
    bare: list[float] = []
    for _ in range(repeat):  # alternating, so a slower minute hits both alike
        for runs, extra in ((guarded, {}), (bare, {NO_GUARD_ENV: "1"})):
            env = {k: v for k, v in os.environ.items() if k != NO_GUARD_ENV} | extra
            started = time.perf_counter()
            subprocess.run(command, env=env, capture_output=True, check=True)  # noqa: S603
            runs.append(time.perf_counter() - started)
    return own, guarded, bare


def _guard_once(ctx: Context, guard: LockoutGuard, seconds: list[float]) -> None:
    """The guard's work inside a transaction that is then rolled back (raises _Rollback)."""
    started = time.perf_counter()
    with ctx.repo.unit_of_work() as uow:
        guard.begin(ctx, uow)
        guard(ctx, uow, uow.current_version())
        seconds.append(time.perf_counter() - started)
        raise _Rollback


def startup() -> float:
    """The seconds an interpreter takes to start and import the CLI (what each subprocess
    pays before its work)."""
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import phonetrust.cli.main"], check=True)
    return time.perf_counter() - started


def spread(runs: Sequence[float]) -> str:
    return f"best {min(runs):.2f} s, median {statistics.median(runs):.2f} s of {len(runs)}"


def main(argv: list[str] | None = None) -> int:  # noqa: PLR0915 - one run, top to bottom
    parser = argparse.ArgumentParser(description="Time planning one operation against boots.")
    parser.add_argument("--devices", type=int, default=None, help=f"devices (default {DEVICES:,})")
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_DEVICES} devices, one run")
    parser.add_argument("--repeat", type=int, default=None, help=f"runs per plan ({REPEAT})")
    parser.add_argument("--keep", type=Path, help="build in (or reuse) this directory")
    args = parser.parse_args(argv)
    devices = args.devices or (QUICK_DEVICES if args.quick else DEVICES)
    repeat = args.repeat or (1 if args.quick else REPEAT)
    print(
        f"phonetrust what-if benchmark: {devices:,} devices, {repeat} run(s) per plan, "
        f"Python {platform.python_version()}, {os.cpu_count()} CPUs, "
        f"load average {os.getloadavg()[0]:.1f}",
        flush=True,
    )
    os.environ.setdefault(PASSWORD_ENV, DEMO_PASSWORD)
    with tempfile.TemporaryDirectory(prefix="bench-whatif-") as scratch:
        root = args.keep or Path(scratch) / "data"
        if DataDir.locate(root).exists():
            print(f"build: reusing the cluster in {root}", flush=True)
        else:
            seconds = build_cluster(root, devices)
            print(f"build: {devices:,}-device demo cluster in {seconds:.1f} s", flush=True)

        flash = ["--state", str(Path(scratch) / "flash")]
        code, lines, fleet_wall, _ = fleet(root, DEFAULT_CONCURRENCY)
        elapsed = next((m for m in map(ELAPSED.match, lines) if m), None)
        if elapsed is None:
            print("\n".join(lines))
            print(f"fleet: the command failed (status {code})")
            return code or 1
        booted = next((m.group(1) for m in map(BOOTED.match, lines) if m), "?")
        rate = float(elapsed.group(2).replace(",", ""))
        # phones / rate: the boots' seconds with more digits than "Elapsed: 0.1 s" gives
        boots = int(booted.replace(",", "")) / rate if booted != "?" and rate else 0.0
        boots = boots or float(elapsed.group(1))
        print(
            f"fleet boot: {boots:.2f} s ({booted} phones, {elapsed.group(2)} phones/s); "
            f"command {fleet_wall:.1f} s in all, status {code}",
            flush=True,
        )

        runs = [plan_command(root, OPERATION) for _ in range(repeat)]
        failed = ""
        counts: dict[str, int] | None = None
        for run in runs:
            counts, problem = check(run, devices)
            failed = failed or problem
        print(f"verdicts: {_counts(counts)} (set cert regen CallManager)", flush=True)
        command_runs = [r.seconds for r in runs]

        ctx = open_context(root, None)
        try:
            inproc, phases = in_process(ctx, root, repeat)
            alone = timed(lambda: prediction_alone(ctx), repeat)
        finally:
            ctx.repo.close()
        start = startup()

        demo = Path(scratch) / "demo"
        build_cluster(demo, 4)
        demo_code, _, _, _ = fleet(demo, DEFAULT_CONCURRENCY)
        if demo_code != 0:
            failed = failed or f"the demo cluster's fleet failed (status {demo_code})"
        own, guarded, bare = guard_cost(demo, repeat)

        second = plan_command(root, SECOND)
        second_counts, problem = check(second, devices)
        failed = failed or problem
        print(
            f"second operation: {second.seconds:.2f} s (command), verdicts: "
            f"{_counts(second_counts)} (utils ctl set-cluster mixed-mode)"
        )

        old_itl = _itls(lines).most_common(1)[0][0] if _itls(lines) else NONE
        predicted = _predicted_shape(runs[0].data, old_itl)
        print(f"predicted: {_counts(predicted)}", flush=True)
        if predicted is None:
            failed = failed or "the plan made no prediction to check"
        else:
            real = _real_shape(root, flash, old_itl)
            print(f"real (the operation run, the same fleet booted again): {_counts(real)}")
            if predicted != real:
                failed = failed or "the fleet did not do what the plan predicted"

    best = min(command_runs)
    ratio = best / boots if boots else float("inf")
    print(f"plan (command): {spread(command_runs)}")
    print(f"plan (in-process): {spread(inproc)}")
    print(
        "in-process phases: "
        + ", ".join(f"{n} {s:.2f} s" for n, s in zip(Phases.NAMES, phases, strict=False))
    )
    print(f"prediction alone: {spread(alone)}")
    print(f"interpreter start + CLI import: {start:.2f} s (paid by the command and by the step)")
    print(
        f"plan: {best:.2f} s (command), {min(inproc):.2f} s (in-process), "
        f"{min(alone):.2f} s (prediction alone)"
    )
    print(f"fleet boot: {boots:.2f} s ({booted} phones)")
    verdict = "met" if ratio <= GOAL_RATIO else "not met"
    print(
        f"ratio plan/boot: {best:.2f}/{boots:.2f} = {ratio:.3f} "
        f"(goal <= {GOAL_RATIO:.2f}, {verdict})"
    )
    print(f"goal under {GOAL_SECONDS:.0f} s: {'met' if best < GOAL_SECONDS else 'not met'}")
    added = statistics.median(guarded) - statistics.median(bare)
    print(
        f"guard on the demo cluster: {spread(own)} of its own work; "
        f"`{' '.join(GUARDED[:3])}` {statistics.median(guarded):.2f} s with it, "
        f"{statistics.median(bare):.2f} s without (+{added:.2f} s; goal under "
        f"{GUARD_GOAL:.0f} s: {'met' if max(added, min(own)) < GUARD_GOAL else 'not met'})"
    )
    print(f"load average after: {os.getloadavg()[0]:.1f}")
    if failed:
        print(f"FAILED: {failed}")
        return 1
    return 0


NONE = "none"


def _itls(lines: Sequence[str]) -> Counter[str]:
    """The "ITL (MD5):" section of a fleet summary: {MD5 or "none": phones}."""
    found: Counter[str] = Counter()
    inside = False
    for line in lines:
        if line.startswith(("ITL (MD5):", "CTL (MD5):")):
            inside = line.startswith("ITL")
        elif inside and line.startswith("  "):
            count, _, md5 = line.strip().partition("  ")
            found[md5.strip()] = int(count.replace(",", ""))
    return found


def _shape(itls: Counter[str], locked: int, old_itl: str) -> dict[str, int]:
    same, none = itls[old_itl], itls[NONE]
    return {
        "locked": locked,
        "kept the old ITL": same,
        "took a new ITL": sum(itls.values()) - same - none,
        "no ITL": none,
    }


def _predicted_shape(data: dict[str, Any] | None, old_itl: str) -> dict[str, int] | None:
    """None when the plan made no prediction (its step failed: a reused cluster may still be
    within CUCM's 5-minute hold of the last run's real regeneration)."""
    last = None if data is None else data["steps"][-1]
    if last is None or "prediction" not in last:
        return None
    phones = last["prediction"]["phones"]
    itls = Counter(p["itl_md5"] or NONE for p in phones)
    return _shape(itls, sum(1 for p in phones if p["verdict"] == "locks"), old_itl)


def _real_shape(root: Path, flash: list[str], old_itl: str) -> dict[str, int]:
    """Boot the fleet keeping its flash (phones that hold what they downloaded, as the
    plan assumed), run the operation for real (no guard: the benchmark knows), and boot
    the same fleet again."""
    fleet(root, DEFAULT_CONCURRENCY, flash)
    env = dict(os.environ, **{NO_GUARD_ENV: "1"})
    command = [sys.executable, "-c", FLEET, *OPERATION, "--yes", "--data", str(root)]
    subprocess.run(command, env=env, capture_output=True, check=True)  # noqa: S603
    _, lines, _, _ = fleet(root, DEFAULT_CONCURRENCY, flash)
    locked = next((ln for ln in lines if ln.startswith("Locked: ")), "Locked: 0")
    return _shape(_itls(lines), int(locked.split()[1].replace(",", "")), old_itl)


def _counts(counts: dict[str, int] | None) -> str:
    if counts is None:
        return "none (the plan failed)"
    return ", ".join(f"{n:,} {k}" for k, n in counts.items() if n) or "none"


if __name__ == "__main__":
    sys.exit(main())

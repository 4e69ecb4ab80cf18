"""File plan rebuilds: ``python benchmarks/bench_plan.py [--devices N] [--quick] [--keep DIR]``.

Every administrative change rebuilds the whole file plan inside its
transaction. This builds a demo cluster of 2,000 devices (``--devices N``;
``--quick``: 50, for a smoke run) with the product's own ``phonetrust
cluster demo``, in a temporary directory, then times
:func:`phonetrust.service.fileplan.build` in transactions that are rolled
back, so every run starts from the same published plan:

- ``(a)`` nothing changed: every file keeps its published bytes;
- ``(b)`` one device's setting changed: that device's files are re-signed;
- ``(c)`` the rollback parameter changed: every device's document changes
  and every ``.sgn`` is re-signed (the RSA signatures dominate).

Each figure is the best of ``--repeat`` runs, in seconds and milliseconds
per device.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from bench_fleet import build as build_cluster  # the same demo cluster, made the same way

from phonetrust.cli.app import PASSWORD_ENV, open_context
from phonetrust.cli.cluster_cmds import DEMO_PASSWORD
from phonetrust.policy import params as P
from phonetrust.service import fileplan
from phonetrust.service.context import Context
from phonetrust.store.repository import UnitOfWork

DEVICES = 2_000
QUICK_DEVICES = 50


class _Rollback(Exception):
    """Leaves the timed transaction without committing it, carrying the build's seconds."""

    def __init__(self, seconds: float) -> None:
        super().__init__(seconds)
        self.seconds = seconds


def _build_once(ctx: Context, change: Callable[[UnitOfWork], None]) -> None:
    """Apply ``change``, time one plan build, and roll everything back (raises _Rollback)."""
    with ctx.repo.unit_of_work() as uow:
        change(uow)
        started = time.perf_counter()
        fileplan.build(ctx, uow, fileplan.PlanInputs())
        raise _Rollback(time.perf_counter() - started)


def timed_build(ctx: Context, change: Callable[[UnitOfWork], None], repeat: int) -> float:
    """The best time of ``repeat`` plan builds after ``change``, each rolled back."""
    best = float("inf")
    for _ in range(repeat):
        try:
            _build_once(ctx, change)
        except _Rollback as done:
            best = min(best, done.seconds)
    return best


def nothing(uow: UnitOfWork) -> None:
    """No change: the plan rebuilt from what is published."""


def one_device(uow: UnitOfWork) -> None:
    """One device gets a new vendorConfig setting."""
    device = uow.list_devices()[0]
    uow.put_device(replace(device, settings={**device.settings, "webAccess": "1"}))


def rollback_parameter(uow: UnitOfWork) -> None:
    """``Prepare Cluster for Rollback to pre 8.0``: every document's secure URLs change."""
    current = P.effective(uow.get_params())[P.ROLLBACK]
    uow.set_param(P.ROLLBACK, "False" if current == "True" else "True")


def report(label: str, seconds: float, devices: int) -> None:
    print(f"({label}: {seconds:.3f} s = {seconds / devices * 1000:.3f} ms per device")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Time file plan rebuilds on a demo cluster.")
    parser.add_argument("--devices", type=int, default=None, help=f"devices (default {DEVICES:,})")
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_DEVICES} devices, one run")
    parser.add_argument("--repeat", type=int, default=None, help="runs per figure (default 3)")
    parser.add_argument("--keep", type=Path, help="build in (or reuse) this directory")
    args = parser.parse_args(argv)
    devices = args.devices or (QUICK_DEVICES if args.quick else DEVICES)
    repeat = args.repeat or (1 if args.quick else 3)
    print(
        f"phonetrust plan benchmark: {devices:,} devices, best of {repeat}, "
        f"Python {platform.python_version()}, {os.cpu_count()} CPUs, "
        f"load average {os.getloadavg()[0]:.1f}",
        flush=True,
    )
    os.environ.setdefault(PASSWORD_ENV, DEMO_PASSWORD)
    with tempfile.TemporaryDirectory(prefix="phonetrust-plan-") as tmp:
        root = args.keep or Path(tmp) / "data"
        print(f"cluster: {build_cluster(root, devices):.1f} s to create", flush=True)
        ctx = open_context(root, None)
        try:
            report("a) rebuild, nothing changed", timed_build(ctx, nothing, repeat), devices)
            report(
                "b) rebuild after one device's change",
                timed_build(ctx, one_device, repeat),
                devices,
            )
            report(
                "c) rebuild after a change to every device",
                timed_build(ctx, rollback_parameter, repeat),
                devices,
            )
        finally:
            ctx.repo.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

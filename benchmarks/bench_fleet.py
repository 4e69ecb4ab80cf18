"""A boot storm: ``python benchmarks/bench_fleet.py [--count N] [--concurrency C] [--keep DIR]``.

Builds a demo cluster of 10,000 devices (``--count N``: N devices, for a
smoke run) with the product's own ``phonetrust cluster demo --devices N``,
in a temporary directory, then runs ``phonetrust phone fleet`` on it in a
subprocess, exactly as a person would: the command serves both nodes of the
cluster in its own process on free loopback ports and boots every device as
a simulated phone (CTL, ITL, signed configuration, over real UDP), 50 at a
time by default, with its progress bar on stderr. Lines printed:

- ``build: ...`` the demo cluster's creation (keys, devices, the file plan);
- the fleet command's own summary (hashes, locked, applied, its elapsed time);
- ``fleet: ...`` phones, seconds and phones/s of the boots alone, and the
  command's whole wall time (start-up, loading the services' files, boots);
- ``peak memory: ...`` of the fleet command's process.

The exit status is the fleet command's: 0 when no phone ended locked.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from phonetrust.cli.cluster_cmds import demo_cluster
from phonetrust.cli.phone_cmds import DEFAULT_CONCURRENCY
from phonetrust.store.datadir import DataDir

DEVICES = 10_000
ELAPSED = re.compile(r"^Elapsed: ([\d.]+) s \(([\d,.]+) phones/s\)$")
BOOTED = re.compile(r"^Phones booted: ([\d,]+) ")
FLEET = "from phonetrust.cli.main import main; main()"


def build(root: Path, devices: int) -> float:
    """The demo cluster, made by the product's command; returns the seconds it took."""
    started = time.perf_counter()
    code = demo_cluster.main(
        ["--devices", str(devices), "--data", str(root)],
        prog_name="phonetrust cluster demo",
        standalone_mode=False,
    )
    if code not in (None, 0):
        raise SystemExit(f"cluster demo failed with status {code}")
    return time.perf_counter() - started


def fleet(
    root: Path, concurrency: int, extra: Sequence[str] = ()
) -> tuple[int, list[str], float, int]:
    """Run ``phone fleet`` (with ``extra`` options): its exit status, stdout lines, wall
    seconds, peak RSS (KiB)."""
    started = time.perf_counter()
    command = [sys.executable, "-c", FLEET, "phone", "fleet", "--data", str(root), *extra]
    done = subprocess.run(  # noqa: S603 - our own interpreter and command
        [*command, "--concurrency", str(concurrency)],
        stdout=subprocess.PIPE,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return done.returncode, done.stdout.splitlines(), wall, peak


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Boot a demo cluster's phones all at once.")
    parser.add_argument("--count", type=int, default=DEVICES, help="devices (and phones)")
    parser.add_argument("--concurrency", type=int, default=DEFAULT_CONCURRENCY)
    parser.add_argument("--keep", type=Path, help="build in (or reuse) this directory")
    args = parser.parse_args(argv)
    print(
        f"phonetrust fleet benchmark: {args.count:,} phones, concurrency {args.concurrency}, "
        f"Python {platform.python_version()}, {os.cpu_count()} CPUs, "
        f"load average {os.getloadavg()[0]:.1f}",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="bench-fleet-") as scratch:
        root = args.keep or Path(scratch) / "data"
        if DataDir.locate(root).exists():
            print(f"build: reusing the cluster in {root}", flush=True)
        else:
            seconds = build(root, args.count)
            print(
                f"build: {args.count:,}-device demo cluster in {seconds:.1f} s "
                f"({seconds / max(args.count, 1) * 1000:.1f} ms per device)",
                flush=True,
            )
        code, lines, wall, peak_kib = fleet(root, args.concurrency)
    for line in lines:
        print(line)
    elapsed = next((m for m in map(ELAPSED.match, lines) if m), None)
    if elapsed is None:
        print(f"fleet: the command failed (status {code})")
        return code or 1
    boots, rate = float(elapsed.group(1)), elapsed.group(2)
    booted = next((m.group(1) for m in map(BOOTED.match, lines) if m), "?")
    print(
        f"fleet: {booted} phones in {boots:.1f} s ({rate} phones/s), "
        f"concurrency {args.concurrency}; command {wall:.1f} s in all"
    )
    print(f"peak memory: {peak_kib / 1024:,.0f} MiB (the fleet command's process)")
    print(f"load average after: {os.getloadavg()[0]:.1f}")
    return code


if __name__ == "__main__":
    sys.exit(main())

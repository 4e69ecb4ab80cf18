"""The fleet benchmark runs: ``benchmarks/bench_fleet.py --count 8`` prints its figure lines.

Only that it runs end to end and reports is checked here (a small demo
cluster built by the product's command, then ``phone fleet`` on it), never
the figures: they depend on the machine and its load.
"""

from __future__ import annotations

import re

import pytest

from tests.benchruns import assert_each_once, run_benchmark

FIGURE_LINES = (
    re.compile(r"^build: 8-device demo cluster in [\d.]+ s \([\d.]+ ms per device\)$"),
    re.compile(r"^Phones booted: 8 \(2 x 7960, 2 x 7975, 2 x 8845, 2 x 8865\)$"),
    re.compile(r"^Locked: 0$"),
    re.compile(r"^Configuration applied: 8$"),
    re.compile(
        r"^fleet: 8 phones in [\d.]+ s \([\d,.]+ phones/s\), concurrency 50; "
        r"command [\d.]+ s in all$"
    ),
    re.compile(r"^peak memory: [\d,]+ MiB \(the fleet command's process\)$"),
)


@pytest.mark.slow
def test_small_fleet_benchmark_runs_and_prints_its_figures() -> None:
    assert_each_once(run_benchmark("bench_fleet.py", "--count", "8"), FIGURE_LINES)

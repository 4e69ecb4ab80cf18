"""The what-if benchmark runs: ``benchmarks/bench_plan_whatif.py --quick`` prints its figures.

A 20-device demo cluster, its fleet booted once (the baseline, and the
recorded states), then the plan of one operation as a command, in process
and the prediction alone. Only that it runs, that every phone got a verdict
(it exits 0 only then) and that it prints its lines is checked, never the
figures: they depend on the machine and its load.
"""

from __future__ import annotations

import re

import pytest

from tests.benchruns import assert_each_once, run_benchmark

LINES = (
    re.compile(r"^fleet boot: [\d.]+ s \(20 phones, [\d,.]+ phones/s\); command [\d.]+ s in all"),
    re.compile(r"^verdicts: .*\d+ (keeps|tvs|signer).* \(set cert regen CallManager\)$"),
    re.compile(r"^second operation: [\d.]+ s \(command\), verdicts: .*\d+ .*mixed-mode\)$"),
    re.compile(r"^plan: [\d.]+ s \(command\), [\d.]+ s \(in-process\), [\d.]+ s \(prediction"),
    re.compile(r"^in-process phases: read \+ predict now [\d.]+ s, scratch copy [\d.]+ s, "),
    re.compile(r"^fleet boot: [\d.]+ s \(20 phones\)$"),
    re.compile(r"^ratio plan/boot: [\d.]+/[\d.]+ = ([\d.]+|inf) \(goal <= 0\.10, (met|not met)\)$"),
    re.compile(r"^goal under 10 s: (met|not met)$"),
)


@pytest.mark.slow
def test_quick_whatif_benchmark_plans_every_phone_and_prints_its_figures() -> None:
    lines = run_benchmark("bench_plan_whatif.py", "--quick")
    assert_each_once(lines, LINES)
    assert not any("unknown" in line for line in lines if line.startswith("verdicts:"))

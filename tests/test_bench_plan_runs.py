"""The plan benchmark runs: ``benchmarks/bench_plan.py --quick`` prints its three figures.

Only that it runs and reports is checked, never the figures (they depend on
the machine and its load).
"""

from __future__ import annotations

import re

import pytest

from tests.benchruns import assert_each_once, run_benchmark

LINES = tuple(
    re.compile(rf"^\({label}\) rebuild.*: [\d.]+ s = [\d.]+ ms per device$") for label in "abc"
)


@pytest.mark.slow
def test_quick_plan_benchmark_prints_its_figures() -> None:
    assert_each_once(run_benchmark("bench_plan.py", "--quick"), LINES)

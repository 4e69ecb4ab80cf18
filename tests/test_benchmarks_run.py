"""The benchmark script runs: ``benchmarks/bench_formats.py --quick`` prints its three figures.

Only that it runs and reports is checked here, never the timings: those
depend on the machine, and the goals are for a person to read.
"""

from __future__ import annotations

import re

import pytest

from tests.benchruns import assert_each_once, run_benchmark

FIGURE_LINES = (
    re.compile(r"^\(a\) ITL build\+sign, 10 records, .*: median [\d.]+ (µs|ms) over \d+ runs$"),
    re.compile(
        r"^\(b\) ITL parse\+verify, 10 records: median [\d.]+ (µs|ms) over \d+ runs; "
        r"goal < 1 ms: (PASS|FAIL)$"
    ),
    re.compile(
        r"^\(c\) signing 1,000 files of 7 KB, RSA-2048/SHA-1: "
        r"phonetrust [\d,]+ files/s, bare cryptography [\d,]+ files/s, "
        r"overhead [+-][\d.]+ %; goal < 10 %: (PASS|FAIL)$"
    ),
)


@pytest.mark.slow
def test_quick_benchmark_runs_and_prints_its_three_figures() -> None:
    assert_each_once(run_benchmark("bench_formats.py", "--quick"), FIGURE_LINES)

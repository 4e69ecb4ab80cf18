"""The benchmark script runs: ``benchmarks/bench_formats.py --quick`` prints its three figures.

Only that it runs and reports is checked here, never the timings: those
depend on the machine, and the goals are for a person to read.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "bench_formats.py"

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
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick"],
        capture_output=True,
        check=False,
        env=env,
        timeout=300,
    )
    out = done.stdout.decode("utf-8")
    assert done.returncode == 0, done.stderr.decode("utf-8", "replace")
    lines = out.splitlines()
    for pattern in FIGURE_LINES:
        assert sum(1 for line in lines if pattern.match(line)) == 1, (pattern.pattern, out)

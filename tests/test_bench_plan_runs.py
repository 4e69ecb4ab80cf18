"""The plan benchmark runs: ``benchmarks/bench_plan.py --quick`` prints its three figures.

Only that it runs and reports is checked, never the figures (they depend on
the machine and its load).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "bench_plan.py"
LINES = tuple(
    re.compile(rf"^\({label}\) rebuild.*: [\d.]+ s = [\d.]+ ms per device$") for label in "abc"
)


@pytest.mark.slow
def test_quick_plan_benchmark_prints_its_figures() -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick"], capture_output=True, check=False, timeout=300
    )
    out = done.stdout.decode()
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    for pattern in LINES:
        assert sum(1 for line in out.splitlines() if pattern.match(line)) == 1, (pattern, out)

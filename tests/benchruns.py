"""Running a benchmark script the way its smoke test does.

The smoke tests (tests/test_bench_*_runs.py) check only that a script runs
and prints its figure lines, never the figures: those depend on the machine
and its load, and the goals are for a person to read.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


def run_benchmark(script: str, *args: str, timeout: float = 300) -> list[str]:
    """The lines ``benchmarks/SCRIPT ARGS...`` printed; the test fails if it exited non-zero."""
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / script), *args],
        capture_output=True,
        check=False,
        env=env,
        timeout=timeout,
    )
    out = done.stdout.decode("utf-8", "replace")
    assert done.returncode == 0, out + done.stderr.decode("utf-8", "replace")
    return out.splitlines()


def assert_each_once(lines: list[str], patterns: Iterable[re.Pattern[str]]) -> None:
    """Each pattern matches exactly one line."""
    for pattern in patterns:
        found = sum(1 for line in lines if pattern.match(line))
        assert found == 1, (pattern.pattern, "\n".join(lines))

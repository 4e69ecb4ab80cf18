"""The CAPF benchmark runs: ``benchmarks/bench_capf.py --quick`` prints its figures.

Only that it runs, loses nothing and reports is checked, never the rates:
they depend on the machine, and the goal is for a person to read.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "bench_capf.py"

FIGURE = re.compile(
    r"^\((?P<label>[a-d])\) (?P<clients>10|50) clients, (?P<key>EC-P256|RSA-2048) phone keys: "
    r"(?P<count>[\d,]+) enrolments in [\d.]+ s = [\d,]+ enrolments/s, lost (?P<lost>\d+)$"
)
SIGNATURES = re.compile(r"^\(e\) RSA-2048 signatures/s on one core here: [\d,]+; .*$")
GOAL = re.compile(r"^goal >= 500 enrolments/s at 50 clients, none lost: .*: (PASS|FAIL)$")


@pytest.mark.slow
def test_quick_capf_benchmark_runs_and_loses_nothing() -> None:
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--count", "20"],
        capture_output=True,
        check=False,
        env=env,
        timeout=300,
    )
    out = done.stdout.decode("utf-8")
    assert done.returncode == 0, done.stderr.decode("utf-8", "replace")
    lines = out.splitlines()
    figures = [m for line in lines if (m := FIGURE.match(line))]
    assert [m["label"] for m in figures] == ["a", "b", "c", "d"], out
    assert all(m["lost"] == "0" and m["count"] == "20" for m in figures), out
    assert sum(1 for line in lines if SIGNATURES.match(line)) == 1, out
    assert sum(1 for line in lines if GOAL.match(line)) == 1, out

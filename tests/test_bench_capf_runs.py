"""The CAPF benchmark runs: ``benchmarks/bench_capf.py --quick`` prints its figures.

Only that it runs, loses nothing and reports is checked, never the rates:
they depend on the machine, and the goal is for a person to read.
"""

from __future__ import annotations

import re

import pytest

from tests.benchruns import run_benchmark

FIGURE = re.compile(
    r"^\((?P<label>[a-d])\) (?P<clients>10|50) clients, (?P<key>EC-P256|RSA-2048) phone keys: "
    r"(?P<count>[\d,]+) enrolments in [\d.]+ s = [\d,]+ enrolments/s, lost (?P<lost>\d+)$"
)
SIGNATURES = re.compile(r"^\(e\) RSA-2048 signatures/s on one core here: [\d,]+; .*$")
GOAL = re.compile(r"^goal >= 500 enrolments/s at 50 clients, none lost: .*: (PASS|FAIL)$")


@pytest.mark.slow
def test_quick_capf_benchmark_runs_and_loses_nothing() -> None:
    lines = run_benchmark("bench_capf.py", "--quick", "--count", "20")
    out = "\n".join(lines)
    figures = [m for line in lines if (m := FIGURE.match(line))]
    assert [m["label"] for m in figures] == ["a", "b", "c", "d"], out
    assert all(m["lost"] == "0" and m["count"] == "20" for m in figures), out
    assert sum(1 for line in lines if SIGNATURES.match(line)) == 1, out
    assert sum(1 for line in lines if GOAL.match(line)) == 1, out

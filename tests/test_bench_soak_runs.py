"""The soak benchmark runs: ``benchmarks/bench_soak.py --seconds 10`` prints its figure lines.

Only that it runs end to end and reports is checked here (a demo cluster,
``serve`` in its own process, good clients, floods and admin changes),
never the figures: they depend on the machine and its load.
"""

from __future__ import annotations

import re

import pytest

from tests.benchruns import assert_each_once, run_benchmark

FIGURE_LINES = (
    re.compile(r"^build: \d+-device demo cluster in [\d.]+ s$"),
    re.compile(r"^good requests: \d+ phone boots, \d+ TVS queries, \d+ CAPF enrolments$"),
    re.compile(r"^failed good requests: \d+ \(\d+ boots, \d+ TVS, \d+ CAPF; \d+ needed a retry\)"),
    re.compile(r"^attacks: \d+ TFTP requests from silent ports, \d+ silent TLS-port connections$"),
    re.compile(r"^admin changes: \d+ imports, \d+ renames, \d+ regenerations \(.*\)$"),
    re.compile(r"^descriptors: start \d+, halfway \d+, end \d+$"),
    re.compile(r"^memory: start [\d.]+ MiB, halfway [\d.]+ MiB, end [\d.]+ MiB$"),
    re.compile(r"^uptime: .*$"),
)


@pytest.mark.slow
def test_a_short_soak_runs_and_prints_its_figures() -> None:
    assert_each_once(run_benchmark("bench_soak.py", "--seconds", "10"), FIGURE_LINES)

"""The TVS benchmark runs: ``benchmarks/bench_tvs.py --quick`` prints its figure and goal lines.

Only that it runs and reports is checked here, never the figures: they depend
on the machine and its load, and the goals are for a person to read.
"""

from __future__ import annotations

import re

import pytest

from tests.benchruns import assert_each_once, run_benchmark

FIGURE_LINES = (
    *(
        re.compile(
            rf"^\({label}\) {clients} concurrent clients, fresh TLS connection each: "
            r"[\d,]+ verifications/s, \d+ errors, server CPU \d+ % "
            r"\([\d,]+ per server CPU-second\), load generator CPU \d+ %$"
        )
        for label, clients in (("a", "10"), ("b", "200"), ("c", "1,000"))
    ),
    re.compile(
        r"^ceiling: [\d,]+ RSA-2048 signatures/s on the server's core "
        r"\(one per full TLS handshake\)$"
    ),
    re.compile(r"^goal >= 1,200 verifications/s on one core: best [\d,]+/s: (PASS|FAIL)$"),
    re.compile(r"^goal 0 errors at 1,000 concurrent connections: \d+ errors: (PASS|FAIL)$"),
)


@pytest.mark.slow
def test_quick_tvs_benchmark_runs_and_prints_its_figures() -> None:
    assert_each_once(run_benchmark("bench_tvs.py", "--quick"), FIGURE_LINES)

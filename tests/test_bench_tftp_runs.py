"""The TFTP boot-storm benchmark runs: ``--quick`` prints its six figure lines and three goals.

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
            rf"^\({label}\) blksize {blksize}, {phones} phones at once: [\d,]+ phones/s, "
            r"boot p50 [\d,]+ ms, p99 [\d,]+ ms, retransmissions [\d,]+ by phones, "
            r"[\d,]+ by the server, lost [\d,]+ of [\d,]+; server CPU \d+ % "
            r"\([\d,]+ phones per server CPU-second\), load generator CPU \d+ %$"
        )
        for label, blksize, phones in (
            ("a", 512, "50"),
            ("b", 512, "200"),
            ("c", 512, "1,000"),
            ("d", 1428, "50"),
            ("e", 1428, "200"),
            ("f", 1428, "1,000"),
        )
    ),
    re.compile(r"^goal no lost phone at concurrency 1,000: \d+ lost: (PASS|FAIL)$"),
    re.compile(
        r"^goal p99 boot time < 1.5 s at concurrency 1,000: worst p99 [\d,]+ ms: (PASS|FAIL)$"
    ),
    re.compile(r"^goal >= 1,200 phones/s at block size 512: best [\d,]+/s: (PASS|FAIL)$"),
)


@pytest.mark.slow
def test_quick_tftp_benchmark_runs_and_prints_its_figures() -> None:
    assert_each_once(
        run_benchmark("bench_tftp_bootstorm.py", "--quick", "--phones", "100"), FIGURE_LINES
    )

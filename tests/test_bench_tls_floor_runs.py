"""The TLS floor benchmark runs: ``benchmarks/bench_tls_floor.py --quick`` prints its three lines.

Only that it runs and reports is checked, never the figures (they depend on
the machine and its load).
"""

from __future__ import annotations

import re

import pytest

from tests.benchruns import assert_each_once, run_benchmark

LINES = (
    re.compile(r"^\(a\) RSA-2048 signatures on CPU 0: [\d,]+/s$"),
    *(
        re.compile(
            rf"^\({label}\) TLS {version} bare asyncio server: [\d,]+ handshakes/s at \d+% "
            r"of CPU 0 = [\d,]+ per server CPU-second$"
        )
        for label, version in (("b", r"1\.3"), ("c", r"1\.2"))
    ),
)


@pytest.mark.slow
def test_quick_tls_floor_benchmark_prints_its_figures() -> None:
    assert_each_once(run_benchmark("bench_tls_floor.py", "--quick", timeout=120), LINES)

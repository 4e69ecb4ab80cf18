"""The TLS floor benchmark runs: ``benchmarks/bench_tls_floor.py --quick`` prints its three lines.

Only that it runs and reports is checked, never the figures (they depend on
the machine and its load).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "bench_tls_floor.py"
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
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick"], capture_output=True, check=False, timeout=120
    )
    out = done.stdout.decode()
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    for pattern in LINES:
        assert sum(1 for line in out.splitlines() if pattern.match(line)) == 1, (pattern, out)

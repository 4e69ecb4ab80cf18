"""Speed of phonetrust's file formats: ``python benchmarks/bench_formats.py [--quick]``.

Three figures, each on one line starting ``(a)``, ``(b)``, ``(c)``:

(a) build and sign a 10-record ITL (records from certificates, header, RSA
    signature, ``to_wire``): median over many runs;
(b) parse and verify that ITL (``TrustList.from_wire(...).verify()``): median,
    goal < 1 ms;
(c) signing throughput for 7 KB configuration files with RSA-2048:
    ``sgn.sign_file(...).to_wire()`` against a bare ``cryptography`` loop
    (``key.sign(data, PKCS1v15(), SHA1())``) over the same data, goal < 10 %
    overhead. The two loops run in alternating chunks of 20 files (ABBA
    order), so drift in CPU frequency or load hits both alike; files/s come
    from the total times, the overhead is the median of the per-chunk time
    ratios (robust to a burst of load hitting one side of one pair).

Keys are generated before any timing starts. Timings use ``time.perf_counter``.
The exit status is 0 whatever the figures; ``--strict`` makes a missed goal exit 1.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import cryptography
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15

from phonetrust.formats.record import Record
from phonetrust.formats.sgn import sign_file
from phonetrust.formats.signing import Signer
from phonetrust.formats.tags import Role
from phonetrust.formats.trustlist import TrustList, build_trust_list
from phonetrust.pki.selfsigned import Organisation, self_signed

NOW = datetime(2026, 1, 1, tzinfo=UTC)
TIMESTAMP = int(NOW.timestamp())
CONFIG_SIZE = 7 * 1024
PARSE_GOAL_S = 1e-3
OVERHEAD_GOAL = 0.10
ITL_ROLES = (
    Role.SAST,
    Role.CCM_TFTP,
    Role.CCM_TFTP,
    Role.CCM_TFTP,
    Role.CAPF,
    Role.TVS,
    Role.TVS,
    Role.TVS,
    Role.TVS,
    Role.SAST,
)
"""A two-to-four-node cluster's ITL: signer, TFTP nodes, CAPF, TVS, ITLRecovery."""


@dataclass(frozen=True, slots=True)
class Settings:
    build_runs: int
    parse_runs: int
    files: int
    chunk: int


FULL = Settings(build_runs=200, parse_runs=2000, files=10_000, chunk=20)
QUICK = Settings(build_runs=30, parse_runs=300, files=1_000, chunk=20)


def _key(bits: int = 2048) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def _certificate(cn: str, key: rsa.RSAPrivateKey) -> x509.Certificate:
    return self_signed(Organisation().name(cn), key, now=NOW)


def _median_seconds(fn: Callable[[], object], runs: int, warmup: int = 3) -> float:
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def _human(seconds: float) -> str:
    if seconds < 1e-3:
        return f"{seconds * 1e6:.0f} µs"
    return f"{seconds * 1e3:.2f} ms"


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


# -- (a) and (b): the ITL -------------------------------------------------------------


def bench_itl(settings: Settings) -> tuple[str, str, bool]:
    signer_key = _key()
    signer_cert = _certificate("cucm-pub", signer_key)
    signer = Signer.from_private_key(signer_cert, signer_key)
    certs = [signer_cert] + [_certificate(f"node-{i}", _key()) for i in range(1, len(ITL_ROLES))]

    def build() -> bytes:
        records = [
            Record.from_certificate(cert, role, hash_only=role in (Role.TVS, Role.CAPF))
            for cert, role in zip(certs, ITL_ROLES, strict=True)
        ]
        itl = build_trust_list(signer, records, filename="ITLFile.tlv", timestamp=TIMESTAMP)
        return itl.to_wire()

    data = build()

    def parse_and_verify() -> None:
        if not TrustList.from_wire(data).verify().verified:
            raise RuntimeError("the benchmark ITL does not verify")

    built = _median_seconds(build, settings.build_runs)
    parsed = _median_seconds(parse_and_verify, settings.parse_runs)
    ok = parsed < PARSE_GOAL_S
    line_a = (
        f"(a) ITL build+sign, {len(ITL_ROLES)} records, RSA-2048, {len(data)} bytes: "
        f"median {_human(built)} over {settings.build_runs} runs"
    )
    line_b = (
        f"(b) ITL parse+verify, {len(ITL_ROLES)} records: median {_human(parsed)} "
        f"over {settings.parse_runs} runs; goal < 1 ms: {_verdict(ok)}"
    )
    return line_a, line_b, ok


# -- (c): signing throughput ----------------------------------------------------------


def make_configs(count: int) -> list[bytes]:
    """``count`` distinct XML-ish files of exactly 7 KB."""
    out = []
    for i in range(count):
        head = f'<?xml version="1.0" encoding="UTF-8"?>\n<device id="{i}">\n'.encode()
        line = f'<param name="setting" index="{i}">value-{i:08d}</param>\n'.encode()
        tail = b"</device>\n"
        body = line * ((CONFIG_SIZE - len(head) - len(tail)) // len(line) + 1)
        blob = head + body
        out.append(blob[: CONFIG_SIZE - len(tail)] + tail)
    return out


def bench_signing(settings: Settings) -> tuple[str, bool]:
    key = _key()
    cert = _certificate("cucm-pub", key)
    signer = Signer.from_private_key(cert, key)
    configs = make_configs(settings.files)
    names = [f"SEP{i:012X}.cnf.xml.sgn" for i in range(settings.files)]

    def phonetrust_chunk(lo: int, hi: int) -> float:
        start = time.perf_counter()
        for i in range(lo, hi):
            sign_file(configs[i], signer, filename=names[i], timestamp=TIMESTAMP).to_wire()
        return time.perf_counter() - start

    def bare_chunk(lo: int, hi: int) -> float:
        start = time.perf_counter()
        for i in range(lo, hi):
            key.sign(configs[i], PKCS1v15(), hashes.SHA1())  # noqa: S303 - the format's digest
        return time.perf_counter() - start

    phonetrust_chunk(0, min(20, settings.files))  # warm-up, untimed
    bare_chunk(0, min(20, settings.files))
    t_pt = t_bare = 0.0
    ratios: list[float] = []
    for n, lo in enumerate(range(0, settings.files, settings.chunk)):
        hi = min(lo + settings.chunk, settings.files)
        # ABBA: even chunks run phonetrust first, odd chunks bare first.
        if n % 2 == 0:
            pt = phonetrust_chunk(lo, hi)
            bare = bare_chunk(lo, hi)
        else:
            bare = bare_chunk(lo, hi)
            pt = phonetrust_chunk(lo, hi)
        t_pt += pt
        t_bare += bare
        ratios.append(pt / bare)
    rate_pt = settings.files / t_pt
    rate_bare = settings.files / t_bare
    # The median of per-chunk ratios: a chunk pair hit by another process's
    # burst is an outlier that would sway a ratio of totals.
    overhead = statistics.median(ratios) - 1
    ok = overhead < OVERHEAD_GOAL
    line = (
        f"(c) signing {settings.files:,} files of 7 KB, RSA-2048/SHA-1: "
        f"phonetrust {rate_pt:,.0f} files/s, bare cryptography {rate_bare:,.0f} files/s, "
        f"overhead {overhead * 100:+.1f} %; goal < 10 %: {_verdict(ok)}"
    )
    return line, ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Benchmark phonetrust's file formats.")
    parser.add_argument(
        "--quick", action="store_true", help=f"fewer runs and {QUICK.files:,} files (a smoke run)"
    )
    parser.add_argument("--strict", action="store_true", help="exit 1 when a goal is missed")
    args = parser.parse_args(argv)
    settings = QUICK if args.quick else FULL
    print(
        f"phonetrust format benchmarks ({'quick' if args.quick else 'full'}): "
        f"Python {platform.python_version()}, cryptography {cryptography.__version__}, "
        f"{platform.machine()}"
    )
    line_a, line_b, ok_b = bench_itl(settings)
    print(line_a)
    print(line_b)
    line_c, ok_c = bench_signing(settings)
    print(line_c)
    return 1 if args.strict and not (ok_b and ok_c) else 0


if __name__ == "__main__":
    sys.exit(main())

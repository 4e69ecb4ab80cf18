"""CAPF enrolment throughput: ``python benchmarks/bench_capf.py [--quick] [--strict]``.

LSC enrolments per second with 10 and 50 concurrent clients, with EC P-256
and RSA-2048 phone keys generated before timing. Goal: at least 500
enrolments/s at 50 clients with none lost.

The CAPF server (``CapfServer`` + ``CapfService`` on a real SQLite cluster)
runs in a separate process pinned to one core; the load generator (the
phone side, ``net.capf_client.enroll``) runs here, pinned to the other.
Each enrolment is a whole session: TCP, a full TLS handshake with the CAPF
certificate (RSA-2048), auth by null string, key-generate request, the LSC
issued and signed with the CAPF key (RSA-2048, SHA-256), stored on the
phone, recorded in the database, end session. "Lost" counts enrolments
the phone did not complete plus those whose LSC is not on the device's
database record afterwards.

The bench cluster's one node runs CallManager and CAPF but no TFTP, and the
server's idle-time republication of the file plan is off: plan publication
is not CAPF's cost (``bench_formats.py`` measures signing files).

Figures, each on one line::

    (a) 10 clients, EC-P256 phone keys: N enrolments in S s = R enrolments/s, lost L
    (b) 10 clients, RSA-2048 phone keys: ...
    (c) 50 clients, EC-P256 phone keys: ...
    (d) 50 clients, RSA-2048 phone keys: ...
        server CPU S % (E enrolments per server CPU-second), load generator CPU L %
    (e) RSA-2048 signatures/s on one core here, and the bound two per enrolment put
    goal >= 500 enrolments/s at 50 clients, none lost: ...: PASS|FAIL

``--auth-string`` authenticates every phone by an authentication string
instead of the null string: each enrolment then also pays one scrypt
verification of the stored hash (``policy.capfauth``), on the server's
database thread.

The exit status is 0 whatever the figures; ``--strict`` makes a missed goal exit 1.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from phonetrust.clock import SystemClock
from phonetrust.errors import PhonetrustError
from phonetrust.net import tls
from phonetrust.net.capf import CapfServer
from phonetrust.net.capf_client import enroll
from phonetrust.pki.lsc import parse_key_spec
from phonetrust.pki.selfsigned import Organisation
from phonetrust.policy.capfauth import hash_auth_string
from phonetrust.policy.domain import (
    CapfAuthMode,
    CapfOperation,
    Device,
    Node,
    Service,
    check_ipv4,
)
from phonetrust.protocols.capf.client import PrivateKey, generate_key
from phonetrust.service import inventory, nodes
from phonetrust.service.capfops import capf_identity, load_capf_service
from phonetrust.service.context import Context
from phonetrust.store.datadir import DataDir
from phonetrust.testing.cluster import new_context, open_context

GOAL = 500.0
PASSWORD = "Bench-Security-123"  # noqa: S105 - a throwaway cluster's password
HOST = "cucm-pub"
CONFIGS = ((10, "EC-P256"), (10, "RSA-2048"), (50, "EC-P256"), (50, "RSA-2048"))
LABELS = "abcd"
AUTH_STRING = "24681357"


@dataclass(frozen=True)
class Figure:
    clients: int
    key: str
    count: int
    seconds: float
    lost: int
    server_cpu: float = 0.0
    """Seconds of CPU the server process used during the figure."""
    load_cpu: float = 0.0

    @property
    def rate(self) -> float:
        return self.count / self.seconds

    def cpu_line(self) -> str:
        """Server CPU (near 100 %: the figure is the server's limit) and the load generator's."""
        per_cpu = self.count / self.server_cpu if self.server_cpu > 0 else 0.0
        return (
            f"    server CPU {self.server_cpu / self.seconds * 100:.0f} % "
            f"({per_cpu:,.0f} enrolments per server CPU-second), "
            f"load generator CPU {self.load_cpu / self.seconds * 100:.0f} %"
        )


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system) a process has used so far, from /proc (0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _context(root: Path) -> Context:
    where = DataDir.locate(root)
    return open_context(where, SystemClock())


def _pin(cpu: int) -> None:
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if len(cpus) > 1 and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {cpus[cpu % len(cpus)]})


# -- the server process --------------------------------------------------------------------


def serve(root: Path) -> None:
    """Child process: CAPF on a free port; prints it; runs until stdin closes."""
    _pin(0)
    logging.getLogger("phonetrust.capf").setLevel(logging.WARNING)
    ctx = _context(root)

    async def main() -> None:
        service = await asyncio.to_thread(load_capf_service, ctx, HOST, republish_delay=None)
        cert, key = capf_identity(ctx, HOST)
        server = await CapfServer.start(service, tls.server_context(cert, key), port=0)
        print(f"PORT {server.port}", flush=True)
        await asyncio.to_thread(sys.stdin.read)
        await server.stop()

    asyncio.run(main())
    ctx.repo.close()


# -- the load generator -----------------------------------------------------------------------


def setup(
    root: Path, per_config: int, warmup: int, auth_string: str | None = None
) -> dict[str, list[str]]:
    """A one-node cluster and, for each configuration, its own devices with an install pending
    (by ``auth_string`` when given: one hash, made once, stored on every device)."""
    digest = "" if auth_string is None else hash_auth_string(auth_string)
    mode = CapfAuthMode.NULL_STRING if auth_string is None else CapfAuthMode.AUTH_STRING
    ctx = new_context(DataDir.locate(root), PASSWORD, SystemClock())
    publisher = Node(
        HOST,
        check_ipv4("10.0.0.10"),
        "bench.example",
        services=frozenset({Service.CALLMANAGER, Service.CAPF}),
    )
    nodes.init_cluster(
        ctx, name="bench", publisher_node=publisher, subscribers=[], org=Organisation()
    )
    names: dict[str, list[str]] = {}
    devices: list[Device] = []
    serial = 0
    for index, (_clients, key) in enumerate((*CONFIGS, (10, "EC-P256"))):
        label = LABELS[index] if index < len(CONFIGS) else "warmup"
        count = per_config if index < len(CONFIGS) else warmup
        names[label] = []
        for _ in range(count):
            serial += 1
            name = f"SEP{serial:012X}"
            names[label].append(name)
            devices.append(
                Device(
                    name,
                    "8845",
                    capf_operation=CapfOperation.INSTALL,
                    capf_auth_mode=mode,
                    capf_auth_hash=digest,
                    capf_key=key,
                )
            )
    inventory.add_devices(ctx, devices)
    ctx.repo.close()
    return names


async def run_load(
    port: int,
    devices: list[str],
    clients: int,
    keys: list[PrivateKey],
    auth_string: str | None = None,
) -> tuple[float, dict[str, bytes]]:
    """Enrol every device with ``clients`` concurrent phones; returns the time and the LSCs."""
    pending = list(reversed(devices))
    issued: dict[str, bytes] = {}

    async def phone(number: int) -> None:
        turn = number
        while pending:
            name = pending.pop()
            try:
                result = await enroll(
                    "127.0.0.1",
                    port,
                    name,
                    key=keys[turn % len(keys)],
                    auth_string=auth_string,
                    timeout=60.0,
                )
            except PhonetrustError as exc:  # counted as lost: never on the device's record
                print(f"{name}: {exc}", file=sys.stderr)
                continue
            finally:
                turn += clients
            if result.success and result.certificate is not None:
                issued[name] = result.certificate.public_bytes(serialization.Encoding.DER)

    start = time.perf_counter()
    await asyncio.gather(*(phone(i) for i in range(clients)))
    return time.perf_counter() - start, issued


def lost(root: Path, devices: list[str], issued: dict[str, bytes]) -> int:
    """Enrolments not completed, or whose LSC is not on the device's record."""
    ctx = _context(root)
    missing = 0
    with ctx.repo.unit_of_work() as uow:
        for name in devices:
            device = uow.get_device(name)
            ok = (
                device is not None
                and name in issued
                and device.lsc == issued[name]
                and device.capf_operation is CapfOperation.NONE
            )
            missing += not ok
    ctx.repo.close()
    return missing


def rsa_signatures_per_second(seconds: float) -> float:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        key.sign(b"x" * 600, padding.PKCS1v15(), hashes.SHA256())
        count += 1
    return count / (time.perf_counter() - start)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run: few enrolments")
    parser.add_argument("--strict", action="store_true", help="exit 1 when the goal is missed")
    parser.add_argument("--count", type=int, help="enrolments per figure [2,000; --quick 60]")
    parser.add_argument(
        "--auth-string", action="store_true", help="authenticate by string, not null string"
    )
    parser.add_argument("--serve", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve is not None:
        serve(args.serve)
        return 0
    per_config = args.count or (60 if args.quick else 2000)
    warmup = 20 if args.quick else 200
    with tempfile.TemporaryDirectory(prefix="phonetrust-bench-capf-") as tmp:
        root = Path(tmp) / "data"
        auth = AUTH_STRING if args.auth_string else None
        names = setup(root, per_config, warmup, auth)
        keys = {
            "EC-P256": [generate_key(parse_key_spec("EC-P256")) for _ in range(32)],
            "RSA-2048": [
                generate_key(parse_key_spec("RSA-2048")) for _ in range(4 if args.quick else 16)
            ],
        }
        child = subprocess.Popen(  # noqa: S603 - this very script, as the server
            [sys.executable, __file__, "--serve", str(root)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert child.stdout is not None
            line = child.stdout.readline()
            if not line.startswith("PORT "):
                print(f"the CAPF server did not start: {line!r}", file=sys.stderr)
                return 1
            port = int(line.split()[1])
            _pin(1)
            asyncio.run(run_load(port, names["warmup"], 10, keys["EC-P256"], auth))
            figures = []
            for label, (clients, key) in zip(LABELS, CONFIGS, strict=True):
                server0, load0 = process_cpu(child.pid), time.process_time()
                seconds, issued = asyncio.run(
                    run_load(port, names[label], clients, keys[key], auth)
                )
                server1, load1 = process_cpu(child.pid), time.process_time()
                figure = Figure(
                    clients,
                    key,
                    per_config,
                    seconds,
                    lost(root, names[label], issued),
                    server1 - server0,
                    load1 - load0,
                )
                figures.append(figure)
                print(
                    f"({label}) {clients} clients, {key} phone keys: {figure.count:,} enrolments "
                    f"in {seconds:.2f} s = {figure.rate:,.0f} enrolments/s, lost {figure.lost}",
                    flush=True,
                )
                print(figure.cpu_line(), flush=True)
        finally:
            if child.stdin is not None:
                with contextlib.suppress(BrokenPipeError):
                    child.stdin.close()
            child.wait(timeout=60)
    signs = rsa_signatures_per_second(0.5 if args.quick else 2.0)
    print(
        f"(e) RSA-2048 signatures/s on one core here: {signs:,.0f}; two per enrolment "
        f"(TLS handshake, LSC) bound one core to {signs / 2:,.0f} enrolments/s"
    )
    at_goal = [f for f in figures if f.clients == 50]
    passed = all(f.rate >= GOAL and f.lost == 0 for f in at_goal)
    rates = ", ".join(f"{f.key} {f.rate:,.0f}/s lost {f.lost}" for f in at_goal)
    print(
        f"goal >= {GOAL:.0f} enrolments/s at 50 clients, none lost: {rates}: "
        + ("PASS" if passed else "FAIL")
    )
    return 1 if args.strict and not passed else 0


if __name__ == "__main__":
    sys.exit(main())

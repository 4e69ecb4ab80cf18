"""The Phones page and its API at 10,000 devices:
``python benchmarks/bench_web.py [--devices N] [--requests R] [--quick] [--keep DIR] [--no-boot]``.

Builds a demo cluster of 10,000 devices with the product's own ``phonetrust
cluster demo`` (as :mod:`bench_fleet` does) and boots its fleet once, so
that every phone has downloads and a trust state (``--no-boot``: phones
never seen). The web administration (``net.webserver.WebServer`` on
``web.app.create_app``, the node's tomcat certificate, as ``phonetrust
web`` serves it) runs in a child process pinned to CPU 0; one logged-in
HTTPS client (httpx, keep-alive) runs here, pinned to the other CPUs, and
sends R requests of each kind, the kinds interleaved so that a slower
moment of the machine hits them all alike:

- ``page: first``: /ccmadmin/phones (page 1 of 200, 50 rows);
- ``page: search``: a name substring matching about 1,000 phones;
- ``page: sorted``: sorted by model, descending, page 7;
- ``page: late``: the last page;
- ``page: trust``: the trust-state filter "keeps" (the planner's verdicts,
  computed once per device list; its first, cold request is printed apart);
- ``api: list``: GET /api/v1/phones?limit=50;
- the baseline, ``static file``: /static/style.css from the same server over
  the same connection: what any request costs here before a page's work.

Each kind prints p50 / p95 / p99 and its p99's ratio to the baseline's; the
bare service call (``inventory.list_devices`` in this process) is printed
too: what every request would pay without the page's kept list. Then GET
/fleet (built by another page; "fleet page not built" when it answers 404)
against its 500 ms goal, and one line per goal. Always exits 0 (``--strict``:
1 when a goal is missed).
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import platform
import re
import ssl
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from bench_fleet import build, fleet  # the same demo cluster and fleet, made the same way
from cryptography.hazmat.primitives.serialization import Encoding

from phonetrust.cli.app import PASSWORD_ENV, open_context
from phonetrust.cli.cluster_cmds import DEMO_PASSWORD
from phonetrust.policy.domain import CertName
from phonetrust.service import inventory, users
from phonetrust.service.changes import reading
from phonetrust.service.context import Context
from phonetrust.service.identity import own_identity
from phonetrust.store.datadir import DataDir

DEVICES = 10_000
REQUESTS = 200
QUICK_DEVICES = 300
QUICK_REQUESTS = 20
USER = ("bench", "Bench-Password-1")
PAGE_GOAL = 0.200
FLEET_GOAL = 0.500
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def publisher(ctx: Context) -> str:
    with reading(ctx) as uow:
        return next(n.host for n in uow.list_nodes() if n.publisher)


def _serve(root: str, host: str, ports: Any) -> None:
    """The child: the web administration of ``root`` on a free loopback port, until killed."""
    os.sched_setaffinity(0, {0})
    from phonetrust.net import tls  # noqa: PLC0415
    from phonetrust.net.webserver import WebServer  # noqa: PLC0415
    from phonetrust.web.app import create_app  # noqa: PLC0415
    from phonetrust.web.state import WebState  # noqa: PLC0415

    ctx = open_context(Path(root), None)
    cert, key = own_identity(ctx, host, CertName.TOMCAT)
    app = create_app(WebState(ctx, host, Path(root)))

    async def main() -> None:
        server = await WebServer.start(app, tls.server_context(cert, key), port=0)
        ports.put(server.port)
        await asyncio.Event().wait()

    asyncio.run(main())


def client_for(ctx: Context, host: str, port: int) -> httpx.Client:
    """A client that trusts the node's tomcat certificate (only it), logged in as USER."""
    cert, _ = own_identity(ctx, host, CertName.TOMCAT)
    trust = ssl.create_default_context(cadata=cert.public_bytes(Encoding.PEM).decode())
    trust.check_hostname = False  # the node has its own name; the benchmark reaches 127.0.0.1
    client = httpx.Client(base_url=f"https://127.0.0.1:{port}", verify=trust, timeout=120)
    form = CSRF.search(client.get("/login").text)
    assert form is not None
    answer = client.post(
        "/login",
        data={"username": USER[0], "password": USER[1], "csrf_token": form.group(1)},
    )
    if answer.status_code != 303:
        raise SystemExit(f"login failed: {answer.status_code} {answer.text[:300]}")
    return client


def percentiles(samples: list[float]) -> tuple[float, float, float]:
    ordered = sorted(samples)

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]

    return at(0.50), at(0.95), at(0.99)


def timed_get(client: httpx.Client, path: str) -> float:
    started = time.perf_counter()
    answer = client.get(path)
    seconds = time.perf_counter() - started
    if answer.status_code != 200:
        raise SystemExit(f"GET {path}: {answer.status_code} {answer.text[:300]}")
    return seconds


def ms(seconds: float) -> str:
    return f"{seconds * 1000:7.1f} ms"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Time the Phones page and API at 10k devices.")
    parser.add_argument("--devices", type=int, help=f"devices (default {DEVICES:,})")
    parser.add_argument("--requests", type=int, help=f"requests per kind (default {REQUESTS})")
    parser.add_argument("--quick", action="store_true", help="a small cluster, few requests")
    parser.add_argument("--keep", type=Path, help="build in (or reuse) this directory")
    parser.add_argument("--no-boot", action="store_true", help="do not boot the fleet first")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a goal is missed")
    args = parser.parse_args(argv)
    devices = args.devices or (QUICK_DEVICES if args.quick else DEVICES)
    count = args.requests or (QUICK_REQUESTS if args.quick else REQUESTS)
    os.environ.setdefault(PASSWORD_ENV, DEMO_PASSWORD)
    print(
        f"phonetrust web benchmark: {devices:,} devices, {count} requests per kind, "
        f"Python {platform.python_version()}, {os.cpu_count()} CPUs, "
        f"load average {os.getloadavg()[0]:.1f}",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="bench-web-") as scratch:
        root = args.keep or Path(scratch) / "data"
        if DataDir.locate(root).exists():
            print(f"build: reusing the cluster in {root}", flush=True)
        else:
            print(f"build: {devices:,}-device demo cluster in {build(root, devices):.1f} s")
            if not args.no_boot:
                code, _, wall, _ = fleet(root, 50)
                print(f"fleet boot: {wall:.1f} s (status {code})", flush=True)
        return run(root, count, args.strict)


def run(root: Path, count: int, strict: bool) -> int:
    ctx = open_context(root, None)
    try:
        host = publisher(ctx)
        if users.get_user(ctx, USER[0]) is None:
            users.add_user(ctx, *USER, users.SUPER_USERS)
        bare = []
        for _ in range(5):
            started = time.perf_counter()
            listed = inventory.list_devices(ctx)
            bare.append(time.perf_counter() - started)
        total = len(listed)
        ports: Any = multiprocessing.get_context("fork").Queue()
        child = multiprocessing.get_context("fork").Process(
            target=_serve, args=(str(root), host, ports), daemon=True
        )
        child.start()
        try:
            port = ports.get(timeout=120)
            if len(os.sched_getaffinity(0)) > 1:
                os.sched_setaffinity(0, os.sched_getaffinity(0) - {0})
            client = client_for(ctx, host, port)
            return measure(client, total, count, bare, strict)
        finally:
            child.kill()
            child.join(10)
    finally:
        ctx.repo.close()


def measure(client: httpx.Client, total: int, count: int, bare: list[float], strict: bool) -> int:
    pages = max(1, -(-total // 50))
    kinds: dict[str, str] = {
        "static file": "/static/style.css",
        "page: first": "/ccmadmin/phones",
        "page: search": "/ccmadmin/phones?name=11223301",
        "page: sorted": "/ccmadmin/phones?sort=model&dir=desc&page=7",
        "page: late": f"/ccmadmin/phones?page={pages}",
        "page: trust": "/ccmadmin/phones?trust=keeps",
        "api: list": "/api/v1/phones?limit=50",
    }
    first = timed_get(client, kinds["page: first"])  # the device list read once
    cold = timed_get(client, kinds["page: trust"])  # the trust states computed once
    samples: dict[str, list[float]] = {k: [] for k in kinds}
    for _ in range(count):
        for kind, path in kinds.items():
            samples[kind].append(timed_get(client, path))
    floor = percentiles(samples["static file"])[2]
    print(f"first page after start (reads the device list): {ms(first)}")
    print(f"trust filter, cold (the planner's verdicts for every phone): {ms(cold)}")
    print(
        f"bare service call inventory.list_devices ({total:,} devices, in-process): "
        f"median {ms(statistics.median(bare))}"
    )
    base = percentiles(samples["static file"])[0]
    print(f"{'kind':<14} {'p50':>10} {'p95':>10} {'p99':>10}  p50 / static p50, p99 / static p99")
    met = True
    for kind, times in samples.items():
        p50, p95, p99 = percentiles(times)
        ratio = "" if kind == "static file" else f"  {p50 / base:5.1f}x, {p99 / floor:5.1f}x"
        print(f"{kind:<14} {ms(p50)} {ms(p95)} {ms(p99)}{ratio}")
        if kind != "static file":
            met = met and p99 < PAGE_GOAL
    print(f"goal p99 under {PAGE_GOAL * 1000:.0f} ms per page and API call: {_said(met)}")
    fleet_met = fleet_page(client, max(5, count // 10))
    print(f"load average after: {os.getloadavg()[0]:.1f}")
    return 1 if strict and not (met and fleet_met is not False) else 0


def fleet_page(client: httpx.Client, count: int) -> bool | None:
    """GET /fleet against its goal; None when the page is not built yet."""
    answer = client.get("/fleet")
    if answer.status_code == 404:
        print("fleet page not built (GET /fleet answers 404)")
        return None
    if answer.status_code != 200:
        print(f"fleet page: GET /fleet answers {answer.status_code}")
        return False
    times = [timed_get(client, "/fleet") for _ in range(count)]
    p50, _, p99 = percentiles(times)
    met = p99 < FLEET_GOAL
    print(
        f"fleet page: p50 {ms(p50)}, p99 {ms(p99)} over {count} requests; "
        f"goal under {FLEET_GOAL * 1000:.0f} ms: {_said(met)}"
    )
    return met


def _said(met: bool) -> str:
    return "met" if met else "NOT met"


if __name__ == "__main__":
    sys.exit(main())

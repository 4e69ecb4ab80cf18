"""Staying up: ``python benchmarks/bench_soak.py [--seconds S] [--strict]``.

Builds a demo cluster with the product's own ``phonetrust cluster demo``,
schedules a CAPF install for every phone, and runs ``phonetrust serve`` for
its publisher in a process of its own, as a person would. For ``--seconds``
(default 180) this process then keeps, at a steady rate, against that one
node:

- good clients: phones booting (TFTP: their ITL and configuration file,
  4 a second), TVS queries about the node's tomcat certificate as the
  HTTPS stand-in presents it (8 a second), CAPF enrolments of an LSC
  (one every 2 seconds);
- attacks: a burst of 300 TFTP read requests from silent ports every
  5 s, and 150 silent TCP connections to each of TVS, CAPF and HTTPS held
  8 s every 10 s;
- administration, every 15 s in turn: a certificate regeneration (of the
  served node or the subscriber; the 5-minute hold per node may refuse it:
  that is counted, not a failure), a 50-device import, a rename of the
  served node (and back, the next time), another import.

A good request that fails is retried once, as a phone would on its next
try; only a second failure counts. Lines printed:

- ``good requests: ...`` how many of each were made;
- ``failed good requests: N ...`` (goal: 0), with the first error of each kind;
- ``attacks: ...`` and ``admin changes: ...``, what was thrown at the node;
- ``descriptors: start A, halfway B, end C`` and ``memory: ...`` of the
  serve process (goal: flat from halfway to the end), the end taken once
  the attacks' connections have timed out;
- ``uptime: S s, never restarted`` (goal), or how serve ended.

The exit status is 0 whatever the figures; ``--strict`` makes a missed goal
exit 1 (failed requests, serve not running at the end, descriptors grown by
more than 32 from halfway to the end: TFTP keeps a pool of idle sockets for
reuse, so the start, before any load, is lower by design).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import os
import platform
import re
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench_fleet import build  # the same demo cluster, made the same way

from phonetrust.cli.app import open_context
from phonetrust.errors import PhonetrustError
from phonetrust.net import capf_client, tftp_remote, tls, tvs_client
from phonetrust.policy.domain import CapfAuthMode, CapfOperation, CertName, Device
from phonetrust.policy.rules import HoldTimerError
from phonetrust.service import inventory, nodes
from phonetrust.service.changes import reading
from phonetrust.service.context import Context

PASSWORD = "phonetrust-demo"  # noqa: S105 - the demo cluster's documented password
NODE = "cucm-pub"
RENAMED = "cucm-pub-soak"
CLI = "from phonetrust.cli.main import main; main()"
SERVING = re.compile(r"^Serving node \S+: (.*)\.$")
BOOTS_PER_S = 4.0
TVS_PER_S = 8.0
CAPF_PER_S = 0.5
UDP_BURST, UDP_EVERY = 300, 5.0
IDLE_EACH, IDLE_EVERY, IDLE_HOLD = 150, 10.0, 8.0
ADMIN_EVERY = 15.0
SETTLE = 7.0
"""Seconds after the load before the end figures: the attacks' connections time out."""
FD_GROWTH = 32


@dataclass
class Tally:
    made: Counter[str] = field(default_factory=Counter)
    failed: Counter[str] = field(default_factory=Counter)
    retried: Counter[str] = field(default_factory=Counter)
    first_error: dict[str, str] = field(default_factory=dict)
    attacks: Counter[str] = field(default_factory=Counter)
    admin: Counter[str] = field(default_factory=Counter)


@dataclass
class Served:
    process: subprocess.Popen[str]
    ports: dict[str, int]
    started: float
    middle: tuple[int, float] = (0, 0.0)
    """Descriptors and RSS (MiB) halfway through the load: the attacks' steady state."""


def start_serve(root: Path) -> Served:
    ports = ["--tftp-port", "0", "--tvs-port", "0", "--capf-port", "0", "--https-port", "0"]
    process = subprocess.Popen(  # noqa: S603 - our own interpreter and command
        [sys.executable, "-c", CLI, "serve", "--data", str(root), "--node", NODE, *ports],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    found = SERVING.match(line)
    if found is None:
        process.kill()
        raise SystemExit(f"serve did not start: {line!r}")
    named = re.findall(r"(\w+) on port (\d+)", found.group(1))
    return Served(process, {n.lower(): int(p) for n, p in named}, time.monotonic())


def descriptors(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


# -- good clients ------------------------------------------------------------------------


async def steady(
    per_second: float, end: float, what: Callable[[int], Coroutine[Any, Any, None]]
) -> None:
    """Start ``what(i)`` every 1/per_second s until ``end`` (loop time); wait for them all."""
    loop = asyncio.get_running_loop()
    running: set[asyncio.Task[None]] = set()
    for i in itertools.count():
        at = loop.time()
        if at >= end:
            break
        task = asyncio.create_task(what(i))
        running.add(task)
        task.add_done_callback(running.discard)
        await asyncio.sleep(max(0.0, 1 / per_second - (loop.time() - at)))
    await asyncio.gather(*running)


async def good(tally: Tally, kind: str, attempt: Callable[[], Awaitable[None]]) -> None:
    """One good request, retried once; a second failure is counted with its reason."""
    tally.made[kind] += 1
    for retry in (False, True):
        try:
            async with asyncio.timeout(15):
                await attempt()
        except (OSError, TimeoutError, ssl.SSLError, PhonetrustError, AssertionError) as exc:
            if retry:
                tally.failed[kind] += 1
                tally.first_error.setdefault(kind, f"{type(exc).__name__}: {exc}"[:200])
            else:
                tally.retried[kind] += 1
                await asyncio.sleep(0.5)
            continue
        return


async def boot(served: Served, mac: str, config: str) -> None:
    tftp = ("127.0.0.1", served.ports["tftp"])
    itl, _ = await tftp_remote.fetch(tftp, f"ITLSEP{mac}.tlv")
    assert itl, "empty ITL"
    data, _ = await tftp_remote.fetch(tftp, config)
    assert data, "empty configuration"


async def tomcat(served: Served) -> bytes:
    _, writer = await asyncio.open_connection(
        "127.0.0.1", served.ports["https"], ssl=tls.client_context()
    )
    der = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
    writer.transport.abort()
    assert der, "no tomcat certificate"
    return bytes(der)


async def verify(served: Served, device: str) -> None:
    answer = await tvs_client.query(
        "127.0.0.1", served.ports["tvs"], await tomcat(served), f"CP-8845-{device}"
    )
    assert answer.valid, "TVS did not vouch for the node's tomcat certificate"


async def enrol(served: Served, device: str) -> None:
    result = await capf_client.enroll(
        "127.0.0.1", served.ports["capf"], device, key_spec="EC-P256", timeout=15
    )
    assert result.success, f"{result.reason}: {result.info}"


# -- attacks and administration ------------------------------------------------------------


def udp_burst(port: int) -> list[socket.socket]:
    request = b"\x00\x01ITLFile.tlv\x00octet\x00"
    held = []
    for _ in range(UDP_BURST):
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        with contextlib.suppress(OSError):
            sock.sendto(request, ("127.0.0.1", port))
        held.append(sock)
    return held


def silent(ports: list[int]) -> list[socket.socket]:
    held = []
    for port in ports:
        for _ in range(IDLE_EACH):
            with contextlib.suppress(OSError):
                held.append(socket.create_connection(("127.0.0.1", port), timeout=2))
    return held


async def attacks(served: Served, tally: Tally, end: float) -> None:
    loop = asyncio.get_running_loop()
    next_udp = next_idle = loop.time()
    held: list[tuple[float, list[socket.socket]]] = []
    tls_ports = [served.ports[n] for n in ("tvs", "capf", "https")]
    while loop.time() < end:
        now = loop.time()
        if now >= next_udp:
            held.append((now + 3, await asyncio.to_thread(udp_burst, served.ports["tftp"])))
            tally.attacks["udp"] += UDP_BURST
            next_udp = now + UDP_EVERY
        if now >= next_idle:
            socks = await asyncio.to_thread(silent, tls_ports)
            held.append((now + IDLE_HOLD, socks))
            tally.attacks["idle"] += len(socks)
            next_idle = now + IDLE_EVERY
        for entry in [h for h in held if h[0] <= loop.time()]:
            held.remove(entry)
            for sock in entry[1]:
                sock.close()
        await asyncio.sleep(0.2)
    for _, socks in held:
        for sock in socks:
            sock.close()


REGENERATIONS = (
    (None, CertName.TVS),
    ("cucm-sub", CertName.CALLMANAGER),
    (None, CertName.CAPF),
    ("cucm-sub", CertName.TVS),
)
"""(node, certificate) regenerated in turn; None: the served node, whatever its name now."""


def admin_change(ctx: Context, step: int, tally: Tally) -> None:
    action = ("regenerate", "import", "rename", "import")[step % 4]
    with reading(ctx) as uow:
        served = NODE if uow.get_node(NODE) is not None else RENAMED
    if action == "import":
        base = 0x0A0000000000 + step * 100
        inventory.add_devices(ctx, [Device(f"SEP{base + i:012X}", "8845") for i in range(50)])
    elif action == "rename":
        nodes.rename_node(ctx, served, RENAMED if served == NODE else NODE)
    else:
        host, name = REGENERATIONS[step // 4 % len(REGENERATIONS)]
        try:
            nodes.regenerate(ctx, host or served, name)
        except HoldTimerError:  # one regeneration per node per 5 minutes (B3)
            tally.admin["held"] += 1
            return
    tally.admin[action] += 1


async def administration(ctx: Context, served: Served, tally: Tally, end: float) -> None:
    loop = asyncio.get_running_loop()
    for step in itertools.count():
        await asyncio.sleep(min(ADMIN_EVERY / 3 if step == 0 else ADMIN_EVERY, end - loop.time()))
        if loop.time() >= end or served.process.poll() is not None:
            return
        try:
            await asyncio.to_thread(admin_change, ctx, step, tally)
        except PhonetrustError as exc:
            tally.admin["refused"] += 1
            tally.first_error.setdefault("admin", str(exc)[:200])


# -- the run -------------------------------------------------------------------------------


async def soak(
    ctx: Context,
    served: Served,
    devices: list[str],
    config: str,
    seconds: float,
    *,
    attack: bool = True,
    admin: bool = True,
) -> Tally:
    tally = Tally()
    end = asyncio.get_running_loop().time() + seconds
    capf_devices = iter(devices)

    async def one_boot(i: int) -> None:
        device = devices[i % len(devices)]
        await good(tally, "boot", lambda: boot(served, device[3:], config.format(device=device)))

    async def one_query(i: int) -> None:
        device = devices[i % len(devices)]
        await good(tally, "tvs", lambda: verify(served, device))

    async def one_enrolment(_: int) -> None:
        device = next(capf_devices, None)
        if device is not None:
            await good(tally, "capf", lambda: enrol(served, device))

    async def halfway() -> None:
        await asyncio.sleep(seconds / 2)
        if served.process.poll() is None:
            pid = served.process.pid
            served.middle = (descriptors(pid), rss_mib(pid))

    await asyncio.gather(
        halfway(),
        steady(BOOTS_PER_S, end, one_boot),
        steady(TVS_PER_S, end, one_query),
        steady(CAPF_PER_S, end, one_enrolment),
        attacks(served, tally, end) if attack else asyncio.sleep(0),
        administration(ctx, served, tally, end) if admin else asyncio.sleep(0),
    )
    return tally


def prepare(ctx: Context, count: int) -> tuple[list[str], str]:
    """The demo phones, each with a CAPF install pending; the name of their config file."""
    with reading(ctx) as uow:
        devices = [d.name for d in uow.list_devices()][:count]
        names = uow.published_names(NODE)
    for device in devices:
        inventory.schedule_capf(
            ctx,
            device,
            operation=CapfOperation.INSTALL,
            auth_mode=CapfAuthMode.NULL_STRING,
            key="EC-P256",
        )
    first = devices[0]
    for suffix in (".cnf.xml.sgn", ".cnf.xml"):
        if f"{first}{suffix}" in names:
            return devices, "{device}" + suffix
    raise SystemExit(f"no configuration file published for {first}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Keep one node busy and under attack.")
    parser.add_argument("--seconds", type=float, default=180.0, help="how long the load runs")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a goal is missed")
    parser.add_argument("--no-attacks", action="store_true", help="good clients and admin only")
    parser.add_argument("--no-admin", action="store_true", help="no administrative changes")
    args = parser.parse_args(argv)
    phones = max(20, int(args.seconds * CAPF_PER_S) + 10)
    print(
        f"phonetrust soak benchmark: {args.seconds:g} s, {phones} phones, "
        f"Python {platform.python_version()}, {os.cpu_count()} CPUs, "
        f"load average {os.getloadavg()[0]:.1f}",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="bench-soak-") as scratch:
        root = Path(scratch) / "data"
        os.environ["PHONETRUST_SECURITY_PASSWORD"] = PASSWORD
        seconds = build(root, phones)
        print(f"build: {phones}-device demo cluster in {seconds:.1f} s", flush=True)
        ctx = open_context(root, None, actor="bench-soak")
        devices, config = prepare(ctx, phones)
        served = start_serve(root)
        pid = served.process.pid
        try:
            time.sleep(1.0)
            fds_start, rss_start = descriptors(pid), rss_mib(pid)
            tally = asyncio.run(
                soak(
                    ctx,
                    served,
                    devices,
                    config,
                    args.seconds,
                    attack=not args.no_attacks,
                    admin=not args.no_admin,
                )
            )
            time.sleep(SETTLE)
            alive = served.process.poll() is None
            fds_end = descriptors(pid) if alive else 0
            rss_end = rss_mib(pid) if alive else 0.0
            uptime = time.monotonic() - served.started
        finally:
            served.process.send_signal(signal.SIGTERM)
            try:
                served.process.wait(30)
            except subprocess.TimeoutExpired:
                served.process.kill()
                served.process.wait()
            ctx.repo.close()
    made, failed = tally.made, tally.failed
    print(
        f"good requests: {made['boot']} phone boots, {made['tvs']} TVS queries, "
        f"{made['capf']} CAPF enrolments"
    )
    errors = "; ".join(f"{k}: {v}" for k, v in sorted(tally.first_error.items()))
    print(
        f"failed good requests: {sum(failed.values())} "
        f"({failed['boot']} boots, {failed['tvs']} TVS, {failed['capf']} CAPF; "
        f"{sum(tally.retried.values())} needed a retry)"
        + (f"; first errors: {errors}" if errors else "")
    )
    print(
        f"attacks: {tally.attacks['udp']} TFTP requests from silent ports, "
        f"{tally.attacks['idle']} silent TLS-port connections"
    )
    print(
        f"admin changes: {tally.admin['import']} imports, {tally.admin['rename']} renames, "
        f"{tally.admin['regenerate']} regenerations ({tally.admin['held']} held back by the "
        f"5-minute hold, {tally.admin['refused']} refused)"
    )
    fds_middle, rss_middle = served.middle
    print(f"descriptors: start {fds_start}, halfway {fds_middle}, end {fds_end}")
    print(f"memory: start {rss_start:.1f} MiB, halfway {rss_middle:.1f} MiB, end {rss_end:.1f} MiB")
    if alive:
        print(f"uptime: {uptime:.0f} s, never restarted")
    else:
        print(f"uptime: serve ended with status {served.process.returncode}")
    missed = sum(failed.values()) > 0 or not alive or fds_end - fds_middle > FD_GROWTH
    return 1 if args.strict and missed else 0


if __name__ == "__main__":
    sys.exit(main())

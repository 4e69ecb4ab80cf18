"""A TFTP boot storm: ``python benchmarks/bench_tftp_bootstorm.py [--quick] [--strict]``.

N simulated phones boot against the TFTP server of a demo cluster with N
devices: each phone fetches, in order (A1), ``CTLSEP<MAC>.tlv``,
``ITLSEP<MAC>.tlv`` and ``SEP<MAC>.cnf.xml.sgn``, each over a fresh UDP
socket, with retransmission (1 s, doubling, with jitter). Runs at 50, 200
and 1,000 phones booting at once (a closed loop: a phone that is done is
replaced by the next), with block size 512 (plain RFC 1350 requests, no
options) and 1428 (the ``blksize`` option, so one more round trip for the
OACK). For each run: phones/s, p50/p99 boot time (first request to last
block of the configuration), retransmissions (clients' and server's) and
lost phones (a fetch that failed).

The demo cluster (one node, mixed mode, so every phone gets a CTL) is made
with the service API in a temporary data directory, its N devices added in
one ``add_devices`` call. The server runs in its own process pinned to CPU 0
(``os.sched_setaffinity``), the load generator on the other CPUs. Each run
also reports the server's CPU use, and phones per server CPU-second: on a
machine where other work competes for the cores, that figure says what the
server would do with a core to itself, where phones/s says what it did.

Goals (2 cores): no lost phone at concurrency 1,000; p99 boot time under
1.5 s there; at least 1,200 phones/s at block size 512. The exit status is 0
whatever the figures; ``--strict`` makes a missed goal exit 1.
"""

from __future__ import annotations

import argparse
import asyncio
import heapq
import logging
import multiprocessing
import os
import platform
import resource
import select
import socket
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path

from phonetrust.clock import SystemClock
from phonetrust.net.tftp import TftpServer
from phonetrust.pki.selfsigned import Organisation
from phonetrust.policy.domain import Device, Node, check_ipv4
from phonetrust.protocols.tftp.client import ClientState, ClientTransfer
from phonetrust.protocols.tftp.packets import TransferTimeout
from phonetrust.protocols.tftp.transfer import Address
from phonetrust.service import inventory, nodes, security
from phonetrust.service.context import Context
from phonetrust.service.tftpfiles import load_source
from phonetrust.store.datadir import DataDir
from phonetrust.testing.cluster import new_context, open_context

HOST = "127.0.0.1"
PHONES_HOST = "127.0.0.2"
"""The phones' address: not the server's, as on a real network. On one address the phones'
ports and the server's come from one pool, and a late datagram to a port just freed by one
side can reach the other side's new socket, which takes it for its server's answer."""
NODE = "bench-pub"
PASSWORD = "Bench-Security-123"  # noqa: S105 - a throw-away demo cluster
SERVER_CPU = 0
CONCURRENCY = (50, 200, 1000)
BLOCK_SIZES = (512, 1428)
P99_GOAL = 1.5
RATE_GOAL = 1200


@dataclass(frozen=True, slots=True)
class Settings:
    phones: int


FULL = Settings(phones=3000)
QUICK = Settings(phones=300)


@dataclass(frozen=True, slots=True)
class Figure:
    blksize: int
    concurrency: int
    phones: int
    seconds: float
    p50: float
    p99: float
    client_retransmissions: int
    server_retransmissions: int
    lost: int
    server_cpu: float
    load_cpu: float

    @property
    def rate(self) -> float:
        return self.phones / self.seconds

    @property
    def per_server_cpu_second(self) -> float:
        """Phones served per second of the server's CPU time: what one whole core would do."""
        return self.phones / max(self.server_cpu * self.seconds, 1e-9)


def _raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def _context(where: DataDir) -> Context:
    return open_context(where, SystemClock())


def _macs(count: int) -> list[str]:
    return [f"0A{i:010X}" for i in range(count)]


def build_cluster(root: Path, phones: int) -> dict[str, int]:
    """A one-node demo cluster in mixed mode with ``phones`` devices; the sizes of its files."""
    ctx = new_context(DataDir.locate(root), PASSWORD, SystemClock())
    try:
        nodes.init_cluster(
            ctx,
            name="bench",
            publisher_node=Node(NODE, check_ipv4("10.0.0.10"), "bench.example"),
            subscribers=[],
            org=Organisation(),
        )
        security.set_mixed_mode(ctx, NODE)
        inventory.add_devices(ctx, [Device(f"SEP{mac}", "8845") for mac in _macs(phones)])
        mac = _macs(1)[0]
        with ctx.repo.unit_of_work() as uow:
            names = uow.published_names(NODE)
        return {
            "CTL": names["CTLFile.tlv"],
            "ITL": names["ITLFile.tlv"],
            "config": names[f"SEP{mac}.cnf.xml.sgn"],
        }
    finally:
        ctx.repo.close()


# -- the server process -------------------------------------------------------------


def _server_main(root: str, pipe: Connection, pin: bool) -> None:
    if pin:
        os.sched_setaffinity(0, {SERVER_CPU})
    _raise_fd_limit()
    logging.getLogger("phonetrust.tftp").setLevel(logging.WARNING)
    ctx = _context(DataDir.locate(Path(root)))
    source = load_source(ctx, NODE)

    async def run() -> None:
        server = await TftpServer.start(source, port=0, max_transfers=4000)
        pipe.send(("port", server.port))
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()

        def on_message() -> None:
            message = pipe.recv()
            if message == "mark":
                pipe.send((time.monotonic(), time.process_time(), server.stats.retransmissions))
            else:
                stop.set()

        loop.add_reader(pipe.fileno(), on_message)
        await stop.wait()
        loop.remove_reader(pipe.fileno())
        await server.stop(grace=0.5)

    asyncio.run(run())
    ctx.repo.close()
    pipe.send(("stopped", 0.0))


# -- the load generator ---------------------------------------------------------------


class _Phone:
    """One booting phone: which file it is at, and that file's transfer and socket."""

    __slots__ = ("file_started", "index", "mac", "peer", "retransmissions", "sock", "started")

    def __init__(self, mac: str, now: float) -> None:
        self.mac = mac
        self.started = now
        self.index = 0
        self.retransmissions = 0
        self.sock: socket.socket | None = None
        self.peer: Address | None = None
        self.file_started = now


class Storm:
    """Phones booting against one server, ``concurrency`` at a time (a closed loop).

    The load generator must cost less per phone than the server, or the run
    measures it: asyncio's per-socket machinery (``tftp_remote.fetch``: a
    future, a reader and timers per transfer) costs about what the server
    does. So every phone's socket sits in one epoll that the loop watches,
    and one loop timer (every ``TICK`` s) runs the retransmissions, while
    the protocol is still the client's sans-I/O ``ClientTransfer``. A
    socket is connected to the server's transfer port once it answers, so
    that later datagrams are a plain ``recv``/``send``.
    """

    TICK = 0.01
    FILE_TIMEOUT = 60.0

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        server: Address,
        macs: list[str],
        blksize: int,
        concurrency: int,
    ) -> None:
        self.loop = loop
        self.server = server
        self.macs = iter(macs)
        self.option = None if blksize == 512 else blksize
        self.concurrency = concurrency
        self.results: list[tuple[bool, float, int]] = []
        self.done: asyncio.Future[None] = loop.create_future()
        self._epoll = select.epoll()
        self._phones: dict[int, tuple[_Phone, ClientTransfer]] = {}
        self._timers: list[tuple[float, int, _Phone, ClientTransfer]] = []
        self._seq = 0
        self._booting = 0
        self._tick: asyncio.TimerHandle | None = None

    async def run(self) -> list[tuple[bool, float, int]]:
        self.loop.add_reader(self._epoll.fileno(), self._on_ready)
        self._tick = self.loop.call_later(self.TICK, self._on_tick)
        try:
            now = self.loop.time()
            for _ in range(self.concurrency):
                self._next_phone(now)
            if self._booting:
                await self.done
        finally:
            self._tick.cancel()
            self.loop.remove_reader(self._epoll.fileno())
            for phone, _ in list(self._phones.values()):
                if phone.sock is not None:
                    phone.sock.close()
            self._epoll.close()
        return self.results

    def _next_phone(self, now: float) -> None:
        mac = next(self.macs, None)
        if mac is None:
            if not self._booting and not self.done.done():
                self.done.set_result(None)
            return
        self._booting += 1
        self._next_file(_Phone(mac, now), now)

    def _next_file(self, phone: _Phone, now: float) -> None:
        mac = phone.mac
        name = (f"CTLSEP{mac}.tlv", f"ITLSEP{mac}.tlv", f"SEP{mac}.cnf.xml.sgn")[phone.index]
        transfer = ClientTransfer(name, self.server, blksize=self.option)
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM | socket.SOCK_NONBLOCK)
        sock.bind((PHONES_HOST, 0))
        phone.sock, phone.peer, phone.file_started = sock, None, now
        self._phones[sock.fileno()] = (phone, transfer)
        self._epoll.register(sock.fileno(), select.EPOLLIN)
        self._send(sock, None, [(transfer.start(now), self.server)])
        self._arm(phone, transfer)

    def _arm(self, phone: _Phone, transfer: ClientTransfer) -> None:
        when = transfer.next_timer()
        if when is not None:
            self._seq += 1
            heapq.heappush(self._timers, (when, self._seq, phone, transfer))

    @staticmethod
    def _send(sock: socket.socket, peer: Address | None, out: list[tuple[bytes, Address]]) -> None:
        for datagram, addr in out:
            try:
                if addr == peer:
                    sock.send(datagram)
                else:
                    sock.sendto(datagram, addr)
            except OSError:
                pass  # a full buffer: lost like any datagram, the transfer retransmits

    def _on_ready(self) -> None:
        now = self.loop.time()
        phones = self._phones
        for fd, _ in self._epoll.poll(0, 1024):
            entry = phones.get(fd)
            if entry is None:
                continue
            phone, transfer = entry
            sock = phone.sock
            assert sock is not None
            try:
                if phone.peer is None:
                    data, addr = sock.recvfrom(65536)
                    out = transfer.receive_datagram(data, addr[:2], now)
                    if transfer.peer is not None:
                        sock.connect(transfer.peer)
                        phone.peer = transfer.peer
                else:
                    out = transfer.receive_datagram(sock.recv(65536), phone.peer, now)
            except OSError:
                continue  # nothing after all, or an ICMP error: the timer covers it
            if out:
                self._send(sock, phone.peer, out)
            if transfer.finished:
                self._file_done(phone, transfer, now)

    def _on_tick(self) -> None:
        now = self.loop.time()
        timers = self._timers
        while timers and timers[0][0] <= now:
            _, _, phone, transfer = heapq.heappop(timers)
            if transfer.finished or phone.sock is None:
                continue
            if now - phone.file_started > self.FILE_TIMEOUT:
                out = transfer.abort(
                    TransferTimeout(f"no complete answer in {self.FILE_TIMEOUT} s")
                )
            else:
                out = transfer.handle_timer(now)
            self._send(phone.sock, phone.peer, out)
            if transfer.finished:
                self._file_done(phone, transfer, now)
            else:
                self._arm(phone, transfer)
        self._tick = self.loop.call_later(self.TICK, self._on_tick)

    def _file_done(self, phone: _Phone, transfer: ClientTransfer, now: float) -> None:
        sock = phone.sock
        assert sock is not None
        del self._phones[sock.fileno()]
        self._epoll.unregister(sock.fileno())
        sock.close()
        phone.sock = None
        phone.retransmissions += transfer.retransmissions
        ok = transfer.state is ClientState.COMPLETE
        if not ok:  # counted as lost; say why
            print(f"{transfer.request.filename}: {transfer.error}", file=sys.stderr)
        if ok and phone.index < 2:
            phone.index += 1
            self._next_file(phone, now)
            return
        self.results.append((ok, now - phone.started, phone.retransmissions))
        self._booting -= 1
        self._next_phone(now)


async def _storm(
    port: int, macs: list[str], blksize: int, concurrency: int, pipe: Connection
) -> Figure:
    storm = Storm(asyncio.get_running_loop(), (HOST, port), macs, blksize, concurrency)
    pipe.send("mark")
    server_wall0, server_cpu0, server_rtx0 = pipe.recv()
    load_cpu0, started = time.process_time(), time.perf_counter()
    results = await storm.run()
    seconds = time.perf_counter() - started
    load_cpu = (time.process_time() - load_cpu0) / seconds
    pipe.send("mark")
    server_wall1, server_cpu1, server_rtx1 = pipe.recv()
    times = sorted(t for ok, t, _ in results if ok)
    cuts = statistics.quantiles(times, n=100, method="inclusive") if len(times) > 1 else [0.0] * 99
    return Figure(
        blksize=blksize,
        concurrency=concurrency,
        phones=len(macs),
        seconds=seconds,
        p50=cuts[49],
        p99=cuts[98],
        client_retransmissions=sum(r for _, _, r in results),
        server_retransmissions=server_rtx1 - server_rtx0,
        lost=sum(1 for ok, _, _ in results if not ok),
        server_cpu=(server_cpu1 - server_cpu0) / (server_wall1 - server_wall0),
        load_cpu=load_cpu,
    )


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:,.0f} ms"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Benchmark the TFTP server under a boot storm.")
    parser.add_argument("--quick", action="store_true", help="300 phones (a smoke run)")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a goal is missed")
    parser.add_argument("--phones", type=int, help="phones (and devices) per run")
    args = parser.parse_args(argv)
    settings = QUICK if args.quick else FULL
    phones = args.phones or settings.phones
    _raise_fd_limit()
    cpus = set(os.sched_getaffinity(0))
    pin = len(cpus) >= 2 and SERVER_CPU in cpus
    if pin:
        os.sched_setaffinity(0, cpus - {SERVER_CPU})
    print(
        f"phonetrust TFTP boot storm ({'quick' if args.quick else 'full'}): "
        f"Python {platform.python_version()}, {platform.machine()}, {phones:,} phones per run, "
        + (
            f"server on CPU {SERVER_CPU}, load on CPU {','.join(map(str, sorted(cpus - {0})))}"
            if pin
            else "one CPU only: server and load share it"
        )
    )
    with tempfile.TemporaryDirectory(prefix="phonetrust-bench-") as tmp:
        root = Path(tmp) / "data"
        started = time.perf_counter()
        sizes = build_cluster(root, phones)
        print(
            f"demo cluster: 1 node, mixed mode, {phones:,} devices, built in "
            f"{time.perf_counter() - started:.1f} s; files per phone: CTL {sizes['CTL']:,} B, "
            f"ITL {sizes['ITL']:,} B, config {sizes['config']:,} B"
        )
        mp = multiprocessing.get_context("spawn")
        ours, theirs = mp.Pipe()
        server = mp.Process(target=_server_main, args=(str(root), theirs, pin), daemon=True)
        server.start()
        port = ours.recv()[1]
        macs = _macs(phones)
        figures: list[Figure] = []
        try:
            runs = [(b, c) for b in BLOCK_SIZES for c in CONCURRENCY]
            for label, (blksize, concurrency) in zip("abcdef", runs, strict=True):
                figure = asyncio.run(_storm(port, macs, blksize, concurrency, ours))
                figures.append(figure)
                print(
                    f"({label}) blksize {blksize}, {concurrency:,} phones at once: "
                    f"{figure.rate:,.0f} phones/s, boot p50 {_ms(figure.p50)}, "
                    f"p99 {_ms(figure.p99)}, retransmissions {figure.client_retransmissions:,} "
                    f"by phones, {figure.server_retransmissions:,} by the server, "
                    f"lost {figure.lost:,} of {figure.phones:,}; "
                    f"server CPU {figure.server_cpu * 100:.0f} % "
                    f"({figure.per_server_cpu_second:,.0f} phones per server CPU-second), "
                    f"load generator CPU {figure.load_cpu * 100:.0f} %"
                )
        finally:
            ours.send("stop")
            server.join(10)
            if server.is_alive():
                server.kill()
    top = [f for f in figures if f.concurrency == CONCURRENCY[-1]]
    lost = sum(f.lost for f in top)
    worst_p99 = max(f.p99 for f in top)
    best = max(f.rate for f in figures if f.blksize == 512)
    lost_ok, p99_ok, rate_ok = lost == 0, worst_p99 < P99_GOAL, best >= RATE_GOAL
    print(
        f"goal no lost phone at concurrency {CONCURRENCY[-1]:,}: {lost} lost: {_verdict(lost_ok)}"
    )
    print(
        f"goal p99 boot time < {P99_GOAL} s at concurrency {CONCURRENCY[-1]:,}: "
        f"worst p99 {_ms(worst_p99)}: {_verdict(p99_ok)}"
    )
    print(
        f"goal >= {RATE_GOAL:,} phones/s at block size 512: best {best:,.0f}/s: {_verdict(rate_ok)}"
    )
    return 1 if args.strict and not (lost_ok and p99_ok and rate_ok) else 0


if __name__ == "__main__":
    sys.exit(main())

"""Speed of the TVS server: ``python benchmarks/bench_tvs.py [--quick] [--strict]``.

Verifications per second with 10, 200 and 1,000 concurrent clients, each
verification a fresh TLS connection (full handshake, no session reuse) as
phones make them, against an RSA-2048 TVS certificate. One figure line per
concurrency, starting ``(a)``, ``(b)``, ``(c)``, then the ceiling and the goals:

- at least 1,200 verifications/s with the server on one core;
- 0 errors at 1,000 concurrent connections.

The server runs in its own process pinned to CPU 0 (``os.sched_setaffinity``),
the load generator in this process on the other CPUs. Each client loops:
connect, TLS handshake, one verify request, read the answer, close_notify,
close - a lean non-blocking TLS socket driving ``ClientSession``, cheaper per
connection than the server so that the load generator is not what is
measured. The server counts its answers (``TvsServer.verifications``) and its
CPU time between two marks; the clients count errors over the whole run.
The ceiling line is how many RSA-2048 private-key operations the server's
core does per second: a full TLS handshake costs one, so no server can beat
it on that core.

The exit status is 0 whatever the figures; ``--strict`` makes a missed goal exit 1.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import os
import platform
import random
import resource
import socket
import ssl
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from typing import TypeVar

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.serialization import Encoding

from phonetrust.formats.tags import Role
from phonetrust.net import tls
from phonetrust.net.tvs import TvsServer
from phonetrust.pki.pem import load_certificate_and_key, to_pem
from phonetrust.pki.selfsigned import Organisation, self_signed
from phonetrust.protocols.tvs.session import ClientSession, ResponseReceived
from phonetrust.service.tvsdirectory import TvsDirectory

RATE_GOAL = 1_200
CONCURRENCY = (10, 200, 1_000)
SERVER_CPU = 0
DEVICE = "CP-8845-SEP00AABBCCDDEE"
NOW = datetime.now(UTC)
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Settings:
    seconds: float
    warmup: float


FULL = Settings(seconds=10.0, warmup=1.0)
QUICK = Settings(seconds=1.5, warmup=0.3)


@dataclass(frozen=True, slots=True)
class Figure:
    clients: int
    done: int
    errors: int
    seconds: float
    server_cpu: float
    """Fraction of one core the server used during the run."""
    load_cpu: float
    """Fraction of one core the load generator used: near 100 % means the figure is its limit."""

    @property
    def rate(self) -> float:
        return self.done / self.seconds

    @property
    def per_cpu_second(self) -> float:
        """Verifications per second of server CPU: what a core would do if the server had it
        all (a machine shared with other work shows a lower rate at a lower CPU share)."""
        return self.done / (self.server_cpu * self.seconds) if self.server_cpu else 0.0


def _raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def _cpus() -> set[int]:
    return set(os.sched_getaffinity(0))


# -- the server process -------------------------------------------------------------


def _rsa_ceiling(key: rsa.RSAPrivateKey, seconds: float) -> float:
    data = b"x" * 32
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        key.sign(data, padding.PKCS1v15(), hashes.SHA256())
        count += 1
    return count / (time.perf_counter() - start)


def _server_main(identity_pem: bytes, known_der: bytes, pipe: Connection, pin: bool) -> None:
    if pin:
        os.sched_setaffinity(0, {SERVER_CPU})
    _raise_fd_limit()
    cert, key = load_certificate_and_key(identity_pem)
    assert isinstance(key, rsa.RSAPrivateKey)
    pipe.send(("ceiling", _rsa_ceiling(key, 0.5)))
    directory = TvsDirectory.build([(known_der, [Role.SAST, Role.CCM_TFTP], "bench")])

    async def run() -> None:
        server = await TvsServer.start(directory, tls.server_context(cert, key), port=0)
        pipe.send(("port", server.port))
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()

        def on_message() -> None:
            message = pipe.recv()
            if message == "mark":
                pipe.send((time.monotonic(), time.process_time(), server.verifications))
            else:
                stop.set()

        loop.add_reader(pipe.fileno(), on_message)
        await stop.wait()
        loop.remove_reader(pipe.fileno())
        await server.stop()

    asyncio.run(run())
    pipe.send(("stopped", 0.0))


# -- the load generator ---------------------------------------------------------------


async def _ready(loop: asyncio.AbstractEventLoop, fd: int, write: bool) -> None:
    future: asyncio.Future[None] = loop.create_future()

    def wake() -> None:
        if not future.done():
            future.set_result(None)

    (loop.add_writer if write else loop.add_reader)(fd, wake)
    try:
        await future
    finally:
        (loop.remove_writer if write else loop.remove_reader)(fd)


async def _tls_call(loop: asyncio.AbstractEventLoop, sock: ssl.SSLSocket, op: Callable[[], T]) -> T:
    while True:
        try:
            return op()
        except ssl.SSLWantReadError:
            await _ready(loop, sock.fileno(), write=False)
        except ssl.SSLWantWriteError:
            await _ready(loop, sock.fileno(), write=True)


async def _verify_once(port: int, der: bytes, context: ssl.SSLContext) -> bool:
    """One phone: connect, full TLS handshake, one request, the answer, close_notify, close."""
    loop = asyncio.get_running_loop()
    raw = socket.socket()
    raw.setblocking(False)
    raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        await loop.sock_connect(raw, ("127.0.0.1", port))
    except OSError:
        raw.close()
        raise
    sock = context.wrap_socket(raw, do_handshake_on_connect=False)
    try:
        session = ClientSession(random.getrandbits(32))
        await _tls_call(loop, sock, sock.do_handshake)
        sock.send(session.send_request(der, DEVICE))
        while True:
            data = await _tls_call(loop, sock, lambda: sock.recv(4096))
            if data:
                session.receive_data(data)
            else:
                session.receive_eof()
            event = session.next_event()
            if isinstance(event, ResponseReceived):
                return event.response.answer().valid
            if event is not None:
                raise ConnectionError(f"no answer: {event}")
    finally:
        with contextlib.suppress(OSError, ValueError):
            sock.unwrap()
        sock.close()


async def _load(
    port: int, der: bytes, clients: int, settings: Settings, pipe: Connection
) -> Figure:
    context = tls.client_context()
    context.options |= ssl.OP_NO_TICKET  # phones: a fresh, full handshake every time
    errors = 0
    first_error = ""
    deadline = time.monotonic() + settings.warmup + settings.seconds

    async def client() -> None:
        nonlocal errors, first_error
        while time.monotonic() < deadline:
            try:
                async with asyncio.timeout(30):
                    valid = await _verify_once(port, der, context)
            except OSError as exc:  # refused, reset, TLS failure, timeout
                errors += 1
                first_error = first_error or repr(exc)
                continue
            if not valid:
                errors += 1
                first_error = first_error or "answered invalid"

    loop = asyncio.get_running_loop()

    async def mark() -> tuple[float, float, int]:
        pipe.send("mark")
        reply: tuple[float, float, int] = await loop.run_in_executor(None, pipe.recv)
        return reply

    tasks = [asyncio.create_task(client()) for _ in range(clients)]
    await asyncio.sleep(settings.warmup)
    wall0, cpu0, count0 = await mark()
    load0 = time.process_time()
    await asyncio.sleep(settings.seconds)
    wall1, cpu1, count1 = await mark()
    load_used = time.process_time() - load0
    await asyncio.gather(*tasks)
    if first_error:
        print(f"    first error: {first_error}")
    elapsed = wall1 - wall0
    return Figure(
        clients, count1 - count0, errors, elapsed, (cpu1 - cpu0) / elapsed, load_used / elapsed
    )


def _identity() -> tuple[bytes, bytes]:
    org = Organisation()
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    tvs = self_signed(org.name("cucm-pub"), key, now=NOW)
    known_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    known = self_signed(org.name("cucm-pub-cm"), known_key, now=NOW)
    return to_pem(tvs, key), known.public_bytes(Encoding.DER)


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Benchmark the TVS server.")
    parser.add_argument("--quick", action="store_true", help="short runs (a smoke run)")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a goal is missed")
    args = parser.parse_args(argv)
    settings = QUICK if args.quick else FULL
    _raise_fd_limit()
    cpus = _cpus()
    pin = len(cpus) >= 2 and SERVER_CPU in cpus
    if pin:
        os.sched_setaffinity(0, cpus - {SERVER_CPU})
    print(
        f"phonetrust TVS benchmark ({'quick' if args.quick else 'full'}): "
        f"Python {platform.python_version()}, {ssl.OPENSSL_VERSION}, {platform.machine()}, "
        + (
            f"server on CPU {SERVER_CPU}, load on CPU {','.join(map(str, sorted(cpus - {0})))}"
            if pin
            else "one CPU only: server and load share it"
        )
    )
    identity, known = _identity()
    mp = multiprocessing.get_context("spawn")
    ours, theirs = mp.Pipe()
    server = mp.Process(target=_server_main, args=(identity, known, theirs, pin), daemon=True)
    server.start()
    ceiling = ours.recv()[1]
    port = ours.recv()[1]
    figures: list[Figure] = []
    try:
        for label, clients in zip("abc", CONCURRENCY, strict=True):
            figure = asyncio.run(_load(port, known, clients, settings, ours))
            figures.append(figure)
            print(
                f"({label}) {clients:,} concurrent clients, fresh TLS connection each: "
                f"{figure.rate:,.0f} verifications/s, {figure.errors} errors, "
                f"server CPU {figure.server_cpu * 100:.0f} %"
                f" ({figure.per_cpu_second:,.0f} per server CPU-second), "
                f"load generator CPU {figure.load_cpu * 100:.0f} %"
            )
    finally:
        ours.send("stop")
        server.join(10)
        if server.is_alive():
            server.kill()
    best = max(f.rate for f in figures)
    rate_ok = best >= RATE_GOAL
    errors_ok = figures[-1].errors == 0
    print(
        f"ceiling: {ceiling:,.0f} RSA-2048 signatures/s on the server's core "
        "(one per full TLS handshake)"
    )
    print(
        f"goal >= {RATE_GOAL:,} verifications/s on one core: best {best:,.0f}/s: "
        f"{_verdict(rate_ok)}"
    )
    print(
        f"goal 0 errors at {CONCURRENCY[-1]:,} concurrent connections: "
        f"{figures[-1].errors} errors: {_verdict(errors_ok)}"
    )
    return 1 if args.strict and not (rate_ok and errors_ok) else 0


if __name__ == "__main__":
    sys.exit(main())

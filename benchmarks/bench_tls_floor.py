"""The floor under the TVS and CAPF figures: ``python benchmarks/bench_tls_floor.py [--quick]``.

Issue 4 compares the TVS goal (1,200 verifications/s on one core) with "a
bare Python asyncio TLS server" and with ``openssl speed rsa2048``. This
script measures both on the machine it runs on, so that the TVS and CAPF
figures can be read against what the core can do at all:

- **(a)** RSA-2048 PKCS#1 v1.5 signatures per second through ``cryptography``
  on CPU 0: every full TLS handshake with an RSA-2048 certificate costs the
  server one private-key operation (a signature in TLS 1.3 and ECDHE, a
  decryption with RSA key exchange), so no server beats this on one core;
- **(b)**, **(c)** a bare ``asyncio.start_server(ssl=...)`` server pinned to
  CPU 0 that completes TLS 1.3 (then TLS 1.2) handshakes, echoes one byte
  and closes: handshakes per second of server CPU time, with load from two
  client processes on the other CPU.

The server's CPU share is printed beside each figure: below ~90 % another
process held the core, and the per-CPU-second figure is the one to read.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import os
import ssl
import tempfile
import time
from datetime import UTC, datetime
from multiprocessing.synchronize import Event
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from phonetrust.pki.pem import to_pem
from phonetrust.pki.selfsigned import Organisation, self_signed

SERVER_CPU = 0
CLIENTS = 2
CONCURRENCY = 30


def _pin(cpus: set[int]) -> None:
    with contextlib.suppress(OSError, AttributeError):
        os.sched_setaffinity(0, cpus & os.sched_getaffinity(0) or os.sched_getaffinity(0))


def _rsa_rate(seconds: float) -> float:
    _pin({SERVER_CPU})
    key = rsa.generate_private_key(65537, 2048)
    data = os.urandom(32)
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        key.sign(data, padding.PKCS1v15(), hashes.SHA256())
        done += 1
    return done / (time.perf_counter() - start)


def _server(pem: Path, port: int, tls12: bool, timing: tuple[float, float], out: Event) -> None:
    warmup, seconds = timing
    _pin({SERVER_CPU})
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pem)
    context.num_tickets = 0
    if tls12:
        context.maximum_version = ssl.TLSVersion.TLSv1_2
    count = 0

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal count
        # CancelledError: handlers still open when the measurement ends are dropped quietly.
        with contextlib.suppress(OSError, ssl.SSLError, asyncio.CancelledError):
            data = await reader.read(1)
            writer.write(data)
            count += 1
        writer.transport.abort()

    async def main() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", port, ssl=context, backlog=1024)
        await asyncio.sleep(warmup)
        c0, t0, cpu0 = count, time.perf_counter(), time.process_time()
        await asyncio.sleep(seconds)
        c1, t1, cpu1 = count, time.perf_counter(), time.process_time()
        share = (cpu1 - cpu0) / (t1 - t0)
        rate = (c1 - c0) / (t1 - t0)
        print(
            f"{'(c) TLS 1.2' if tls12 else '(b) TLS 1.3'} bare asyncio server: {rate:,.0f} "
            f"handshakes/s at {share:.0%} of CPU {SERVER_CPU} = "
            f"{(c1 - c0) / max(cpu1 - cpu0, 1e-9):,.0f} per server CPU-second",
            flush=True,
        )
        out.set()
        server.close()

    asyncio.run(main())


def _client(port: int, stop: Event) -> None:
    _pin(set(os.sched_getaffinity(0)) - {SERVER_CPU})
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE

    async def loop() -> None:
        while not stop.is_set():
            with contextlib.suppress(OSError, ssl.SSLError, asyncio.IncompleteReadError):
                reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=context)
                writer.write(b"x")
                await reader.read(1)
                writer.transport.abort()

    async def main() -> None:
        tasks = [asyncio.create_task(loop()) for _ in range(CONCURRENCY)]
        while not stop.is_set():
            await asyncio.sleep(0.05)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    asyncio.run(main())


def _free_port() -> int:
    import socket  # noqa: PLC0415 - only here

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="short runs (a smoke test)")
    args = parser.parse_args(argv)
    seconds, warmup = (1.0, 0.5) if args.quick else (6.0, 2.0)
    print(f"(a) RSA-2048 signatures on CPU {SERVER_CPU}: {_rsa_rate(seconds):,.0f}/s", flush=True)
    key = rsa.generate_private_key(65537, 2048)
    cert = self_signed(Organisation().name("tvs-floor"), key, now=datetime.now(UTC))
    with tempfile.TemporaryDirectory() as tmp:
        pem = Path(tmp) / "identity.pem"
        pem.write_bytes(to_pem(cert, key))
        pem.chmod(0o600)
        spawn = multiprocessing.get_context("spawn")
        for tls12 in (False, True):
            port = _free_port()
            stop = spawn.Event()
            server = spawn.Process(target=_server, args=(pem, port, tls12, (warmup, seconds), stop))
            server.start()
            time.sleep(0.5)
            clients = [spawn.Process(target=_client, args=(port, stop)) for _ in range(CLIENTS)]
            for c in clients:
                c.start()
            server.join()
            for c in clients:
                c.join(10)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Attacks on the TFTP server over real UDP sockets on 127.0.0.1 (issue 9, items 6, 8 and 9).

- Symbolic links in ``DATA/tftp`` into the data directory (the master key,
  the database) are not served; a link to a regular file elsewhere is.
- Option values that are not ASCII digits (``blksize=²`` raised ValueError
  in the event loop, leaked a socket and froze the timer) cost only that
  option: every request is answered, nothing is logged as an error.
- A flood of requests from a few hundred ports that never answer (with and
  without ``timeout 255``) does not keep a phone from fetching its files,
  and costs at most :data:`PER_REQUEST` bytes sent per request.

Every flood is bounded in packets and time and stays on the loopback.
"""

from __future__ import annotations

import asyncio
import logging
import os
import select
import socket
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from phonetrust.net.tftp import RESERVED_DESCRIPTORS, TftpServer
from phonetrust.net.tftp_remote import fetch
from phonetrust.policy.domain import Device
from phonetrust.protocols.tftp.packets import (
    Data,
    Error,
    ErrorCode,
    OptionAck,
    PeerError,
    ReadRequest,
    parse,
)
from phonetrust.service import inventory, security
from phonetrust.service.tftpfiles import load_source
from tests.service.conftest import Lab

HOST = "127.0.0.1"
MAC = "001122334455"
PHONE = f"SEP{MAC}"
FIRMWARE = bytes(range(256)) * 16  # 4,096 bytes: a full first block
PER_REQUEST = 3 * (4 + 512)
"""The most a request never answered may cost: its first DATA (or OACK), sent three times."""


def run(test: Callable[[], Awaitable[None]], limit: float = 60) -> None:
    asyncio.run(asyncio.wait_for(test(), limit))


@pytest.fixture
def cluster(lab: Lab) -> Lab:
    security.set_mixed_mode(lab.ctx, "cucm-pub")
    inventory.add_devices(lab.ctx, [Device(PHONE, "8845")])
    (lab.where.tftp_dir / "firmware").mkdir(parents=True)
    (lab.where.tftp_dir / "firmware" / "sip88xx.loads").write_bytes(FIRMWARE)
    return lab


async def serve(cluster: Lab, **kw: object) -> TftpServer:
    source = await asyncio.to_thread(load_source, cluster.ctx, "cucm-pub")
    return await TftpServer.start(source, host=HOST, port=0, **kw)  # type: ignore[arg-type]


async def get(server: TftpServer, name: str, rto: float = 0.2, timeout: float = 5) -> bytes:
    data, _ = await fetch((HOST, server.port), name, timeout=timeout, rto=rto)
    return data


# -- item 6: symbolic links ----------------------------------------------------------------


def test_links_into_the_data_directory_are_not_served_and_links_elsewhere_are(
    cluster: Lab, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    data = cluster.where.root
    tftp = cluster.where.tftp_dir
    secrets = sorted(p for p in data.rglob("*") if p.is_file() and tftp not in p.parents)
    assert data / "phonetrust.db" in secrets
    (tftp / "firmware.bin").symlink_to(Path("..") / "master.key")  # the attack, word for word
    for i, secret in enumerate(secrets):
        (tftp / f"secret{i}.bin").symlink_to(os.path.relpath(secret, tftp))
    (tftp / "keys-dir.bin").symlink_to(data)
    (tftp / "absolute-db.bin").symlink_to((data / "phonetrust.db").resolve())
    elsewhere = tmp_path / "firmware-store"
    elsewhere.mkdir()
    (elsewhere / "sip78xx.loads").write_bytes(b"kept elsewhere" * 100)
    (tftp / "sip78xx.loads").symlink_to(elsewhere / "sip78xx.loads")
    os.link(data / "phonetrust.db", tftp / "hardlinked.bin")
    refused = ["firmware.bin", "keys-dir.bin", "absolute-db.bin", "hardlinked.bin"]
    refused += [f"secret{i}.bin" for i in range(len(secrets))]

    async def body() -> None:
        with caplog.at_level(logging.INFO, logger="phonetrust.tftp"):
            server = await serve(cluster)
        try:
            for name in refused:
                with pytest.raises(PeerError) as caught:
                    await get(server, name)
                assert caught.value.code == ErrorCode.FILE_NOT_FOUND, name
            assert await get(server, "sip78xx.loads") == b"kept elsewhere" * 100
            assert await get(server, "firmware/sip88xx.loads") == FIRMWARE
        finally:
            await server.stop()

    run(body)
    for name in refused:
        assert caplog.text.count(f"TFTP directory: {name} left out") == 1, name
    assert "inside the data directory" in caplog.text
    # the database is intact and still usable
    assert inventory.add_devices(cluster.ctx, [Device("SEP00112233445A", "8845")]) is not None


# -- item 9: option values -------------------------------------------------------------------

HOSTILE_VALUES = [
    b"\xb2",  # blksize=² : str.isdigit() said yes, int() raised ValueError in the event loop
    "\u0663".encode(),  # timeout=٣ (UTF-8)
    b"99999999999999999999999",
    b"-1",
    b"",
    b"+8",
    b"1e3",
]


def raw_rrq(name: bytes, option: bytes, value: bytes) -> bytes:
    return b"\x00\x01" + name + b"\x00octet\x00" + option + b"\x00" + value + b"\x00"


def ask(port: int, datagram: bytes) -> bytes:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(3)
        sock.sendto(datagram, (HOST, port))
        answer, _ = sock.recvfrom(65536)
        return answer


def test_option_values_that_are_not_ascii_digits_cost_only_that_option(
    cluster: Lab, caplog: pytest.LogCaptureFixture
) -> None:
    fds = Path("/proc/self/fd")

    async def body() -> None:
        before = len(os.listdir(fds)) if fds.is_dir() else 0
        server = await serve(cluster)
        try:
            for option in (b"blksize", b"timeout", b"windowsize", b"tsize"):
                for value in HOSTILE_VALUES:
                    rrq = raw_rrq(b"firmware/sip88xx.loads", option, value)
                    answer = parse(await asyncio.to_thread(ask, server.port, rrq))
                    expected = OptionAck((("tsize", "4096"),)) if option == b"tsize" else None
                    assert answer == (expected or Data(1, FIRMWARE[:512])), (option, value)
            # every one of them is given up within seconds: no slot, socket or timer is stuck
            for _ in range(200):
                if server.active == 0:
                    break
                await asyncio.sleep(0.05)
            assert server.active == 0
            assert await get(server, "firmware/sip88xx.loads") == FIRMWARE
        finally:
            await server.stop()
        if fds.is_dir():  # every transfer socket (idle ones included) is closed with the server;
            # the one more is the test client's epoll (made on first use, kept by the loop)
            assert len(os.listdir(fds)) <= before + 1

    with caplog.at_level(logging.INFO):
        run(body)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert "Traceback" not in caplog.text


# -- item 8: slot exhaustion and amplification -------------------------------------------------

SILENT_PORTS = 300
ROUNDS = 12
"""300 ports x 12 rounds = 3,600 requests, about 90 KB, none of them ever answered."""
FLOOD_NAMES = ("firmware/sip88xx.loads", f"ITLSEP{MAC}.tlv", f"CTLSEP{MAC}.tlv")
FLOOD_OPTIONS: tuple[tuple[tuple[str, str], ...], ...] = (
    (),
    (("timeout", "255"),),
    (("timeout", "255"), ("blksize", "1428")),
)


def flood(port: int, socks: list[socket.socket], duration: float) -> int:
    """Every socket asks for its file each round, round after round, over ``duration`` s:
    a client that retransmits its request and never acknowledges anything."""
    sent = 0
    for _ in range(ROUNDS):
        for i, sock in enumerate(socks):
            name = FLOOD_NAMES[i % len(FLOOD_NAMES)]
            options = FLOOD_OPTIONS[i % len(FLOOD_OPTIONS)]
            sock.sendto(ReadRequest(name, "octet", options).to_wire(), (HOST, port))
            sent += 1
        time.sleep(duration / ROUNDS)
    return sent


def received(socks: list[socket.socket]) -> tuple[int, int]:
    """Bytes and datagrams waiting in the silent sockets (read and dropped)."""
    total = count = 0
    for sock in socks:
        while select.select([sock], [], [], 0)[0]:
            try:
                total += len(sock.recv(65536))
            except OSError:
                continue
            count += 1
    return total, count


def test_a_flood_of_silent_requests_keeps_no_phone_out_and_amplifies_little(
    cluster: Lab,
) -> None:
    ctl = cluster.file("cucm-pub", "CTLFile.tlv")
    itl = cluster.file("cucm-pub", "ITLFile.tlv")
    config = cluster.file("cucm-pub", f"{PHONE}.cnf.xml.sgn")

    async def phone(server: TftpServer) -> list[bytes]:
        """A phone's boot: CTL, ITL, configuration, each with a phone's 1 s retransmission."""
        return [
            await get(server, name, rto=1.0, timeout=20)
            for name in (f"CTLSEP{MAC}.tlv", f"ITLSEP{MAC}.tlv", f"{PHONE}.cnf.xml.sgn")
        ]

    async def body() -> None:
        # 200 transfer slots: the flood has 300 ports, so slots run out
        server = await serve(cluster, max_descriptors=RESERVED_DESCRIPTORS + 200)
        socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(SILENT_PORTS)]
        try:
            for sock in socks:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
            started = time.monotonic()
            attack = asyncio.ensure_future(asyncio.to_thread(flood, server.port, socks, 3.0))
            await asyncio.sleep(0.5)  # the slots are full of silent transfers
            assert server.active == 200
            booted = await asyncio.gather(phone(server), phone(server))
            assert list(booted) == [[ctl, itl, config]] * 2
            sent = await attack
            assert time.monotonic() - started < 25
            # every silent transfer is given up or evicted within seconds, even with timeout 255
            for _ in range(300):
                if server.active == 0:
                    break
                await asyncio.sleep(0.05)
            assert server.active == 0
            assert time.monotonic() - started < 30
            total, count = await asyncio.to_thread(received, socks)
            assert sent == SILENT_PORTS * ROUNDS
            silent = server.stats.failed  # every transfer to a silent port failed (or was evicted)
            assert silent >= SILENT_PORTS
            assert total / silent <= PER_REQUEST, (total, count, silent)
            assert count / silent <= 3
            assert total / sent <= PER_REQUEST
            assert server.stats.evicted > 0
        finally:
            for sock in socks:
                sock.close()
            await server.stop()

    run(body)


def test_a_silent_request_costs_at_most_three_first_blocks(cluster: Lab) -> None:
    """One RRQ nobody answers: the bytes it draws, before and after the fix (was 7 packets)."""

    async def body() -> None:
        server = await serve(cluster)
        socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in FLOOD_OPTIONS]
        try:
            for sock, options in zip(socks, FLOOD_OPTIONS, strict=True):
                rrq = ReadRequest("firmware/sip88xx.loads", "octet", options).to_wire()
                sock.sendto(rrq, (HOST, server.port))
            for _ in range(300):
                await asyncio.sleep(0.05)
                if server.active == 0:
                    break
            assert server.active == 0
            for sock in socks:
                total, count = received([sock])
                assert count <= 3
                assert total <= PER_REQUEST
        finally:
            for sock in socks:
                sock.close()
            await server.stop()

    run(body)


def test_an_error_answer_is_never_sent_to_a_silent_peer(cluster: Lab) -> None:
    async def body() -> None:
        server = await serve(cluster)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.sendto(ReadRequest("firmware/sip88xx.loads").to_wire(), (HOST, server.port))
            try:
                for _ in range(300):
                    await asyncio.sleep(0.05)
                    if server.active == 0:
                        break
                seen = []
                while select.select([sock], [], [], 0)[0]:
                    seen.append(parse(sock.recv(65536)))
                assert seen
                assert not any(isinstance(p, Error) for p in seen)
            finally:
                await server.stop()

    run(body)

"""The TVS server over real TLS on 127.0.0.1, with a lab node's own TVS certificate.

Phones pin the server by the SHA-1 of the ITL's TVS record; so do these
tests. Hostile clients (malformed, truncated, oversized, silent, slow,
bursts) must cost only their own connections: a good client succeeds
during and after.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from phonetrust.formats import legacy
from phonetrust.formats.tags import Role
from phonetrust.formats.trustlist import TrustList
from phonetrust.net import tls
from phonetrust.net.tvs import TvsServer
from phonetrust.net.tvs_client import TvsUnavailable, query
from phonetrust.policy.domain import CertName
from phonetrust.protocols.tvs.messages import (
    Answer,
    Command,
    Request,
    TvsServerUntrusted,
)
from phonetrust.service.tvsdirectory import TvsDirectory, load_directory, tvs_identity
from phonetrust.testing.pki import make_identity, plain_name
from tests.service.conftest import Lab
from tests.service.helpers import current

HOST = "127.0.0.1"
DEVICE = "CP-7975-SEP001122334455"
STRANGER = make_identity(plain_name("nobody we know"), slot=9).certificate.public_bytes(
    Encoding.DER
)


@dataclass
class Node:
    """What a test needs of the lab's publisher: its answers, TLS identity and ITL pin."""

    lab: Lab
    directory: TvsDirectory
    tls: ssl.SSLContext
    pin: bytes
    """SHA-1 of the publisher's TVS certificate, read from its ITL's TVS record."""
    other_pin: bytes
    """The ITL's other TVS record (cucm-sub1's)."""
    callmanager: bytes


def itl_tvs_pins(cluster: Lab, node: str) -> list[bytes]:
    data = cluster.file(node, "ITLFile.tlv")
    assert data is not None
    itl = TrustList.from_wire(data)
    pins = [r.cert_hash for r in itl.records if r.role is Role.TVS and r.hash_algorithm_code == 1]
    return [p for p in pins if p is not None]


@pytest.fixture
def node(lab: Lab) -> Node:
    """The ``lab`` fixture of tests/service seen as one TVS node."""
    pins = itl_tvs_pins(lab, "cucm-pub")
    assert len(pins) == 2  # own TVS first, then the other node's (H4)
    cert, key = tvs_identity(lab.ctx, "cucm-pub")
    return Node(
        lab,
        load_directory(lab.ctx),
        tls.server_context(cert, key),
        pins[0],
        pins[1],
        current(lab.ctx, "cucm-pub", CertName.CALLMANAGER).public_bytes(Encoding.DER),
    )


Scenario = Callable[[TvsServer], Awaitable[None]]


def serve(node: Node, scenario: Scenario, **options: float) -> None:
    """Run ``scenario`` against a server started on a free port, then stop it."""

    async def main() -> None:
        server = await TvsServer.start(node.directory, node.tls, host=HOST, port=0, **options)  # type: ignore[arg-type]
        try:
            await scenario(server)
        finally:
            await server.stop()

    asyncio.run(main())


async def ask(server: TvsServer, der: bytes, pin: bytes | None = None, **kw: object) -> Answer:
    return await query(HOST, server.port, der, DEVICE, expected_tvs_sha1=pin, timeout=10, **kw)  # type: ignore[arg-type]


# -- answers ----------------------------------------------------------------------------


def test_valid_and_invalid_answers_with_the_itl_pin(
    node: Node, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="phonetrust.tvs")

    async def scenario(server: TvsServer) -> None:
        assert await ask(server, node.callmanager, node.pin) == Answer(True, (0, 2), 86_400)
        assert await ask(server, STRANGER, node.pin) == Answer(False, (), 0)
        query_answer = await ask(server, node.callmanager, node.pin, command=Command.QUERY_REQUEST)
        assert query_answer.valid
        assert server.verifications == 3

    serve(node, scenario)
    lines = [r.getMessage() for r in caplog.records if "asked about" in r.getMessage()]
    assert len(lines) == 3
    sha1 = legacy.sha1(node.callmanager).hex()
    assert f"device {DEVICE} asked about C=PL,ST=Malopolska,L=Krakow,O=Cisco,OU=TAC," in lines[0]
    assert "CN=cucm-pub.lab.example (SHA-1" in lines[0]
    assert f"(SHA-1 {sha1}): valid, roles SAST, CCM+TFTP" in lines[0]
    assert lines[1].endswith("invalid, roles none")


def test_a_wrong_pin_is_refused_and_the_server_goes_on(node: Node) -> None:
    async def scenario(server: TvsServer) -> None:
        with pytest.raises(TvsServerUntrusted, match="is not the one the ITL names"):
            await ask(server, node.callmanager, node.other_pin)
        assert (await ask(server, node.callmanager, node.pin)).valid

    serve(node, scenario)


def test_swap_directory_and_swap_tls(node: Node) -> None:
    cluster = node.lab

    async def scenario(server: TvsServer) -> None:
        assert not (await ask(server, STRANGER)).valid
        server.swap_directory(TvsDirectory.build([(STRANGER, [Role.APP_SERVER], "test")], ttl=9))
        assert await ask(server, STRANGER) == Answer(True, (7,), 9)
        # set cert regen TVS: the ITL names the new certificate, the server presents it.
        cluster.later(600)
        await asyncio.to_thread(cluster.admin, "set cert regen TVS", "yes")
        cert, key = await asyncio.to_thread(tvs_identity, cluster.ctx, "cucm-pub")
        server.swap_tls(tls.server_context(cert, key))
        new_pin = (await asyncio.to_thread(itl_tvs_pins, cluster, "cucm-pub"))[0]
        assert new_pin != node.pin
        assert new_pin == legacy.sha1(cert.public_bytes(Encoding.DER))
        with pytest.raises(TvsServerUntrusted):
            await ask(server, STRANGER, node.pin)
        assert (await ask(server, STRANGER, new_pin)).valid

    serve(node, scenario)


@pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1 is deprecated:DeprecationWarning")
def test_tls_1_0_only_with_the_legacy_option(node: Node) -> None:
    old_phone = tls.client_context(legacy=True)
    old_phone.maximum_version = ssl.TLSVersion.TLSv1
    cert, key = tvs_identity(node.lab.ctx, "cucm-pub")

    async def refused(server: TvsServer) -> None:
        with pytest.raises(TvsUnavailable, match=f"TVS {HOST}:{server.port} failed: ."):
            await ask(server, node.callmanager, tls=old_phone)
        assert (await ask(server, node.callmanager)).valid

    serve(node, refused)
    node.tls = tls.server_context(cert, key, legacy=True)

    async def accepted(server: TvsServer) -> None:
        try:
            answer = await ask(server, node.callmanager, node.pin, tls=old_phone)
        except TvsUnavailable as exc:  # the system's OpenSSL may forbid TLS 1.0 outright
            pytest.skip(f"this OpenSSL cannot speak TLS 1.0 at all: {exc}")
        assert answer.valid

    serve(node, accepted)


# -- hostile clients ----------------------------------------------------------------------


async def tls_connect(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection(HOST, port, ssl=tls.client_context())


async def drop(writer: asyncio.StreamWriter) -> None:
    writer.transport.abort()
    with contextlib.suppress(OSError):
        await writer.wait_closed()


async def server_reply(port: int, data: bytes, *, close: bool = False) -> bytes:
    """What the server sends back (until it closes) after ``data``; ``close`` hangs up first."""
    reader, writer = await tls_connect(port)
    try:
        writer.write(data)
        if close:
            await drop(writer)
            return b""
        try:
            async with asyncio.timeout(5):
                return await reader.read()
        except (ConnectionResetError, ssl.SSLError):
            return b""
    finally:
        await drop(writer)


REQUEST = Request(1, STRANGER, DEVICE).to_wire()
BAD = {
    "wrong protocol id": b"\x56" + REQUEST[1:],
    "wrong version": REQUEST[:1] + b"\x02" + REQUEST[2:],
    "unknown command": REQUEST[:2] + b"\x09" + REQUEST[3:],
    "oversized length": REQUEST[:8] + b"\xff\xff" + REQUEST[10:],
    "unknown tag": bytes.fromhex("57 01 01 00 00000001 0004 05 0001 00"),
    "no certificate": bytes.fromhex("57 01 01 00 00000001 0005 01 0002 0141"),
    "a response": bytes.fromhex("57 01 02 00 00000001 0004 07 0001 00"),
    "not TVS at all": b"GET / HTTP/1.0\r\n\r\n",
}


@pytest.mark.parametrize("data", BAD.values(), ids=BAD.keys())
def test_a_malformed_request_costs_its_connection_only(node: Node, data: bytes) -> None:
    async def scenario(server: TvsServer) -> None:
        good_before = await tls_connect(server.port)  # a phone connected meanwhile
        try:
            assert await server_reply(server.port, data) == b""
            good_before[1].write(Request(5, node.callmanager).to_wire())
            async with asyncio.timeout(5):
                reply = await good_before[0].read(100)
            assert reply[8:10] != b""  # an answer arrived
            assert reply[4:8] == (5).to_bytes(4, "big")
        finally:
            await drop(good_before[1])
        assert (await ask(server, node.callmanager, node.pin)).valid

    serve(node, scenario)


def test_a_truncated_request_then_hang_up(node: Node) -> None:
    async def scenario(server: TvsServer) -> None:
        for cut in (3, 10, len(REQUEST) - 1):
            await server_reply(server.port, REQUEST[:cut], close=True)
        await _settled(server)
        assert (await ask(server, node.callmanager)).valid

    serve(node, scenario)


async def _settled(server: TvsServer, limit: float = 3.0) -> float:
    """Seconds until the server holds no connection (fails after ``limit``)."""
    start = time.monotonic()
    while server.open_connections:
        assert time.monotonic() - start < limit, f"{server.open_connections} still open"
        await asyncio.sleep(0.02)
    return time.monotonic() - start


def test_silent_and_slow_clients_are_dropped_at_the_read_timeout(node: Node) -> None:
    async def scenario(server: TvsServer) -> None:
        # A TCP client that never starts TLS, a TLS client that never sends, and one that
        # trickles a valid request a byte every 0.1 s (too slow to finish within 0.5 s).
        raw = socket.create_connection((HOST, server.port))
        raw.setblocking(False)
        silent = await tls_connect(server.port)
        slow = await tls_connect(server.port)
        started = time.monotonic()
        try:
            for byte in REQUEST[:12]:
                slow[1].write(bytes([byte]))
                await asyncio.sleep(0.1)
            async with asyncio.timeout(3):
                assert await silent[0].read() == b""
            with contextlib.suppress(ConnectionResetError, ssl.SSLError):
                async with asyncio.timeout(3):
                    assert await slow[0].read() == b""
            assert time.monotonic() - started < 2.5
            await _settled(server)
        finally:
            raw.close()
            await drop(silent[1])
            await drop(slow[1])
        assert (await ask(server, node.callmanager)).valid

    serve(node, scenario, read_timeout=0.5)


def test_a_burst_of_bogus_connections_is_bounded_and_a_phone_still_gets_through(
    node: Node,
) -> None:
    limit = 20

    async def scenario(server: TvsServer) -> None:
        bogus: list[socket.socket] = []
        most = 0
        try:
            for n in range(120):
                s = socket.create_connection((HOST, server.port))
                if n % 2:
                    s.sendall(b"\x16\x03\x01\x00\x05garbage")  # a broken TLS hello
                bogus.append(s)
            during = asyncio.create_task(ask(server, node.callmanager, node.pin))
            while not during.done():
                most = max(most, server.open_connections)
                await asyncio.sleep(0.01)
            assert (await during).valid
            assert most == limit  # the bound was reached, and held
            waited = await _settled(server, limit=6.0)
        finally:
            for s in bogus:
                s.close()
        assert waited < 6.0
        answers = await asyncio.gather(*(ask(server, node.callmanager) for _ in range(10)))
        assert all(a.valid for a in answers)
        assert server.open_connections <= limit

    serve(node, scenario, max_connections=limit, read_timeout=0.5)


def test_stop_closes_idle_connections_and_the_port(node: Node) -> None:
    async def main() -> None:
        server = await TvsServer.start(node.directory, node.tls, host=HOST, port=0)
        idle = await tls_connect(server.port)
        started = time.monotonic()
        await server.stop()
        assert time.monotonic() - started < 3
        with contextlib.suppress(ConnectionResetError):
            async with asyncio.timeout(3):
                assert await idle[0].read() == b""
        await drop(idle[1])
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection((HOST, server.port), timeout=1).close()

    asyncio.run(main())


@pytest.fixture
def no_port() -> Iterator[int]:
    s = socket.socket()
    s.bind((HOST, 0))
    yield s.getsockname()[1]
    s.close()


def test_the_client_reports_an_unreachable_server(no_port: int) -> None:
    with pytest.raises(TvsUnavailable, match=f"TVS {HOST}:{no_port}"):
        asyncio.run(query(HOST, no_port, STRANGER, timeout=2))

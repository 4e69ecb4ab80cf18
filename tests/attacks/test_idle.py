"""Idle connections must not keep a phone out (issue 9, item 10).

A flood of silent TCP connections (and a few that finish the TLS handshake,
then say nothing) fills every slot of a service run by ``serve``; a good
client that comes a moment later must be served at once: the oldest idle
connection makes room for it. Before the fix, 2,000 silent connections
delayed TVS by 10 s, 1,000 kept CAPF out for 30 s and 256 made HTTPS drop
every new client.

The floods come from loopback addresses of their own where the test needs
the bound on all connections to be reached (127.0.0.2 and 127.0.0.3 for
TVS), and from the good client's own address where it tests the bound per
address (CAPF, HTTPS).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import socket
import ssl
from collections.abc import Awaitable, Iterator
from typing import TypeVar

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from phonetrust.net import capf_client, tls, tvs_client, webgate
from phonetrust.net.serve import Running, ServeOptions, serving
from phonetrust.net.webserver import WebServer, phone_urls
from phonetrust.policy.domain import CapfAuthMode, CapfOperation, CertName, Device
from phonetrust.service import inventory
from phonetrust.testing.pki import make_identity, plain_name
from tests.service.conftest import Lab
from tests.service.helpers import current

T = TypeVar("T")
DEVICE = "SEP00AABBCCDD01"
PROMPT = 3.0
"""Seconds a good client may take while the flood holds its connections."""
SETTLE = 1.3
"""Seconds the flood's connections are left to age before the good client comes
(a connection younger than ssllistener.EVICT_AGE is not dropped to make room)."""


def _options() -> ServeOptions:
    return ServeOptions(
        node="cucm-pub", tftp_port=0, tvs_port=0, capf_port=0, https_port=0, poll=0.1
    )


def _silent(port: int, count: int, source: str, *, tls_first: int = 0) -> list[socket.socket]:
    """``count`` connections from ``source`` that never send a byte (the first ``tls_first``
    finish the TLS handshake, then say nothing); refused ones are left out."""
    held: list[socket.socket] = []
    context = tls.client_context()
    for i in range(count):
        raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            raw.bind((source, 0))
            raw.settimeout(5)
            raw.connect(("127.0.0.1", port))
            if i < tls_first:
                raw = context.wrap_socket(raw)
        except OSError:
            raw.close()
            continue
        held.append(raw)
    return held


@contextlib.contextmanager
def _closing(socks: list[socket.socket]) -> Iterator[None]:
    try:
        yield
    finally:
        for sock in socks:
            sock.close()


async def _flood(
    running: Running, name: str, plan: list[tuple[str, int, int]]
) -> list[socket.socket]:
    """Open each (source, count, with TLS) flood, then let the connections age."""
    held: list[socket.socket] = []
    for source, count, with_tls in plan:
        held += await asyncio.to_thread(
            _silent, running.ports[name], count, source, tls_first=with_tls
        )
    await asyncio.sleep(SETTLE)
    return held


async def _prompt(what: Awaitable[T]) -> T:
    """What ``what`` gives, which must come within PROMPT seconds."""
    async with asyncio.timeout(PROMPT):
        return await what


def test_tvs_answers_a_phone_behind_2000_silent_connections(lab: Lab) -> None:
    tvs_der = current(lab.ctx, "cucm-pub", CertName.TVS).public_bytes(Encoding.DER)
    tomcat = current(lab.ctx, "cucm-pub", CertName.TOMCAT).public_bytes(Encoding.DER)

    async def main() -> None:
        async with serving(lab.ctx, _options()) as running:
            held = await _flood(running, "tvs", [("127.0.0.2", 1000, 10), ("127.0.0.3", 1000, 0)])
            with _closing(held):
                assert len(held) >= 1900
                answer = await _prompt(
                    tvs_client.query(
                        "127.0.0.1",
                        running.ports["tvs"],
                        tomcat,
                        f"CP-8845-{DEVICE}",
                        expected_tvs_sha1=hashlib.sha1(tvs_der).digest(),
                    )
                )
                assert answer.valid
                server = running.servers["tvs"]
                assert getattr(server, "evicted", 0) >= 1

    asyncio.run(main())


def test_capf_enrols_a_phone_behind_1000_silent_connections(
    lab: Lab,
) -> None:
    inventory.add_devices(lab.ctx, [Device(DEVICE, "8845")])
    inventory.schedule_capf(
        lab.ctx,
        DEVICE,
        operation=CapfOperation.INSTALL,
        auth_mode=CapfAuthMode.NULL_STRING,
        key="EC-P256",
    )

    async def main() -> None:
        async with serving(lab.ctx, _options()) as running:
            # From the good client's own address: the bound per address is what holds.
            held = await _flood(running, "capf", [("127.0.0.1", 1000, 10)])
            with _closing(held):
                result = await _prompt(
                    capf_client.enroll(
                        "127.0.0.1", running.ports["capf"], DEVICE, key_spec="EC-P256"
                    )
                )
                assert result.success, result

    asyncio.run(main())


async def _get(port: int) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=tls.client_context())
    writer.write(
        b"GET /ccmcip/xmldirectory.jsp HTTP/1.1\r\nHost: cucm-pub\r\nConnection: close\r\n\r\n"
    )
    body = await reader.read()
    writer.close()
    with contextlib.suppress(OSError, ssl.SSLError):
        await writer.wait_closed()
    return body


def test_https_serves_a_client_behind_256_silent_connections(
    lab: Lab,
) -> None:

    async def main() -> None:
        async with serving(lab.ctx, _options()) as running:
            held = await _flood(running, "https", [("127.0.0.1", 256, 5)])
            with _closing(held):
                body = await _prompt(_get(running.ports["https"]))
                assert body.startswith(b"HTTP/1.1 200 OK")

    asyncio.run(main())


def test_https_slow_request_heads_give_way_to_a_real_client(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Clients that finish TLS, send one byte of a request head and go quiet hold no slot
    for good: uvicorn has no head deadline, so the gate lets them give way."""
    monkeypatch.setattr(webgate, "EVICT_AGE", 0.1)

    async def main() -> None:
        server = await WebServer.start(phone_urls, _tomcat(), port=0, max_connections=2)
        try:
            slow = []
            for _ in range(2):
                _, writer = await asyncio.open_connection(
                    "127.0.0.1", server.port, ssl=tls.client_context()
                )
                writer.write(b"G")
                await writer.drain()
                slow.append(writer)
            await asyncio.sleep(0.3)
            body = await _prompt(_get(server.port))
            assert body.startswith(b"HTTP/1.1 200 OK")
            assert server_gate(server).evicted >= 1
            for writer in slow:
                writer.transport.abort()
        finally:
            await server.stop()

    asyncio.run(main())


def test_https_one_address_cannot_take_another_addresses_slots() -> None:
    async def main() -> None:
        server = await WebServer.start(
            phone_urls, _tomcat(), port=0, max_connections=8, max_per_address=4
        )
        try:
            held = await asyncio.to_thread(_silent, server.port, 20, "127.0.0.2")
            with _closing(held):
                await asyncio.sleep(0.2)
                assert server_gate(server).open <= 4
                body = await _prompt(_get(server.port))  # from 127.0.0.1
                assert body.startswith(b"HTTP/1.1 200 OK")
        finally:
            await server.stop()

    asyncio.run(main())


def _tomcat() -> ssl.SSLContext:
    identity = make_identity(plain_name("cucm-pub.lab.example"), bits=2048)
    return tls.server_context(identity.certificate, identity.key)


def server_gate(server: WebServer) -> webgate.Gate:
    gate = server.gate
    assert gate is not None
    return gate

"""The HTTPS (Tomcat) stand-in: it presents the certificate it was given and survives abuse."""

from __future__ import annotations

import asyncio
import gc
import logging
import ssl
import sys

import pytest
from cryptography.hazmat.primitives.serialization import Encoding
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from phonetrust.net import https, tls
from phonetrust.net.https import HttpsServer
from phonetrust.testing.pki import make_identity, plain_name
from tests.waiting import until

TOMCAT = make_identity(plain_name("cucm-pub.lab.example"), bits=2048)
OTHER = make_identity(plain_name("cucm-sub1.lab.example"), bits=2048)


async def _get(
    port: int, request: bytes = b"GET /ccmcip/xmldirectory.jsp HTTP/1.1\r\n\r\n"
) -> tuple[bytes, bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=tls.client_context())
    peer = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
    writer.write(request)
    body = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    return peer, body


def _server_context(identity: object) -> ssl.SSLContext:
    return tls.server_context(identity.certificate, identity.key)  # type: ignore[attr-defined]


def test_get_is_answered_with_the_tomcat_certificate() -> None:
    async def main() -> None:
        server = await HttpsServer.start(_server_context(TOMCAT), port=0)
        try:
            peer, body = await _get(server.port)
            assert peer == TOMCAT.certificate.public_bytes(Encoding.DER)
            assert body.startswith(b"HTTP/1.1 200 OK\r\n")
            assert b"<Text>/ccmcip/xmldirectory.jsp</Text>" in body
            server.swap_tls(_server_context(OTHER))
            peer, _ = await _get(server.port)
            assert peer == OTHER.certificate.public_bytes(Encoding.DER)
        finally:
            await server.stop()

    asyncio.run(main())


def test_bad_requests_get_http_errors() -> None:
    async def main() -> None:
        server = await HttpsServer.start(_server_context(TOMCAT), port=0)
        try:
            _, body = await _get(server.port, b"POST / HTTP/1.1\r\n\r\n")
            assert body.startswith(b"HTTP/1.1 405 ")
            _, body = await _get(server.port, b"garbage\r\n\r\n")
            assert body.startswith(b"HTTP/1.1 400 ")
            _, body = await _get(server.port, b"GET /" + b"a" * 20000 + b" HTTP/1.1\r\n\r\n")
            assert body.startswith(b"HTTP/1.1 431 ")
            assert server.requests == 3
        finally:
            await server.stop()

    asyncio.run(main())


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(junk=st.binary(min_size=0, max_size=600))
def test_hostile_bytes_cost_one_connection(junk: bytes) -> None:
    async def main() -> None:
        server = await HttpsServer.start(_server_context(TOMCAT), port=0)
        try:
            # Raw bytes where a TLS ClientHello belongs, then a silent client.
            _, raw = await asyncio.open_connection("127.0.0.1", server.port)
            raw.write(junk)
            await raw.drain()
            _, silent = await asyncio.open_connection("127.0.0.1", server.port)
            _, body = await _get(server.port)
            assert body.startswith(b"HTTP/1.1 200 OK")
            raw.close()
            silent.close()
        finally:
            await server.stop()

    asyncio.run(main())


def test_connections_beyond_the_limit_are_dropped_and_the_slot_comes_back() -> None:
    async def main() -> None:
        server = await HttpsServer.start(_server_context(TOMCAT), port=0, max_connections=1)
        try:
            _, holder = await asyncio.open_connection("127.0.0.1", server.port)  # silent
            await until(lambda: server.open_connections == 1)
            with pytest.raises((ConnectionError, ssl.SSLError, asyncio.IncompleteReadError)):
                await _get(server.port)
            holder.close()
            for _ in range(50):  # the silent client's slot is freed when it goes
                try:
                    _, body = await _get(server.port)
                    break
                except (ConnectionError, ssl.SSLError):
                    await asyncio.sleep(0.05)
            assert body.startswith(b"HTTP/1.1 200 OK")
        finally:
            await server.stop()

    asyncio.run(main())


def test_an_old_idle_connection_gives_way_and_one_address_holds_at_most_its_share(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(https, "EVICT_AGE", 0.1)

    async def main() -> None:
        server = await HttpsServer.start(
            _server_context(TOMCAT), port=0, max_connections=4, max_per_address=2
        )
        try:
            first_reader, first = await asyncio.open_connection("127.0.0.1", server.port)
            _, second = await asyncio.open_connection("127.0.0.1", server.port)  # both silent
            await asyncio.sleep(0.2)
            _, body = await _get(server.port)  # the address's oldest idle one made room
            assert body.startswith(b"HTTP/1.1 200 OK")
            assert server.evicted == 1
            assert await asyncio.wait_for(first_reader.read(), 3) == b""  # the oldest, dropped
            first.close()
            second.close()
        finally:
            await server.stop()

    asyncio.run(main())


def test_a_connection_dropped_during_its_handshake_ends_cleanly(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """CPython 3.11 leaves such a writer without a transport; nothing may trip over it."""
    monkeypatch.setattr(https, "EVICT_AGE", 0.1)
    unraisable: list[object] = []
    monkeypatch.setattr(sys, "unraisablehook", unraisable.append)

    async def main() -> None:
        server = await HttpsServer.start(_server_context(TOMCAT), port=0, max_connections=1)
        try:
            _, silent = await asyncio.open_connection("127.0.0.1", server.port)
            await asyncio.sleep(0.2)  # its handshake is pending when it is evicted
            _, body = await _get(server.port)
            assert body.startswith(b"HTTP/1.1 200 OK")
            silent.close()
        finally:
            await server.stop()

    with caplog.at_level(logging.INFO):
        asyncio.run(main())
        gc.collect()
    assert unraisable == []
    tripped = [r for r in caplog.records if r.exc_info and r.exc_info[0] is AttributeError]
    assert tripped == []
    assert any("dropped (ConnectionResetError)" in r.getMessage() for r in caplog.records)

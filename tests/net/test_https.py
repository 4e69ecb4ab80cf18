"""HTTPS on the node's web port: the tomcat certificate, the phones' URLs, and abuse.

The web administration runs here too (tests/web); these tests hold what
phones and the rest of the node depend on: the certificate presented (and
swapped after a regeneration), HTTP errors for bad requests, and that a
hostile or silent client costs its own connection only.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl

import pytest
from cryptography.hazmat.primitives.serialization import Encoding
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from phonetrust.net import tls, webgate
from phonetrust.net.webserver import WebServer, phone_urls
from phonetrust.testing.pki import make_identity, plain_name

TOMCAT = make_identity(plain_name("cucm-pub.lab.example"), bits=2048)
OTHER = make_identity(plain_name("cucm-sub1.lab.example"), bits=2048)
GET = b"GET /ccmcip/xmldirectory.jsp HTTP/1.1\r\nHost: cucm-pub\r\nConnection: close\r\n\r\n"


async def _get(port: int, request: bytes = GET) -> tuple[bytes, bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=tls.client_context())
    peer = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
    writer.write(request)
    body = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    with contextlib.suppress(OSError, ssl.SSLError):
        await writer.wait_closed()
    return peer, body


def _context(identity: object) -> ssl.SSLContext:
    return tls.server_context(identity.certificate, identity.key)  # type: ignore[attr-defined]


def test_a_phone_url_is_answered_with_the_tomcat_certificate_and_a_swap_reaches_new_ones() -> None:
    async def main() -> None:
        server = await WebServer.start(phone_urls, _context(TOMCAT), port=0)
        try:
            peer, body = await _get(server.port)
            assert peer == TOMCAT.certificate.public_bytes(Encoding.DER)
            assert body.startswith(b"HTTP/1.1 200 OK")
            assert b"<Text>/ccmcip/xmldirectory.jsp</Text>" in body
            server.swap_tls(_context(OTHER))
            peer, _ = await _get(server.port)
            assert peer == OTHER.certificate.public_bytes(Encoding.DER)
        finally:
            await server.stop()

    asyncio.run(main())


def test_bad_requests_get_http_errors() -> None:
    async def main() -> None:
        server = await WebServer.start(phone_urls, _context(TOMCAT), port=0)
        try:
            _, body = await _get(server.port, GET.replace(b"GET", b"POST", 1))
            assert body.startswith(b"HTTP/1.1 405 ")
            _, body = await _get(server.port, GET.replace(b"/ccmcip/", b"/etc/", 1))
            assert body.startswith(b"HTTP/1.1 404 ")
            _, body = await _get(server.port, b"garbage\r\n\r\n")
            assert body.startswith(b"HTTP/1.1 400 ")
            _, body = await _get(server.port, b"GET /" + b"a" * 20000 + b" HTTP/1.1\r\n\r\n")
            assert body.startswith(b"HTTP/1.1 400 ") or body == b""  # over the head limit
        finally:
            await server.stop()

    asyncio.run(main())


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(junk=st.binary(min_size=0, max_size=600))
def test_hostile_bytes_cost_one_connection(junk: bytes) -> None:
    async def main() -> None:
        server = await WebServer.start(phone_urls, _context(TOMCAT), port=0)
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


def test_connections_beyond_the_bound_are_closed_and_the_slot_comes_back() -> None:
    async def main() -> None:
        server = await WebServer.start(phone_urls, _context(TOMCAT), port=0, max_connections=1)
        try:
            # A client holding a kept-alive connection takes the one slot...
            reader, holder = await asyncio.open_connection(
                "127.0.0.1", server.port, ssl=tls.client_context()
            )
            holder.write(GET.replace(b"Connection: close", b"Connection: keep-alive"))
            assert (await reader.readuntil(b"</CiscoIPPhoneText>\n")).startswith(b"HTTP/1.1 200")
            # ...so another connection is closed before its handshake ends.
            with pytest.raises((ConnectionError, ssl.SSLError, asyncio.IncompleteReadError)):
                await _get(server.port)
            holder.close()
            for _ in range(100):  # the holder's slot comes back once it has gone
                try:
                    _, body = await _get(server.port)
                    break
                except (ConnectionError, ssl.SSLError, asyncio.IncompleteReadError):
                    await asyncio.sleep(0.05)
            assert body.startswith(b"HTTP/1.1 200 OK")
        finally:
            await server.stop()

    asyncio.run(main())


def test_a_silent_client_loses_its_slot_at_the_handshake_deadline() -> None:
    async def main() -> None:
        server = await WebServer.start(
            phone_urls, _context(TOMCAT), port=0, max_connections=4, handshake_timeout=0.3
        )
        try:
            held = [await asyncio.open_connection("127.0.0.1", server.port) for _ in range(4)]
            await asyncio.sleep(0.1)
            with pytest.raises((ConnectionError, ssl.SSLError, asyncio.IncompleteReadError)):
                await _get(server.port)  # every slot is held by a silent client
            for reader, _ in held:  # each is dropped at its deadline...
                assert await asyncio.wait_for(reader.read(), 3) == b""
            _, body = await _get(server.port)  # ...and a real client is served again
            assert body.startswith(b"HTTP/1.1 200 OK")
            for _, writer in held:
                writer.close()
        finally:
            await server.stop()

    asyncio.run(main())


def test_one_address_holds_at_most_its_share() -> None:
    async def main() -> None:
        server = await WebServer.start(
            phone_urls, _context(TOMCAT), port=0, max_connections=8, max_per_address=2
        )
        try:
            held = [await asyncio.open_connection("127.0.0.1", server.port) for _ in range(2)]
            await asyncio.sleep(0.1)
            with pytest.raises((ConnectionError, ssl.SSLError, asyncio.IncompleteReadError)):
                await _get(server.port)
            for _, writer in held:
                writer.close()
        finally:
            await server.stop()

    asyncio.run(main())


def test_an_old_idle_connection_gives_way_to_a_new_client(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(webgate, "EVICT_AGE", 0.1)

    async def main() -> None:
        server = await WebServer.start(
            phone_urls, _context(TOMCAT), port=0, max_connections=4, max_per_address=2
        )
        try:
            first_reader, first = await asyncio.open_connection("127.0.0.1", server.port)
            _, second = await asyncio.open_connection("127.0.0.1", server.port)  # both silent
            await asyncio.sleep(0.3)
            _, body = await _get(server.port)  # the address's oldest idle one made room
            assert body.startswith(b"HTTP/1.1 200 OK")
            assert await asyncio.wait_for(first_reader.read(), 3) == b""  # the oldest, dropped
            first.close()
            second.close()
        finally:
            await server.stop()

    asyncio.run(main())

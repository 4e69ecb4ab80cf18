"""A minimal HTTPS endpoint presenting a node's Tomcat certificate (scenario A7).

Phones reach CUCM's web services (directories, services menu, authentication
URL) over HTTPS on port 8443, where Tomcat presents the node's ``tomcat``
certificate. That certificate is in neither the CTL nor the ITL, so the
phone asks TVS before it trusts the connection - which is what a scenario
needs to observe. The application behind the URL does not matter to trust,
so this endpoint answers every ``GET`` with a small ``CiscoIPPhoneText``
document naming the path, and anything else with an HTTP error. Each
connection gets one request, with a bounded header size and a deadline: a
silent or hostile client costs its own connection only.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from xml.sax.saxutils import escape

log = logging.getLogger("phonetrust.https")

DEFAULT_PORT = 8443
MAX_HEADER = 8192
READ_TIMEOUT = 10.0
MAX_CONNECTIONS = 256


class HttpsServer:
    """TLS on one port; :meth:`swap_tls` makes later connections present a new certificate."""

    def __init__(self, tls: ssl.SSLContext, *, max_connections: int = MAX_CONNECTIONS) -> None:
        self._tls = tls
        self._server: asyncio.Server | None = None
        self._slots = asyncio.Semaphore(max_connections)
        self._handlers: set[asyncio.Task[None]] = set()
        self.port = 0
        self.requests = 0

    @classmethod
    async def start(
        cls,
        tls: ssl.SSLContext,
        *,
        host: str = "127.0.0.1",
        port: int = DEFAULT_PORT,
        max_connections: int = MAX_CONNECTIONS,
    ) -> HttpsServer:
        server = cls(tls, max_connections=max_connections)
        # The TLS handshake runs in _serve (not in start_server) so that swap_tls
        # reaches new connections and a failed handshake is logged, not raised.
        server._server = await asyncio.start_server(server._serve, host, port, limit=MAX_HEADER)
        server.port = int(server._server.sockets[0].getsockname()[1])
        log.info("HTTPS (Tomcat) listening on %s:%d", host, server.port)
        return server

    def swap_tls(self, tls: ssl.SSLContext) -> None:
        self._tls = tls

    async def stop(self) -> None:
        """Stop listening and drop the connections still open (each answer is one write)."""
        if self._server is not None:
            self._server.close()
        for task in list(self._handlers):
            task.cancel()
        await asyncio.gather(*self._handlers, return_exceptions=True)
        if self._server is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._server.wait_closed(), 2)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        if self._slots.locked():
            writer.transport.abort()
            return
        task = asyncio.current_task()
        if task is not None:
            self._handlers.add(task)
            task.add_done_callback(self._handlers.discard)
        async with self._slots:
            try:
                async with asyncio.timeout(READ_TIMEOUT):
                    await writer.start_tls(self._tls)
                    try:
                        head = await reader.readuntil(b"\r\n\r\n")
                        status, body = _answer(head)
                    except asyncio.LimitOverrunError:
                        status, body = "431 Request Header Fields Too Large", ""
                    writer.write(_response(status, body))
                    await writer.drain()
                    self.requests += 1
                    log.info("HTTPS %s: %s", peer, status)
                    writer.close()  # close_notify after the answer, so the client reads it all
                    await writer.wait_closed()
            except (TimeoutError, ssl.SSLError, OSError, asyncio.IncompleteReadError) as exc:
                log.info("HTTPS %s: dropped (%s)", peer, type(exc).__name__)
            finally:
                # Whatever is left (an error, a timeout, a stop) goes at once: a close
                # would wait on a peer that may never answer.
                writer.transport.abort()


def _answer(head: bytes) -> tuple[str, str]:
    if len(head) > MAX_HEADER:
        return "431 Request Header Fields Too Large", ""
    request_line = head.split(b"\r\n", 1)[0].decode("latin-1")
    parts = request_line.split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        return "400 Bad Request", ""
    method, path = parts[0], parts[1]
    if method not in ("GET", "HEAD"):
        return "405 Method Not Allowed", ""
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n<CiscoIPPhoneText>'
        f"<Title>phonetrust</Title><Text>{escape(path)}</Text></CiscoIPPhoneText>\n"
    )
    return "200 OK", "" if method == "HEAD" else body


def _response(status: str, body: str) -> bytes:
    data = body.encode()
    head = (
        f"HTTP/1.1 {status}\r\nContent-Type: text/xml\r\n"
        f"Content-Length: {len(data)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode("latin-1") + data

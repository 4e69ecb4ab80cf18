"""A minimal HTTPS endpoint presenting a node's Tomcat certificate (scenario A7).

Phones reach CUCM's web services (directories, services menu, authentication
URL) over HTTPS on port 8443, where Tomcat presents the node's ``tomcat``
certificate. That certificate is in neither the CTL nor the ITL, so the
phone asks TVS before it trusts the connection - which is what a scenario
needs to observe. The application behind the URL does not matter to trust,
so this endpoint answers every ``GET`` with a small ``CiscoIPPhoneText``
document naming the path, and anything else with an HTTP error. Each
connection gets one request, with a bounded header size and deadlines (the
TLS handshake within ``handshake_timeout``, the request head within
READ_TIMEOUT): a silent or hostile client costs its own connection only.

Slots are bounded (``max_connections``, ``max_per_address`` from one
address). When they run out, the oldest idle connection (no complete
request head yet) at least EVICT_AGE seconds old is dropped so the new
client gets in; with none, the new one is dropped. Running out is logged
once, again only after occupancy fell back to half.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from dataclasses import dataclass
from xml.sax.saxutils import escape

from phonetrust.net.ssllistener import (
    EVICT_AGE,
    HANDSHAKE_TIMEOUT,
    address_of,
    count_down,
    peer_name,
)

log = logging.getLogger("phonetrust.https")

DEFAULT_PORT = 8443
MAX_HEADER = 8192
READ_TIMEOUT = 10.0
MAX_CONNECTIONS = 256


@dataclass(slots=True)
class _Slot:
    """One open connection: whose, since when, and whether its request head is in."""

    task: asyncio.Task[None]
    writer: asyncio.StreamWriter
    host: str
    born: float
    idle: bool = True


class HttpsServer:
    """TLS on one port; :meth:`swap_tls` makes later connections present a new certificate."""

    def __init__(
        self,
        tls: ssl.SSLContext,
        *,
        max_connections: int = MAX_CONNECTIONS,
        max_per_address: int | None = None,
        handshake_timeout: float = HANDSHAKE_TIMEOUT,
    ) -> None:
        if max_connections < 1 or (max_per_address is not None and max_per_address < 1):
            raise ValueError("the connection bounds must be positive")
        self._tls = tls
        self._server: asyncio.Server | None = None
        self.max_connections = max_connections
        self.max_per_address = max_per_address or max_connections
        self.handshake_timeout = handshake_timeout
        self._slots: dict[asyncio.Task[None], _Slot] = {}
        """Open connections, oldest first."""
        self._per_address: dict[str, int] = {}
        self._full = False
        self.port = 0
        self.requests = 0
        self.evicted = 0
        """Idle connections dropped to make room (for monitoring and tests)."""

    @classmethod
    async def start(
        cls,
        tls: ssl.SSLContext,
        *,
        host: str = "127.0.0.1",
        port: int = DEFAULT_PORT,
        max_connections: int = MAX_CONNECTIONS,
        max_per_address: int | None = None,
        handshake_timeout: float = HANDSHAKE_TIMEOUT,
    ) -> HttpsServer:
        server = cls(
            tls,
            max_connections=max_connections,
            max_per_address=max_per_address,
            handshake_timeout=handshake_timeout,
        )
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
        tasks = list(self._slots)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._server is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._server.wait_closed(), 2)

    @property
    def open_connections(self) -> int:
        return len(self._slots)

    def _admit(self, writer: asyncio.StreamWriter) -> _Slot | None:
        """A slot for a new connection, made by dropping an idle one if need be; or None."""
        task = asyncio.current_task()
        if task is None:  # never: start_server runs each connection in a task
            return None
        peer = peer_name(writer.get_extra_info("peername"))
        host = address_of(peer)
        if self._per_address.get(host, 0) >= self.max_per_address and not self._evict(
            min_age=EVICT_AGE, host=host
        ):
            log.info(
                "HTTPS %s: refused: its address holds %d busy connections",
                peer,
                self.max_per_address,
            )
            return None
        if len(self._slots) >= self.max_connections:
            if not self._full:
                self._full = True
                log.warning(
                    "HTTPS: all %d connection slots are taken; idle connections are dropped, "
                    "oldest first, to make room",
                    self.max_connections,
                )
            if not self._evict(min_age=EVICT_AGE):
                log.info("HTTPS %s: dropped: every slot is busy", peer)
                return None
        slot = _Slot(task, writer, host, asyncio.get_running_loop().time())
        self._slots[task] = slot
        self._per_address[host] = self._per_address.get(host, 0) + 1
        return slot

    def _evict(self, *, min_age: float, host: str | None = None) -> bool:
        """Drop the oldest idle connection (of ``host``, if given) at least ``min_age`` s old."""
        born_before = asyncio.get_running_loop().time() - min_age
        for slot in self._slots.values():
            if slot.born > born_before:
                return False
            if slot.idle and (host is None or slot.host == host):
                # Aborting ends its handler's wait with a connection error (a cancel
                # would make asyncio log the handler's CancelledError as an error).
                self._free(slot)
                slot.writer.transport.abort()
                self.evicted += 1
                return True
        return False

    def _free(self, slot: _Slot) -> None:
        if self._slots.pop(slot.task, None) is None:
            return
        count_down(self._per_address, slot.host)
        if self._full and len(self._slots) <= self.max_connections // 2:
            self._full = False

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        slot = self._admit(writer)
        if slot is None:
            writer.transport.abort()
            return
        try:
            async with asyncio.timeout(self.handshake_timeout):
                await _start_tls(writer, self._tls)
            async with asyncio.timeout(READ_TIMEOUT):
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                    slot.idle = False
                    status, body = _answer(head)
                except asyncio.LimitOverrunError:
                    slot.idle = False
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
            self._free(slot)


async def _start_tls(writer: asyncio.StreamWriter, context: ssl.SSLContext) -> None:
    """``writer.start_tls``, except that a peer gone during the handshake is an OSError.

    CPython 3.11 hands back no transport when the connection closes cleanly
    mid-handshake (an abort, an EOF): the writer is left holding None and
    start_tls fails with an AttributeError on it; our ``finally`` and
    ``StreamWriter.__del__`` would then fail on it again.
    """
    raw = writer.transport
    try:
        await writer.start_tls(context)
    except AttributeError:
        if writer.transport is not None:
            raise
    if writer.transport is None:
        writer._transport = raw  # put back the closed one, see above
        raise ConnectionResetError("the peer closed the connection during the TLS handshake")


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

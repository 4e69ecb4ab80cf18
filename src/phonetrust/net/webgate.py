"""The web port's doorman: bounded connections and a deadline for each TLS handshake.

uvicorn would accept every TCP connection and give a silent one asyncio's
60-second handshake allowance, each holding a descriptor of the process
that also runs TFTP, TVS and CAPF. :class:`Gate` accepts connections
itself instead, as the other TLS services do: at most ``max_connections``
open (``max_per_address`` from one address), the handshake within
``handshake_timeout``, then the connection goes to uvicorn's own protocol.
When a bound is reached, the oldest idle connection (in its handshake,
trickling a request head, or between requests) at least EVICT_AGE seconds old is
dropped to make room, of the same address when that address is the one
over its share; with none, the new connection is closed at once. A slot
comes back when its connection ends, however it ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field

from phonetrust.net.ssllistener import EVICT_AGE, HANDSHAKE_TIMEOUT, count_down

log = logging.getLogger("phonetrust.https")


@dataclass(eq=False)
class _Slot:
    """One open connection: whose, since when, and what it is doing."""

    host: str
    born: float
    task: asyncio.Task[None] | None = None
    transport: asyncio.Transport | None = None
    protocol: asyncio.Protocol | None = None
    freed: bool = field(default=False)

    @property
    def idle(self) -> bool:
        """No request is being answered on it: in its handshake, trickling a request head
        (uvicorn makes the request's cycle only once the head is complete), or between
        kept-alive requests. Such a connection may give way to a new one."""
        cycle = getattr(self.protocol, "cycle", None)
        return cycle is None or bool(getattr(cycle, "response_complete", True))

    def drop(self) -> None:
        if self.transport is not None:
            self.transport.abort()  # ends in connection_lost, which frees the slot
        elif self.task is not None:
            self.task.cancel()  # the handshake: _hand_over frees the slot


class Gate:
    """Stands where uvicorn keeps its ``asyncio.Server``: it has ``close`` and ``wait_closed``."""

    def __init__(
        self,
        sock: socket.socket,
        tls: ssl.SSLContext,
        make_protocol: Callable[[], asyncio.Protocol],
        *,
        max_connections: int,
        max_per_address: int,
        handshake_timeout: float = HANDSHAKE_TIMEOUT,
    ) -> None:
        self._sock = sock
        self._tls = tls
        self._make = make_protocol
        self.max_connections = max_connections
        self.max_per_address = max_per_address
        self.handshake_timeout = handshake_timeout
        self._per_address: dict[str, int] = {}
        self._slots: dict[_Slot, None] = {}
        """Open connections, oldest first (a dict keeps insertion order)."""
        self.open = 0
        self.evicted = 0
        self.refused = 0
        """Connections closed at once because a bound was reached (for monitoring and tests)."""
        self._full = False
        self._pending: set[asyncio.Task[None]] = set()
        self._task = asyncio.get_running_loop().create_task(self._accept())

    async def _accept(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                conn, peer = await loop.sock_accept(self._sock)
            except asyncio.CancelledError:
                raise
            except OSError as exc:  # out of descriptors, a reset in the backlog: go on
                log.warning("HTTPS: accept failed (%s)", exc)
                await asyncio.sleep(0.1)
                continue
            host = str(peer[0]) if isinstance(peer, tuple) else "unix"
            slot = self._admit(host)
            if slot is None:
                conn.close()
                continue
            slot.task = loop.create_task(self._hand_over(conn, slot))
            self._pending.add(slot.task)
            slot.task.add_done_callback(self._pending.discard)

    def _admit(self, host: str) -> _Slot | None:
        over_share = self._per_address.get(host, 0) >= self.max_per_address
        if (over_share and not self._evict(host)) or (
            self.open >= self.max_connections and not self._evict(None)
        ):
            self.refused += 1
            if not self._full:
                self._full = True
                log.warning(
                    "HTTPS: %d connections open (at most %d, %d from one address): idle ones "
                    "give way, oldest first; new ones are closed when none can",
                    self.open,
                    self.max_connections,
                    self.max_per_address,
                )
            return None
        self.open += 1
        self._per_address[host] = self._per_address.get(host, 0) + 1
        slot = _Slot(host, asyncio.get_running_loop().time())
        self._slots[slot] = None
        return slot

    def _evict(self, host: str | None) -> bool:
        """Drop the oldest idle connection (of ``host``, if given) old enough to give way."""
        born_before = asyncio.get_running_loop().time() - EVICT_AGE
        for slot in self._slots:
            if slot.born > born_before:
                return False
            if slot.idle and (host is None or slot.host == host):
                self._free(slot)  # at once: the new connection takes its place
                slot.drop()
                self.evicted += 1
                return True
        return False

    def _free(self, slot: _Slot) -> None:
        if slot.freed:
            return
        slot.freed = True
        self._slots.pop(slot, None)
        self.open -= 1
        count_down(self._per_address, slot.host)
        if self._full and self.open <= self.max_connections // 2:
            self._full = False

    async def _hand_over(self, conn: socket.socket, slot: _Slot) -> None:
        """The handshake within its deadline, then uvicorn's protocol owns the connection;
        the slot is given back once, when the connection ends or the handshake fails."""

        def protocol() -> asyncio.Protocol:
            inner = self._make()
            made, lost = inner.connection_made, inner.connection_lost
            slot.protocol = inner

            def connection_made(transport: asyncio.BaseTransport) -> None:
                if isinstance(transport, asyncio.Transport):
                    slot.transport = transport
                made(transport)

            def connection_lost(exc: Exception | None) -> None:
                try:
                    lost(exc)
                finally:
                    self._free(slot)

            inner.connection_made = connection_made  # type: ignore[method-assign]
            inner.connection_lost = connection_lost  # type: ignore[method-assign]
            return inner

        loop = asyncio.get_running_loop()
        try:
            await loop.connect_accepted_socket(
                protocol, conn, ssl=self._tls, ssl_handshake_timeout=self.handshake_timeout
            )
        except (OSError, ssl.SSLError, TimeoutError, ConnectionError, EOFError) as exc:
            log.info("HTTPS %s: dropped during the handshake (%s)", slot.host, type(exc).__name__)
            conn.close()
            self._free(slot)
        except asyncio.CancelledError:  # evicted, or the server stops
            conn.close()
            self._free(slot)

    def close(self) -> None:
        self._task.cancel()
        for task in self._pending:
            task.cancel()
        self._sock.close()

    async def wait_closed(self) -> None:
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)

"""What the TVS and CAPF servers share: a TLS listener pumped from readiness callbacks.

Every phone opens one TLS connection per question (TVS) or enrolment
(CAPF), so the cost per connection is what matters. :class:`SslListener`
and :class:`SslConnection` therefore drive non-blocking ``ssl.SSLSocket``
objects straight from the event loop's readiness callbacks (``add_reader``),
without asyncio's transport and SSL protocol layers: one callback per
readiness, no task per connection, no layer between the socket and the
server's own connection class (a subclass of :class:`SslConnection`).
Call order::

    listening socket readable -> accept while a slot is free (at most
        ``max_connections`` sockets, handshakes included), up to ACCEPT_BATCH per
        wake-up; when all are taken, make room by closing the oldest idle
        connection (see below) at least EVICT_AGE seconds old; when none is,
        stop watching the listening socket: new connections wait in the listen
        backlog instead of being refused; when ``accept`` fails (e.g. out of file
        descriptors) close the oldest idle connection and go on, or, with none,
        pause ACCEPT_RETRY seconds
    accept   -> a peer address already holding ``max_per_address`` connections
                first loses its own oldest idle one at least EVICT_AGE old (with
                none, the new one is closed at once); TCP_NODELAY, wrap in TLS (the current context:
                ``swap_tls`` affects only later connections), arm the handshake
                timer (``handshake_timeout``), try the handshake at once (the
                ClientHello is usually there)
    readable -> finish the handshake: re-arm the read timer (``read_timeout``),
                on_handshake_done(); then, unless the
                connection waits for its program (``waiting``), recv until the TLS
                layer wants more: session.receive_data(bytes), or receive_eof() and
                stop; pump() after each
    timer fires -> before the handshake: log, close; after it: on_timeout()
    TLS or socket error -> before the handshake: log, close; after it: on_failure(exc)
    close    -> unwatch, (drain and) close_notify, close the socket, free the
                slot, resume accepting

Idle means "nothing owed to the peer": the handshake is not finished, or
the server's connection class says so (:meth:`SslConnection.idle`: no
request begun). A flood of silent or slow clients therefore costs each of
them its slot as soon as a new client needs one, oldest first, and can
never keep a phone out; busy connections are never closed to make room.
Reaching the bound, or running out of descriptors, is logged once (again
only after occupancy fell back to half).

A subclass sends with :meth:`SslConnection.send` (an answer that cannot be
written at once means a peer that does not read: its caller closes), re-arms
the read timer with :meth:`SslConnection.arm` and says at :meth:`stop` which
connections owe their peer nothing (:meth:`SslConnection.at_stop`): those
are closed at once, the others get the server's ``stop_grace``.

Contexts are adjusted in place (:func:`tuned`): no TLS 1.3 session tickets
(phones never resume; each unused ticket costs the server work) and, unless
the server says otherwise, no TLS 1.2 renegotiation (a hostile client could
make the server sign again and again on one connection). The pump needs an
event loop with ``add_reader`` (asyncio's default selector loop on Unix, or
uvloop).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
from collections.abc import Callable
from typing import Any, ClassVar, Generic, NotRequired, Protocol, TypedDict, TypeVar, Unpack

ACCEPT_BATCH = 64
"""Connections accepted per wake-up before the loop serves the others."""
ACCEPT_RETRY = 0.1
"""Seconds to wait after ``accept`` fails (e.g. out of file descriptors) with nothing to close."""
HANDSHAKE_TIMEOUT = 5.0
"""Default seconds from the accept to a finished TLS handshake (a phone needs well under 1 s)."""
EVICT_AGE = 1.0
"""An idle connection younger than this is not closed to make room: under a burst of real
phones the newest wait in the backlog instead of pushing out handshakes about to finish."""


class ByteSession(Protocol):
    """The sans-I/O session a connection feeds (``protocols.tvs``, ``protocols.capf``)."""

    def receive_data(self, data: bytes) -> None: ...

    def receive_eof(self) -> None: ...


class Limits(TypedDict):
    """A listener's bounds, passed on by the servers' constructors."""

    max_connections: int
    read_timeout: float
    handshake_timeout: NotRequired[float]
    """Default: HANDSHAKE_TIMEOUT, or ``read_timeout`` when shorter."""
    max_per_address: NotRequired[int]
    """Connections one peer address may hold; default: ``max_connections``."""


L = TypeVar("L", bound="SslListener[Any]")
S = TypeVar("S", bound=ByteSession)
C = TypeVar("C", bound="SslConnection[Any, Any]")


class SslConnection(Generic[L, S]):
    """One peer: its non-blocking TLS socket, read timer and slot, and the session it feeds.

    A subclass sets ``session`` and says what to do with its events (:meth:`pump`)."""

    __slots__ = (
        "born",
        "closed",
        "fd",
        "handshaken",
        "loop",
        "peer",
        "reading",
        "server",
        "session",
        "sock",
        "timer",
        "waiting",
        "writing",
    )

    recv_size: ClassVar[int] = 65536
    drain_limit: ClassVar[int] = 0
    """Bytes read and dropped before a close_notify (unread bytes make the close a reset)."""

    session: S

    def __init__(self, server: L, raw: socket.socket, peer: str) -> None:
        self.server = server
        self.peer = peer
        self.loop = server._loop
        self.fd = raw.fileno()
        self.handshaken = self.closed = self.writing = self.waiting = False
        self.sock = server._tls.wrap_socket(raw, server_side=True, do_handshake_on_connect=False)
        self.born = self.loop.time()
        self.timer = self.loop.call_later(server.handshake_timeout, self._timed_out)
        self.loop.add_reader(self.fd, self._step)
        self.reading = True

    # -- hooks -------------------------------------------------------------------------
    def on_handshake_done(self) -> None:
        """The TLS handshake is complete (the peer may be read from now on)."""

    def pump(self) -> None:
        """Act on the session's events; called after each receive_data and receive_eof."""
        raise NotImplementedError

    def on_timeout(self) -> None:
        """The read timer fired after the handshake."""
        raise NotImplementedError

    def idle(self) -> bool:
        """Nothing owed to the peer, so the connection may be closed to make room for another.

        Here: the handshake is not finished. Servers say more (no request begun)."""
        return not self.handshaken

    def on_failure(self, exc: OSError) -> None:
        """Reading after the handshake failed (TLS error, reset)."""
        self.server.logger.info(
            "%s: connection with %s failed: %s", self.server.label, self.peer, _why(exc)
        )
        self.close()

    def at_stop(self) -> bool:
        """The server is stopping: True when this connection owes its peer nothing."""
        raise NotImplementedError

    # -- the pump ----------------------------------------------------------------------
    def _step(self) -> None:
        """Make what progress the socket allows; called when it is readable (or writable)."""
        if self.closed or self.waiting:
            return
        try:
            if not self.handshaken:
                self.sock.do_handshake()
                self.handshaken = True
                if self.writing:
                    self.loop.remove_writer(self.fd)
                    self.writing = False
                self.arm(self.server.read_timeout)
                self.on_handshake_done()
            recv = self.sock.recv
            size = self.recv_size
            session = self.session
            while not self.closed and not self.waiting:
                data = recv(size)  # SSLWantReadError: nothing more for now
                if data:
                    session.receive_data(data)
                else:
                    session.receive_eof()
                self.pump()
                if not data:
                    return
        except ssl.SSLWantReadError:
            return
        except ssl.SSLWantWriteError:
            if not self.handshaken and not self.writing:
                self.loop.add_writer(self.fd, self._step)
                self.writing = True
        except OSError as exc:  # TLS failure, reset: this connection only
            if self.handshaken:
                self.on_failure(exc)
                return
            server = self.server
            server.logger.info(
                "%s: TLS handshake with %s failed: %s", server.label, self.peer, _why(exc)
            )
            self.close()

    def _timed_out(self) -> None:
        if self.closed or self.waiting:
            return
        if self.handshaken:
            self.on_timeout()
            return
        server = self.server
        server.logger.info(
            "%s: dropped %s: no TLS handshake within %g s",
            server.label,
            self.peer,
            server.handshake_timeout,
        )
        self.close()

    # -- for subclasses ----------------------------------------------------------------
    def send(self, data: bytes) -> bool:
        """Write ``data`` at once; False when the socket cannot take it all (the peer does
        not read what it is sent). Other socket or TLS errors raise ``OSError``."""
        try:
            return self.sock.send(data) == len(data)
        except (ssl.SSLWantWriteError, ssl.SSLWantReadError):
            return False

    def arm(self, seconds: float) -> None:
        """(Re)start the read timer."""
        self.timer.cancel()
        self.timer = self.loop.call_later(seconds, self._timed_out)

    def pause_reading(self) -> None:
        if self.reading:
            self.loop.remove_reader(self.fd)
            self.reading = False

    def resume_reading(self) -> None:
        if not self.reading:
            self.loop.add_reader(self.fd, self._step)
            self.reading = True

    def close(self, *, notify: bool = False) -> None:
        """Close the connection (with a TLS close_notify when ``notify``); frees its slot."""
        if self.closed:
            return
        self.closed = True
        self.timer.cancel()
        if self.reading:
            self.loop.remove_reader(self.fd)
        if self.writing:
            self.loop.remove_writer(self.fd)
        if notify and self.handshaken:
            if self.drain_limit:
                with contextlib.suppress(OSError, ValueError):
                    drained = 0
                    while drained < self.drain_limit and (chunk := self.sock.recv(self.recv_size)):
                        drained += len(chunk)
            with contextlib.suppress(OSError, ValueError):
                self.sock.unwrap()  # sends close_notify; does not wait for the peer's
        self.sock.close()
        self.server._release(self)


class SslListener(Generic[C]):
    """One listening socket and the connections accepted on it (at most ``max_connections``)."""

    logger: ClassVar[logging.Logger]
    label: ClassVar[str]
    """How log lines name the service (``TVS``, ``CAPF``)."""
    stop_grace: ClassVar[float]
    """Seconds :meth:`stop` waits for connections that are not idle."""
    renegotiation: ClassVar[bool] = False
    """Whether TLS 1.2 renegotiation stays allowed on the contexts given."""

    def __init__(
        self,
        connection: Callable[[Any, socket.socket, str], C],
        tls: ssl.SSLContext,
        sock: socket.socket,
        **limits: Unpack[Limits],
    ) -> None:
        """Serve ``sock`` (see :meth:`listen`) with ``connection(self, socket, peer)`` objects;
        call :meth:`_begin` to start accepting. Needs the running event loop."""
        self.max_connections = limits["max_connections"]
        self.read_timeout = limits["read_timeout"]
        self.handshake_timeout = limits.get(
            "handshake_timeout", min(HANDSHAKE_TIMEOUT, self.read_timeout)
        )
        self.max_per_address = limits.get("max_per_address", self.max_connections)
        if self.max_connections < 1 or self.max_per_address < 1 or self.handshake_timeout <= 0:
            raise ValueError("the connection bounds and the handshake timeout must be positive")
        self.port: int = sock.getsockname()[1]
        self._connection = connection
        self._tls = tuned(tls, renegotiation=self.renegotiation)
        self._sock = sock
        self._loop = asyncio.get_running_loop()
        self._connections: dict[C, str] = {}
        """Each open connection and its peer's address, oldest first."""
        self._per_address: dict[str, int] = {}
        self._full = False
        """The bound (or the descriptors) ran out; logged, until occupancy is back to half."""
        self.evicted = 0
        """Idle connections closed to make room (for monitoring and tests)."""
        self._accepting = False
        self._stopping = False
        self._drained = asyncio.Event()
        self._retry: asyncio.TimerHandle | None = None
        """Set while accepting is paused after an ``accept`` failure."""
        self._recheck: asyncio.TimerHandle | None = None
        """Set while every slot is taken and no idle connection is old enough to close."""

    @staticmethod
    def listen(host: str, port: int, backlog: int) -> socket.socket:
        """A non-blocking listening socket on ``host:port`` (0 picks a free port)."""
        sock = socket.create_server((host, port), backlog=backlog)
        sock.setblocking(False)
        return sock

    def _begin(self, host: str) -> None:
        self._watch(True)
        self.logger.info("%s listening on %s port %d", self.label, host, self.port)

    @property
    def open_connections(self) -> int:
        """Sockets accepted and not yet closed (TLS handshakes included)."""
        return len(self._connections)

    def swap_tls(self, tls: ssl.SSLContext) -> None:
        """Present a new certificate (a regenerated one) to new connections."""
        self._tls = tuned(tls, renegotiation=self.renegotiation)

    async def stop(self) -> None:
        """Stop accepting, close idle connections, give the others ``stop_grace``, then close."""
        self._stopping = True
        self._watch(False)
        for timer in (self._retry, self._recheck):
            if timer is not None:
                timer.cancel()
        self._retry = self._recheck = None
        self._sock.close()
        for conn in list(self._connections):
            if conn.at_stop():
                conn.close(notify=True)
        if self._connections:
            self._drained.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._drained.wait(), self.stop_grace)
        for conn in list(self._connections):
            conn.close()
        await self._stopped()
        self.logger.info("%s on port %d stopped", self.label, self.port)

    async def _stopped(self) -> None:
        """Every connection is closed; what else the server must close."""

    # -- accepting ---------------------------------------------------------------------
    def _watch(self, on: bool) -> None:
        if on and not self._accepting and not self._stopping and self._retry is None:
            self._loop.add_reader(self._sock.fileno(), self._accept)
            self._accepting = True
        elif not on and self._accepting:
            self._loop.remove_reader(self._sock.fileno())
            self._accepting = False

    def _accept(self) -> None:
        connections = self._connections
        for _ in range(ACCEPT_BATCH):
            if len(connections) >= self.max_connections:
                self._reached(f"all {self.max_connections} connection slots are taken")
                if not self._evict(min_age=EVICT_AGE):
                    # The backlog holds the rest until a slot frees or an idle one ages.
                    self._watch(False)
                    if self._recheck is None:
                        self._recheck = self._loop.call_later(EVICT_AGE / 4, self._rechecked)
                    return
            try:
                raw, address = self._sock.accept()
            except BlockingIOError:
                return
            except OSError as exc:  # e.g. out of file descriptors: make room, or pause
                self._reached(f"accept failed: {exc}")
                if not self._evict(min_age=0.0):
                    self.logger.info("%s: accept failed: %s", self.label, exc)
                    self._watch(False)
                    self._retry = self._loop.call_later(ACCEPT_RETRY, self._resume_accepting)
                    return
                continue
            raw.setblocking(False)
            peer = peer_name(address)
            host = address_of(peer)
            if self._per_address.get(host, 0) >= self.max_per_address and not self._evict(
                min_age=EVICT_AGE, host=host
            ):
                self.logger.info(
                    "%s: refused %s: its address holds %d busy connections",
                    self.label,
                    peer,
                    self.max_per_address,
                )
                raw.close()
                continue
            try:
                raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                conn = self._connection(self, raw, peer)
            except OSError as exc:  # the peer reset before we could start
                self.logger.info("%s: lost %s at once: %s", self.label, peer, exc)
                raw.close()
                continue
            connections[conn] = host
            self._per_address[host] = self._per_address.get(host, 0) + 1
            conn._step()

    def _evict(self, *, min_age: float, host: str | None = None) -> bool:
        """Close the oldest idle connection (of ``host``, if given) at least ``min_age`` s old;
        False when there is none."""
        born_before = self._loop.time() - min_age
        for conn, address in self._connections.items():
            if conn.born > born_before:
                return False  # oldest first: every later one is younger still
            if (host is None or address == host) and not conn.waiting and conn.idle():
                self.logger.info("%s: dropped idle %s to make room", self.label, conn.peer)
                self.evicted += 1
                conn.close()
                return True
        return False

    def _reached(self, why: str) -> None:
        """Log once that the listener is out of room (until occupancy is back to half)."""
        if not self._full:
            self._full = True
            self.logger.warning(
                "%s: %s; idle connections are dropped, oldest first, to make room",
                self.label,
                why,
            )

    def _rechecked(self) -> None:
        self._recheck = None
        self._watch(True)

    def _resume_accepting(self) -> None:
        self._retry = None
        self._watch(True)

    def _release(self, conn: C) -> None:
        """``conn`` is closed: free its slot."""
        host = self._connections.pop(conn, None)
        if host is not None:
            count_down(self._per_address, host)
        if not self._connections:
            self._drained.set()
        if self._full and len(self._connections) <= self.max_connections // 2:
            self._full = False
        self._watch(True)


def tuned(context: ssl.SSLContext, *, renegotiation: bool = False) -> ssl.SSLContext:
    """No TLS 1.3 session tickets (never used by phones) and, unless ``renegotiation``, no
    TLS 1.2 renegotiation (a client could make the server sign again and again)."""
    context.num_tickets = 0
    if not renegotiation:
        context.options |= ssl.OP_NO_RENEGOTIATION
    return context


def peer_name(address: object) -> str:
    """``host:port`` of an accepted socket's address."""
    if isinstance(address, tuple) and len(address) >= 2:
        return f"{address[0]}:{address[1]}"
    return str(address)


def address_of(peer: str) -> str:
    """The address part of ``host:port`` (what the per-address bound counts by)."""
    return peer.rpartition(":")[0] or peer


def count_down(counts: dict[str, int], key: str) -> None:
    """One fewer for ``key``, forgetting it at zero (so the table holds only open addresses)."""
    left = counts[key] - 1
    if left:
        counts[key] = left
    else:
        del counts[key]


def _why(exc: OSError) -> str:
    return str(exc) or type(exc).__name__

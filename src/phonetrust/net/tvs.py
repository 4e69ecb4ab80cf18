"""The TVS server: TLS on TCP 2445, a dumb pump around :class:`ServerSession`.

Every phone opens a fresh TLS connection for one question, so the cost per
connection is what matters. The pump therefore drives a non-blocking
``ssl.SSLSocket`` straight from the event loop's readiness callbacks
(``add_reader``), without asyncio's transport and SSL protocol layers: one
callback per readiness, no task per connection. Call order::

    listening socket readable -> accept while a slot is free (at most
        ``max_connections`` sockets, handshakes included); when all are taken,
        stop watching the listening socket: new connections wait in the
        listen backlog instead of being refused
    accept   -> wrap in TLS (the current context: ``swap_tls`` affects only
                later connections), new ServerSession, arm the read timer,
                try the handshake at once (the ClientHello is usually there)
    readable -> finish the handshake; then recv until the TLS layer wants more:
                session.receive_data / receive_eof; pump events:
                  RequestReceived -> directory.verify -> send the answer,
                                     log one line, re-arm the read timer
                  ProtocolFailed  -> log, close (this connection only)
                  PeerClosed      -> send close_notify, close
    read timer fires -> close: the handshake and each request must be complete
                within ``read_timeout`` of the accept or of the previous answer,
                so a silent or trickling client holds its slot no longer
    close    -> unwatch, close the socket, free the slot, resume accepting

A client that pipelines requests but never reads the answers fills its
socket buffer; when an answer cannot be sent at once the connection is
closed. Answers are computed synchronously (a dictionary lookup), so an
answer is never half-made: :meth:`TvsServer.stop` closes idle connections at
once and gives those in the middle of a request a short grace.

The TLS context comes from :func:`phonetrust.net.tls.server_context` (TLS 1.0
and legacy ciphers only when asked for). The server adjusts the context it
is given: no TLS 1.3 session tickets (phones make one request per connection
and never resume; each unused ticket costs the server work) and no TLS 1.2
renegotiation (a hostile client could make the server sign again and again
on one connection). Nothing is read from the store here: the directory is
swapped in whole by whoever watches the store. The pump needs an event loop
with ``add_reader`` (asyncio's default selector loop on Unix, or uvloop).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl

from cryptography import x509

from phonetrust.formats import legacy
from phonetrust.formats.tags import Role
from phonetrust.protocols.tvs.messages import Answer, Request
from phonetrust.protocols.tvs.session import ProtocolFailed, RequestReceived, ServerSession
from phonetrust.service.tvsdirectory import TvsDirectory

log = logging.getLogger("phonetrust.tvs")

DEFAULT_PORT = 2445
STOP_GRACE = 1.0
"""Seconds :meth:`TvsServer.stop` waits for connections in the middle of a request."""
ACCEPT_BATCH = 64
"""Connections accepted per wake-up before the loop serves the others."""
RECV_SIZE = 65536
ACCEPT_RETRY = 0.1
"""Seconds to wait after ``accept`` fails (e.g. out of file descriptors)."""


def role_names(roles: tuple[int, ...]) -> str:
    """Roles as CUCM spells them (``SAST, CCM+TFTP``); unknown numbers as numbers."""
    if not roles:
        return "none"
    known = Role._value2member_map_
    return ", ".join(Role(r).spelling if r in known else str(r) for r in roles)


def describe_certificate(der: bytes) -> str:
    """Subject and SHA-1 of a certificate, for a log line."""
    sha1 = legacy.sha1(der).hex()
    try:
        subject = x509.load_der_x509_certificate(der).subject.rfc4514_string()
    except ValueError:
        subject = "(not a parseable certificate)"
    return f"{subject} (SHA-1 {sha1})"


class _Connection:
    """One client: pumps bytes between its non-blocking TLS socket and its session."""

    __slots__ = (
        "closed",
        "fd",
        "handshaken",
        "loop",
        "peer",
        "server",
        "session",
        "sock",
        "timer",
        "writing",
    )

    def __init__(self, server: TvsServer, raw: socket.socket, peer: str) -> None:
        self.server = server
        self.peer = peer
        self.loop = server._loop
        self.fd = raw.fileno()
        self.session = ServerSession()
        self.handshaken = False
        self.closed = False
        self.writing = False
        self.sock = server._tls.wrap_socket(raw, server_side=True, do_handshake_on_connect=False)
        self.timer = self.loop.call_later(server.read_timeout, self._timed_out)
        self.loop.add_reader(self.fd, self._step)

    # -- the pump --------------------------------------------------------------------

    def _step(self) -> None:
        """Make what progress the socket allows; called when it is readable (or writable)."""
        if self.closed:
            return
        try:
            if not self.handshaken:
                self._handshake()
            self._read()
        except ssl.SSLWantReadError:
            return
        except ssl.SSLWantWriteError:
            if not self.handshaken and not self.writing:
                self.loop.add_writer(self.fd, self._step)
                self.writing = True
        except OSError as exc:  # TLS failure, reset: this connection only
            what = "connection" if self.handshaken else "TLS handshake"
            log.info("TVS: %s with %s failed: %s", what, self.peer, exc or type(exc).__name__)
            self.close()

    def _handshake(self) -> None:
        self.sock.do_handshake()
        self.handshaken = True
        if self.writing:
            self.loop.remove_writer(self.fd)
            self.writing = False

    def _read(self) -> None:
        """Read until the TLS layer wants more bytes (raises SSLWantReadError) or the end."""
        while not self.closed:
            data = self.sock.recv(RECV_SIZE)
            if data:
                self.session.receive_data(data)
            else:
                self.session.receive_eof()
            self._pump()
            if not data:
                return

    def _pump(self) -> None:
        while not self.closed:
            event = self.session.next_event()
            if event is None:
                return
            if isinstance(event, RequestReceived):
                self._answer(event.request)
            elif isinstance(event, ProtocolFailed):
                log.warning("TVS: dropped %s: %s", self.peer, event.error)
                self.close()
            else:
                self.close(notify=True)

    def _answer(self, request: Request) -> None:
        server = self.server
        answer = server.directory.verify(request.certificate)
        data = self.session.send_answer(answer)
        server.verifications += 1
        server._verified(self.peer, request, answer)
        try:
            sent = self.sock.send(data)
        except (ssl.SSLWantWriteError, ssl.SSLWantReadError):
            sent = 0
        if sent != len(data):
            log.warning("TVS: dropped %s: it does not read its answers", self.peer)
            self.close()
            return
        if server._stopping:
            self.close(notify=True)
            return
        self.timer.cancel()
        self.timer = self.loop.call_later(server.read_timeout, self._timed_out)

    def _timed_out(self) -> None:
        if self.handshaken:
            log.info(
                "TVS: dropped %s: no whole request within %g s", self.peer, self.server.read_timeout
            )
        else:
            log.info(
                "TVS: dropped %s: no TLS handshake within %g s", self.peer, self.server.read_timeout
            )
        self.close()

    # -- state -----------------------------------------------------------------------

    def idle(self) -> bool:
        """Between requests, or not yet past the handshake: nothing owed to this client."""
        return not self.handshaken or not self.session.buffered

    def close(self, *, notify: bool = False) -> None:
        """Close the connection (with a TLS close_notify when ``notify``); frees its slot."""
        if self.closed:
            return
        self.closed = True
        self.timer.cancel()
        self.loop.remove_reader(self.fd)
        if self.writing:
            self.loop.remove_writer(self.fd)
        if notify and self.handshaken:
            # Sends close_notify; does not wait for the peer's.
            with contextlib.suppress(OSError, ValueError):
                self.sock.unwrap()
        self.sock.close()
        self.server._release(self)


class TvsServer:
    """A running TVS listener. Use :meth:`start`; ``port`` is the port actually bound."""

    def __init__(
        self,
        directory: TvsDirectory,
        tls: ssl.SSLContext,
        sock: socket.socket,
        loop: asyncio.AbstractEventLoop,
        *,
        max_connections: int,
        read_timeout: float,
    ) -> None:
        self.directory = directory
        self.read_timeout = read_timeout
        self.max_connections = max_connections
        self._tls = _tuned(tls)
        self._sock = sock
        self._loop = loop
        self.port: int = sock.getsockname()[1]
        self._connections: set[_Connection] = set()
        self.verifications = 0
        """Requests answered since the start (for monitoring and benchmarks)."""
        self._accepting = False
        self._stopping = False
        self._drained = asyncio.Event()
        self._retry: asyncio.TimerHandle | None = None
        """Set while accepting is paused after an ``accept`` failure."""

    @classmethod
    async def start(
        cls,
        directory: TvsDirectory,
        tls: ssl.SSLContext,
        *,
        host: str = "127.0.0.1",
        port: int = DEFAULT_PORT,
        max_connections: int = 2000,
        read_timeout: float = 10.0,
        backlog: int = 2048,
    ) -> TvsServer:
        """Bind ``host:port`` (0 picks a free port) and start accepting."""
        if max_connections < 1 or read_timeout <= 0:
            raise ValueError("max_connections and read_timeout must be positive")
        sock = socket.create_server((host, port), backlog=backlog)
        sock.setblocking(False)
        loop = asyncio.get_running_loop()
        server = cls(
            directory,
            tls,
            sock,
            loop,
            max_connections=max_connections,
            read_timeout=read_timeout,
        )
        server._watch(True)
        log.info("TVS listening on %s port %d", host, server.port)
        return server

    @property
    def open_connections(self) -> int:
        """Sockets accepted and not yet closed (TLS handshakes included)."""
        return len(self._connections)

    def swap_directory(self, directory: TvsDirectory) -> None:
        """Answer from ``directory`` from now on."""
        self.directory = directory

    def swap_tls(self, tls: ssl.SSLContext) -> None:
        """Present a new certificate (a regenerated TVS certificate) to new connections."""
        self._tls = _tuned(tls)

    async def stop(self) -> None:
        """Stop accepting, close idle connections, give requests in progress a short grace."""
        self._stopping = True
        self._watch(False)
        if self._retry is not None:
            self._retry.cancel()
            self._retry = None
        self._sock.close()
        for conn in list(self._connections):
            conn._step()  # take in what already arrived (a handshake's last flight, a request)
            if conn.idle():
                conn.close(notify=True)
        if self._connections:
            self._drained.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._drained.wait(), STOP_GRACE)
        for conn in list(self._connections):
            conn.close()
        log.info("TVS on port %d stopped", self.port)

    # -- accepting -----------------------------------------------------------------------

    def _watch(self, on: bool) -> None:
        if on and not self._accepting and not self._stopping and self._retry is None:
            self._loop.add_reader(self._sock.fileno(), self._accept)
            self._accepting = True
        elif not on and self._accepting:
            self._loop.remove_reader(self._sock.fileno())
            self._accepting = False

    def _accept(self) -> None:
        for _ in range(ACCEPT_BATCH):
            if len(self._connections) >= self.max_connections:
                self._watch(False)  # the backlog holds the rest until a slot frees
                return
            try:
                raw, address = self._sock.accept()
            except BlockingIOError:
                return
            except OSError as exc:  # e.g. out of file descriptors: pause, then go on
                log.warning("TVS: accept failed: %s", exc)
                self._watch(False)
                self._retry = self._loop.call_later(ACCEPT_RETRY, self._resume)
                return
            raw.setblocking(False)
            raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            try:
                conn = _Connection(self, raw, _peer(address))
            except OSError as exc:  # the peer reset before we could start
                log.info("TVS: lost %s at once: %s", _peer(address), exc)
                raw.close()
                continue
            self._connections.add(conn)
            conn._step()

    def _resume(self) -> None:
        self._retry = None
        self._watch(True)

    def _release(self, conn: _Connection) -> None:
        self._connections.discard(conn)
        if not self._connections:
            self._drained.set()
        self._watch(True)

    def _verified(self, peer: str, request: Request, answer: Answer) -> None:
        if log.isEnabledFor(logging.INFO):
            log.info(
                "TVS: %s device %s asked about %s: %s, roles %s",
                peer,
                request.device or "-",
                describe_certificate(request.certificate),
                "valid" if answer.valid else "invalid",
                role_names(answer.roles),
            )


def _tuned(context: ssl.SSLContext) -> ssl.SSLContext:
    """No TLS 1.3 session tickets (never used by phones), no TLS 1.2 renegotiation (a client
    could make the server sign again and again on one connection)."""
    context.num_tickets = 0
    context.options |= ssl.OP_NO_RENEGOTIATION
    return context


def _peer(address: object) -> str:
    if isinstance(address, tuple) and len(address) >= 2:
        return f"{address[0]}:{address[1]}"
    return str(address)

"""The TVS server: TLS on TCP 2445, a dumb pump around :class:`ServerSession`.

Every phone opens a fresh TLS connection for one question, so the cost per
connection is what matters. The pump therefore drives a non-blocking
``ssl.SSLSocket`` straight from the event loop's readiness callbacks
(``add_reader``), without asyncio's transport and SSL protocol layers: one
callback per readiness, no task per connection. The listener, the socket
side of the pump, the timers and the slots are
:mod:`phonetrust.net.ssllistener`'s, shared with CAPF; this module adds the
session. Call order::

    listening socket readable -> accept while a slot is free (at most
        ``max_connections`` sockets, handshakes included, ``max_per_address``
        from one address); when all are taken, close the oldest idle one
        (handshake unfinished, or no request begun), else stop watching the
        listening socket: new connections wait in the listen backlog
    accept   -> wrap in TLS (the current context: ``swap_tls`` affects only
                later connections), new ServerSession, arm the handshake timer,
                try the handshake at once (the ClientHello is usually there)
    readable -> finish the handshake, arm the read timer; then recv until the TLS
                layer wants more:
                session.receive_data / receive_eof; pump events:
                  RequestReceived -> directory.verify -> send the answer,
                                     log one line, re-arm the read timer
                  ProtocolFailed  -> log, close (this connection only)
                  PeerClosed      -> send close_notify, close
    timer fires -> close: the handshake must be complete within
                ``handshake_timeout`` of the accept, and each request within
                ``read_timeout`` of the handshake or of the previous answer, so a
                silent or trickling client holds its slot no longer
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
swapped in whole by whoever watches the store. With a tracer
(:mod:`.trace`) each connection and each question is also written as
CUCM's TVS trace lines. The pump needs an event loop
with ``add_reader`` (asyncio's default selector loop on Unix, or uvloop).
"""

from __future__ import annotations

import logging
import socket
import ssl
from typing import Unpack

from cryptography import x509

from phonetrust.formats import legacy
from phonetrust.formats.tags import Role
from phonetrust.net.ssllistener import HANDSHAKE_TIMEOUT, Limits, SslConnection, SslListener
from phonetrust.net.trace import TvsTrace
from phonetrust.protocols.tvs.messages import Answer, Request
from phonetrust.protocols.tvs.session import ProtocolFailed, RequestReceived, ServerSession
from phonetrust.service.tvsdirectory import TvsDirectory

log = logging.getLogger("phonetrust.tvs")

DEFAULT_PORT = 2445
STOP_GRACE = 1.0
"""Seconds :meth:`TvsServer.stop` waits for connections in the middle of a request."""
RECV_SIZE = 65536


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


class _Connection(SslConnection["TvsServer", ServerSession]):
    """One client: pumps bytes between its non-blocking TLS socket and its session."""

    __slots__ = ()

    recv_size = RECV_SIZE

    def __init__(self, server: TvsServer, raw: socket.socket, peer: str) -> None:
        self.session = ServerSession()
        super().__init__(server, raw, peer)
        if server.tracer is not None:
            server.tracer.connected(peer, self.fd)

    # -- the pump --------------------------------------------------------------------

    def pump(self) -> None:
        while not self.closed:
            event = self.session.next_event()
            if event is None:
                return
            if isinstance(event, RequestReceived):
                self._answer(event.request)
            elif isinstance(event, ProtocolFailed):
                log.warning("TVS: dropped %s: %s", self.peer, event.error)
                if self.server.tracer is not None:
                    self.server.tracer.dropped(self.peer, str(event.error))
                self.close()
            else:
                self.close(notify=True)

    def _answer(self, request: Request) -> None:
        server = self.server
        answer = server.directory.verify(request.certificate)
        data = self.session.send_answer(answer)
        server.verifications += 1
        server._verified(self.peer, request, answer)
        if not self.send(data):
            log.warning("TVS: dropped %s: it does not read its answers", self.peer)
            self.close()
            return
        if server._stopping:
            self.close(notify=True)
            return
        self.arm(server.read_timeout)

    def on_timeout(self) -> None:
        if self.server.tracer is not None:
            self.server.tracer.dropped(self.peer, "no whole request in time")
        log.info(
            "TVS: dropped %s: no whole request within %g s", self.peer, self.server.read_timeout
        )
        self.close()

    # -- state -----------------------------------------------------------------------

    def idle(self) -> bool:
        """Between requests, or not yet past the handshake: nothing owed to this client."""
        return not self.handshaken or not self.session.buffered

    def at_stop(self) -> bool:
        self._step()  # take in what already arrived (a handshake's last flight, a request)
        return self.idle()


class TvsServer(SslListener[_Connection]):
    """A running TVS listener. Use :meth:`start`; ``port`` is the port actually bound."""

    logger = log
    label = "TVS"
    stop_grace = STOP_GRACE

    def __init__(
        self,
        directory: TvsDirectory,
        tls: ssl.SSLContext,
        sock: socket.socket,
        tracer: TvsTrace | None = None,
        **limits: Unpack[Limits],
    ) -> None:
        super().__init__(_Connection, tls, sock, **limits)
        self.directory = directory
        self.tracer = tracer
        """CUCM's TVS trace lines go here (None: none)."""
        self.verifications = 0
        """Requests answered since the start (for monitoring and benchmarks)."""

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
        handshake_timeout: float = HANDSHAKE_TIMEOUT,
        max_per_address: int | None = None,
        backlog: int = 2048,
        tracer: TvsTrace | None = None,
    ) -> TvsServer:
        """Bind ``host:port`` (0 picks a free port) and start accepting.

        ``max_per_address`` defaults to ``max_connections`` (no bound of its own)."""
        if max_connections < 1 or read_timeout <= 0:
            raise ValueError("max_connections and read_timeout must be positive")
        server = cls(
            directory,
            tls,
            cls.listen(host, port, backlog),
            tracer,
            max_connections=max_connections,
            read_timeout=read_timeout,
            handshake_timeout=min(handshake_timeout, read_timeout),
            max_per_address=max_per_address or max_connections,
        )
        server._begin(host)
        return server

    def swap_directory(self, directory: TvsDirectory) -> None:
        """Answer from ``directory`` from now on."""
        self.directory = directory

    def swap_tls(self, tls: ssl.SSLContext) -> None:
        """Present a new certificate (a regenerated TVS certificate) to new connections."""
        super().swap_tls(tls)

    async def stop(self) -> None:
        """Stop accepting, close idle connections, give requests in progress a short grace."""
        await super().stop()

    def _verified(self, peer: str, request: Request, answer: Answer) -> None:
        if self.tracer is not None:
            self.tracer.query(peer, request.device, request.certificate, answer.valid, answer.roles)
        if log.isEnabledFor(logging.INFO):
            log.info(
                "TVS: %s device %s asked about %s: %s, roles %s",
                peer,
                request.device or "-",
                describe_certificate(request.certificate),
                "valid" if answer.valid else "invalid",
                role_names(answer.roles),
            )

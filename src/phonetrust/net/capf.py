"""The CAPF server: TLS on TCP 3804, a dumb pump around :class:`ServerSession`.

Every phone opens one TLS connection per enrolment, so the cost per
connection is what matters: the pump drives a non-blocking
``ssl.SSLSocket`` straight from the event loop's readiness callbacks,
without asyncio's transport and SSL protocol layers. The listener, the
socket side of the pump, the timers and the slots are
:mod:`phonetrust.net.ssllistener`'s, shared with TVS; this module adds the
session and its service calls. Call order::

    listening socket readable -> accept while a slot is free (``max_connections``
        sockets, handshakes included); when all are taken, stop watching the
        listening socket: new connections wait in the backlog, not refused
    accept   -> wrap in TLS (the current context: ``swap_tls`` affects later
                connections), take the current service (``swap_service`` likewise),
                arm the read timer, try the handshake at once
    handshake done -> session.start(): the server speaks first
    pump     -> send data_to_send() (header and payload in one write); then events:
                  NeedDeviceDecision -> refused at once while the phone's address is
                                        slowed down (``backoff``); else
                                        service.submit_decide   (the database thread);
                                        a refusal counts against the address, an
                                        authenticated operation clears it
                  IssueCertificate   -> service.issue           (here: the LSC signature)
                  Completed          -> log one line; if recordable,
                                        service.submit_record, then session.finish()
                while a service future is pending the socket is not read; its
                result comes back through call_soon_threadsafe and the pump goes on
    readable -> recv until the TLS layer wants more: receive_data / receive_eof
    read timer -> connection_lost: the handshake and each phone message must come
                within ``read_timeout``, and the whole session within
                ``session_timeout``, so a silent or trickling phone holds its
                slot no longer
    close    -> close_notify, close, release the device, free the slot, accept again

Service errors become answers here (a refusal, a failed issuance, an
unrecorded result) and socket or TLS errors become ``connection_lost``: a
connection's failure never reaches another. A phone that does not read
what it is sent (a message cannot be written at once) is treated as gone.
TLS 1.3 session tickets are turned off on the context: phones never resume.
Every session's end is logged on ``phonetrust.capf``: device, operation,
outcome. With a tracer (:mod:`.trace`), CUCM's CAPF trace lines are written
too: the connection, the handshake, each message's type (headers only: an
authentication string is never traced), the certificate made, the outcome.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import secrets
import socket
import ssl
from collections.abc import Callable
from concurrent.futures import Future
from functools import partial
from typing import Any, Unpack

from cryptography.hazmat.primitives import serialization

from phonetrust.errors import PhonetrustError
from phonetrust.net.ssllistener import Limits, SslConnection, SslListener
from phonetrust.net.trace import CapfFrames, CapfTrace
from phonetrust.policy.capfauth import AddressBackoff, source_of
from phonetrust.protocols.capf.messages import Reason
from phonetrust.protocols.capf.server import (
    Completed,
    IssueCertificate,
    NeedDeviceDecision,
    Operation,
    Proceed,
    Refuse,
    ServerSession,
    State,
)
from phonetrust.service.capfops import CapfService, refused_before_auth

log = logging.getLogger("phonetrust.capf")

DEFAULT_PORT = 3804
STOP_GRACE = 5.0
"""Seconds :meth:`CapfServer.stop` lets sessions under way finish."""
RECV_SIZE = 16 * 1024
DRAIN_LIMIT = 64 * 1024


class _Connection(SslConnection["CapfServer", ServerSession]):
    """One phone: pumps bytes between its non-blocking TLS socket and its session."""

    __slots__ = ("address", "broken", "deadline", "outgoing", "reserved", "service", "trace")

    recv_size = RECV_SIZE
    drain_limit = DRAIN_LIMIT  # unread bytes would make the close a reset, losing our last message

    def __init__(self, server: CapfServer, raw: socket.socket, peer: str) -> None:
        super().__init__(server, raw, peer)
        self.service = server._take_service()
        session_id = next(server._ids) & 0xFFFF_FFFF
        self.trace = server.tracer
        self.outgoing: CapfFrames | None = None
        if self.trace is None:
            self.session = ServerSession(session_id)
        else:
            self.session = _TracedSession(session_id, self.trace, self.fd)
            self.outgoing = CapfFrames()
            self.trace.connected(self.fd, source_of(peer), self.fd)
        self.deadline = self.loop.time() + server.session_timeout
        self.broken = False
        self.reserved: str | None = None
        self.address = source_of(peer)
        """The phone's address without its port (an IPv6 /64): what the slow-down counts by."""

    # -- the phone's side ------------------------------------------------------------
    def on_handshake_done(self) -> None:
        if self.trace is not None:
            self.trace.handshake_done()
        self.session.start()
        self.pump()

    def on_failure(self, exc: OSError) -> None:
        self._lost(f"the connection failed: {exc}")

    def on_timeout(self) -> None:
        if self.loop.time() >= self.deadline:
            self._lost(f"the session took longer than {self.server.session_timeout:g} s")
        else:
            self._lost(f"no answer from the phone within {self.server.read_timeout:g} s")

    def _lost(self, why: str) -> None:
        self.broken = True
        if self.session.state is not State.CLOSED:
            self.session.connection_lost(why)
        self.pump()

    # -- the program's side ------------------------------------------------------------
    def pump(self) -> None:
        while not self.closed:
            self._flush()
            event = self.session.next_event()
            if event is None:
                if self.session.closed:
                    self.close(notify=not self.broken)
                elif self.session.wants_data:
                    self._await_phone()
                return
            if isinstance(event, NeedDeviceDecision):
                wait = self.server.backoff.wait(self.address, self.loop.time())
                if wait > 0:  # nothing is looked up or checked for an address slowed down
                    self.session.decide(
                        refused_before_auth(
                            f"{self.address} is slowed down for {wait:.1f} s after failures"
                        )
                    )
                    continue
                service = self.service
                self._wait(
                    partial(
                        service.submit_decide,
                        event.device,
                        event.auth,
                        service.now(),
                        self.address,
                    ),
                    partial(self._decided, event=event),
                )
                return
            if isinstance(event, IssueCertificate):
                try:
                    lsc = self.service.issue(event.device, event.public_key)
                except PhonetrustError as exc:
                    self.session.issue_failed(str(exc))
                else:
                    if self.trace is not None:
                        self.trace.generated()
                    self.session.certificate_issued(lsc.public_bytes(serialization.Encoding.DER))
                continue
            self._log(event)
            if event.outcome.recordable:
                self._wait(partial(self.service.submit_record, event.outcome), self._recorded)
                return

    def _flush(self) -> None:
        data = self.session.data_to_send()
        if not data or self.broken:
            return
        if self.trace is not None and self.outgoing is not None:
            self.trace.messages(self.fd, None, self.outgoing.feed(data), incoming=False)
        try:
            complete = self.send(data)
        except OSError as exc:
            self._lost(f"the connection failed: {exc}")
            return
        if not complete:
            self._lost("the phone does not read what it is sent")

    def _await_phone(self) -> None:
        self.resume_reading()
        left = max(0.0, min(self.server.read_timeout, self.deadline - self.loop.time()))
        self.arm(left)

    def _wait(self, submit: Callable[[], Future[Any]], then: Callable[[Future[Any]], None]) -> None:
        """Hand work to the service's database thread; the pump resumes with its result."""
        self.waiting = True
        self.timer.cancel()
        self.pause_reading()
        try:
            future = submit()
        except PhonetrustError as exc:
            future = Future()
            future.set_exception(exc)
        future.add_done_callback(lambda f: self._from_thread(f, then))

    def _from_thread(self, future: Future[Any], then: Callable[[Future[Any]], None]) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is gone: the server was stopped
            self.loop.call_soon_threadsafe(self._resume, future, then)

    def _resume(self, future: Future[Any], then: Callable[[Future[Any]], None]) -> None:
        self.waiting = False
        if self.closed:
            return
        then(future)
        self.pump()
        if not self.closed and self.session.wants_data:
            self._step()  # bytes may already wait inside the TLS layer

    def _decided(self, future: Future[Any], event: NeedDeviceDecision) -> None:
        try:
            decision: Proceed | Refuse = future.result()
        except PhonetrustError as exc:
            log.warning("CAPF: no decision for %s: %s", event.device, exc)
            decision = Refuse(Reason.INVALID_ELEMENT, "CAPF cannot decide now")
        else:
            backoff = self.server.backoff
            if isinstance(decision, Refuse):
                if backoff.failed(self.address, self.loop.time()) > 0:
                    log.info("CAPF: %s is slowed down after repeated failures", self.address)
            elif decision.operation is not Operation.NONE:
                backoff.succeeded(self.address)
        if isinstance(decision, Proceed) and decision.operation is not Operation.NONE:
            self.reserved = event.device
        self.session.decide(decision)

    def _recorded(self, future: Future[Any]) -> None:
        try:
            future.result()
        except PhonetrustError as exc:
            log.warning("CAPF: the result for %s is not recorded: %s", self.session.device, exc)
            self.session.finish(recorded=False)
        else:
            self.session.finish()
        self.reserved = None  # recording (even a failed one) ends the session in the service

    def _log(self, event: Completed) -> None:
        outcome = event.outcome
        if self.trace is not None:
            self.trace.outcome(self.fd, outcome)
        if log.isEnabledFor(logging.INFO):
            log.info(
                "CAPF: %s session %08x device %s operation %s: %s: %s",
                self.peer,
                self.session.session_id,
                outcome.device or "-",
                outcome.operation.value if outcome.operation is not None else "-",
                "success" if outcome.success else f"failure (reason {int(outcome.reason)})",
                outcome.info,
            )

    # -- state -------------------------------------------------------------------------------
    def idle(self) -> bool:
        """Nothing under way for a device: not past the handshake, or still awaiting its name."""
        return not self.handshaken or self.session.state in (State.START, State.AWAIT_AUTH)

    def at_stop(self) -> bool:
        return self.idle() and not self.waiting


class _TracedSession(ServerSession):
    """A session that traces the type of each message the phone sends (headers only)."""

    def __init__(self, session_id: int, trace: CapfTrace, conn: int) -> None:
        super().__init__(session_id)
        self._trace = trace
        self._conn = conn
        self._incoming = CapfFrames()

    def receive_data(self, data: bytes) -> None:
        commands = self._incoming.feed(data)
        if commands:
            self._trace.messages(self._conn, self.device, commands, incoming=True)
        super().receive_data(data)


class CapfServer(SslListener[_Connection]):
    """CAPF on one listening socket; :meth:`start` it, :meth:`stop` it."""

    logger = log
    label = "CAPF"
    stop_grace = STOP_GRACE

    def __init__(
        self,
        service: CapfService,
        tls: ssl.SSLContext,
        sock: socket.socket,
        *,
        session_timeout: float,
        backoff: AddressBackoff | None = None,
        tracer: CapfTrace | None = None,
        **limits: Unpack[Limits],
    ) -> None:
        super().__init__(_Connection, tls, sock, **limits)
        self.tracer = tracer
        """CUCM's CAPF trace lines go here (None: none)."""
        self.session_timeout = session_timeout
        self.backoff = AddressBackoff() if backoff is None else backoff
        """Failures per phone address, and how long each must wait (kept across swaps)."""
        self._service = service
        self._ids = itertools.count(secrets.randbits(31))
        self._users: dict[int, int] = {}
        self._retired: dict[int, CapfService] = {}
        self._closing: set[asyncio.Future[None]] = set()

    @classmethod
    async def start(
        cls,
        service: CapfService,
        tls: ssl.SSLContext,
        *,
        host: str = "127.0.0.1",
        port: int = DEFAULT_PORT,
        max_connections: int = 1000,
        read_timeout: float = 30.0,
        session_timeout: float = 300.0,
        backlog: int = 2048,
        backoff: AddressBackoff | None = None,
        tracer: CapfTrace | None = None,
    ) -> CapfServer:
        """Bind ``host:port`` (0 picks a free port: see :attr:`port`) and start accepting.

        ``backoff``: the slow-down per phone address (default: ``AddressBackoff()``)."""
        if max_connections < 1 or read_timeout <= 0 or session_timeout <= 0:
            raise ValueError("max_connections and the timeouts must be positive")
        server = cls(
            service,
            tls,
            cls.listen(host, port, backlog),
            max_connections=max_connections,
            read_timeout=read_timeout,
            session_timeout=session_timeout,
            backoff=backoff,
            tracer=tracer,
        )
        server._begin(host)
        return server

    def swap_service(self, service: CapfService) -> None:
        """New connections use ``service``; the old one is closed after its last session."""
        old, self._service = self._service, service
        if old is not service:
            self._retired[id(old)] = old
            self._close_if_unused(old)

    def swap_tls(self, tls: ssl.SSLContext) -> None:
        """Present a new certificate (a regenerated CAPF certificate) to new connections."""
        super().swap_tls(tls)

    async def stop(self) -> None:
        """Stop accepting, close idle connections, let sessions under way finish, close services."""
        await super().stop()

    async def _stopped(self) -> None:
        services = {id(s): s for s in (self._service, *self._retired.values())}
        self._retired.clear()
        await asyncio.gather(*self._closing, return_exceptions=True)
        await asyncio.gather(*(asyncio.to_thread(s.close) for s in services.values()))

    # -- connections' services -----------------------------------------------------------------
    def _take_service(self) -> CapfService:
        service = self._service
        self._users[id(service)] = self._users.get(id(service), 0) + 1
        return service

    def _release(self, conn: _Connection) -> None:
        if conn.reserved is not None:
            conn.service.release(conn.reserved)
            conn.reserved = None
        self._users[id(conn.service)] -= 1
        self._close_if_unused(conn.service)
        super()._release(conn)

    def _close_if_unused(self, service: CapfService) -> None:
        if id(service) in self._retired and not self._users.get(id(service)):
            del self._retired[id(service)]
            self._users.pop(id(service), None)
            closing = self._loop.run_in_executor(None, service.close)
            self._closing.add(closing)
            closing.add_done_callback(self._closing.discard)

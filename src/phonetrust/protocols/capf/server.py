"""The CAPF server session without I/O: bytes in, events out, answers out as bytes.

The server speaks first. Call order for a socket adapter (a dumb pump)::

    session = ServerSession(session_id)
    session.start()                                   # the AUTH REQUEST is queued
    loop:
        write(session.data_to_send())                 # header and payload in one write
        event = session.next_event()
        NeedDeviceDecision -> session.decide(service.decide(event.device, event.auth))
        IssueCertificate   -> session.certificate_issued(der) | session.issue_failed(why)
        Completed          -> if event.outcome.recordable: record it, then session.finish()
        None and session.wants_data -> session.receive_data(read()) | receive_eof()
        None and session.closed     -> close the connection

A failed read or write is ``session.connection_lost(why)``. The session
parses nothing while it waits for the program (pipelined bytes stay in the
buffer), and discards whatever arrives once closed. Malformed or unexpected
bytes never raise out of ``receive_data``: they end the session with END
SESSION {7} and, once a device's operation has started, a failed outcome
to record (errors become answers here, at one place).

Peer table (:data:`PEER_TABLE`; a test sweeps every state x command; any
cell not listed, in a reading state, is a protocol error)::

    state         command                      next
    AWAIT_AUTH    AUTH RESPONSE                DECIDING
    AWAIT_AUTH    ABORT REQUEST | END SESSION  CLOSED
    AWAIT_KEY     KEY GENERATE RESPONSE        ISSUING, or RECORDING (no key / wrong key)
    AWAIT_STORE   STORE CERTIFICATE RESPONSE   RECORDING
    AWAIT_FETCH   FETCH CERTIFICATE RESPONSE   RECORDING
    AWAIT_DELETE  DELETE CERTIFICATE RESPONSE  RECORDING
    AWAIT_KEY/STORE/FETCH/DELETE:
                  REQUEST IN PROGRESS          the same state (at most ``max_in_progress``)
                  ABORT REQUEST | END SESSION  RECORDING (failed)

Each peer row names the handler function that reads the message (one
type per command) and returns the state to move to; the session moves only
to a state the row lists. Protocol faults move as :data:`FAULT_TABLE` says.
Every change of state goes through one method that checks it against its
table, and raises :class:`CapfSessionError` on a move the table lacks.

Program table (:data:`LOCAL_TABLE`; any other call raises :class:`CapfSessionError`)::

    START --start--> AWAIT_AUTH
    DECIDING --decide--> AWAIT_KEY | AWAIT_FETCH | AWAIT_DELETE | CLOSED (refused, nothing to do)
    ISSUING --certificate_issued--> AWAIT_STORE;  --issue_failed--> RECORDING
    RECORDING --finish--> CLOSED
    any but CLOSED --connection_lost--> RECORDING (an operation had started) | CLOSED

Decisions where the specification is open: the AUTH REQUEST's AUTH TYPE
is 0 (the server cannot know the device before it is named); a response
REASON of 0 or 1, or none, means the phone did what was asked; after a
fetch the session ends with {0}, after an install or a delete with {1},
after any failure with {7}; an ABORT REQUEST is answered with ABORT
RESPONSE {0}. The public key must be exactly the kind CAPF asked for.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from enum import Enum
from typing import Any, Final, TypeVar

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization

from phonetrust.errors import ProtocolError
from phonetrust.protocols.capf.events import (
    AuthInput,
    CapfSessionError,
    Completed,
    Decision,
    Event,
    IssueCertificate,
    NeedDeviceDecision,
    Operation,
    Outcome,
    Proceed,
    Refuse,
)
from phonetrust.protocols.capf.messages import (
    AbortRequest,
    AbortResponse,
    AuthRequest,
    AuthResponse,
    CertificateBlob,
    CertificateType,
    Command,
    DeleteCertificateRequest,
    DeleteCertificateResponse,
    EndSession,
    FetchCertificateRequest,
    FetchCertificateResponse,
    KeyGenRequest,
    KeyGenResponse,
    KeySpec,
    Message,
    Reason,
    RequestInProgress,
    StoreCertificateRequest,
    StoreCertificateResponse,
    auth_signed_bytes,
    framer,
    sudi_signed_bytes,
)
from phonetrust.protocols.capf.proofs import proof_problem

__all__ = [
    "FAULT_TABLE",
    "LOCAL_TABLE",
    "MAX_IN_PROGRESS",
    "MAX_PAYLOAD",
    "OPERATING",
    "PEER_TABLE",
    "READING",
    "Action",
    "AuthInput",
    "CapfSessionError",
    "Completed",
    "Decision",
    "Event",
    "IssueCertificate",
    "NeedDeviceDecision",
    "Operation",
    "Outcome",
    "Proceed",
    "Refuse",
    "ServerSession",
    "State",
]

T = TypeVar("T")

MAX_PAYLOAD: Final = 16 * 1024
"""Largest payload accepted from a phone: a certificate, two RSA-4096 signatures and
SUDI data fit in about 6 KB; the wire could express 64 KB, which nothing needs."""

MAX_IN_PROGRESS: Final = 16
"""REQUEST IN PROGRESS messages tolerated while waiting for one answer."""


class State(Enum):
    START = "start"
    AWAIT_AUTH = "awaiting the auth response"
    DECIDING = "deciding"
    AWAIT_KEY = "awaiting the key"
    ISSUING = "issuing"
    AWAIT_STORE = "awaiting the store response"
    AWAIT_FETCH = "awaiting the fetch response"
    AWAIT_DELETE = "awaiting the delete response"
    RECORDING = "recording"
    CLOSED = "closed"


READING: Final = frozenset(
    {State.AWAIT_AUTH, State.AWAIT_KEY, State.AWAIT_STORE, State.AWAIT_FETCH, State.AWAIT_DELETE}
)
"""States in which the session reads messages from the phone."""

OPERATING: Final = frozenset(
    {State.AWAIT_KEY, State.ISSUING, State.AWAIT_STORE, State.AWAIT_FETCH, State.AWAIT_DELETE}
)
"""States in which a device's operation has started: a failure there is recorded."""


class Action(Enum):
    START = "start"
    DECIDE = "decide"
    ISSUED = "certificate_issued"
    ISSUE_FAILED = "issue_failed"
    FINISH = "finish"
    CONNECTION_LOST = "connection_lost"


LOCAL_TABLE: Final[dict[Action, dict[State, frozenset[State]]]] = {
    Action.START: {State.START: frozenset({State.AWAIT_AUTH})},
    Action.DECIDE: {
        State.DECIDING: frozenset(
            {State.AWAIT_KEY, State.AWAIT_FETCH, State.AWAIT_DELETE, State.CLOSED}
        )
    },
    Action.ISSUED: {State.ISSUING: frozenset({State.AWAIT_STORE})},
    Action.ISSUE_FAILED: {State.ISSUING: frozenset({State.RECORDING})},
    Action.FINISH: {State.RECORDING: frozenset({State.CLOSED})},
    Action.CONNECTION_LOST: {
        s: frozenset(
            {State.RECORDING} if s in OPERATING or s is State.RECORDING else {State.CLOSED}
        )
        for s in State
        if s is not State.CLOSED
    },
}


FAULT_TABLE: Final[dict[State, frozenset[State]]] = {
    s: frozenset({State.RECORDING} if s in OPERATING else {State.CLOSED}) for s in READING
}
"""Where malformed or unexpected bytes from the phone take a reading state."""


class ServerSession:
    """One phone's CAPF session on the server side."""

    def __init__(
        self,
        session_id: int,
        *,
        max_payload: int = MAX_PAYLOAD,
        max_in_progress: int = MAX_IN_PROGRESS,
    ) -> None:
        if not 0 <= session_id <= 0xFFFF_FFFF:
            raise CapfSessionError(f"session id {session_id} does not fit in four bytes")
        self.session_id = session_id
        self.state = State.START
        self.device: str | None = None
        self.operation: Operation | None = None
        self._reader = framer(max_payload)
        self._max_in_progress = max_in_progress
        self._in_progress = 0
        self._key: KeySpec | None = None
        self._issued: bytes | None = None
        self._closing: bytes | None = None
        self._eof = False
        self._out: list[bytes] = []
        self._events: deque[Event] = deque()

    # -- what the adapter looks at -----------------------------------------------------
    @property
    def wants_data(self) -> bool:
        """The session is waiting for bytes from the phone."""
        return self.state in READING and not self._events

    @property
    def closed(self) -> bool:
        return self.state is State.CLOSED and not self._events

    def data_to_send(self) -> bytes:
        out, self._out = b"".join(self._out), []
        return out

    def next_event(self) -> Event | None:
        return self._events.popleft() if self._events else None

    # -- bytes from the phone -----------------------------------------------------------
    def receive_data(self, data: bytes) -> None:
        if self.state is State.CLOSED:
            return
        self._reader.feed(data)
        self._process()

    def receive_eof(self) -> None:
        if self.state is State.CLOSED:
            return
        self._eof = True
        self._process()

    # -- the program's answers ------------------------------------------------------------
    def start(self) -> None:
        allowed = self._allowed(Action.START)
        self._send(AuthRequest.make(self.session_id))
        self._move(State.AWAIT_AUTH, allowed)

    def decide(self, decision: Decision) -> None:
        allowed = self._allowed(Action.DECIDE)
        if isinstance(decision, Refuse):
            following = self._end_now(False, decision.reason, decision.info, decision.told)
        elif decision.operation is Operation.NONE:
            self.operation = Operation.NONE
            following = self._end_now(True, Reason.NO_ACTION, "no operation pending")
        else:
            self.operation = decision.operation
            if decision.operation is Operation.INSTALL:
                self._key = _held(decision.key, "key specification for the install")
                self._send(KeyGenRequest.make(self.session_id, self._key))
                following = State.AWAIT_KEY
            elif decision.operation is Operation.FETCH:
                self._send(FetchCertificateRequest(self.session_id))
                following = State.AWAIT_FETCH
            else:
                self._send(DeleteCertificateRequest(self.session_id))
                following = State.AWAIT_DELETE
        self._move(following, allowed)
        self._process()

    def certificate_issued(self, der: bytes) -> None:
        allowed = self._allowed(Action.ISSUED)
        self._send(StoreCertificateRequest.make(self.session_id, der))
        self._issued = der
        self._move(State.AWAIT_STORE, allowed)
        self._process()

    def issue_failed(self, info: str) -> None:
        allowed = self._allowed(Action.ISSUE_FAILED)
        info = f"CAPF could not issue the LSC: {info}"
        self._move(self._record(False, Reason.INVALID_ELEMENT, info), allowed)

    def finish(self, recorded: bool = True) -> None:
        """The outcome is recorded (or could not be): send the last message and close."""
        allowed = self._allowed(Action.FINISH)
        if self._closing is not None:
            if recorded:
                self._out.append(self._closing)
            else:
                info = "CAPF could not record the result"
                self._send(EndSession.make(self.session_id, Reason.INVALID_ELEMENT, info))
        self._closing = None
        self._move(State.CLOSED, allowed)

    def connection_lost(self, info: str) -> None:
        """The phone went away or went silent: nothing more can be sent."""
        allowed = self._allowed(Action.CONNECTION_LOST)
        self._out.clear()
        if self.state is State.RECORDING:
            following = State.RECORDING
        elif self.state in OPERATING:
            following = self._record(False, Reason.INVALID_ELEMENT, info)
        else:
            self._outcome(False, Reason.INVALID_ELEMENT, info)
            following = State.CLOSED
        if following is State.RECORDING:
            self._closing = None
        self._move(following, allowed)

    # -- the tables at work: every change of state goes through _move -------------------------
    def _allowed(self, action: Action) -> frozenset[State]:
        allowed = LOCAL_TABLE[action].get(self.state)
        if allowed is None:
            raise CapfSessionError(f"{action.value}() is not possible while {self.state.value}")
        return allowed

    def _move(self, following: State, allowed: frozenset[State]) -> None:
        if following not in allowed:
            raise CapfSessionError(
                f"{self.state.value} -> {following.value} is not a transition of the table"
            )
        self.state = following

    def _process(self) -> None:
        while self.state in READING and not self._events:
            try:
                message = self._reader.pop()
                if message is None:
                    if self._eof:
                        self.connection_lost("the phone closed the connection")
                    return
                self._dispatch(message)
            except ProtocolError as exc:
                self._protocol_error(exc)
                return

    def _dispatch(self, message: Message) -> None:
        if message.session_id != self.session_id:
            raise ProtocolError(
                f"session id {message.session_id:#010x} is not this session's "
                f"({self.session_id:#010x})",
                2,
            )
        row = PEER_TABLE.get((self.state, message.command))
        if row is None:
            raise ProtocolError(f"{message.command.name} is unexpected while {self.state.value}")
        handler, allowed = row
        self._move(handler(self, message), allowed)

    def _protocol_error(self, exc: ProtocolError) -> None:
        # Every protocol fault is told to the phone as INVALID ELEMENT: CAPF has no finer code.
        info = f"protocol error: {exc}"
        allowed = FAULT_TABLE[self.state]
        if self.state in OPERATING:
            self._move(self._record(False, Reason.INVALID_ELEMENT, info), allowed)
        else:
            self._move(self._end_now(False, Reason.INVALID_ELEMENT, info), allowed)

    # -- peer handlers: each returns the state its table row leads to --------------------------
    def _on_auth(self, message: AuthResponse) -> State:
        device = message.device
        self.device = device
        blob, problem = message.certificate, None
        if blob is not None:
            problem = proof_problem(
                blob.der,
                auth_signed_bytes(device, blob.der),
                message.signed_data,
                message.sha2_signed_data,
            )
        sudi, sudi_problem = None, None
        data = message.sudi
        if data is not None:
            sudi_problem = proof_problem(
                data.certificate,
                sudi_signed_bytes(self.session_id, data.certificate),
                data.sha1_signature,
                data.sha2_signature,
            )
            sudi = data.certificate if sudi_problem is None else None
        self._events.append(
            NeedDeviceDecision(
                device,
                AuthInput(
                    device=device,
                    password=message.password,
                    certificate=blob if blob is not None and problem is None else None,
                    certificate_problem=problem,
                    sudi=sudi,
                    sudi_problem=sudi_problem,
                    version=message.version,
                ),
            )
        )
        return State.DECIDING

    def _on_in_progress(self, _message: RequestInProgress) -> State:
        self._in_progress += 1
        if self._in_progress > self._max_in_progress:
            raise ProtocolError(f"more than {self._max_in_progress} REQUEST IN PROGRESS")
        return self.state

    def _on_key(self, message: KeyGenResponse) -> State:
        self._in_progress = 0
        der = message.public_key
        if der is None:
            info = f"the phone could not generate its key (reason {message.reason})"
            return self._record(False, Reason.INVALID_ELEMENT, info)
        try:
            key = serialization.load_der_public_key(der)
        except (ValueError, UnsupportedAlgorithm):
            raise ProtocolError("PUBLIC KEY is not a SubjectPublicKeyInfo") from None
        got = KeySpec.of_key(key)
        asked = _held(self._key, "key asked for")
        if got != asked:
            what = got.text if got is not None else type(key).__name__
            info = f"the phone generated a {what} key; CAPF asked for {asked.text}"
            return self._record(False, Reason.INVALID_ELEMENT, info)
        self._events.append(IssueCertificate(_held(self.device, "device"), key, got))
        return State.ISSUING

    def _on_stored(self, message: StoreCertificateResponse) -> State:
        if _done(message.reason):
            blob = CertificateBlob(CertificateType.LSC, _held(self._issued, "LSC sent"))
            return self._record(True, Reason.UPDATE_CERTIFICATE, "Upgrade Success", blob)
        info = f"the phone could not store the LSC (reason {message.reason})"
        return self._record(False, Reason.INVALID_ELEMENT, info)

    def _on_fetched(self, message: FetchCertificateResponse) -> State:
        blob = message.certificate
        if _done(message.reason) and blob is not None:
            return self._record(True, Reason.NO_ACTION, "Troubleshoot Success", blob)
        info = f"the phone gave no certificate (reason {message.reason})"
        return self._record(False, Reason.INVALID_ELEMENT, info)

    def _on_deleted(self, message: DeleteCertificateResponse) -> State:
        if _done(message.reason):
            return self._record(True, Reason.UPDATE_CERTIFICATE, "Delete Success")
        info = f"the phone could not delete its LSC (reason {message.reason})"
        return self._record(False, Reason.INVALID_ELEMENT, info)

    def _on_abort(self, _message: AbortRequest) -> State:
        answer = AbortResponse.make(self.session_id, Reason.NO_ACTION).to_wire()
        info = "the phone aborted the session"
        if self.state in OPERATING:
            following = self._record(False, Reason.INVALID_ELEMENT, info)
            self._closing = answer
            return following
        self._out.append(answer)
        self._outcome(False, Reason.INVALID_ELEMENT, info)
        return State.CLOSED

    def _on_peer_end(self, message: EndSession) -> State:
        info = f"the phone ended the session (reason {message.reason})"
        if self.state in OPERATING:
            following = self._record(False, Reason.INVALID_ELEMENT, info)
            self._closing = None
            return following
        self._outcome(False, Reason.INVALID_ELEMENT, info)
        return State.CLOSED

    # -- endings -------------------------------------------------------------------------------
    def _send(self, message: Message) -> None:
        self._out.append(message.to_wire())

    def _end_message(self, reason: Reason, info: str) -> bytes:
        if reason in (Reason.NO_ACTION, Reason.UPDATE_CERTIFICATE):
            info = ""
        return EndSession.make(self.session_id, reason, info[:200]).to_wire()

    def _outcome(
        self,
        success: bool,
        reason: Reason,
        info: str,
        certificate: CertificateBlob | None = None,
        *,
        recordable: bool = False,
    ) -> None:
        self._events.append(
            Completed(
                Outcome(self.device, self.operation, success, reason, info, certificate, recordable)
            )
        )

    def _end_now(self, success: bool, reason: Reason, info: str, told: str | None = None) -> State:
        """End at once: nothing about the device changed, so nothing is recorded.

        The phone is ``told`` the reason (``info`` when None); the outcome keeps ``info``."""
        self._out.append(self._end_message(reason, info if told is None else told))
        self._outcome(success, reason, info)
        return State.CLOSED

    def _record(
        self,
        success: bool,
        reason: Reason,
        info: str,
        certificate: CertificateBlob | None = None,
    ) -> State:
        """The operation ended: the program records it, then :meth:`finish` says so."""
        self._closing = self._end_message(reason, info)
        self._outcome(success, reason, info, certificate, recordable=True)
        return State.RECORDING


Handler = Callable[[ServerSession, Any], State]
"""A peer handler: reads the message of its row's command, returns the state to move to."""

_WAITING = (State.AWAIT_KEY, State.AWAIT_STORE, State.AWAIT_FETCH, State.AWAIT_DELETE)
_S = ServerSession

PEER_TABLE: Final[dict[tuple[State, Command], tuple[Handler, frozenset[State]]]] = {
    (State.AWAIT_AUTH, Command.AUTH_RESPONSE): (_S._on_auth, frozenset({State.DECIDING})),
    (State.AWAIT_AUTH, Command.ABORT_REQUEST): (_S._on_abort, frozenset({State.CLOSED})),
    (State.AWAIT_AUTH, Command.END_SESSION): (_S._on_peer_end, frozenset({State.CLOSED})),
    (State.AWAIT_KEY, Command.KEY_GEN_RESPONSE): (
        _S._on_key,
        frozenset({State.ISSUING, State.RECORDING}),
    ),
    (State.AWAIT_STORE, Command.STORE_CERTIFICATE_RESPONSE): (
        _S._on_stored,
        frozenset({State.RECORDING}),
    ),
    (State.AWAIT_FETCH, Command.FETCH_CERTIFICATE_RESPONSE): (
        _S._on_fetched,
        frozenset({State.RECORDING}),
    ),
    (State.AWAIT_DELETE, Command.DELETE_CERTIFICATE_RESPONSE): (
        _S._on_deleted,
        frozenset({State.RECORDING}),
    ),
    **{(s, Command.REQUEST_IN_PROGRESS): (_S._on_in_progress, frozenset({s})) for s in _WAITING},
    **{(s, Command.ABORT_REQUEST): (_S._on_abort, frozenset({State.RECORDING})) for s in _WAITING},
    **{(s, Command.END_SESSION): (_S._on_peer_end, frozenset({State.RECORDING})) for s in _WAITING},
}
"""Each row's handler is called with a message of the row's command (one type per command)."""


def _held(value: T | None, what: str) -> T:
    """What an earlier step of the session set; its absence is a bug in the session itself."""
    if value is None:
        raise CapfSessionError(f"the session has no {what}")
    return value


def _done(reason: int | None) -> bool:
    return reason in (None, Reason.NO_ACTION, Reason.UPDATE_CERTIFICATE)

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

import hmac
from collections import deque
from dataclasses import dataclass
from enum import Enum
from typing import Final

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

from phonetrust.errors import LocalError, ProtocolError
from phonetrust.protocols.capf.messages import (
    VERSION,
    AuthType,
    CertificateBlob,
    CertificateType,
    Command,
    Element,
    HashAlgorithm,
    KeySpec,
    Message,
    Reason,
    Sha2Signature,
    Tag,
    auth_signed_bytes,
    framer,
    sudi_signed_bytes,
)

MAX_PAYLOAD: Final = 16 * 1024
"""Largest payload accepted from a phone: a certificate, two RSA-4096 signatures and
SUDI data fit in about 6 KB; the wire could express 64 KB, which nothing needs."""

MAX_IN_PROGRESS: Final = 16
"""REQUEST IN PROGRESS messages tolerated while waiting for one answer."""


class CapfSessionError(LocalError):
    """The program drove a CAPF session out of order (decided twice, finished too early)."""


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


class Operation(Enum):
    NONE = "none"
    INSTALL = "install"
    FETCH = "fetch"
    DELETE = "delete"


class Action(Enum):
    START = "start"
    DECIDE = "decide"
    ISSUED = "certificate_issued"
    ISSUE_FAILED = "issue_failed"
    FINISH = "finish"
    CONNECTION_LOST = "connection_lost"


_WAITING = (State.AWAIT_KEY, State.AWAIT_STORE, State.AWAIT_FETCH, State.AWAIT_DELETE)

PEER_TABLE: Final[dict[tuple[State, Command], tuple[str, frozenset[State]]]] = {
    (State.AWAIT_AUTH, Command.AUTH_RESPONSE): ("_on_auth", frozenset({State.DECIDING})),
    (State.AWAIT_AUTH, Command.ABORT_REQUEST): ("_on_abort", frozenset({State.CLOSED})),
    (State.AWAIT_AUTH, Command.END_SESSION): ("_on_peer_end", frozenset({State.CLOSED})),
    (State.AWAIT_KEY, Command.KEY_GEN_RESPONSE): (
        "_on_key",
        frozenset({State.ISSUING, State.RECORDING}),
    ),
    (State.AWAIT_STORE, Command.STORE_CERTIFICATE_RESPONSE): (
        "_on_stored",
        frozenset({State.RECORDING}),
    ),
    (State.AWAIT_FETCH, Command.FETCH_CERTIFICATE_RESPONSE): (
        "_on_fetched",
        frozenset({State.RECORDING}),
    ),
    (State.AWAIT_DELETE, Command.DELETE_CERTIFICATE_RESPONSE): (
        "_on_deleted",
        frozenset({State.RECORDING}),
    ),
    **{(s, Command.REQUEST_IN_PROGRESS): ("_on_in_progress", frozenset({s})) for s in _WAITING},
    **{(s, Command.ABORT_REQUEST): ("_on_abort", frozenset({State.RECORDING})) for s in _WAITING},
    **{(s, Command.END_SESSION): ("_on_peer_end", frozenset({State.RECORDING})) for s in _WAITING},
}

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


# -- what the program is told, and what it answers ------------------------------------------


@dataclass(frozen=True, slots=True)
class AuthInput:
    """What the phone offered to authenticate with, its proofs already checked.

    ``certificate`` is set only when the phone proved it holds the key
    (SIGNED DATA / SHA2 SIGNED DATA verify); otherwise ``certificate_problem``
    says why. Whether the certificate is *trusted* is the program's decision.
    """

    device: str
    password: str | None = None
    certificate: CertificateBlob | None = None
    certificate_problem: str | None = None
    sudi: bytes | None = None
    sudi_problem: str | None = None
    version: int | None = None


@dataclass(frozen=True, slots=True)
class Proceed:
    """Authenticated: carry out ``operation`` (INSTALL needs the key to ask for)."""

    operation: Operation
    key: KeySpec | None = None

    def __post_init__(self) -> None:
        if self.operation is Operation.INSTALL and self.key is None:
            raise CapfSessionError("an install needs the key specification to ask for")


@dataclass(frozen=True, slots=True)
class Refuse:
    """End the session with ``reason`` (7 failed authentication, ...).

    ``info`` says why, for the log; ``told`` is the REASON INFO the phone gets
    when it must say less (None: ``info``). Refusals before authentication
    tell every client the same, so that none can learn which devices exist.
    """

    reason: Reason
    info: str = ""
    told: str | None = None


Decision = Proceed | Refuse


@dataclass(frozen=True, slots=True)
class Outcome:
    """How a session ended, for the log and, when ``recordable``, for the device's record."""

    device: str | None
    operation: Operation | None
    success: bool
    reason: Reason
    """The REASON the END SESSION carries (or would have)."""
    info: str = ""
    certificate: CertificateBlob | None = None
    """The LSC issued (install) or the certificate the phone gave (fetch)."""
    recordable: bool = False


@dataclass(frozen=True, slots=True)
class NeedDeviceDecision:
    device: str
    auth: AuthInput


@dataclass(frozen=True, slots=True)
class IssueCertificate:
    device: str
    public_key: PublicKeyTypes
    key: KeySpec


@dataclass(frozen=True, slots=True)
class Completed:
    outcome: Outcome


Event = NeedDeviceDecision | IssueCertificate | Completed


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
        self._expect(Action.START)
        self._send(
            Command.AUTH_REQUEST,
            Element.number(Tag.VERSION, VERSION),
            Element.number(Tag.AUTH_TYPE, AuthType.NONE),
        )
        self._goto(State.AWAIT_AUTH, Action.START)

    def decide(self, decision: Decision) -> None:
        self._expect(Action.DECIDE)
        if isinstance(decision, Refuse):
            self._end_now(False, decision.reason, decision.info, decision.told)
        elif decision.operation is Operation.NONE:
            self.operation = Operation.NONE
            self._end_now(True, Reason.NO_ACTION, "no operation pending")
        else:
            self.operation = decision.operation
            if decision.operation is Operation.INSTALL:
                assert decision.key is not None  # noqa: S101 - Proceed checks it
                self._key = decision.key
                self._send(Command.KEY_GEN_REQUEST, *decision.key.elements())
                self._goto(State.AWAIT_KEY, Action.DECIDE)
            elif decision.operation is Operation.FETCH:
                self._send(Command.FETCH_CERTIFICATE_REQUEST)
                self._goto(State.AWAIT_FETCH, Action.DECIDE)
            else:
                self._send(Command.DELETE_CERTIFICATE_REQUEST)
                self._goto(State.AWAIT_DELETE, Action.DECIDE)
        self._process()

    def certificate_issued(self, der: bytes) -> None:
        self._expect(Action.ISSUED)
        blob = CertificateBlob(CertificateType.LSC, der)
        self._issued = der
        self._send(
            Command.STORE_CERTIFICATE_REQUEST,
            Element.number(Tag.CERTIFICATE_TYPE, CertificateType.LSC),
            Element.of(blob),
        )
        self._goto(State.AWAIT_STORE, Action.ISSUED)
        self._process()

    def issue_failed(self, info: str) -> None:
        self._expect(Action.ISSUE_FAILED)
        self._record(False, Reason.INVALID_ELEMENT, f"CAPF could not issue the LSC: {info}")

    def finish(self, recorded: bool = True) -> None:
        """The outcome is recorded (or could not be): send the last message and close."""
        self._expect(Action.FINISH)
        if self._closing is not None:
            if recorded:
                self._out.append(self._closing)
            else:
                self._send(
                    Command.END_SESSION,
                    Element.number(Tag.REASON, Reason.INVALID_ELEMENT),
                    Element.text(Tag.REASON_INFO, "CAPF could not record the result"),
                )
        self._closing = None
        self._goto(State.CLOSED, Action.FINISH)

    def connection_lost(self, info: str) -> None:
        """The phone went away or went silent: nothing more can be sent."""
        self._expect(Action.CONNECTION_LOST)
        self._out.clear()
        if self.state is State.RECORDING:
            self._closing = None
        elif self.state in OPERATING:
            self._record(False, Reason.INVALID_ELEMENT, info)
            self._closing = None
        else:
            self._outcome(False, Reason.INVALID_ELEMENT, info)
            self.state = State.CLOSED

    # -- the tables at work --------------------------------------------------------------------
    def _expect(self, action: Action) -> None:
        if self.state not in LOCAL_TABLE[action]:
            raise CapfSessionError(f"{action.value}() is not possible while {self.state.value}")

    def _goto(self, state: State, action: Action) -> None:
        assert state in LOCAL_TABLE[action][self.state], (action, self.state, state)  # noqa: S101
        self.state = state

    def _process(self) -> None:
        while self.state in READING and not self._events:
            try:
                message = self._reader.pop()
            except ProtocolError as exc:
                self._protocol_error(exc)
                return
            if message is None:
                if self._eof:
                    self.connection_lost("the phone closed the connection")
                return
            self._handle(message)

    def _handle(self, message: Message) -> None:
        try:
            self._dispatch(message)
        except ProtocolError as exc:
            self._protocol_error(exc)

    def _dispatch(self, message: Message) -> None:
        if message.session_id != self.session_id:
            raise ProtocolError(
                f"session id {message.session_id:#010x} is not this session's "
                f"({self.session_id:#010x})",
                2,
            )
        entry = PEER_TABLE.get((self.state, message.command))
        if entry is None:
            raise ProtocolError(f"{message.command.name} is unexpected while {self.state.value}")
        name, allowed = entry
        before = self.state
        getattr(self, name)(message)
        assert self.state in allowed, (before, message.command, self.state)  # noqa: S101

    def _protocol_error(self, exc: ProtocolError) -> None:
        # Every protocol fault is told to the phone as INVALID ELEMENT: CAPF has no finer code.
        info = f"protocol error: {exc}"
        if self.state in OPERATING:
            self._record(False, Reason.INVALID_ELEMENT, info)
        else:
            self._end_now(False, Reason.INVALID_ELEMENT, info)

    # -- peer handlers -----------------------------------------------------------------------
    def _on_auth(self, message: Message) -> None:
        device = message.text(Tag.DEVICE_NAME)
        if device is None:
            raise ProtocolError("an AUTH RESPONSE without DEVICE NAME")
        self.device = device
        blob, problem = message.certificate, None
        if blob is not None:
            problem = _proof_problem(
                blob.der,
                auth_signed_bytes(device, blob.der),
                message.raw(Tag.SIGNED_DATA),
                message.sha2_signed_data,
            )
        sudi, sudi_problem = None, None
        if message.sudi is not None:
            data = message.sudi
            sudi_problem = _proof_problem(
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
                    password=message.text(Tag.PASSWORD),
                    certificate=blob if blob is not None and problem is None else None,
                    certificate_problem=problem,
                    sudi=sudi,
                    sudi_problem=sudi_problem,
                    version=message.number(Tag.VERSION),
                ),
            )
        )
        self.state = State.DECIDING

    def _on_in_progress(self, _message: Message) -> None:
        self._in_progress += 1
        if self._in_progress > self._max_in_progress:
            raise ProtocolError(f"more than {self._max_in_progress} REQUEST IN PROGRESS")

    def _on_key(self, message: Message) -> None:
        self._in_progress = 0
        der = message.raw(Tag.PUBLIC_KEY)
        if der is None:
            self._record(
                False,
                Reason.INVALID_ELEMENT,
                f"the phone could not generate its key (reason {message.reason})",
            )
            return
        try:
            key = serialization.load_der_public_key(der)
        except (ValueError, UnsupportedAlgorithm):
            raise ProtocolError("PUBLIC KEY is not a SubjectPublicKeyInfo") from None
        got = KeySpec.of_key(key)
        assert self._key is not None  # noqa: S101 - set with the INSTALL decision
        if got != self._key:
            what = got.text if got is not None else type(key).__name__
            self._record(
                False,
                Reason.INVALID_ELEMENT,
                f"the phone generated a {what} key; CAPF asked for {self._key.text}",
            )
            return
        assert self.device is not None  # noqa: S101 - set by the auth response
        self._events.append(IssueCertificate(self.device, key, got))
        self.state = State.ISSUING

    def _on_stored(self, message: Message) -> None:
        if _done(message.reason):
            assert self._issued is not None  # noqa: S101 - sent with the store request
            blob = CertificateBlob(CertificateType.LSC, self._issued)
            self._record(True, Reason.UPDATE_CERTIFICATE, "Upgrade Success", blob)
        else:
            self._record(
                False,
                Reason.INVALID_ELEMENT,
                f"the phone could not store the LSC (reason {message.reason})",
            )

    def _on_fetched(self, message: Message) -> None:
        blob = message.certificate
        if _done(message.reason) and blob is not None:
            self._record(True, Reason.NO_ACTION, "Troubleshoot Success", blob)
        else:
            self._record(
                False,
                Reason.INVALID_ELEMENT,
                f"the phone gave no certificate (reason {message.reason})",
            )

    def _on_deleted(self, message: Message) -> None:
        if _done(message.reason):
            self._record(True, Reason.UPDATE_CERTIFICATE, "Delete Success")
        else:
            self._record(
                False,
                Reason.INVALID_ELEMENT,
                f"the phone could not delete its LSC (reason {message.reason})",
            )

    def _on_abort(self, _message: Message) -> None:
        answer = Message(Command.ABORT_RESPONSE, self.session_id, (Element.number(Tag.REASON, 0),))
        if self.state in OPERATING:
            self._record(False, Reason.INVALID_ELEMENT, "the phone aborted the session")
            self._closing = answer.to_wire()
        else:
            self._out.append(answer.to_wire())
            self._outcome(False, Reason.INVALID_ELEMENT, "the phone aborted the session")
            self.state = State.CLOSED

    def _on_peer_end(self, message: Message) -> None:
        info = f"the phone ended the session (reason {message.reason})"
        if self.state in OPERATING:
            self._record(False, Reason.INVALID_ELEMENT, info)
            self._closing = None
        else:
            self._outcome(False, Reason.INVALID_ELEMENT, info)
            self.state = State.CLOSED

    # -- endings -------------------------------------------------------------------------------
    def _send(self, command: Command, *elements: Element) -> None:
        self._out.append(Message(command, self.session_id, elements).to_wire())

    def _end_message(self, reason: Reason, info: str) -> bytes:
        elements = [Element.number(Tag.REASON, reason)]
        if info and reason not in (Reason.NO_ACTION, Reason.UPDATE_CERTIFICATE):
            elements.append(Element.text(Tag.REASON_INFO, info[:200]))
        return Message(Command.END_SESSION, self.session_id, tuple(elements)).to_wire()

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

    def _end_now(self, success: bool, reason: Reason, info: str, told: str | None = None) -> None:
        """End at once: nothing about the device changed, so nothing is recorded.

        The phone is ``told`` the reason (``info`` when None); the outcome keeps ``info``."""
        self._out.append(self._end_message(reason, info if told is None else told))
        self._outcome(success, reason, info)
        self.state = State.CLOSED

    def _record(
        self,
        success: bool,
        reason: Reason,
        info: str,
        certificate: CertificateBlob | None = None,
    ) -> None:
        """The operation ended: the program records it, then :meth:`finish` says so."""
        self._closing = self._end_message(reason, info)
        self._outcome(success, reason, info, certificate, recordable=True)
        self.state = State.RECORDING


def rsa_verify_bare(key: rsa.RSAPublicKey, signature: bytes, digest: bytes) -> bool:
    try:
        recovered = key.recover_data_from_signature(signature, padding.PKCS1v15(), None)
    except (InvalidSignature, ValueError):
        return False
    return hmac.compare_digest(recovered, digest)


_SHA2 = {HashAlgorithm.SHA256: hashes.SHA256(), HashAlgorithm.SHA512: hashes.SHA512()}


def verify_auth_signatures(
    key: PublicKeyTypes, data: bytes, signed: bytes | None, sha2: Sha2Signature | None
) -> str | None:
    """None when every signature present verifies (at least one must be); else the problem."""
    if signed is None and sha2 is None:
        return "no SIGNED DATA or SHA2 SIGNED DATA with the certificate"
    checks: list[tuple[str, bytes, hashes.HashAlgorithm]] = []
    if signed is not None:
        checks.append(("SIGNED DATA", signed, hashes.SHA1()))  # noqa: S303 - the protocol
    if sha2 is not None:
        algorithm = _SHA2.get(HashAlgorithm(sha2.algorithm)) if sha2.algorithm in (2, 3) else None
        if algorithm is None:
            return f"SHA2 SIGNED DATA with unknown hash algorithm {sha2.algorithm}"
        checks.append(("SHA2 SIGNED DATA", sha2.signature, algorithm))
    for what, signature, algorithm in checks:
        if isinstance(key, rsa.RSAPublicKey):
            digest = hashes.Hash(algorithm)
            digest.update(data)
            ok = rsa_verify_bare(key, signature, digest.finalize())
        elif isinstance(key, ec.EllipticCurvePublicKey):
            try:
                key.verify(signature, data, ec.ECDSA(algorithm))
                ok = True
            except InvalidSignature:
                ok = False
        else:
            return "the certificate's key is neither RSA nor EC"
        if not ok:
            return f"{what} does not verify with the certificate's key"
    return None


def _done(reason: int | None) -> bool:
    return reason in (None, Reason.NO_ACTION, Reason.UPDATE_CERTIFICATE)


def _proof_problem(
    der: bytes, data: bytes, signed: bytes | None, sha2: Sha2Signature | None
) -> str | None:
    """Why the signatures over ``data`` do not prove possession of ``der``'s key (None: they do)."""
    try:
        key = x509.load_der_x509_certificate(der).public_key()
    except (ValueError, UnsupportedAlgorithm):
        return "the certificate is not valid X.509 DER"
    return verify_auth_signatures(key, data, signed, sha2)

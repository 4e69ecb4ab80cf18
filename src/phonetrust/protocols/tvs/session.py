"""TVS sessions without I/O: bytes in, events out; answers and requests out as bytes.

The server side (:class:`ServerSession`) keeps the rules below; a socket
adapter only pumps. Call order, for each chunk read from the peer::

    session.receive_data(chunk)          # or receive_eof() when the peer closed
    while (event := session.next_event()) is not None:
        RequestReceived  -> write(session.send_answer(directory.verify(...)))
        ProtocolFailed   -> close the connection (log event.error)
        PeerClosed       -> close the connection

State table (``TRANSITIONS``; a test sweeps every cell)::

    state      | REQUEST    MALFORMED  EOF        ANSWER
    -----------+-------------------------------------------
    READING    | ANSWERING  CLOSED     CLOSED     (error)
    ANSWERING  | -          -          ANSWERING  READING
    CLOSED     | -          -          CLOSED     (error)

"-" cannot happen: the session parses nothing while an answer is owed
(pipelined bytes wait in the buffer), and discards whatever arrives once
closed. "(error)" is the caller's bug and raises :class:`TvsSessionError`.
An EOF that arrives while an answer is owed is remembered: the answer is
still sent, then reading finds the end (``PeerClosed``).

A message is parsed as soon as its 10-byte header is in: a wrong protocol
id, version or command, or a declared size above ``max_message``, fails
at once rather than after the payload. A connection may carry several
requests, one after another.

The client side (:class:`ClientSession`) is what a phone does: check the
server's certificate against the ITL's TVS record (SHA-1), send one
request, accept only the response that echoes its session id and command.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from phonetrust.errors import LocalError, ProtocolError
from phonetrust.formats import legacy
from phonetrust.protocols.tvs.messages import (
    Answer,
    Command,
    Message,
    Request,
    Response,
    TvsServerUntrusted,
    framer,
)

MAX_MESSAGE = 16 * 1024
"""Largest message accepted (header included). A request is one certificate and a
device name, about 1-2 KB; the wire could express 64 KB + 10, which nothing needs."""


class TvsSessionError(LocalError):
    """The program drove a session out of order (answered nothing, sent twice)."""


class State(Enum):
    READING = "reading"
    ANSWERING = "answering"
    CLOSED = "closed"


class Input(Enum):
    REQUEST = "a whole request arrived"
    MALFORMED = "malformed bytes arrived"
    EOF = "the peer closed its side"
    ANSWER = "the program answers"


TRANSITIONS: dict[tuple[State, Input], State] = {
    (State.READING, Input.REQUEST): State.ANSWERING,
    (State.READING, Input.MALFORMED): State.CLOSED,
    (State.READING, Input.EOF): State.CLOSED,
    (State.ANSWERING, Input.EOF): State.ANSWERING,
    (State.ANSWERING, Input.ANSWER): State.READING,
    (State.CLOSED, Input.EOF): State.CLOSED,
}


@dataclass(frozen=True, slots=True)
class RequestReceived:
    request: Request


@dataclass(frozen=True, slots=True)
class ResponseReceived:
    response: Response


@dataclass(frozen=True, slots=True)
class ProtocolFailed:
    """The peer sent something malformed or out of place; close the connection."""

    error: ProtocolError


@dataclass(frozen=True, slots=True)
class PeerClosed:
    """The peer closed cleanly between messages."""


ServerEvent = RequestReceived | ProtocolFailed | PeerClosed
ClientEvent = ResponseReceived | ProtocolFailed | PeerClosed


class ServerSession:
    """One TVS connection seen from the server."""

    def __init__(self, *, max_message: int = MAX_MESSAGE) -> None:
        self._framer = framer(max_message)
        self._state = State.READING
        self._eof = False
        self._pending: Request | None = None

    @property
    def state(self) -> State:
        return self._state

    @property
    def pending_request(self) -> Request | None:
        """The request waiting for :meth:`send_answer`."""
        return self._pending

    @property
    def buffered(self) -> int:
        """Bytes received and not yet part of a whole message."""
        return self._framer.pending

    def _move(self, event: Input) -> None:
        try:
            self._state = TRANSITIONS[self._state, event]
        except KeyError:
            raise TvsSessionError(
                f"cannot handle {event.value!r} in state {self._state.value}"
            ) from None

    def receive_data(self, data: bytes) -> None:
        """Bytes from the peer; discarded once the session is closed."""
        if self._state is not State.CLOSED and not self._eof:
            self._framer.feed(data)

    def receive_eof(self) -> None:
        """The peer closed its sending side."""
        self._eof = True

    def next_event(self) -> ServerEvent | None:
        """The next event, or None when more bytes are needed (or the session is closed)."""
        if self._state is State.ANSWERING:
            raise TvsSessionError("answer the pending request before asking for the next event")
        if self._state is State.CLOSED:
            return None
        try:
            message = self._framer.pop()
        except ProtocolError as exc:
            self._move(Input.MALFORMED)
            self._framer.clear()
            return ProtocolFailed(exc)
        if message is None:
            if not self._eof:
                return None
            self._move(Input.EOF)
            left = self._framer.pending
            self._framer.clear()
            if left:
                return ProtocolFailed(
                    ProtocolError(f"connection closed inside a message ({left} bytes)")
                )
            return PeerClosed()
        if not isinstance(message, Request):
            self._move(Input.MALFORMED)
            self._framer.clear()
            return ProtocolFailed(ProtocolError(f"a client sent {message.command.name}", 2))
        self._move(Input.REQUEST)
        self._pending = message
        return RequestReceived(message)

    def send_answer(self, answer: Answer) -> bytes:
        """The bytes answering the pending request."""
        request = self._pending
        self._move(Input.ANSWER)
        if request is None:  # ANSWERING is entered only with a request: a bug in this class
            raise TvsSessionError("answering, with no request pending")
        self._pending = None
        return Response.answering(request, answer).to_wire()


class ClientState(Enum):
    CHECKING = "checking the server certificate"
    READY = "ready to send"
    WAITING = "waiting for the response"
    CLOSED = "closed"


class ClientSession:
    """One TVS connection seen from a phone (or ``phonetrust tvs query``).

    With ``expected_tvs_sha1`` (the CERTHASH of the ITL's TVS record) the
    server certificate must be checked, with :meth:`check_server`, before
    anything is sent - as a phone does before trusting the answer.
    """

    def __init__(
        self,
        session_id: int,
        *,
        expected_tvs_sha1: bytes | None = None,
        max_message: int = MAX_MESSAGE,
    ) -> None:
        if not 0 <= session_id <= 0xFFFF_FFFF:
            raise TvsSessionError(f"session id {session_id} does not fit in 4 bytes")
        if expected_tvs_sha1 is not None and len(expected_tvs_sha1) != 20:
            raise TvsSessionError("a SHA-1 hash is 20 bytes")
        self.session_id = session_id
        self._expected = expected_tvs_sha1
        self._framer = framer(max_message)
        self._state = ClientState.READY if expected_tvs_sha1 is None else ClientState.CHECKING
        self._sent: Command | None = None
        self._eof = False

    @property
    def state(self) -> ClientState:
        return self._state

    def check_server(self, certificate_der: bytes) -> None:
        """Compare the server's certificate with the expected hash; raise if it differs."""
        if self._state is not ClientState.CHECKING:
            return
        actual = legacy.sha1(certificate_der)
        if actual != self._expected:
            self._state = ClientState.CLOSED
            expected = self._expected.hex() if self._expected else ""
            raise TvsServerUntrusted(
                f"the TVS server certificate (SHA-1 {actual.hex()}) is not the one the ITL "
                f"names (SHA-1 {expected})"
            )
        self._state = ClientState.READY

    def send_request(
        self,
        certificate: bytes,
        device: str | None = None,
        command: Command = Command.VERIFY_REQUEST,
    ) -> bytes:
        if self._state is ClientState.CHECKING:
            raise TvsSessionError("check the server certificate before sending")
        if self._state is not ClientState.READY:
            raise TvsSessionError(f"cannot send a request while {self._state.value}")
        data = Request(self.session_id, certificate, device, command).to_wire()
        self._sent = command
        self._state = ClientState.WAITING
        return data

    def receive_data(self, data: bytes) -> None:
        if self._state is not ClientState.CLOSED and not self._eof:
            self._framer.feed(data)

    def receive_eof(self) -> None:
        self._eof = True

    def next_event(self) -> ClientEvent | None:
        if self._state is ClientState.CLOSED:
            return None
        try:
            message = self._framer.pop()
            if message is None:
                if not self._eof:
                    return None
                self._state = ClientState.CLOSED
                if self._sent is not None or self._framer.pending:
                    return ProtocolFailed(
                        ProtocolError("the server closed the connection without answering")
                    )
                return PeerClosed()
            return ResponseReceived(self._check(message))
        except ProtocolError as exc:
            self._state = ClientState.CLOSED
            self._framer.clear()
            return ProtocolFailed(exc)

    def _check(self, message: Message) -> Response:
        if self._state is not ClientState.WAITING or self._sent is None:
            raise ProtocolError(f"unsolicited {message.command.name} from the server", 2)
        if not isinstance(message, Response):
            raise ProtocolError(f"the server sent {message.command.name}", 2)
        if message.command is not self._sent.response:
            raise ProtocolError(f"{message.command.name} does not answer {self._sent.name}", 2)
        if message.session_id != self.session_id:
            raise ProtocolError(
                f"response for session {message.session_id}, not {self.session_id}", 4
            )
        self._sent = None
        self._state = ClientState.READY
        return message

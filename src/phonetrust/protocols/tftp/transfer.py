"""One TFTP read transfer as a state machine: blocks, windows, acknowledgements, retransmission.

A :class:`Transfer` sends one file to one client: the OACK if options were
negotiated (:func:`negotiate`), then DATA blocks a window at a time; a file
whose size is a multiple of the block size ends with an empty block, and
block numbers roll over to 0 after 65535. :class:`TftpServerCore` (in
``server.py``) owns the transfers and their timers.

Retransmission. Each wait is ``rto * (1 + jitter * U[0, 1))`` with ``rto``
doubling after each retransmission up to ``max_timeout`` and reset by
progress; after ``retries`` retransmissions the transfer gives up with
error 0. The random stretch keeps thousands of phones that lost packets
together from retrying together.

A peer that has never answered. Until the first ACK (of the OACK or of
DATA 1) arrives, a request may be a spoofed one whose true source never
asked: the transfer then sends its first datagram once and retransmits it
at most ``silent_retries`` (2) times, every wait at most ``silent_wait``
(2 s) and never doubled, and gives up without an error packet. Such a
request costs at most ``(1 + silent_retries)`` datagrams of at most 516
bytes (a DATA of the default block size: a larger ``blksize`` needs the
OACK answered first), 1,548 bytes in all, and holds its slot at most
``(1 + silent_retries) * silent_wait * (1 + jitter)`` = 9 s (4.5 s when
the client names no timeout). Before, it got 7 packets, 3,119 bytes, for
about 35 s.

The ``timeout`` option is honoured from 1 to ``max_option_timeout`` (10)
seconds and left out of the OACK above that (RFC 2349 lets a server
decline an option; it may not answer another value). Phones on a LAN
answer within milliseconds and retransmit on their own in 1-4 s; a
longer wait helps no one and let ``timeout 255`` hold a slot for ~255 s
per retry. The cap is the retransmission wait after the peer answered;
before that, ``silent_wait`` applies.

Transfer state table (``TRANSITIONS``; a test sweeps every cell). Inputs are
what a datagram from the transfer's peer (or the clock) means in a state::

    state        | ACK_NEXT  ACK_OLD  ACK_AHEAD  ERROR  OTHER  MALFORMED  FOREIGN  TIMEOUT
    -------------+-------------------------------------------------------------------------
    NEGOTIATING  | ADVANCE   ignore   ignore     END    ABORT  ignore     REJECT   RESEND
    SENDING      | ADVANCE   ignore   ignore     END    ABORT  ignore     REJECT   RESEND
    COMPLETE     | ignore    ignore   ignore     ignore ignore ignore     ignore   ignore
    FAILED       | ignore    ignore   ignore     ignore ignore ignore     ignore   ignore

ACK_NEXT acknowledges a block sent and not yet acknowledged (block 0 for
the OACK); ADVANCE sends the next window, or completes after the last
block. ACK_OLD (a duplicate) is never answered: resending on it would
double every later packet (the Sorcerer's Apprentice bug). ERROR ends the
transfer without an answer; OTHER (a DATA, request or OACK) is answered
with error 4 and ends it; MALFORMED is dropped; FOREIGN (another address)
gets error 5 and the transfer goes on; RESEND resends the OACK or the
window, or gives up when the retries are spent.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from enum import Enum

from phonetrust.errors import LocalError
from phonetrust.protocols.tftp.packets import (
    MAX_BLOCK,
    Ack,
    Error,
    ErrorCode,
    MalformedPacket,
    OptionAck,
    ReadRequest,
    data_packet,
    error_packet,
    option_number,
    parse,
)

Address = tuple[str, int]
MIN_BLKSIZE = 8
MAX_BLKSIZE = 65464
DEFAULT_BLKSIZE = 512


class TftpUsageError(LocalError):
    """The program drove the core out of order (e.g. accepted a request twice)."""


@dataclass(frozen=True, slots=True)
class ServerConfig:
    max_blksize: int = MAX_BLKSIZE
    max_windowsize: int = 64
    timeout: float = 1.0
    """First retransmission wait when the client names none, seconds."""
    max_timeout: float = 8.0
    retries: int = 5
    jitter: float = 0.5
    max_transfers: int = 2000
    max_queue: int = 2000
    queue_wait: float = 5.0
    max_option_timeout: int = 10
    """The largest ``timeout`` option accepted, seconds (see the module's docstring)."""
    silent_retries: int = 2
    """Retransmissions to a peer that has never answered."""
    silent_wait: float = 2.0
    """The longest wait before a retransmission to a peer that has never answered."""
    evict_after: float = 0.5
    """When every slot is taken, a transfer never answered for this long gives way to a request."""

    def __post_init__(self) -> None:
        if not MIN_BLKSIZE <= self.max_blksize <= MAX_BLKSIZE:
            raise TftpUsageError(f"max_blksize must be within {MIN_BLKSIZE}..{MAX_BLKSIZE}")
        if not 1 <= self.max_windowsize <= MAX_BLOCK:
            raise TftpUsageError("max_windowsize must be within 1..65535")
        if self.timeout <= 0 or self.max_timeout < self.timeout:
            raise TftpUsageError("timeouts must be positive, max_timeout >= timeout")
        if self.retries < 0 or self.jitter < 0 or self.max_transfers < 1 or self.max_queue < 0:
            raise TftpUsageError("retries, jitter and max_queue >= 0, max_transfers >= 1")
        if not 1 <= self.max_option_timeout <= 255:
            raise TftpUsageError("max_option_timeout must be within 1..255")
        if self.silent_retries < 0 or self.silent_wait <= 0 or self.evict_after < 0:
            raise TftpUsageError("silent_retries, evict_after >= 0, silent_wait > 0")


# -- the transfer state machine ---------------------------------------------------------


class State(Enum):
    NEGOTIATING = "OACK sent, waiting for ACK 0"
    SENDING = "DATA sent, waiting for its ACK"
    COMPLETE = "last block acknowledged"
    FAILED = "ended without the last block acknowledged"


class Input(Enum):
    ACK_NEXT = "ACK of a block sent and not yet acknowledged"
    ACK_OLD = "ACK of a block already acknowledged"
    ACK_AHEAD = "ACK of a block not sent yet"
    ERROR = "ERROR from the peer"
    OTHER = "DATA, a request or OACK from the peer"
    MALFORMED = "bytes that are not a TFTP packet"
    FOREIGN = "any datagram from another address"
    TIMEOUT = "the retransmission timer fired"


class Reaction(Enum):
    ADVANCE = "send the next window, or complete"
    IGNORE = "nothing"
    END = "fail quietly"
    ABORT = "answer error 4 and fail"
    REJECT = "answer error 5 to the sender, go on"
    RESEND = "resend, or give up when the retries are spent"


def _row(active: bool) -> dict[Input, Reaction]:
    if not active:
        return dict.fromkeys(Input, Reaction.IGNORE)
    return {
        Input.ACK_NEXT: Reaction.ADVANCE,
        Input.ACK_OLD: Reaction.IGNORE,
        Input.ACK_AHEAD: Reaction.IGNORE,
        Input.ERROR: Reaction.END,
        Input.OTHER: Reaction.ABORT,
        Input.MALFORMED: Reaction.IGNORE,
        Input.FOREIGN: Reaction.REJECT,
        Input.TIMEOUT: Reaction.RESEND,
    }


TRANSITIONS: dict[tuple[State, Input], Reaction] = {
    (state, what): reaction
    for state in State
    for what, reaction in _row(state in (State.NEGOTIATING, State.SENDING)).items()
}

if any(  # pragma: no cover
    TRANSITIONS[state, Input.ACK_NEXT] is not Reaction.ADVANCE
    for state in (State.NEGOTIATING, State.SENDING)
):
    raise TftpUsageError("Transfer.receive's fast path assumes ACK_NEXT -> ADVANCE")

_ACKS: tuple[bytes, ...] = tuple(Ack(n).to_wire() for n in range(4096))
"""The ACKs of blocks 0..4095 (2 MB at block size 512), made once: the fast path's
expected ACK is looked up here rather than built at every block."""
_ACKS_MADE = len(_ACKS)

_ERROR_4 = error_packet(ErrorCode.ILLEGAL_OPERATION, "Illegal TFTP operation")
_TIMED_OUT = error_packet(ErrorCode.NOT_DEFINED, "Transfer timed out")


@dataclass(frozen=True, slots=True)
class Negotiated:
    """What the options settled: the OACK to send (None: no options) and the parameters."""

    oack: bytes | None
    blksize: int = DEFAULT_BLKSIZE
    windowsize: int = 1
    timeout: float | None = None


def negotiate(request: ReadRequest, size: int, config: ServerConfig) -> Negotiated:
    """The OACK for ``request`` serving ``size`` bytes, per RFC 2347-2349 and 7440."""
    answer: list[tuple[str, str]] = []
    blksize, windowsize, timeout = DEFAULT_BLKSIZE, 1, None
    for name, value in request.options:
        key, number = name.lower(), option_number(value)
        if key == "blksize" and number is not None and number >= MIN_BLKSIZE:
            blksize = min(number, config.max_blksize)
            answer.append((name, str(blksize)))
        elif key == "tsize":
            answer.append((name, str(size)))
        elif key == "timeout" and number is not None and 1 <= number <= config.max_option_timeout:
            timeout = float(number)
            answer.append((name, str(number)))
        elif key == "windowsize" and number is not None and 1 <= number <= MAX_BLOCK:
            windowsize = min(number, config.max_windowsize)
            answer.append((name, str(windowsize)))
    if not answer:
        return Negotiated(None)
    return Negotiated(OptionAck(tuple(answer)).to_wire(), blksize, windowsize, timeout)


SPLIT_LIMIT = 1024 * 1024
"""Files up to this size have their DATA packets made once and reused by every transfer."""
SPLIT_BUDGET = 128 * 1024 * 1024
"""Bytes of files whose packets are kept; the cache is emptied when they would exceed it."""


def data_packets(data: bytes, blksize: int, first: int, last: int) -> list[bytes]:
    """DATA packets ``first``..``last`` of ``data`` (block numbers roll over after 65535).

    The one place a server's DATA is cut from a file: :func:`split` makes a
    whole file's in advance, a transfer of a file too large to keep makes
    each window's as it sends it.
    """
    return [
        data_packet(n & MAX_BLOCK, data[(n - 1) * blksize : n * blksize])
        for n in range(first, last + 1)
    ]


def split(data: bytes, blksize: int) -> list[bytes]:
    """Every DATA packet of ``data``."""
    return data_packets(data, blksize, 1, len(data) // blksize + 1)


class PacketCache:
    """Files' DATA packets by content and block size, made once for every transfer of them.

    Keyed by the bytes themselves, not by who holds them: a file served to a
    thousand phones is one bytes object whose hash Python keeps, so a hit
    costs a dict lookup; equal contents share packets whoever made them, and
    a key can never stand for other bytes (an ``id`` can, once its object is
    gone). Files over :data:`SPLIT_LIMIT` are cut as they are sent.
    """

    __slots__ = ("_bytes", "_packets")

    def __init__(self) -> None:
        self._packets: dict[tuple[bytes, int], list[bytes]] = {}
        self._bytes = 0

    def get(self, data: bytes, blksize: int) -> list[bytes] | None:
        """The packets of ``data`` at ``blksize``, or None for a file too large to keep."""
        if len(data) > SPLIT_LIMIT:
            return None
        key = (data, blksize)
        packets = self._packets.get(key)
        if packets is None:
            if self._bytes + len(data) > SPLIT_BUDGET:
                self._packets.clear()
                self._bytes = 0
            packets = self._packets[key] = split(data, blksize)
            self._bytes += len(data)
        return packets


class Transfer:
    """One file going to one client: the state machine of the table above.

    Every datagram from the peer goes through :meth:`receive`. Its fast path
    is one cell of the table, ACK_NEXT -> ADVANCE, for the ACK that a
    transfer waits for nearly every time: the ACK of the last block sent (of
    block 0 while NEGOTIATING). That ACK is kept made (``expected``), so a
    boot storm's usual datagram costs one bytes comparison before the same
    :meth:`_advance` the table reaches; anything else takes :meth:`step`,
    the table itself. A test drives both with the same datagrams and
    asserts the same output.
    """

    __slots__ = (
        "acked",
        "base_rto",
        "blksize",
        "config",
        "data",
        "deadline",
        "expected",
        "filename",
        "jitter",
        "last_block",
        "oack",
        "packets",
        "peer",
        "random",
        "reason",
        "retransmissions",
        "retries",
        "rto",
        "sent",
        "started",
        "state",
        "tag",
        "tid",
        "windowsize",
    )

    def __init__(
        self,
        tid: int,
        peer: Address,
        filename: str,
        data: bytes,
        negotiated: Negotiated,
        *,
        config: ServerConfig,
        rng: random.Random,
        now: float,
        tag: object = None,
        packets: list[bytes] | None = None,
    ) -> None:
        self.tid, self.peer, self.filename, self.data, self.tag = tid, peer, filename, data, tag
        self.packets = packets
        """The file's DATA packets made in advance (:func:`split`), or None to make them as sent."""
        self.config = config
        self.random = rng.random
        """The jitter's source (a bound method: one attribute lookup less per send)."""
        self.jitter = config.jitter
        self.blksize = negotiated.blksize
        self.windowsize = negotiated.windowsize
        self.oack = negotiated.oack
        self.base_rto = negotiated.timeout or config.timeout
        self.rto = min(self.base_rto, config.silent_wait)
        """Until the peer answers, waits are at most ``silent_wait``; progress resets to base."""
        self.last_block = len(data) // self.blksize + 1
        """Blocks in the file: a size that is a multiple of blksize ends with an empty one."""
        self.acked = 0
        self.sent = 0
        self.retries = 0
        self.retransmissions = 0
        self.state = State.NEGOTIATING if self.oack is not None else State.SENDING
        self.expected: bytes | None = _ACKS[0] if self.oack is not None else None
        """The ACK of everything sent, which :meth:`receive` answers without the table."""
        self.started = now
        self.deadline = now
        self.reason = ""

    @property
    def finished(self) -> bool:
        return self.state in (State.COMPLETE, State.FAILED)

    @property
    def answered(self) -> bool:
        """The peer has acknowledged something: the OACK or a DATA block."""
        return self.acked > 0 or (self.oack is not None and self.state is not State.NEGOTIATING)

    def start(self, now: float) -> list[bytes]:
        return self._send(now)

    def classify(self, data: bytes) -> tuple[Input, int]:
        """What a datagram from the peer means now, with the block an ACK_NEXT acknowledges."""
        if len(data) == 4 and data[0] == 0 and data[1] == 4:
            number = (data[2] << 8) | data[3]
            if self.state is State.NEGOTIATING:
                return (Input.ACK_NEXT, 0) if number == 0 else (Input.ACK_AHEAD, 0)
            step = (number - self.acked) & MAX_BLOCK
            if step == 0 or step > 0x8000:
                return Input.ACK_OLD, 0
            if step <= self.sent - self.acked:
                return Input.ACK_NEXT, self.acked + step
            return Input.ACK_AHEAD, 0
        try:
            packet = parse(data)
        except MalformedPacket:
            return Input.MALFORMED, 0
        if isinstance(packet, Error):
            return Input.ERROR, packet.code
        return Input.OTHER, 0

    def receive(self, data: bytes, now: float) -> list[bytes]:
        """The datagrams to answer ``data`` with: the fast path, else :meth:`step`."""
        if data == self.expected:  # ACK_NEXT of the last block sent -> ADVANCE
            return self._advance(self.sent, now)
        return self.step(data, now)

    def step(self, data: bytes, now: float) -> list[bytes]:
        """:meth:`receive` through the table alone (what the fast path must equal)."""
        what, block = self.classify(data)
        reaction = TRANSITIONS[self.state, what]
        if reaction is Reaction.ADVANCE:
            return self._advance(block, now)
        if reaction is Reaction.END:
            self.fail(f"client sent error {block}")
            return []
        if reaction is Reaction.ABORT:
            self.fail("client sent an illegal packet")
            return [_ERROR_4]
        return []

    def fail(self, reason: str) -> None:
        """End without the last block acknowledged (the peer's doing, or the server's)."""
        self.state = State.FAILED
        self.reason = reason
        self.expected = None

    def timeout(self, now: float) -> list[bytes]:
        if TRANSITIONS[self.state, Input.TIMEOUT] is not Reaction.RESEND:
            return []
        if not self.answered:
            return self._resend_unanswered(now)
        if self.retries >= self.config.retries:
            self.fail(f"timed out after {self.retries} retransmissions")
            return [_TIMED_OUT]
        return self._resend(now, min(self.rto * 2.0, max(self.config.max_timeout, self.base_rto)))

    # -- the steps the table names ------------------------------------------------------------

    def _advance(self, block: int, now: float) -> list[bytes]:
        """ADVANCE: ``block`` is acknowledged; send the next window, or complete."""
        self.acked = block
        self.retries = 0
        self.rto = self.base_rto
        if block >= self.last_block:
            self.state = State.COMPLETE
            self.reason = "complete"
            self.expected = None
            return []
        self.state = State.SENDING
        return self._send(now)

    def _resend_unanswered(self, now: float) -> list[bytes]:
        """The first datagram again, a bounded number of times, never louder (module docstring)."""
        if self.retries >= self.config.silent_retries:
            self.fail(f"no answer from the client after {self.retries + 1} sends")
            return []  # no error packet: the peer may never have asked
        return self._resend(now, min(self.base_rto, self.config.silent_wait))

    def _resend(self, now: float, rto: float) -> list[bytes]:
        """RESEND: what is not yet acknowledged, then wait ``rto`` (with jitter)."""
        self.retries += 1
        self.retransmissions += 1
        self.rto = rto
        return self._send(now)

    def _send(self, now: float) -> list[bytes]:
        """What is not yet acknowledged, the OACK or a window of DATA, and the timer armed.

        The one place a retransmission deadline is set: ``rto`` stretched by
        up to ``jitter``. A window runs from the first unacknowledged block
        to ``windowsize`` blocks on, or to the end of the file.
        """
        self.deadline = now + self.rto * (1.0 + self.jitter * self.random())
        if self.oack is not None and self.state is State.NEGOTIATING:
            return [self.oack]
        acked = self.acked
        sent = acked + self.windowsize
        if sent > self.last_block:  # noqa: PLR1730 - min() costs 6x this, once per ACK
            sent = self.last_block
        self.sent = sent
        # Past the prebuilt ACKs (and so near block-number rollover) every ACK goes through the
        # table: the fast path stays where its test proves it equal to step().
        self.expected = _ACKS[sent] if sent < _ACKS_MADE else None
        packets = self.packets
        if packets is not None:
            return packets[acked:sent]
        return data_packets(self.data, self.blksize, acked + 1, sent)

"""A TFTP read without I/O: what a phone (or a central TFTP server, E2) does to fetch one file.

Call order, with one UDP socket per transfer::

    sock.sendto(transfer.start(now), server)
    loop:
        datagram arrives     -> transfer.receive_datagram(data, addr, now)
        transfer.next_timer() reached -> transfer.handle_timer(now)
        send every (datagram, addr) returned
    until transfer.finished: transfer.result() is the file, or raises its TftpError

The first answer fixes the server's transfer id (its address); datagrams
from any other address get error 5 and change nothing. An OACK may only
grant options that were asked for, with a block size and window no larger
than asked (else error 8). Blocks arrive in order; with a window (RFC 7440)
an out-of-order block makes the client acknowledge the last block it has in
order. Retransmission: the request, or the last ACK, is resent after
``rto * (1 + jitter * U[0, 1))`` with ``rto`` doubling up to ``max_rto`` and
reset by progress; after ``retries`` resends the transfer fails with
:class:`TransferTimeout`. A file larger than ``max_size`` is refused with
error 3. Once complete, a repeated last block is acknowledged again (the
server's copy of the final ACK may have been lost).
"""

from __future__ import annotations

import random
from enum import Enum

from phonetrust.protocols.tftp.packets import (
    MAX_BLOCK,
    Ack,
    Data,
    Error,
    ErrorCode,
    MalformedPacket,
    OptionAck,
    PeerError,
    ProtocolViolation,
    ReadRequest,
    TftpError,
    TransferTimeout,
    error_packet,
    option_number,
    parse,
)
from phonetrust.protocols.tftp.transfer import DEFAULT_BLKSIZE, MAX_BLKSIZE, MIN_BLKSIZE, Address

Outgoing = list[tuple[bytes, Address]]

_JITTER = random.Random()  # noqa: S311 - retransmission jitter, not secrets
"""Shared by transfers not given their own (seeding one per transfer costs more than it)."""


class ClientState(Enum):
    REQUESTED = "request sent, waiting for OACK or DATA 1"
    RECEIVING = "receiving DATA"
    COMPLETE = "last block received"
    FAILED = "failed"


class ClientTransfer:
    """One read request and what follows it."""

    def __init__(
        self,
        filename: str,
        server: Address,
        *,
        blksize: int | None = None,
        windowsize: int | None = None,
        timeout: int | None = None,
        tsize: bool = False,
        rto: float = 1.0,
        max_rto: float = 8.0,
        retries: int = 5,
        jitter: float = 0.5,
        max_size: int = 64 * 1024 * 1024,
        rng: random.Random | None = None,
    ) -> None:
        options: list[tuple[str, str]] = []
        if blksize is not None:
            if not MIN_BLKSIZE <= blksize <= MAX_BLKSIZE:
                raise TftpError(f"blksize {blksize} is outside 8..65464")
            options.append(("blksize", str(blksize)))
        if tsize:
            options.append(("tsize", "0"))
        if timeout is not None:
            options.append(("timeout", str(timeout)))
        if windowsize is not None:
            options.append(("windowsize", str(windowsize)))
        self.request = ReadRequest(filename, "octet", tuple(options))
        self.server = server
        self.peer: Address | None = None
        self.wanted_blksize = blksize
        self.wanted_windowsize = windowsize
        self.blksize = DEFAULT_BLKSIZE
        self.windowsize = 1
        self.tsize: int | None = None
        self.base_rto = float(timeout) if timeout is not None else rto
        self.rto = self.base_rto
        self.max_rto = max(max_rto, self.base_rto)
        self.retries_left = retries
        self.retries = retries
        self.jitter = jitter
        self.max_size = max_size
        self.rng = rng or _JITTER
        self.state = ClientState.REQUESTED
        self.finished = False
        """COMPLETE or FAILED."""
        self.retransmissions = 0
        self.error: TftpError | None = None
        self._chunks: list[bytes] = []
        self._size = 0
        self._block = 0
        """Last block received in order (absolute: counts past 65535)."""
        self._since_ack = 0
        self._last: tuple[bytes, Address] | None = None
        self._deadline: float | None = None

    # -- API --------------------------------------------------------------------------

    def result(self) -> bytes:
        if self.state is ClientState.COMPLETE:
            return b"".join(self._chunks)
        if self.error is not None:
            raise self.error
        raise TftpError("the transfer is not finished")

    def start(self, now: float) -> bytes:
        datagram = self.request.to_wire()
        self._last = (datagram, self.server)
        self._arm(now)
        return datagram

    def abort(self, error: TftpError) -> Outgoing:
        """Give up now (the caller's own deadline): an error 0 to the server if it answered."""
        if self.finished:
            return []
        return self._fail(error, None)

    def next_timer(self) -> float | None:
        return None if self.finished else self._deadline

    def handle_timer(self, now: float) -> Outgoing:
        if self.finished or self._deadline is None or now < self._deadline or self._last is None:
            return []
        if self.retries_left <= 0:
            what = "no answer" if self.state is ClientState.REQUESTED else "no more data"
            return self._fail(TransferTimeout(f"{self.request.filename}: {what}"), None)
        self.retries_left -= 1
        self.retransmissions += 1
        self.rto = min(self.rto * 2.0, self.max_rto)
        self._arm(now)
        return [self._last]

    def receive_datagram(self, data: bytes, addr: Address, now: float) -> Outgoing:
        if (
            self.state is ClientState.RECEIVING
            and len(data) >= 4
            and data[0] == 0
            and data[1] == 3
            and addr == self.peer
        ):  # the common case, without building a packet value
            return self._data((data[2] << 8) | data[3], data[4:], addr, now)
        if self.state is ClientState.FAILED:
            return []
        if self.peer is None:
            if self.state is not ClientState.REQUESTED or addr[0] != self.server[0]:
                return []
        elif addr != self.peer:
            return [(error_packet(ErrorCode.UNKNOWN_TID, "Unknown transfer ID"), addr)]
        try:
            packet = parse(data)
        except MalformedPacket:
            return []  # corrupted or hostile: the retransmission timer covers it
        if isinstance(packet, Error):
            self.peer = self.peer or addr
            self.state = ClientState.FAILED
            self.finished = True
            self.error = packet.exception()
            return []
        if self.state is ClientState.COMPLETE:
            if isinstance(packet, Data) and packet.block == self._block & MAX_BLOCK:
                return [(Ack(packet.block).to_wire(), addr)]
            return []
        if isinstance(packet, OptionAck):
            return self._oack(packet, addr, now)
        if isinstance(packet, Data):
            if self.peer is None:
                self.peer = addr
                self.state = ClientState.RECEIVING
            return self._data(packet.block, packet.data, addr, now)
        self.peer = self.peer or addr
        return self._fail(
            ProtocolViolation(f"unexpected {type(packet).__name__} from the server"), addr, 4
        )

    # -- internals ----------------------------------------------------------------------

    def _arm(self, now: float) -> None:
        self._deadline = now + self.rto * (1.0 + self.jitter * self.rng.random())

    def _fail(self, error: TftpError, addr: Address | None, code: int = 0) -> Outgoing:
        self.state = ClientState.FAILED
        self.finished = True
        self.error = error
        self._deadline = None
        if addr is None:
            addr = self.peer
        if addr is None:
            return []
        return [(Error(code, error.message[:200]).to_wire(), addr)]

    def _send_ack(self, addr: Address, now: float) -> Outgoing:
        ack = (b"\x00\x04" + (self._block & MAX_BLOCK).to_bytes(2, "big"), addr)
        self._last = ack
        self._since_ack = 0
        self._arm(now)
        return [ack]

    def _oack(self, packet: OptionAck, addr: Address, now: float) -> Outgoing:
        if self.state is ClientState.RECEIVING:
            # our ACK 0 was lost and the server resent its OACK
            return self._send_ack(addr, now) if self._block == 0 else []
        self.peer = addr
        asked = {name.lower() for name, _ in self.request.options}
        for name, value in packet.options:
            key, number = name.lower(), option_number(value)
            bad = key not in asked or number is None
            if number is None:
                pass
            elif key == "blksize":
                bad = bad or not MIN_BLKSIZE <= number <= (self.wanted_blksize or 0)
                self.blksize = number
            elif key == "windowsize":
                bad = bad or not 1 <= number <= (self.wanted_windowsize or 0)
                self.windowsize = number
            elif key == "tsize":
                self.tsize = number
                bad = bad or self.tsize > self.max_size
            elif key == "timeout":
                bad = bad or number < 1
                self.base_rto = self.rto = float(max(number, 1))
            if bad:
                return self._fail(
                    ProtocolViolation(f"the server answered option {name}={value!r}"), addr, 8
                )
        self.state = ClientState.RECEIVING
        self.retries_left = self.retries
        return self._send_ack(addr, now)

    def _data(self, block: int, payload: bytes, addr: Address, now: float) -> Outgoing:
        if block != (self._block + 1) & MAX_BLOCK:
            # a duplicate or a gap: say again what we have in order
            return self._send_ack(addr, now)
        if len(payload) > self.blksize:
            return self._fail(ProtocolViolation("a DATA block larger than blksize"), addr, 4)
        self._size += len(payload)
        if self._size > self.max_size:
            return self._fail(
                PeerError(f"{self.request.filename} is larger than {self.max_size} bytes"), addr, 3
            )
        self._chunks.append(payload)
        self._block += 1
        self._since_ack += 1
        self.retries_left = self.retries
        self.rto = self.base_rto
        if len(payload) < self.blksize:
            out = self._send_ack(addr, now)
            self.state = ClientState.COMPLETE
            self.finished = True
            self._deadline = None
            return out
        if self._since_ack >= self.windowsize:
            return self._send_ack(addr, now)
        self._arm(now)
        return []

"""TFTP packets (RFC 1350, options RFC 2347-2349, windowsize RFC 7440) as immutable values.

Each packet class builds its datagram with ``to_wire`` and reads one with
``from_wire``; :func:`parse` reads any of them. A value that could not be
put on the wire cannot be constructed (block numbers are 16-bit, strings
hold no NUL), and every datagram either parses or raises
:class:`MalformedPacket` - never another exception.

Reading is strict where a mistake would be ambiguous and lenient where
real clients are sloppy:

- requests and OACKs are NUL-terminated strings; bytes after the last NUL,
  an odd number of option strings, or an empty option name are refused;
- option names are case-insensitive (RFC 2347): they are kept as sent and
  looked up with :meth:`Request.option`; a repeated option keeps the first;
- an ACK is exactly four bytes; an ERROR's message may lack its final NUL
  (several embedded stacks omit it), but nothing may follow that NUL;
- strings are decoded as Latin-1 so that any byte maps to one character;
  what a file name may contain is decided by the caller, not here;
- an option's number (:func:`option_number`) is ASCII digits only: Latin-1
  decoding turns byte 0xB2 into ``²``, which ``str.isdigit()`` accepts and
  ``int()`` refuses, and other scripts' digits (``٣``) are no TFTP number.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from phonetrust.errors import BuildError, ParseError, ProtocolError

MAX_BLOCK = 0xFFFF
MAX_DATAGRAM = 65535


MAX_OPTION_DIGITS = 10
"""Longer numbers are refused before they are converted: no option needs more."""


def option_number(text: str) -> int | None:
    """An option value as a number: ASCII ``0-9`` only, at most 10 of them; else None.

    Spaces around the digits are tolerated (some clients pad); a sign, a
    decimal point, ``²``, ``٣`` or any other character makes the value
    invalid, and the caller leaves the option out - never an exception.
    """
    text = text.strip(" ")
    if not text or len(text) > MAX_OPTION_DIGITS or not (text.isascii() and text.isdigit()):
        return None
    return int(text)


class Opcode(IntEnum):
    RRQ = 1
    WRQ = 2
    DATA = 3
    ACK = 4
    ERROR = 5
    OACK = 6


class ErrorCode(IntEnum):
    """TFTP error codes (RFC 1350 section 5, RFC 2347 for 8)."""

    NOT_DEFINED = 0
    FILE_NOT_FOUND = 1
    ACCESS_VIOLATION = 2
    DISK_FULL = 3
    ILLEGAL_OPERATION = 4
    UNKNOWN_TID = 5
    FILE_EXISTS = 6
    NO_SUCH_USER = 7
    OPTION_REFUSED = 8


class TftpError(ProtocolError):
    """A TFTP failure; ``code`` is the error code that goes (or came) on the wire.

    The :class:`ProtocolError` of CAPF and TVS, so that one type covers the
    three protocols; ``message`` is its ``reason``, and ``offset`` is the
    byte at fault when there is one (a malformed datagram).
    """

    def __init__(self, message: str, code: int = ErrorCode.NOT_DEFINED) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class MalformedPacket(TftpError, ParseError):
    """A datagram that is not a TFTP packet (answered, if at all, with error 4).

    Also a :class:`ParseError`, as every reader's failure on bytes is: its
    ``offset`` is never None.
    """

    offset: int

    def __init__(self, reason: str, offset: int) -> None:
        ParseError.__init__(self, reason, offset)  # reason and offset, as ProtocolError has them
        self.code = ErrorCode.ILLEGAL_OPERATION
        self.message = reason


class PeerError(TftpError):
    """The peer sent an ERROR packet: the transfer ends with its code and message."""


class TransferTimeout(TftpError):
    """No answer after the last retransmission."""


class ProtocolViolation(TftpError):
    """A well-formed packet that breaks the transfer's rules (wrong type, option not asked)."""


def _check_text(value: str, what: str) -> None:
    if "\0" in value:
        raise BuildError(f"TFTP {what} may not contain NUL")
    try:
        value.encode("latin-1")
    except UnicodeEncodeError:
        raise BuildError(f"TFTP {what} must be Latin-1 text") from None


def _check_block(block: int) -> None:
    if not 0 <= block <= MAX_BLOCK:
        raise BuildError(f"TFTP block number {block} is outside 0..65535")


def _strings(data: bytes, start: int) -> list[str]:
    """The NUL-terminated strings from ``start`` to the end; refuses an unterminated tail."""
    out: list[str] = []
    pos = start
    end = len(data)
    while pos < end:
        nul = data.find(b"\0", pos)
        if nul < 0:
            raise MalformedPacket("string without its terminating NUL", pos)
        out.append(data[pos:nul].decode("latin-1"))
        pos = nul + 1
    return out


def _options(strings: list[str], offset: int) -> tuple[tuple[str, str], ...]:
    if len(strings) % 2:
        raise MalformedPacket("an option name without its value", offset)
    seen: set[str] = set()
    pairs: list[tuple[str, str]] = []
    for i in range(0, len(strings), 2):
        name, value = strings[i], strings[i + 1]
        if not name:
            raise MalformedPacket("an empty option name", offset)
        if name.lower() in seen:
            continue
        seen.add(name.lower())
        pairs.append((name, value))
    return tuple(pairs)


def _options_wire(options: tuple[tuple[str, str], ...]) -> bytes:
    return b"".join(
        name.encode("latin-1") + b"\0" + value.encode("latin-1") + b"\0" for name, value in options
    )


def _check_options(options: tuple[tuple[str, str], ...]) -> None:
    for name, value in options:
        if not name:
            raise BuildError("an empty TFTP option name")
        _check_text(name, "option name")
        _check_text(value, "option value")


def _option(options: tuple[tuple[str, str], ...], name: str) -> str | None:
    wanted = name.lower()
    for key, value in options:
        if key.lower() == wanted:
            return value
    return None


@dataclass(frozen=True, slots=True)
class Request:
    """A read (RRQ) or write (WRQ) request: file name, mode and options in order."""

    filename: str
    mode: str = "octet"
    options: tuple[tuple[str, str], ...] = ()

    OPCODE = Opcode.RRQ

    def __post_init__(self) -> None:
        _check_text(self.filename, "file name")
        _check_text(self.mode, "mode")
        _check_options(self.options)

    def option(self, name: str) -> str | None:
        """An option's value by case-insensitive name."""
        return _option(self.options, name)

    def to_wire(self) -> bytes:
        return (
            self.OPCODE.to_bytes(2, "big")
            + self.filename.encode("latin-1")
            + b"\0"
            + self.mode.encode("latin-1")
            + b"\0"
            + _options_wire(self.options)
        )

    @classmethod
    def _read(cls, data: bytes) -> tuple[str, str, tuple[tuple[str, str], ...]]:
        strings = _strings(data, 2)
        if len(strings) < 2:
            raise MalformedPacket("a request needs a file name and a mode", len(data))
        return strings[0], strings[1], _options(strings[2:], 2)


@dataclass(frozen=True, slots=True)
class ReadRequest(Request):
    OPCODE = Opcode.RRQ

    @classmethod
    def from_wire(cls, data: bytes) -> ReadRequest:
        packet = parse(data)
        if not isinstance(packet, ReadRequest):
            raise MalformedPacket("not a read request", 0)
        return packet


@dataclass(frozen=True, slots=True)
class WriteRequest(Request):
    OPCODE = Opcode.WRQ

    @classmethod
    def from_wire(cls, data: bytes) -> WriteRequest:
        packet = parse(data)
        if not isinstance(packet, WriteRequest):
            raise MalformedPacket("not a write request", 0)
        return packet


@dataclass(frozen=True, slots=True)
class Data:
    block: int
    data: bytes

    def __post_init__(self) -> None:
        _check_block(self.block)
        if len(self.data) > MAX_DATAGRAM - 4:
            raise BuildError("TFTP DATA larger than a UDP datagram")

    def to_wire(self) -> bytes:
        return data_packet(self.block, self.data)

    @classmethod
    def from_wire(cls, data: bytes) -> Data:
        packet = parse(data)
        if not isinstance(packet, Data):
            raise MalformedPacket("not a DATA packet", 0)
        return packet


@dataclass(frozen=True, slots=True)
class Ack:
    block: int

    def __post_init__(self) -> None:
        _check_block(self.block)

    def to_wire(self) -> bytes:
        return b"\x00\x04" + self.block.to_bytes(2, "big")

    @classmethod
    def from_wire(cls, data: bytes) -> Ack:
        packet = parse(data)
        if not isinstance(packet, Ack):
            raise MalformedPacket("not an ACK packet", 0)
        return packet


@dataclass(frozen=True, slots=True)
class Error:
    """An ERROR packet; ``code`` may be any 16-bit number (unknown codes are kept)."""

    code: int
    message: str = ""

    def __post_init__(self) -> None:
        if not 0 <= self.code <= 0xFFFF:
            raise BuildError(f"TFTP error code {self.code} is outside 0..65535")
        _check_text(self.message, "error message")

    def to_wire(self) -> bytes:
        return b"\x00\x05" + self.code.to_bytes(2, "big") + self.message.encode("latin-1") + b"\0"

    def exception(self) -> PeerError:
        known = ErrorCode(self.code).name if self.code in ErrorCode._value2member_map_ else "?"
        return PeerError(f"peer error {self.code} ({known}): {self.message}", self.code)

    @classmethod
    def from_wire(cls, data: bytes) -> Error:
        packet = parse(data)
        if not isinstance(packet, Error):
            raise MalformedPacket("not an ERROR packet", 0)
        return packet


@dataclass(frozen=True, slots=True)
class OptionAck:
    options: tuple[tuple[str, str], ...]

    def __post_init__(self) -> None:
        _check_options(self.options)

    def option(self, name: str) -> str | None:
        return _option(self.options, name)

    def to_wire(self) -> bytes:
        return b"\x00\x06" + _options_wire(self.options)

    @classmethod
    def from_wire(cls, data: bytes) -> OptionAck:
        packet = parse(data)
        if not isinstance(packet, OptionAck):
            raise MalformedPacket("not an OACK packet", 0)
        return packet


Packet = ReadRequest | WriteRequest | Data | Ack | Error | OptionAck


def parse(data: bytes) -> Packet:
    """One datagram as a packet, or :class:`MalformedPacket`."""
    if len(data) < 2:
        raise MalformedPacket("a TFTP packet starts with a 2-byte opcode", len(data))
    if len(data) > MAX_DATAGRAM:
        raise MalformedPacket("larger than a UDP datagram", MAX_DATAGRAM)
    if data[0] != 0 or not 1 <= data[1] <= 6:
        raise MalformedPacket(f"unknown opcode {int.from_bytes(data[:2], 'big')}", 0)
    op = data[1]
    if op == Opcode.ACK:
        if len(data) != 4:
            raise MalformedPacket("an ACK is exactly 4 bytes", min(len(data), 4))
        return Ack(int.from_bytes(data[2:4], "big"))
    if op == Opcode.DATA:
        if len(data) < 4:
            raise MalformedPacket("DATA needs a block number", len(data))
        return Data(int.from_bytes(data[2:4], "big"), bytes(data[4:]))
    if op in (Opcode.RRQ, Opcode.WRQ):
        name, mode, options = Request._read(data)
        if op == Opcode.RRQ:
            return ReadRequest(name, mode, options)
        return WriteRequest(name, mode, options)
    if op == Opcode.ERROR:
        if len(data) < 4:
            raise MalformedPacket("ERROR needs an error code", len(data))
        nul = data.find(b"\0", 4)
        if nul >= 0 and nul != len(data) - 1:
            raise MalformedPacket("bytes after the error message", nul + 1)
        text = data[4 : nul if nul >= 0 else len(data)].decode("latin-1")
        return Error(int.from_bytes(data[2:4], "big"), text)
    return OptionAck(_options(_strings(data, 2), 2))


def data_packet(block: int, chunk: bytes) -> bytes:
    """DATA's wire form without making a :class:`Data`: a server cuts thousands per second."""
    return b"\x00\x03" + block.to_bytes(2, "big") + chunk


def error_packet(code: ErrorCode, message: str) -> bytes:
    return Error(int(code), message).to_wire()

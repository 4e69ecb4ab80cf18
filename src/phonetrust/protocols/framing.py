"""Cutting whole messages out of a TLS byte stream, for CAPF and TVS alike.

Both protocols frame a message the same way (spec/protocols.md): a fixed
header that opens with a protocol id byte and ends with a 2-byte payload
length, then that many payload bytes. TLS delivers the stream in pieces of
any size, so a message may arrive a byte at a time or several in one read;
the framer holds the bytes until a whole message is in.

A hostile peer is refused as early as the bytes allow, so that it cannot
make a server buffer what it will never parse: a wrong protocol id on the
very first byte (a client that speaks TLS or HTTP to the wrong port), a
bad header as soon as its bytes are in, a declared size above the limit
before any payload is read. Each is a :class:`~phonetrust.errors.ProtocolError`
whose offset counts from the first byte of the offending message.

What the header and payload mean stays with each protocol's codec
(:class:`Framing` takes its two parse functions); this module knows only
where a message ends.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from phonetrust.errors import LocalError, ProtocolError

H = TypeVar("H")
M = TypeVar("M")

LENGTH_SIZE = 2
"""Both protocols end their header with a big-endian 2-byte payload length."""


@dataclass(frozen=True, slots=True)
class Framing(Generic[H, M]):
    """How one protocol frames its messages."""

    protocol: str
    """Its name, for error messages (``CAPF``)."""
    protocol_id: int
    """The first byte of every message."""
    header_size: int
    header: Callable[[bytes], H]
    """Checks the header bytes (raising :class:`ProtocolError`) and returns the parsed header."""
    message: Callable[[H, bytes], M]
    """Parses a whole message (header included) whose header ``header`` returned."""


class Framer(Generic[H, M]):
    """Buffers a stream's bytes and pops whole messages, or raises at the first bad byte.

    Once it has raised, the stream has lost its framing: the caller closes
    the connection (or calls :meth:`clear` when it only discards the rest).
    """

    __slots__ = ("_buffer", "_framing", "_header", "max_message")

    def __init__(self, framing: Framing[H, M], max_message: int) -> None:
        if max_message < framing.header_size:
            raise LocalError(
                f"a {framing.protocol} message limit of {max_message} bytes is below its "
                f"{framing.header_size}-byte header"
            )
        self._framing = framing
        self.max_message = max_message
        self._buffer = bytearray()
        self._header: tuple[H, int] | None = None

    @property
    def pending(self) -> int:
        """Bytes received and not yet returned as a message."""
        return len(self._buffer)

    def feed(self, data: bytes) -> None:
        self._buffer += data

    def clear(self) -> None:
        """Forget buffered bytes and any half-read message."""
        self._buffer.clear()
        self._header = None

    def pop(self) -> M | None:
        """The next whole message, None when more bytes are needed."""
        framing = self._framing
        buffer = self._buffer
        if self._header is None:
            if not buffer:
                return None
            if buffer[0] != framing.protocol_id:
                raise ProtocolError(
                    f"protocol id {buffer[0]} is not {framing.protocol} ({framing.protocol_id})",
                    0,
                )
            size = framing.header_size
            if len(buffer) < size:
                return None
            header = framing.header(bytes(buffer[:size]))
            length_at = size - LENGTH_SIZE
            total = size + int.from_bytes(buffer[length_at:size], "big")
            if total > self.max_message:
                raise ProtocolError(
                    f"a {framing.protocol} message of {total} bytes is more than the "
                    f"{self.max_message} accepted",
                    length_at,
                )
            self._header = (header, total)
        header, total = self._header
        if len(buffer) < total:
            return None
        data = bytes(buffer[:total])
        del buffer[:total]
        self._header = None
        return framing.message(header, data)

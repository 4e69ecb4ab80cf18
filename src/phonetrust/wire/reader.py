"""A bounds-checked byte reader with length fences.

A fence (:meth:`Reader.fence`) restricts reading to the next ``n`` bytes and
fails when the block is left with bytes unread, as well as when a read
would run past it: a TLV whose declared length disagrees with its content
is caught at that element, not three fields later.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from phonetrust.errors import ParseError


class Reader:
    """Reads big-endian integers and byte strings from a buffer, never past a fence."""

    __slots__ = ("_data", "_end", "_pos")

    def __init__(self, data: bytes, start: int = 0, end: int | None = None) -> None:
        self._data = data
        self._pos = start
        self._end = len(data) if end is None else end

    @property
    def offset(self) -> int:
        """Absolute position in the underlying buffer."""
        return self._pos

    @property
    def remaining(self) -> int:
        """Bytes left before the innermost fence."""
        return self._end - self._pos

    def at_end(self) -> bool:
        return self._pos >= self._end

    def fail(self, reason: str, offset: int | None = None) -> ParseError:
        """A :class:`ParseError` at the current (or given) position, for the caller to raise."""
        return ParseError(reason, self._pos if offset is None else offset)

    def read(self, n: int, what: str = "field") -> bytes:
        if n < 0:
            raise self.fail(f"negative length for {what}")
        if self._pos + n > self._end:
            raise self.fail(f"{what} needs {n} bytes, only {self.remaining} left")
        chunk = self._data[self._pos : self._pos + n]
        self._pos += n
        return chunk

    def u8(self, what: str = "byte") -> int:
        return self.read(1, what)[0]

    def u16(self, what: str = "16-bit integer") -> int:
        return int.from_bytes(self.read(2, what), "big")

    def u32(self, what: str = "32-bit integer") -> int:
        return int.from_bytes(self.read(4, what), "big")

    def between(self, start: int, end: int) -> bytes:
        """Bytes already read, by absolute offsets (e.g. a whole element, to keep it verbatim)."""
        return self._data[start:end]

    def peek_u8(self) -> int | None:
        return self._data[self._pos] if self._pos < self._end else None

    @contextmanager
    def fence(self, n: int, what: str = "element") -> Iterator[Reader]:
        """Restrict reading to the next ``n`` bytes; demand they are all consumed."""
        if n > self.remaining:
            raise self.fail(f"{what} declares {n} bytes, only {self.remaining} left")
        outer_end = self._end
        self._end = self._pos + n
        try:
            yield self
            if self._pos != self._end:
                raise self.fail(f"{what} has {self._end - self._pos} unread bytes")
        finally:
            self._end = outer_end

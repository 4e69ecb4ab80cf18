"""A byte writer that back-patches lengths.

Containers are written in one pass: :meth:`Writer.tlv_container` reserves
the 2-byte length, lets the caller write the children, then patches the
length in, failing if it does not fit in 16 bits.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from contextlib import contextmanager

from phonetrust.errors import BuildError

MAX_U16 = 0xFFFF
_TLV_HEAD = struct.Struct(">BH")


class Writer:
    """Accumulates bytes; every integer is big-endian."""

    __slots__ = ("_buf",)

    def __init__(self) -> None:
        self._buf = bytearray()

    def __len__(self) -> int:
        return len(self._buf)

    def getvalue(self) -> bytes:
        return bytes(self._buf)

    def write(self, data: bytes) -> None:
        self._buf += data

    def u8(self, value: int) -> None:
        self._buf += _pack(value, 1)

    def u16(self, value: int) -> None:
        self._buf += _pack(value, 2)

    def u32(self, value: int) -> None:
        self._buf += _pack(value, 4)

    def tlv(self, tag: int, value: bytes) -> None:
        """One element: tag (1 byte), length (2 bytes), value."""
        if len(value) > MAX_U16 or not 0 <= tag <= 0xFF:
            raise BuildError(f"element {tag} of {len(value)} bytes does not fit a TLV")
        self._buf += _TLV_HEAD.pack(tag, len(value))
        self._buf += value

    @contextmanager
    def tlv_container(self, tag: int) -> Iterator[Writer]:
        """Write a container element whose length is patched in when the block ends."""
        self.u8(tag)
        at = len(self._buf)
        self._buf += b"\0\0"
        yield self
        size = len(self._buf) - at - 2
        if size > MAX_U16:
            raise BuildError(f"container {tag} is {size} bytes, more than a TLV can hold")
        self._buf[at : at + 2] = size.to_bytes(2, "big")


def _pack(value: int, size: int) -> bytes:
    try:
        return value.to_bytes(size, "big")
    except OverflowError:
        raise BuildError(f"{value} does not fit in {size} byte(s)") from None

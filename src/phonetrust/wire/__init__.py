"""Byte-level reading and writing shared by every Cisco format and protocol.

Cisco's files and messages are sequences of TLV elements with 1-byte tags
and 2-byte big-endian lengths. The reader fences every length so a lie in
one element can never leak into its neighbour; the writer back-patches
lengths so containers are written in one pass.
"""

from phonetrust.wire.reader import Reader
from phonetrust.wire.writer import Writer

__all__ = ["Reader", "Writer"]

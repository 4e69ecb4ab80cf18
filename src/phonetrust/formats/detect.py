"""Which trust file a blob is, from its content alone.

The header's VERSION decides: 1.2 is a trust list (CTL or ITL by its
FILENAME), 1.0 a signed file, 2.0 an encrypted one. A user may have renamed
the file, so the name on disk is never consulted.
"""

from __future__ import annotations

from phonetrust.errors import ParseError
from phonetrust.formats.encsgn import ENC_VERSION, EncryptedFile
from phonetrust.formats.header import Header
from phonetrust.formats.sgn import SGN_VERSION, SignedFile
from phonetrust.formats.trustlist import TRUST_LIST_VERSION, TrustList
from phonetrust.wire import Reader

TrustFile = TrustList | SignedFile | EncryptedFile


def parse_any(data: bytes) -> TrustFile:
    """Parse a CTL, ITL, ``.sgn`` or ``.enc.sgn``; anything else is a :class:`ParseError`."""
    if not data:
        raise ParseError("the file is empty", 0)
    header = Header.read(Reader(data))
    version = header.version
    if version == TRUST_LIST_VERSION:
        return TrustList.from_wire(data)
    if version == SGN_VERSION:
        return SignedFile.from_wire(data)
    if version == ENC_VERSION:
        return EncryptedFile.from_wire(data)
    raise ParseError(
        f"header version {header.version_text} is none of "
        "1.2 (CTL/ITL), 1.0 (.sgn), 2.0 (.enc.sgn)",
        0,
    )

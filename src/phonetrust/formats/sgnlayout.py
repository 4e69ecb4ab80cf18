"""Recognise, without parsing, a ``.sgn`` that :func:`~phonetrust.formats.sgn.sign_file` wrote.

Every file plan build asks, for each published ``SEP<MAC>.cnf.xml.sgn``,
"does this file already hold this document, signed by this signer with this
digest?" - if so it keeps its bytes (and its hash). Parsing thousands of
headers to answer costs more than rendering the documents. But a header
that ``sign_file`` writes for one signer, digest and file name is the same
run of bytes every time except for two values of fixed size: the 4-byte
TIMESTAMP and the SIGNATURE. :class:`SignedLayout` holds that run with the
two holes, and :meth:`SignedLayout.holds` compares a file against it with a
few slice comparisons.

A match means the file *is* ``sign_file(content, signer, filename=name,
digest=digest, timestamp=t)`` for some ``t`` and some signature bytes, so a
full :meth:`SignedFile.from_wire` would read it back with this content,
signer serial and digest. No match proves nothing (a foreign element order,
another signer name, ...): the caller must then fall back to parsing. The
signature itself is not checked here, nor by the parsing path it shortcuts.
"""

from __future__ import annotations

from dataclasses import dataclass

from phonetrust.errors import BuildError
from phonetrust.formats.algorithms import Digest
from phonetrust.formats.header import Header
from phonetrust.formats.sgn import SGN_VERSION
from phonetrust.formats.signing import Signer
from phonetrust.formats.tags import HeaderTag
from phonetrust.formats.trustlist import signer_identity
from phonetrust.wire.tlv import HEADER_SIZE

_PLACEHOLDER = b"x"
"""Stands for each byte of the file name in a layout shared by names of one length."""


@dataclass(frozen=True, slots=True)
class SignedLayout:
    """The header ``sign_file`` writes for one signer, digest and file-name length.

    ``template`` is that header with a zero signature, a zero timestamp and
    a placeholder file name; the spans are (start, end) offsets of those
    three values in it.
    """

    template: bytes
    signature: tuple[int, int]
    filename: tuple[int, int]
    timestamp: tuple[int, int]

    @classmethod
    def of(cls, signer: Signer, digest: Digest, filename_bytes: int) -> SignedLayout:
        """The layout of headers ``sign_file`` writes for a file name of that many UTF-8 bytes."""
        signer_name, signer_serial, ca_name = signer_identity(signer.certificate)
        header = Header.build(
            version=SGN_VERSION,
            signer_name=signer_name,
            signer_serial=signer_serial,
            ca_name=ca_name,
            digest=digest,
            modulus_bits=signer.key.key_size,
            filename=(_PLACEHOLDER * filename_bytes).decode("ascii"),
            timestamp=0,
        )
        spans: dict[int, tuple[int, int]] = {}
        pos = 0
        for node in header.nodes:
            spans[node.tag] = (pos + HEADER_SIZE, pos + node.size)
            pos += node.size
        layout = cls(
            header.to_wire(),
            spans[HeaderTag.SIGNATURE],
            spans[HeaderTag.FILENAME],
            spans[HeaderTag.TIMESTAMP],
        )
        if (
            not layout.signature[1]
            <= layout.filename[0]
            < layout.filename[1]
            <= layout.timestamp[0]
        ):
            # holds() compares the bytes between the holes in this order
            raise BuildError("a .sgn header no longer has SIGNATURE, FILENAME, TIMESTAMP in order")
        return layout

    def holds(self, data: bytes, filename: str, content: bytes) -> bool:
        """Whether ``data`` is this layout, named ``filename``, followed by ``content`` exactly.

        Any signature and timestamp are accepted; every other header byte must match.
        """
        t = self.template
        size = len(t)
        if len(data) != size + len(content):
            return False
        name = filename.encode("utf-8") + b"\0"  # as names.encode_text writes it
        (sig_start, sig_end), (fn_start, fn_end), (ts_start, ts_end) = (
            self.signature,
            self.filename,
            self.timestamp,
        )
        return (
            len(name) == fn_end - fn_start
            and data[:sig_start] == t[:sig_start]
            and data[sig_end:fn_start] == t[sig_end:fn_start]
            and data[fn_start:fn_end] == name
            and data[fn_end:ts_start] == t[fn_end:ts_start]
            and data[ts_end:size] == t[ts_end:]
            and data[size:] == content
        )


class SignedLayouts:
    """The layouts of one signer and digest, one per file-name length, made when first needed."""

    def __init__(self, signer: Signer, digest: Digest) -> None:
        self._signer = signer
        self._digest = digest
        self._by_length: dict[int, SignedLayout] = {}

    def holds(self, data: bytes, filename: str, content: bytes) -> bool:
        """Whether ``data`` is what ``sign_file`` makes of ``content`` for ``filename``.

        (For this signer and digest, with any timestamp and signature.)
        """
        length = len(filename.encode("utf-8")) + 1
        layout = self._by_length.get(length)
        if layout is None:
            layout = SignedLayout.of(self._signer, self._digest, length - 1)
            self._by_length[length] = layout
        return layout.holds(data, filename, content)

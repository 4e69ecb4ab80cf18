"""The signed header shared by trust lists, ``.sgn`` and ``.enc.sgn`` files.

A header is a list of TLV elements (some of them containers) ending with
``0x0D`` padding bytes up to a multiple of 4. Its HEADER LENGTH element
counts everything, signature and padding included, and is the offset of
what follows. The parsed element tree is kept as it was read, so foreign
element orders and unknown tags survive a round trip byte for byte; typed
properties read the known elements out of it.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

from phonetrust.errors import BuildError, ParseError
from phonetrust.formats import names
from phonetrust.formats.algorithms import (
    MODULUS_BITS,
    SIGNATURE_ALGORITHM_RSA,
    Digest,
    modulus_code,
)
from phonetrust.formats.tags import HEADER_CONTAINERS, HeaderTag
from phonetrust.wire import Reader, Writer
from phonetrust.wire.tlv import HEADER_SIZE, Container, Element, Node, find, read_node, walk

PAD_BYTE = 0x0D

_FIXED_SIZES: dict[int, int] = {
    HeaderTag.VERSION: 2,
    HeaderTag.HEADERLENGTH: 2,
    HeaderTag.DIGESTALGORTITHM: 1,
    HeaderTag.SIGNATUREALGORTITHM: 1,
    HeaderTag.SIGNATUREMODULUS: 1,
    HeaderTag.TIMESTAMP: 4,
    HeaderTag.SIGNERVERSION: 2,
}
"""Elements whose value size is fixed by the format; others vary."""


@dataclass(frozen=True, slots=True)
class Header:
    """A parsed or built header: its top-level elements in file order, and its padding."""

    nodes: tuple[Node, ...]
    padding: int
    _wire: bytes | None = field(default=None, compare=False, repr=False)
    """The encoding, once known: kept from parsing, or made once when built."""

    def __post_init__(self) -> None:
        if self.padding < 0:
            raise BuildError("negative header padding")
        tags = [node.tag for node in self.nodes]
        for required in (HeaderTag.VERSION, HeaderTag.HEADERLENGTH):
            if required not in tags:
                raise BuildError(f"a header needs a {required.name} element")
        for node in walk(self.nodes):
            expected = _FIXED_SIZES.get(node.tag)
            if expected is not None and isinstance(node, Element) and len(node.value) != expected:
                raise BuildError(
                    f"header element {HeaderTag(node.tag).name} must be {expected} bytes, "
                    f"not {len(node.value)}"
                )
        if self.declared_length != self.size:
            raise BuildError(
                f"HEADER LENGTH says {self.declared_length} but the header is {self.size} bytes"
            )

    # -- sizes -------------------------------------------------------------

    @property
    def size(self) -> int:
        return sum(node.size for node in self.nodes) + self.padding

    @property
    def declared_length(self) -> int:
        return int.from_bytes(self._value(HeaderTag.HEADERLENGTH) or b"", "big")

    # -- typed views ---------------------------------------------------------

    def _value(self, tag: int) -> bytes | None:
        node = find(self.nodes, tag)
        return node.value if isinstance(node, Element) else None

    def node(self, tag: int) -> Node | None:
        return find(self.nodes, tag)

    @property
    def version(self) -> tuple[int, int]:
        raw = self._value(HeaderTag.VERSION) or b"\0\0"
        return raw[0], raw[1]

    @property
    def version_text(self) -> str:
        major, minor = self.version
        return f"{major}.{minor}"

    @property
    def signer_name(self) -> str | None:
        raw = self._value(HeaderTag.SIGNERNAME)
        return None if raw is None else names.decode_text(raw)

    @property
    def signer_serial(self) -> bytes | None:
        return self._value(HeaderTag.SERIALNUMBER)

    @property
    def ca_name(self) -> str | None:
        raw = self._value(HeaderTag.CANAME)
        return None if raw is None else names.decode_text(raw)

    @property
    def ca_name_bytes(self) -> bytes | None:
        return self._value(HeaderTag.CANAME)

    @property
    def digest_code(self) -> int | None:
        raw = self._value(HeaderTag.DIGESTALGORTITHM)
        return None if raw is None else raw[0]

    @property
    def digest(self) -> Digest | None:
        """The digest, or None when absent or a code phonetrust does not know."""
        code = self.digest_code
        return Digest(code) if code is not None and code in Digest._value2member_map_ else None

    @property
    def signature_algorithm(self) -> int | None:
        raw = self._value(HeaderTag.SIGNATUREALGORTITHM)
        return None if raw is None else raw[0]

    @property
    def modulus_bits(self) -> int | None:
        raw = self._value(HeaderTag.SIGNATUREMODULUS)
        return None if raw is None else MODULUS_BITS.get(raw[0])

    @property
    def signature(self) -> bytes | None:
        return self._value(HeaderTag.SIGNATURE)

    @property
    def filename(self) -> str | None:
        raw = self._value(HeaderTag.FILENAME)
        return None if raw is None else names.decode_text(raw)

    @property
    def timestamp(self) -> int | None:
        raw = self._value(HeaderTag.TIMESTAMP)
        return None if raw is None else int.from_bytes(raw, "big")

    @property
    def signer_version(self) -> int | None:
        raw = self._value(HeaderTag.SIGNERVERSION)
        return None if raw is None else int.from_bytes(raw, "big")

    # -- codec ---------------------------------------------------------------

    def to_wire(self) -> bytes:
        if self._wire is None:
            w = Writer()
            for node in self.nodes:
                node.write(w)
            w.write(bytes([PAD_BYTE]) * self.padding)
            object.__setattr__(self, "_wire", w.getvalue())
        assert self._wire is not None  # noqa: S101 - set just above
        return self._wire

    @classmethod
    def _trusted(cls, nodes: tuple[Node, ...], padding: int, wire: bytes | None) -> Header:
        """A header known to be consistent (built here, or a same-size signature swap).

        Skipping the checks matters when thousands of configuration files are signed.
        """
        header = object.__new__(cls)
        object.__setattr__(header, "nodes", nodes)
        object.__setattr__(header, "padding", padding)
        object.__setattr__(header, "_wire", wire)
        return header

    def signature_span(self) -> tuple[int, int] | None:
        """Start and end offset of the top-level SIGNATURE element: what signing cuts out."""
        pos = 0
        for node in self.nodes:
            if node.tag == HeaderTag.SIGNATURE:
                return pos, pos + node.size
            pos += node.size
        return None

    def with_signature(self, signature: bytes) -> Header:
        """The same header with the signature value replaced; its size must not change."""
        pos, index = 0, -1
        for i, candidate in enumerate(self.nodes):
            if candidate.tag == HeaderTag.SIGNATURE and isinstance(candidate, Element):
                index = i
                break
            pos += candidate.size
        node = self.nodes[index] if index >= 0 else None
        if not isinstance(node, Element):
            raise BuildError("the header has no SIGNATURE element to fill")
        if len(node.value) != len(signature):
            raise BuildError(
                f"signature is {len(signature)} bytes, the header reserved {len(node.value)}"
            )
        nodes = (
            *self.nodes[:index],
            Element(HeaderTag.SIGNATURE, signature),
            *self.nodes[index + 1 :],
        )
        wire = self.to_wire()
        value_at = pos + HEADER_SIZE
        spliced = wire[:value_at] + signature + wire[value_at + len(signature) :]
        return Header._trusted(nodes, self.padding, spliced)

    @classmethod
    def read(cls, r: Reader) -> Header:
        """Read a header from the start of ``r``; the reader ends at HEADER LENGTH.

        Children may come in any order; HEADER LENGTH need not come first, but
        once it is known nothing may run past it.
        """
        start = r.offset
        nodes: list[Node] = []
        while True:
            if r.at_end():
                raise r.fail("header ends before a HEADER LENGTH element")
            at = r.offset
            node = read_node(r, HEADER_CONTAINERS)
            _check_sizes(node, at)
            nodes.append(node)
            if node.tag == HeaderTag.HEADERLENGTH:
                break
        if not isinstance(node, Element) or len(node.value) != 2:
            raise ParseError("HEADER LENGTH must be 2 bytes", at)
        declared = int.from_bytes(node.value, "big")
        left = start + declared - r.offset
        if left < 0:
            raise ParseError(f"HEADER LENGTH {declared} is shorter than the elements before it", at)
        padding = 0
        with r.fence(left, f"header of {declared} bytes"):
            while not r.at_end():
                if r.peek_u8() == PAD_BYTE:
                    r.u8()
                    padding += 1
                    continue
                if padding:
                    raise r.fail("header element after the padding")
                at = r.offset
                node = read_node(r, HEADER_CONTAINERS)
                _check_sizes(node, at)
                nodes.append(node)
        try:
            return cls(tuple(nodes), padding, r.between(start, r.offset))
        except BuildError as exc:
            raise ParseError(str(exc), start) from None

    @classmethod
    def from_wire(cls, data: bytes) -> Header:
        return cls.read(Reader(data))

    @classmethod
    def build(
        cls,
        *,
        version: tuple[int, int],
        signer_name: str,
        signer_serial: bytes,
        ca_name: str,
        digest: Digest,
        modulus_bits: int,
        filename: str,
        timestamp: int,
        signer_version: int | None = None,
        extra: tuple[Node, ...] = (),
    ) -> Header:
        """A header in CUCM's element order, with a zero signature of the key's size.

        Fill the signature with :meth:`with_signature` once the signed bytes exist.
        """
        if not 0 <= timestamp <= 0xFFFFFFFF:
            raise BuildError(f"timestamp {timestamp} does not fit in 4 bytes")
        if signer_version is not None and not 0 <= signer_version <= 0xFFFF:
            raise BuildError(f"signer version {signer_version} does not fit in 2 bytes")
        signer_id, signature_info = _signer_nodes(
            signer_name, signer_serial, ca_name, digest, modulus_bits
        )
        body: list[Node] = [
            signer_id,
            signature_info,
            Element(HeaderTag.SIGNATURE, bytes(modulus_bits // 8)),
            Element(HeaderTag.FILENAME, names.encode_text(filename)),
            Element(HeaderTag.TIMESTAMP, timestamp.to_bytes(4, "big")),
        ]
        if signer_version is not None:
            body.append(Element(HeaderTag.SIGNERVERSION, signer_version.to_bytes(2, "big")))
        body.extend(extra)
        fixed = 2 * (HEADER_SIZE + 2)  # VERSION and HEADER LENGTH
        unpadded = fixed + sum(node.size for node in body)
        padding = -unpadded % 4
        total = unpadded + padding
        if total > 0xFFFF:
            raise BuildError(f"header of {total} bytes does not fit HEADER LENGTH")
        nodes = (
            Element(HeaderTag.VERSION, bytes(version)),
            Element(HeaderTag.HEADERLENGTH, total.to_bytes(2, "big")),
            *body,
        )
        return cls._trusted(nodes, padding, None)


def _check_sizes(node: Node, at: int) -> None:
    """Refuse a fixed-size element of the wrong size, naming the offset where it starts."""
    if isinstance(node, Container):
        child_at = at + HEADER_SIZE
        for child in node.children:
            _check_sizes(child, child_at)
            child_at += child.size
        return
    expected = _FIXED_SIZES.get(node.tag)
    if expected is not None and len(node.value) != expected:
        raise ParseError(
            f"header element {HeaderTag(node.tag).name} must be {expected} bytes, "
            f"not {len(node.value)}",
            at,
        )


@functools.lru_cache(maxsize=256)
def _signer_nodes(
    signer_name: str, serial: bytes, ca_name: str, digest: Digest, modulus_bits: int
) -> tuple[Container, Container]:
    """SIGNERID and SIGNATUREINFO: the same for every file one signer signs, so made once."""
    return (
        Container(
            HeaderTag.SIGNERID,
            (
                Element(HeaderTag.SIGNERNAME, names.encode_text(signer_name)),
                Element(HeaderTag.SERIALNUMBER, serial),
                Element(HeaderTag.CANAME, names.encode_text(ca_name)),
            ),
        ),
        Container(
            HeaderTag.SIGNATUREINFO,
            (
                Element(HeaderTag.DIGESTALGORTITHM, bytes([digest])),
                Container(
                    HeaderTag.SIGNATUREALGOINFO,
                    (
                        Element(HeaderTag.SIGNATUREALGORTITHM, bytes([SIGNATURE_ALGORITHM_RSA])),
                        Element(HeaderTag.SIGNATUREMODULUS, bytes([modulus_code(modulus_bits)])),
                    ),
                ),
            ),
        ),
    )

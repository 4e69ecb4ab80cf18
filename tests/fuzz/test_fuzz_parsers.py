"""A bounded fuzz run over every trust-file parser.

We either successfully parse it, or else raise ParseError with an offset
inside the input - never any other error.

That sentence holds for ``parse_any``, ``TrustList.from_wire``,
``SignedFile.from_wire``, ``EncryptedFile.from_wire``, ``Header.from_wire``
and ``Record.read``, whatever the bytes. The run is coverage-free and
bounded: plain hypothesis generation, 2,000 examples in all (four tests of
500), from arbitrary bytes, TLV-shaped bytes, and byte-level mutations and
splices of the golden vectors in ``tests/vectors/`` (read, never written).
No key is generated. A failure prints a reproduction blob.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from phonetrust.errors import ParseError
from phonetrust.formats.detect import parse_any
from phonetrust.formats.encsgn import EncryptedFile
from phonetrust.formats.header import Header
from phonetrust.formats.record import Record
from phonetrust.formats.sgn import SignedFile
from phonetrust.formats.trustlist import TrustList
from phonetrust.wire import Reader

VECTORS = Path(__file__).resolve().parent.parent / "vectors"
VECTOR_NAMES = (
    "ITLFile.tlv",
    "CTLFile.tlv",
    "SEP001122334455.cnf.xml.sgn",
    "SEP001122334455.cnf.xml.enc.sgn",
    "SEP001122334455.cnf.xml.stub.sgn",
)


def _records(data: bytes) -> tuple[Record, ...]:
    r = Reader(data)
    records: list[Record] = []
    while not r.at_end():
        records.append(Record.read(r))
    return tuple(records)


PARSERS: tuple[tuple[str, Callable[[bytes], object]], ...] = (
    ("parse_any", parse_any),
    ("TrustList.from_wire", TrustList.from_wire),
    ("SignedFile.from_wire", SignedFile.from_wire),
    ("EncryptedFile.from_wire", EncryptedFile.from_wire),
    ("Header.from_wire", Header.from_wire),
    ("Record.read", _records),
)

FUZZ = settings(max_examples=500, deadline=None, print_blob=True)


@functools.cache
def vectors() -> tuple[bytes, ...]:
    return tuple((VECTORS / name).read_bytes() for name in VECTOR_NAMES)


def check(data: bytes) -> None:
    """The fuzz sentence, for every parser."""
    for name, parse in PARSERS:
        error: ParseError | None = None
        try:
            parse(data)
        except ParseError as exc:
            error = exc
        if error is not None:
            assert type(error.offset) is int, (name, error)
            assert 0 <= error.offset <= len(data), (name, error.offset, len(data))


def test_vectors_parse() -> None:
    """The seeds are valid files, so mutations start from deep inside the formats."""
    for data in vectors():
        assert parse_any(data).to_wire() == data
    itl = vectors()[0]
    assert _records(itl[Header.from_wire(itl).size :]) == TrustList.from_wire(itl).records


@FUZZ
@given(st.binary(max_size=1024))
def test_fuzz_arbitrary_bytes(data: bytes) -> None:
    check(data)


def _tlv(tag: int, value: bytes, lie: int) -> bytes:
    return bytes([tag]) + min(max(len(value) + lie, 0), 0xFFFF).to_bytes(2, "big") + value


tlv_elements = st.builds(
    _tlv,
    st.integers(0, 32),
    st.binary(max_size=20),
    st.sampled_from([0, 0, 0, 0, 1, -1, 2, -2, 0xFFFF]),
)


@FUZZ
@given(
    st.sampled_from([b"\x01\x02", b"\x01\x00", b"\x02\x00"]),
    st.sampled_from([0, 0, 0, 1, -1, 4, 300]),
    st.lists(tlv_elements, max_size=12),
    st.integers(0, 7),
    st.lists(tlv_elements, max_size=6),
)
def test_fuzz_tlv_shaped_bytes(
    version: bytes, lie: int, header: list[bytes], padding: int, body: list[bytes]
) -> None:
    """HEADER LENGTH mostly tells the truth, so the header is accepted and the body is read."""
    tail = b"".join(header) + b"\x0d" * padding
    length = min(max(10 + len(tail) + lie, 0), 0xFFFF)
    data = _tlv(1, version, 0) + _tlv(2, length.to_bytes(2, "big"), 0) + tail + b"".join(body)
    check(data)


@FUZZ
@given(st.integers(0, len(VECTOR_NAMES) - 1), st.data())
def test_fuzz_mutated_vectors(index: int, data: st.DataObject) -> None:
    mutated = bytearray(vectors()[index])
    edits = data.draw(
        st.lists(st.tuples(st.integers(0, len(mutated) - 1), st.integers(0, 255)), max_size=6)
    )
    for position, value in edits:
        mutated[position] = value
    end = data.draw(st.integers(0, len(mutated)))
    check(bytes(mutated[:end]))


@FUZZ
@given(
    st.integers(0, len(VECTOR_NAMES) - 1),
    st.integers(0, len(VECTOR_NAMES) - 1),
    st.data(),
)
def test_fuzz_spliced_vectors(first: int, second: int, data: st.DataObject) -> None:
    """The front of one file on the back of another: headers meet foreign bodies."""
    a, b = vectors()[first], vectors()[second]
    cut_a = data.draw(st.integers(0, len(a)))
    cut_b = data.draw(st.integers(0, len(b)))
    check(a[:cut_a] + b[cut_b:])

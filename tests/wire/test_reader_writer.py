"""The wire codec: one case table, both directions, fed three ways (style.md habit 1).

Each row of :data:`CASES` is a value and its bytes, written out by hand from
the spec (``tag | length (2, big-endian) | value``), never produced by the
code under test. Encoding is checked against the bytes and decoding against
the value; the bytes are fed whole, as every growing prefix (which must fail
with :class:`ParseError` until the value is complete) and followed by junk
(which a fence must reject). Separate tests pin the fence's semantics and the
writer's back-patched container lengths and 16-bit limits.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from phonetrust.errors import BuildError, ParseError
from phonetrust.wire import Reader, Writer
from phonetrust.wire.tlv import Container, Element, Node, encode, read_node, read_nodes

CONTAINER_TAGS = frozenset({3, 7, 9})
"""Tags decoded as containers in this table (SIGNERID, SIGNATUREINFO, SIGNATUREALGOINFO)."""

Value = int | Node


@dataclass(frozen=True)
class Case:
    kind: str
    """``u8``, ``u16``, ``u32``, ``tlv`` (a leaf element) or ``container``."""
    value: Value
    wire: bytes

    @property
    def id(self) -> str:
        return f"{self.kind}-{self.wire[:6].hex()}-{len(self.wire)}"


LONG_VALUE = bytes(range(256)) + bytes(44)
"""300 bytes: a length (0x012C) whose both bytes are non-zero."""

SIGNATURE_ALGO_INFO = Container(9, (Element(10, b"\x00"), Element(11, b"\x01")))

CASES = (
    Case("u8", 0, bytes.fromhex("00")),
    Case("u8", 0x7F, bytes.fromhex("7f")),
    Case("u8", 0xFF, bytes.fromhex("ff")),
    Case("u16", 0, bytes.fromhex("0000")),
    Case("u16", 0x0102, bytes.fromhex("0102")),
    Case("u16", 0xFFFF, bytes.fromhex("ffff")),
    Case("u32", 0, bytes.fromhex("00000000")),
    Case("u32", 1767225600, bytes.fromhex("6955b900")),
    Case("u32", 0xFFFFFFFF, bytes.fromhex("ffffffff")),
    # VERSION 1.2
    Case("tlv", Element(1, b"\x01\x02"), bytes.fromhex("01 0002 0102")),
    # an empty value
    Case("tlv", Element(12, b""), bytes.fromhex("0c 0000")),
    # FILENAME: text with its NUL, 12 bytes
    Case("tlv", Element(14, b"ITLFile.tlv\0"), bytes.fromhex("0e 000c") + b"ITLFile.tlv\0"),
    # tag 0 and tag 255, the ends of the one-byte tag range
    Case("tlv", Element(0, b"\xab"), bytes.fromhex("00 0001 ab")),
    Case("tlv", Element(255, LONG_VALUE), bytes.fromhex("ff 012c") + LONG_VALUE),
    # an empty container
    Case("container", Container(3, ()), bytes.fromhex("03 0000")),
    # SIGNATUREALGOINFO: 8 bytes, as spec/formats.md says
    Case("container", SIGNATURE_ALGO_INFO, bytes.fromhex("09 0008 0a 0001 00 0b 0001 01")),
    # SIGNATUREINFO: 15 bytes, a container inside a container
    Case(
        "container",
        Container(7, (Element(8, b"\x01"), SIGNATURE_ALGO_INFO)),
        bytes.fromhex("07 000f 08 0001 01 09 0008 0a 0001 00 0b 0001 01"),
    ),
    # SIGNERID with a name, a serial and a CA name
    Case(
        "container",
        Container(3, (Element(4, b"CN=a\0"), Element(5, b"\xbd\xa3"), Element(6, b"CN=b\0"))),
        bytes.fromhex("03 0015 04 0005")
        + b"CN=a\0"
        + bytes.fromhex("05 0002 bda3 06 0005")
        + b"CN=b\0",
    ),
)


def _write_tree(w: Writer, node: Node) -> None:
    """Write ``node`` through the writer's own API: containers are back-patched."""
    if isinstance(node, Element):
        w.tlv(node.tag, node.value)
        return
    with w.tlv_container(node.tag):
        for child in node.children:
            _write_tree(w, child)


def encode_value(kind: str, value: Value) -> bytes:
    w = Writer()
    if kind in ("u8", "u16", "u32"):
        assert isinstance(value, int)
        {"u8": w.u8, "u16": w.u16, "u32": w.u32}[kind](value)
    else:
        assert not isinstance(value, int)
        _write_tree(w, value)
    return w.getvalue()


def decode_value(kind: str, r: Reader) -> Value:
    if kind == "u8":
        return r.u8()
    if kind == "u16":
        return r.u16()
    if kind == "u32":
        return r.u32()
    return read_node(r, CONTAINER_TAGS)


cases = pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
NODE_CASES = [c for c in CASES if not isinstance(c.value, int)]


# -- the table, both directions, three ways --------------------------------------------------


@cases
def test_encode_gives_the_bytes(case: Case) -> None:
    assert encode_value(case.kind, case.value) == case.wire


@pytest.mark.parametrize("case", NODE_CASES, ids=[c.id for c in NODE_CASES])
def test_element_objects_encode_to_the_bytes(case: Case) -> None:
    """``Node.write`` and ``encode`` (what headers and records use) agree with the table."""
    assert not isinstance(case.value, int)
    assert encode([case.value]) == case.wire
    assert case.value.size == len(case.wire)


@cases
def test_decode_whole(case: Case) -> None:
    r = Reader(case.wire)
    with r.fence(len(case.wire), "case") as fenced:
        assert decode_value(case.kind, fenced) == case.value
    assert r.offset == len(case.wire)
    assert r.at_end()


@cases
def test_decode_one_byte_at_a_time(case: Case) -> None:
    """Every proper prefix fails with a ParseError inside it; the complete bytes decode."""
    for end in range(len(case.wire)):
        prefix = case.wire[:end]
        with pytest.raises(ParseError) as info:
            decode_value(case.kind, Reader(prefix))
        assert 0 <= info.value.offset <= end, (end, info.value)
    assert decode_value(case.kind, Reader(case.wire)) == case.value


@cases
@pytest.mark.parametrize("junk", [b"\x00", b"\x0d\x0d\x0d", b"\xff\x01\x02\x03"])
def test_decode_with_trailing_junk(case: Case, junk: bytes) -> None:
    data = case.wire + junk
    # A fence of the value's size decodes it and leaves the junk to the caller...
    r = Reader(data)
    with r.fence(len(case.wire), "case") as fenced:
        assert decode_value(case.kind, fenced) == case.value
    assert r.offset == len(case.wire)
    assert r.remaining == len(junk)
    # ...and a fence over everything rejects the junk, pointing at its first byte.
    r = Reader(data)
    with pytest.raises(ParseError, match="unread") as info, r.fence(len(data), "case") as fenced:
        decode_value(case.kind, fenced)
    assert info.value.offset == len(case.wire)


# -- trees of any shape ------------------------------------------------------------------------

leaves = st.builds(
    Element,
    st.integers(0, 255).filter(lambda tag: tag not in CONTAINER_TAGS),
    st.binary(max_size=40),
)
trees: st.SearchStrategy[Node] = st.recursive(
    leaves,
    lambda children: st.builds(
        Container,
        st.sampled_from(sorted(CONTAINER_TAGS)),
        st.lists(children, max_size=4).map(tuple),
    ),
    max_leaves=12,
)


@settings(deadline=None, max_examples=150)
@given(st.lists(trees, max_size=4))
def test_any_tree_round_trips(nodes: list[Node]) -> None:
    written = Writer()
    for node in nodes:
        _write_tree(written, node)
    wire = written.getvalue()
    assert wire == encode(nodes)
    r = Reader(wire)
    assert read_nodes(r, CONTAINER_TAGS) == tuple(nodes)
    assert r.offset == len(wire)


# -- fence semantics ---------------------------------------------------------------------------


def test_read_past_a_fence_fails_at_the_absolute_offset() -> None:
    r = Reader(bytes(range(16)))
    r.read(5)
    with r.fence(4, "block"):
        r.read(2)
        with pytest.raises(ParseError) as info:
            r.u32()  # 4 bytes wanted, 2 left in the fence (10 in the buffer)
        r.read(2)
    assert info.value.offset == 7
    assert "only 2 left" in info.value.reason


def test_a_fence_longer_than_what_remains_fails_where_it_opens() -> None:
    r = Reader(bytes(10))
    r.read(8)
    with pytest.raises(ParseError, match="declares 3 bytes, only 2 left") as info, r.fence(3, "b"):
        pytest.fail("the fence must not open")
    assert info.value.offset == 8


def test_leaving_a_fence_with_bytes_unread_fails_at_the_first_unread_byte() -> None:
    r = Reader(bytes(12))
    r.read(2)
    with pytest.raises(ParseError, match="1 unread bytes") as info, r.fence(4, "block"):
        r.read(3)
    assert info.value.offset == 5


def test_a_fully_consumed_fence_passes_and_restores_the_outer_bound() -> None:
    r = Reader(bytes(range(10)))
    with r.fence(6, "outer"):
        assert r.read(1) == b"\x00"
        with r.fence(3, "inner"):
            assert r.remaining == 3
            assert r.read(3) == b"\x01\x02\x03"
            assert r.at_end()
            assert r.peek_u8() is None
        assert r.remaining == 2
        assert r.peek_u8() == 4
        r.read(2)
    assert r.remaining == 4
    assert r.offset == 6


def test_an_inner_fence_cannot_reach_past_the_outer_one() -> None:
    r = Reader(bytes(20))
    with pytest.raises(ParseError) as info, r.fence(4, "outer"), r.fence(5, "inner"):
        pass
    assert info.value.offset == 0
    assert r.remaining == 20


def test_a_failing_fence_still_restores_the_outer_bound() -> None:
    r = Reader(bytes(10))
    with pytest.raises(ParseError), r.fence(4, "block"):
        r.read(5)
    assert r.remaining == 10


def test_offsets_are_absolute_when_reading_starts_inside_the_buffer() -> None:
    r = Reader(bytes(30), start=20, end=25)
    assert r.offset == 20
    assert r.remaining == 5
    r.read(3)
    with pytest.raises(ParseError) as info:
        r.u32()
    assert info.value.offset == 23


def test_a_negative_length_is_a_parse_error() -> None:
    with pytest.raises(ParseError, match="negative") as info:
        Reader(bytes(4)).read(-1)
    assert info.value.offset == 0


def test_a_container_that_overruns_its_parent_fails_at_the_child() -> None:
    # SIGNERID says 4 bytes, its child element says 2 more than the container has left.
    data = bytes.fromhex("03 0004 04 0002 61") + b"b"
    with pytest.raises(ParseError) as info:
        read_node(Reader(data), CONTAINER_TAGS)
    assert info.value.offset == 6
    assert "value of element 4" in info.value.reason


def test_a_container_longer_than_the_buffer_fails_at_its_content() -> None:
    data = bytes.fromhex("07 0010 08 0001 01")
    with pytest.raises(ParseError, match="container 7 declares 16 bytes") as info:
        read_node(Reader(data), CONTAINER_TAGS)
    assert info.value.offset == 3


def test_parse_error_names_its_offset() -> None:
    error = ParseError("broken", 17)
    assert error.offset == 17
    assert error.reason == "broken"
    assert str(error) == "broken (at byte 17)"


# -- the writer --------------------------------------------------------------------------------


def test_container_lengths_are_back_patched() -> None:
    w = Writer()
    w.u8(0xAA)
    with w.tlv_container(3) as inner:
        inner.tlv(4, b"ab")
        with inner.tlv_container(9):
            inner.u8(1)
            inner.u16(2)
        with inner.tlv_container(7):
            pass
    w.u8(0xBB)
    assert w.getvalue() == bytes.fromhex("aa 03 000e 04 0002 6162 09 0003 01 0002 07 0000 bb")
    assert len(w) == 19


def test_a_value_of_65535_bytes_fits() -> None:
    w = Writer()
    w.tlv(0x19, bytes(0xFFFF))
    wire = w.getvalue()
    assert wire[:3] == bytes.fromhex("19 ffff")
    assert len(wire) == 3 + 0xFFFF
    node = read_node(Reader(wire), frozenset())
    assert node == Element(0x19, bytes(0xFFFF))


def test_a_value_of_65536_bytes_is_a_build_error() -> None:
    w = Writer()
    with pytest.raises(BuildError):
        w.tlv(0x19, bytes(0x10000))
    assert w.getvalue() == b""
    with pytest.raises(BuildError):
        Element(0x19, bytes(0x10000))


def test_a_container_of_65535_bytes_fits_and_one_more_does_not() -> None:
    w = Writer()
    with w.tlv_container(3):
        w.tlv(4, bytes(0xFFFF - 3))
    assert w.getvalue()[:3] == bytes.fromhex("03 ffff")

    w = Writer()
    with pytest.raises(BuildError, match="container 3"), w.tlv_container(3):
        w.tlv(4, bytes(0xFFFF - 2))
    with pytest.raises(BuildError):
        Container(3, (Element(4, bytes(0xFFFF - 2)),))


def test_an_outer_container_overflows_even_when_its_children_fit() -> None:
    def two_halves(w: Writer) -> None:
        with w.tlv_container(7):
            for _ in range(2):
                with w.tlv_container(9):
                    w.write(bytes(40000))

    with pytest.raises(BuildError, match="container 7 is 80006 bytes"):
        two_halves(Writer())


@pytest.mark.parametrize(
    ("method", "value"),
    [("u8", 256), ("u8", -1), ("u16", 0x10000), ("u16", -1), ("u32", 0x100000000)],
)
def test_integers_that_do_not_fit_are_build_errors(method: str, value: int) -> None:
    w = Writer()
    with pytest.raises(BuildError):
        getattr(w, method)(value)
    assert w.getvalue() == b""


@pytest.mark.parametrize("tag", [-1, 256])
def test_tags_outside_one_byte_are_build_errors(tag: int) -> None:
    with pytest.raises(BuildError):
        Writer().tlv(tag, b"")
    with pytest.raises(BuildError):
        Element(tag, b"")

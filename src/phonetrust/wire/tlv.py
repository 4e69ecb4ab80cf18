"""Generic Cisco TLV trees.

A trust-list header, an encrypted file's key block and a record are all
lists of ``tag | length (2) | value`` elements, some of which are
containers whose value is itself a list of elements. Keeping the parsed
tree (order, unknown tags and all) is what lets a file written by another
tool re-serialise to the very same bytes.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from phonetrust.errors import BuildError
from phonetrust.wire.reader import Reader
from phonetrust.wire.writer import MAX_U16, Writer

HEADER_SIZE = 3
"""Bytes of tag and length in front of every element value."""


@dataclass(frozen=True, slots=True)
class Element:
    """A leaf element: a tag and raw value bytes."""

    tag: int
    value: bytes

    def __post_init__(self) -> None:
        _check_tag(self.tag)
        if len(self.value) > MAX_U16:
            raise BuildError(f"element {self.tag}: {len(self.value)} bytes do not fit a TLV")

    @property
    def size(self) -> int:
        return HEADER_SIZE + len(self.value)

    def write(self, w: Writer) -> None:
        w.tlv(self.tag, self.value)


@dataclass(frozen=True, slots=True)
class Container:
    """An element whose value is a sequence of further elements.

    Its encoding is made once, when it is built: containers are immutable,
    and the same signer containers head thousands of signed files.
    """

    tag: int
    children: tuple[Node, ...]
    content: bytes = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        _check_tag(self.tag)
        content = encode(self.children)
        if len(content) > MAX_U16:
            raise BuildError(f"container {self.tag}: {len(content)} bytes do not fit a TLV")
        object.__setattr__(self, "content", content)

    @property
    def content_size(self) -> int:
        return len(self.content)

    @property
    def size(self) -> int:
        return HEADER_SIZE + len(self.content)

    def write(self, w: Writer) -> None:
        w.tlv(self.tag, self.content)

    def find(self, tag: int) -> Node | None:
        return find(self.children, tag)


Node = Element | Container


def _check_tag(tag: int) -> None:
    if not 0 <= tag <= 0xFF:
        raise BuildError(f"tag {tag} does not fit in one byte")


def find(nodes: Iterable[Node], tag: int) -> Node | None:
    """The first node with ``tag``, searching containers depth first."""
    for node in walk(nodes):
        if node.tag == tag:
            return node
    return None


def walk(nodes: Iterable[Node]) -> Iterator[Node]:
    """Every node, depth first, containers before their children."""
    for node in nodes:
        yield node
        if isinstance(node, Container):
            yield from walk(node.children)


def read_node(r: Reader, containers: frozenset[int], depth: int = 0) -> Node:
    """Read one element; step into it when its tag is a container tag here.

    ``depth`` bounds nesting so that hostile input cannot recurse without end.
    """
    start = r.offset
    tag = r.u8("element tag")
    length = r.u16(f"length of element {tag}")
    if tag not in containers:
        return Element(tag, r.read(length, f"value of element {tag}"))
    if depth >= 8:
        raise r.fail(f"containers nested too deeply at element {tag}", start)
    with r.fence(length, f"container {tag}"):
        children: list[Node] = []
        while not r.at_end():
            children.append(read_node(r, containers, depth + 1))
    return Container(tag, tuple(children))


def read_nodes(r: Reader, containers: frozenset[int]) -> tuple[Node, ...]:
    """Read elements until the current fence ends."""
    nodes: list[Node] = []
    while not r.at_end():
        nodes.append(read_node(r, containers))
    return tuple(nodes)


def encode(nodes: Iterable[Node]) -> bytes:
    w = Writer()
    for node in nodes:
        node.write(w)
    return w.getvalue()

"""The framer CAPF and TVS share: however TLS cuts the stream, the same messages come out,
and a hostile length is a ProtocolError before the bytes it announces are buffered."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from phonetrust.errors import ProtocolError
from phonetrust.protocols.capf import messages as capf
from phonetrust.protocols.framing import Framer
from phonetrust.protocols.tvs import messages as tvs

session_ids = st.integers(0, 0xFFFF_FFFF)

capf_messages = st.builds(
    lambda command, session, reason, info: capf.message(
        command,
        session,
        (
            capf.Element.number(capf.Tag.REASON, reason),
            capf.Element.text(capf.Tag.REASON_INFO, info),
        ),
    ),
    st.sampled_from(capf.Command),
    session_ids,
    st.integers(0, 255),
    st.text(st.characters(codec="ascii", exclude_characters="\0"), max_size=300),
)
tvs_messages = st.one_of(
    st.builds(tvs.Request, session_ids, st.binary(min_size=1, max_size=600)),
    st.builds(
        tvs.Response,
        session_ids,
        st.sampled_from(tvs.Status),
        st.none() | st.lists(st.integers(0, 255), max_size=5).map(tuple),
        st.none() | st.integers(0, 0xFFFF_FFFF),
    ),
)
PROTOCOLS: dict[str, tuple[Callable[[], Framer[Any, Any]], st.SearchStrategy[Any]]] = {
    "CAPF": (capf.framer, capf_messages),
    "TVS": (tvs.framer, tvs_messages),
}


def pop_all(framer: Framer[Any, Any]) -> list[Any]:
    found = []
    while (message := framer.pop()) is not None:
        found.append(message)
    return found


@pytest.mark.parametrize("protocol", PROTOCOLS)
@given(data=st.data())
def test_any_chunking_yields_the_same_messages(protocol: str, data: st.DataObject) -> None:
    make, strategy = PROTOCOLS[protocol]
    sent = data.draw(st.lists(strategy, min_size=1, max_size=4))
    stream = b"".join(m.to_wire() for m in sent)
    cuts = sorted(data.draw(st.sets(st.integers(1, len(stream) - 1), max_size=12)))
    framer = make()
    received: list[Any] = []
    for start, end in zip([0, *cuts], [*cuts, len(stream)], strict=True):
        framer.feed(stream[start:end])
        received += pop_all(framer)
    assert received == sent
    assert framer.pending == 0


@pytest.mark.parametrize("protocol", PROTOCOLS)
@given(data=st.data())
def test_a_message_cut_short_is_never_popped(protocol: str, data: st.DataObject) -> None:
    make, strategy = PROTOCOLS[protocol]
    wire = data.draw(strategy).to_wire()
    framer = make()
    framer.feed(wire[: data.draw(st.integers(0, len(wire) - 1))])
    assert framer.pop() is None


@pytest.mark.parametrize(
    ("make", "header"),
    [
        (lambda: capf.framer(max_payload=100), bytes.fromhex("55 02 01020304")),
        (lambda: tvs.framer(max_message=110), bytes.fromhex("57 01 01 00 00000000")),
    ],
    ids=["CAPF", "TVS"],
)
@given(length=st.integers(101, 0xFFFF))
def test_a_length_above_the_limit_fails_on_the_header_alone(
    make: Callable[[], Framer[Any, Any]], header: bytes, length: int
) -> None:
    framer = make()
    framer.feed(header + length.to_bytes(2, "big"))
    with pytest.raises(ProtocolError, match="more than the") as caught:
        framer.pop()
    assert caught.value.offset == len(header)


@pytest.mark.parametrize("protocol", PROTOCOLS)
@given(data=st.data())
def test_a_length_that_lies_about_the_elements_is_a_protocol_error(
    protocol: str, data: st.DataObject
) -> None:
    make, strategy = PROTOCOLS[protocol]
    wire = bytearray(data.draw(strategy).to_wire())
    size = 8 if protocol == "CAPF" else 10
    payload = len(wire) - size
    # Announce fewer bytes than the elements take: the last element runs past the fence.
    cut = data.draw(st.integers(1, payload))
    wire[size - 2 : size] = (payload - cut).to_bytes(2, "big")
    framer = make()
    framer.feed(bytes(wire))
    with pytest.raises(ProtocolError):
        pop_all(framer)


@pytest.mark.parametrize("protocol", PROTOCOLS)
@given(junk=st.binary(max_size=200))
def test_arbitrary_bytes_parse_or_raise_protocol_error(protocol: str, junk: bytes) -> None:
    # We either cut messages out of it, or raise ProtocolError - never any other error.
    framer = PROTOCOLS[protocol][0]()
    framer.feed(junk)
    with contextlib.suppress(ProtocolError):
        pop_all(framer)


@pytest.mark.parametrize(
    ("make", "first"), [(capf.framer, 0x16), (tvs.framer, 0x47)], ids=["CAPF", "TVS"]
)
def test_a_wrong_protocol_id_fails_on_the_first_byte(
    make: Callable[[], Framer[Any, Any]], first: int
) -> None:
    framer = make()
    framer.feed(bytes([first]))
    with pytest.raises(ProtocolError, match=f"protocol id {first} is not") as caught:
        framer.pop()
    assert caught.value.offset == 0

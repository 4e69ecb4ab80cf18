"""TVS messages: one case table, both directions, fed three ways; hostile bytes; fuzz.

The bytes of each row are written out by hand from spec/protocols.md
(``57 01 command 00 | session id (4) | payload length (2) | elements``),
never produced by the code under test.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from phonetrust.errors import BuildError, ProtocolError, RemoteError
from phonetrust.protocols.tvs.messages import (
    DEFAULT_TTL,
    HEADER_SIZE,
    Answer,
    Command,
    Header,
    Message,
    Request,
    Response,
    Status,
    device_name,
    from_wire,
)
from phonetrust.protocols.tvs.session import (
    ClientSession,
    ProtocolFailed,
    RequestReceived,
    ResponseReceived,
    ServerSession,
)

CERT = bytes.fromhex("3003020105")
"""Five bytes standing in for a DER certificate: the codec never parses it."""
DEVICE = "CP-7975-SEP001122334455"


def h(text: str) -> bytes:
    return bytes.fromhex(text)


@dataclass(frozen=True)
class Case:
    name: str
    value: Message
    wire: bytes


CASES = (
    Case(
        "verify-request-with-device",
        Request(0x01020304, CERT, DEVICE),
        h("57 01 01 00 01020304 0023")
        + h("01 0018 01")
        + DEVICE.encode()
        + h("02 0005 3003020105"),
    ),
    Case(
        "verify-request-without-device",
        Request(0, CERT),
        h("57 01 01 00 00000000 0008 02 0005 3003020105"),
    ),
    Case(
        "query-request",
        Request(0xFFFFFFFF, CERT, "X", Command.QUERY_REQUEST),
        h("57 01 03 00 ffffffff 000d 01 0002 0158 02 0005 3003020105"),
    ),
    Case(
        "valid-response",
        Response(0x01020304, Status.VALID, (0, 2), 86400),
        h("57 01 02 00 01020304 0010 07 0001 00 08 0002 0002 09 0004 00015180"),
    ),
    Case(
        "invalid-response",
        Response(7, Status.INVALID),
        h("57 01 02 00 00000007 0004 07 0001 01"),
    ),
    Case(
        "query-response-empty-roles",
        Response(7, Status.VALID, (), 0, Command.QUERY_RESPONSE),
        h("57 01 04 00 00000007 000e 07 0001 00 08 0000 09 0004 00000000"),
    ),
    Case(
        "response-with-tvs-and-unknown-role",
        Response(9, Status.VALID, (21, 200)),
        h("57 01 02 00 00000009 0009 07 0001 00 08 0002 15c8"),
    ),
)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_encode_matches_the_table(case: Case) -> None:
    assert case.value.to_wire() == case.wire


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_decode_whole_matches_the_table(case: Case) -> None:
    assert from_wire(case.wire) == case.value


def _events_byte_by_byte(case: Case) -> list[object]:
    """Feed the case one byte at a time to the session that would receive it."""
    events: list[object] = []
    if isinstance(case.value, Request):
        server = ServerSession()
        for i in range(len(case.wire)):
            server.receive_data(case.wire[i : i + 1])
            event = server.next_event()
            if event is not None:
                assert i == len(case.wire) - 1, "an event before the last byte"
                events.append(event)
        return events
    request_command = Command(case.value.command - 1)
    client = ClientSession(case.value.session_id)
    client.send_request(CERT, command=request_command)
    for i in range(len(case.wire)):
        client.receive_data(case.wire[i : i + 1])
        answer = client.next_event()
        if answer is not None:
            assert i == len(case.wire) - 1, "an event before the last byte"
            events.append(answer)
    return events


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_decode_byte_by_byte_matches_the_table(case: Case) -> None:
    events = _events_byte_by_byte(case)
    if isinstance(case.value, Request):
        assert events == [RequestReceived(case.value)]
    else:
        assert events == [ResponseReceived(case.value)]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
@pytest.mark.parametrize("junk", [b"\x00", b"\x57\x01", b"junk" * 5])
def test_trailing_junk_is_refused_whole_and_left_for_the_next_message(
    case: Case, junk: bytes
) -> None:
    with pytest.raises(ProtocolError, match="after the message"):
        from_wire(case.wire + junk)
    if isinstance(case.value, Request):
        server = ServerSession()
        server.receive_data(case.wire + junk)
        assert server.next_event() == RequestReceived(case.value)
        server.send_answer(Answer.invalid())
        follow = server.next_event()
        # The junk is the start of the next message: too short to judge, or a bad header.
        assert follow is None or isinstance(follow, ProtocolFailed)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_every_proper_prefix_is_refused(case: Case) -> None:
    for end in range(len(case.wire)):
        with pytest.raises(ProtocolError):
            from_wire(case.wire[:end])


HOSTILE = (
    ("empty", b"", "header needs 10 bytes"),
    ("short header", h("57 01 01 00 0000"), "header needs 10 bytes"),
    ("wrong protocol id", h("56 01 01 00 00000000 0000"), "protocol id 86 is not TVS"),
    ("wrong version", h("57 02 01 00 00000000 0000"), "version 2 is not supported"),
    ("unknown command", h("57 01 09 00 00000000 0000"), "unknown command 9"),
    ("command zero", h("57 01 00 00 00000000 0000"), "unknown command 0"),
    ("reserved set", h("57 01 01 01 00000000 0000"), "reserved byte is 1"),
    ("truncated payload", h("57 01 01 00 00000000 0008 02 0005 30"), "declares 8 payload bytes"),
    ("element overruns", h("57 01 01 00 00000000 0004 02 0005 30"), "needs 5 bytes"),
    ("element head cut", h("57 01 01 00 00000000 0002 02 00"), "needs 2 bytes"),
    ("unknown tag", h("57 01 01 00 00000000 0004 05 0001 00"), "unknown element tag 5"),
    ("status in request", h("57 01 01 00 00000000 0004 07 0001 00"), "does not belong"),
    ("certificate in response", h("57 01 02 00 00000000 0004 02 0001 30"), "does not belong"),
    (
        "duplicate certificate",
        h("57 01 01 00 00000000 0008 02 0001 30 02 0001 30"),
        "appears twice",
    ),
    ("no certificate", h("57 01 01 00 00000000 0005 01 0002 0141"), "no certificate"),
    ("no elements", h("57 01 01 00 00000000 0000"), "no certificate"),
    ("empty certificate", h("57 01 01 00 00000000 0003 02 0000"), "no certificate"),
    (
        "device name without 0x01",
        h("57 01 01 00 00000000 0008 01 0001 41 02 0001 30"),
        "must start with the byte 0x01",
    ),
    (
        "device name not ascii",
        h("57 01 01 00 00000000 0009 01 0002 01ff 02 0001 30"),
        "printable ASCII",
    ),
    ("empty device name", h("57 01 01 00 00000000 0003 01 0000"), "must start with the byte"),
    ("status of two bytes", h("57 01 02 00 00000000 0005 07 0002 0000"), "STATUS must be 1"),
    ("status three", h("57 01 02 00 00000000 0004 07 0001 03"), "STATUS 3 is neither"),
    ("ttl of three bytes", h("57 01 02 00 00000000 000a 07 0001 00 09 0003 000000"), "TTL must"),
    ("response without status", h("57 01 02 00 00000000 0003 08 0000"), "no STATUS"),
)


@pytest.mark.parametrize(("data", "reason"), [c[1:] for c in HOSTILE], ids=[c[0] for c in HOSTILE])
def test_hostile_bytes_raise_the_typed_error(data: bytes, reason: str) -> None:
    with pytest.raises(ProtocolError, match=reason) as caught:
        from_wire(data)
    assert isinstance(caught.value, RemoteError)


def test_header_errors_point_at_their_byte() -> None:
    with pytest.raises(ProtocolError) as caught:
        from_wire(h("57 02 01 00 00000000 0000"))
    assert caught.value.offset == 1
    assert str(caught.value).endswith("(at byte 1)")


def test_values_are_validated_when_built() -> None:
    with pytest.raises(BuildError):
        Request(1 << 32, CERT)
    with pytest.raises(BuildError):
        Request(0, b"")
    with pytest.raises(BuildError):
        Request(0, CERT, "two words")
    with pytest.raises(BuildError):
        Request(0, CERT, command=Command.VERIFY_RESPONSE)
    with pytest.raises(BuildError):
        Response(0, Status.VALID, command=Command.QUERY_REQUEST)
    with pytest.raises(BuildError):
        Response(0, Status.VALID, (256,))
    with pytest.raises(BuildError):
        Response(0, Status.VALID, ttl=-1)
    with pytest.raises(BuildError):
        Answer(True, (300,))
    with pytest.raises(BuildError):
        Header(Command.VERIFY_REQUEST, 0, 0x10000)
    with pytest.raises(BuildError):
        _ = Command.VERIFY_RESPONSE.response


def test_device_name_is_cisco_s_form() -> None:
    assert device_name("7975", "00:11:22:33:44:55") == DEVICE
    assert device_name("8845", "SEP00aabbccddee") == "CP-8845-SEP00AABBCCDDEE"
    with pytest.raises(BuildError):
        device_name("7975", "0011")
    with pytest.raises(BuildError):
        device_name("79 75", "001122334455")


def test_a_response_answers_its_request_with_the_matching_command() -> None:
    verify = Request(5, CERT)
    query = Request(6, CERT, command=Command.QUERY_REQUEST)
    good = Answer(True, (0, 2), 3600)
    assert Response.answering(verify, good) == Response(5, Status.VALID, (0, 2), 3600)
    assert Response.answering(query, good).command is Command.QUERY_RESPONSE
    bad = Response.answering(query, Answer.invalid())
    assert bad == Response(6, Status.INVALID, command=Command.QUERY_RESPONSE)
    assert bad.answer() == Answer(False, (), 0)
    # A valid response without TTL means the default (lenient reading).
    assert Response(1, Status.VALID, (7,)).answer() == Answer(True, (7,), DEFAULT_TTL)


def test_elements_in_any_order_are_read() -> None:
    swapped = h("57 01 01 00 00000001 000d 02 0005 3003020105 01 0002 0141")
    assert from_wire(swapped) == Request(1, CERT, "A")


# -- fuzz ---------------------------------------------------------------------------

requests = st.builds(
    Request,
    st.integers(0, 0xFFFFFFFF),
    st.binary(min_size=1, max_size=300),
    st.none() | st.from_regex(r"\A[\x21-\x7e]{1,64}\Z"),
    st.sampled_from([Command.VERIFY_REQUEST, Command.QUERY_REQUEST]),
)
responses = st.builds(
    Response,
    st.integers(0, 0xFFFFFFFF),
    st.sampled_from(Status),
    st.none() | st.lists(st.integers(0, 255), max_size=8).map(tuple),
    st.none() | st.integers(0, 0xFFFFFFFF),
    st.sampled_from([Command.VERIFY_RESPONSE, Command.QUERY_RESPONSE]),
)


@settings(max_examples=300, deadline=None)
@given(requests | responses)
def test_every_value_round_trips(message: Message) -> None:
    assert from_wire(message.to_wire()) == message


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=200))
def test_arbitrary_bytes_give_a_message_or_the_typed_error(data: bytes) -> None:
    # We either parse it, or raise ProtocolError - never any other error.
    try:
        message = from_wire(data)
    except ProtocolError:
        return
    assert from_wire(message.to_wire()) == message


@settings(max_examples=300, deadline=None)
@given(requests | responses, st.data())
def test_mutated_messages_give_a_message_or_the_typed_error(
    message: Message, data: st.DataObject
) -> None:
    wire = bytearray(message.to_wire())
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(wire) - 1))
        wire[at] = data.draw(st.integers(0, 255))
    with contextlib.suppress(ProtocolError):
        from_wire(bytes(wire))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(max_size=40), max_size=12), st.booleans())
def test_a_server_session_turns_any_chunks_into_events(chunks: list[bytes], eof: bool) -> None:
    session = ServerSession(max_message=HEADER_SIZE + 64)
    for chunk in chunks:
        session.receive_data(chunk)
        while (event := session.next_event()) is not None:
            if isinstance(event, RequestReceived):
                assert from_wire(session.send_answer(Answer(True, (0,), 1))).session_id == (
                    event.request.session_id
                )
            else:
                return
    if eof:
        session.receive_eof()
        assert session.next_event() is not None

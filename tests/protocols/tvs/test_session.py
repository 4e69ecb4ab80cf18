"""TVS sessions: the server's state table swept cell by cell, and the phone's side."""

from __future__ import annotations

import hashlib

import pytest

from phonetrust.errors import LocalError
from phonetrust.protocols.tvs.messages import (
    Answer,
    Command,
    Request,
    Response,
    Status,
    TvsServerUntrusted,
    from_wire,
)
from phonetrust.protocols.tvs.session import (
    TRANSITIONS,
    ClientSession,
    ClientState,
    Input,
    PeerClosed,
    ProtocolFailed,
    RequestReceived,
    ResponseReceived,
    ServerSession,
    State,
    TvsSessionError,
)

CERT = bytes.fromhex("3003020105")
REQUEST = Request(42, CERT, "CP-8845-SEP00AABBCCDDEE")
GOOD = Answer(True, (0, 2), 600)
SERVER_CERT = b"the TVS certificate's DER"


def in_state(state: State) -> ServerSession:
    session = ServerSession()
    if state is State.ANSWERING:
        session.receive_data(REQUEST.to_wire())
        assert session.next_event() == RequestReceived(REQUEST)
    elif state is State.CLOSED:
        session.receive_data(b"\x00" * 10)
        assert isinstance(session.next_event(), ProtocolFailed)
    assert session.state is state
    return session


def apply(session: ServerSession, what: Input) -> None:
    if what is Input.ANSWER:
        session.send_answer(GOOD)
        return
    if what is Input.REQUEST:
        session.receive_data(REQUEST.to_wire())
    elif what is Input.MALFORMED:
        session.receive_data(b"\x56" + bytes(9))
    else:
        session.receive_eof()
        if session.state is State.ANSWERING:
            return  # remembered; the answer is still owed
    session.next_event()


@pytest.mark.parametrize("state", list(State), ids=lambda s: s.name)
@pytest.mark.parametrize("what", list(Input), ids=lambda i: i.name)
def test_every_cell_of_the_state_table(state: State, what: Input) -> None:
    session = in_state(state)
    expected = TRANSITIONS.get((state, what))
    if expected is not None:
        apply(session, what)
        assert session.state is expected
    elif what is Input.ANSWER:
        # Answering with nothing to answer is the program's bug, not the peer's.
        with pytest.raises(TvsSessionError):
            apply(session, what)
        assert session.state is state
    elif state is State.ANSWERING:
        # Peer bytes wait while an answer is owed; asking for events first is a bug.
        with pytest.raises(TvsSessionError):
            apply(session, what)
        assert session.state is State.ANSWERING
        assert session.buffered > 0
    else:
        assert state is State.CLOSED
        apply(session, what)  # discarded
        assert session.state is State.CLOSED
        assert session.buffered == 0


def test_the_table_covers_what_a_peer_can_do_in_reading() -> None:
    assert {w for (s, w) in TRANSITIONS if s is State.READING} == {
        Input.REQUEST,
        Input.MALFORMED,
        Input.EOF,
    }


def test_answer_echoes_the_session_id_and_uses_the_matching_command() -> None:
    session = ServerSession()
    query = Request(7, CERT, command=Command.QUERY_REQUEST)
    session.receive_data(query.to_wire())
    assert session.next_event() == RequestReceived(query)
    answer = from_wire(session.send_answer(GOOD))
    assert answer == Response(7, Status.VALID, (0, 2), 600, Command.QUERY_RESPONSE)
    assert session.state is State.READING


def test_pipelined_requests_are_answered_in_order() -> None:
    session = ServerSession()
    first, second = Request(1, CERT), Request(2, CERT + b"x")
    session.receive_data(first.to_wire() + second.to_wire())
    assert session.next_event() == RequestReceived(first)
    assert from_wire(session.send_answer(GOOD)).session_id == 1
    assert session.next_event() == RequestReceived(second)
    assert from_wire(session.send_answer(Answer.invalid())).session_id == 2
    assert session.next_event() is None


def test_an_oversized_declaration_fails_on_the_header_alone() -> None:
    session = ServerSession(max_message=100)
    session.receive_data(bytes.fromhex("57 01 01 00 00000000 ffff"))
    event = session.next_event()
    assert isinstance(event, ProtocolFailed)
    assert "65545 bytes is more than the 100 accepted" in str(event.error)
    assert session.state is State.CLOSED


def test_a_wrong_header_fails_before_its_payload_arrives() -> None:
    session = ServerSession()
    session.receive_data(bytes.fromhex("57 05 01 00 00000000 0100"))
    event = session.next_event()
    assert isinstance(event, ProtocolFailed)
    assert "version 5" in str(event.error)


def test_eof_inside_a_message_is_a_failure_and_between_messages_is_clean() -> None:
    cut = ServerSession()
    cut.receive_data(REQUEST.to_wire()[:-1])
    assert cut.next_event() is None
    cut.receive_eof()
    event = cut.next_event()
    assert isinstance(event, ProtocolFailed)
    assert "closed inside a message" in str(event.error)
    clean = ServerSession()
    clean.receive_eof()
    assert clean.next_event() == PeerClosed()
    assert clean.state is State.CLOSED


def test_eof_while_answering_still_gets_the_answer() -> None:
    session = ServerSession()
    session.receive_data(REQUEST.to_wire())
    assert isinstance(session.next_event(), RequestReceived)
    session.receive_eof()
    assert from_wire(session.send_answer(GOOD)).session_id == REQUEST.session_id
    assert session.next_event() == PeerClosed()


def test_a_client_sending_a_response_is_dropped() -> None:
    session = ServerSession()
    session.receive_data(Response(1, Status.VALID).to_wire())
    event = session.next_event()
    assert isinstance(event, ProtocolFailed)
    assert "a client sent VERIFY_RESPONSE" in str(event.error)


def test_a_session_limit_below_a_header_is_refused() -> None:
    with pytest.raises(LocalError, match="below its 10-byte header"):
        ServerSession(max_message=9)


# -- the phone's side ------------------------------------------------------------------


def pinned() -> ClientSession:
    return ClientSession(42, expected_tvs_sha1=hashlib.sha1(SERVER_CERT).digest())


def test_client_must_check_the_server_before_sending() -> None:
    client = pinned()
    states = [client.state]
    with pytest.raises(TvsSessionError, match="check the server"):
        client.send_request(CERT)
    client.check_server(SERVER_CERT)
    states.append(client.state)
    assert states == [ClientState.CHECKING, ClientState.READY]
    assert from_wire(client.send_request(CERT)) == Request(42, CERT)
    with pytest.raises(TvsSessionError):
        client.send_request(CERT)


def test_client_refuses_a_server_whose_hash_differs() -> None:
    client = pinned()
    with pytest.raises(TvsServerUntrusted, match="is not the one the ITL names"):
        client.check_server(b"another certificate")
    assert client.state is ClientState.CLOSED


def test_client_reads_its_response_and_is_ready_again() -> None:
    client = ClientSession(42)
    client.send_request(CERT, command=Command.QUERY_REQUEST)
    client.receive_data(Response(42, Status.VALID, (21,), 10, Command.QUERY_RESPONSE).to_wire())
    event = client.next_event()
    assert isinstance(event, ResponseReceived)
    assert event.response.answer() == Answer(True, (21,), 10)
    assert client.state is ClientState.READY


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        (Response(43, Status.VALID), "response for session 43, not 42"),
        (Response(42, Status.VALID, command=Command.QUERY_RESPONSE), "does not answer"),
        (Request(42, CERT), "the server sent VERIFY_REQUEST"),
    ],
)
def test_client_refuses_a_mismatched_reply(reply: Response | Request, reason: str) -> None:
    client = ClientSession(42)
    client.send_request(CERT)
    client.receive_data(reply.to_wire())
    event = client.next_event()
    assert isinstance(event, ProtocolFailed)
    assert reason in str(event.error)
    assert client.state is ClientState.CLOSED


def test_client_refuses_an_unsolicited_response_and_a_silent_close() -> None:
    client = ClientSession(42)
    client.receive_data(Response(42, Status.VALID).to_wire())
    event = client.next_event()
    assert isinstance(event, ProtocolFailed)
    assert "unsolicited" in str(event.error)
    silent = ClientSession(1)
    silent.send_request(CERT)
    silent.receive_eof()
    event = silent.next_event()
    assert isinstance(event, ProtocolFailed)
    assert "without answering" in str(event.error)
    idle = ClientSession(1)
    idle.receive_eof()
    assert idle.next_event() == PeerClosed()


def test_client_arguments_are_checked() -> None:
    with pytest.raises(TvsSessionError):
        ClientSession(-1)
    with pytest.raises(TvsSessionError):
        ClientSession(1, expected_tvs_sha1=b"short")

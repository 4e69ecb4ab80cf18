"""The CAPF session tables, swept cell by cell: every state x every command, every call.

For the server, a cell of :data:`PEER_TABLE` must lead to one of its next
states; any other command in a reading state ends the session with END
SESSION {7} (and a failed outcome to record once an operation started);
in a state that does not read, the bytes wait in the buffer. Every program
call is allowed exactly in the states :data:`LOCAL_TABLE` lists. The
phone's table is swept the same way. Hypothesis then drives both sides with
random commands in random states.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given, settings
from hypothesis import strategies as st

from phonetrust.errors import ProtocolError
from phonetrust.protocols.capf.client import PHONE_TABLE, PhoneSession, PhoneState
from phonetrust.protocols.capf.messages import (
    CertificateBlob,
    CertificateType,
    Command,
    Curve,
    Element,
    EndSession,
    KeyGenResponse,
    KeySpec,
    Message,
    Reason,
    StoreCertificateRequest,
    StoreCertificateResponse,
    Tag,
)
from phonetrust.protocols.capf.messages import message as build
from phonetrust.protocols.capf.server import (
    LOCAL_TABLE,
    OPERATING,
    PEER_TABLE,
    READING,
    Action,
    AuthInput,
    CapfSessionError,
    Completed,
    IssueCertificate,
    NeedDeviceDecision,
    Operation,
    Proceed,
    Refuse,
    ServerSession,
    State,
)
from phonetrust.testing.pki import make_identity, plain_name

SID = 0x0A0B0C0D
DEVICE = "SEP001122334455"
PHONE_KEY = ec.generate_private_key(ec.SECP256R1())
CAPF = make_identity(plain_name("CAPF-0badf00d"), slot=5)


def lsc_for(key: ec.EllipticCurvePrivateKey = PHONE_KEY) -> bytes:
    cert = (
        x509.CertificateBuilder()
        .subject_name(plain_name(DEVICE))
        .issuer_name(CAPF.certificate.subject)
        .public_key(key.public_key())
        .serial_number(7)
        .not_valid_before(datetime(2026, 1, 1, tzinfo=UTC))
        .not_valid_after(datetime(2031, 1, 1, tzinfo=UTC))
        .sign(CAPF.key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.DER)


LSC = lsc_for()
SPKI = PHONE_KEY.public_key().public_bytes(
    serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
)


def message(command: Command, sid: int = SID) -> Message:
    """A plausible message of ``command``: what a well-behaved peer would put in it."""
    elements: dict[Command, tuple[Element, ...]] = {
        Command.AUTH_RESPONSE: (
            Element.number(Tag.REASON, 1),
            Element.number(Tag.VERSION, 3),
            Element.text(Tag.DEVICE_NAME, DEVICE),
            Element.text(Tag.PASSWORD, ""),
        ),
        Command.KEY_GEN_RESPONSE: (Element(Tag.PUBLIC_KEY, SPKI),),
        Command.STORE_CERTIFICATE_RESPONSE: (Element.number(Tag.REASON, 1),),
        Command.FETCH_CERTIFICATE_RESPONSE: (
            Element.number(Tag.REASON, 1),
            Element.of(CertificateBlob(CertificateType.LSC, LSC)),
        ),
        Command.DELETE_CERTIFICATE_RESPONSE: (Element.number(Tag.REASON, 1),),
        Command.END_SESSION: (Element.number(Tag.REASON, 0),),
        Command.KEY_GEN_REQUEST: KeySpec.ec(Curve.P256).elements(),
        Command.STORE_CERTIFICATE_REQUEST: (
            Element.number(Tag.CERTIFICATE_TYPE, 1),
            Element.of(CertificateBlob(CertificateType.LSC, LSC)),
        ),
        Command.AUTH_REQUEST: (Element.number(Tag.VERSION, 3), Element.number(Tag.AUTH_TYPE, 0)),
        Command.RETRY_LATER: (Element.number(Tag.RETRY_DELAY, 30),),
    }
    return build(command, sid, elements.get(command, ()))


# -- driving the server to each state ---------------------------------------------------------


def _install() -> ServerSession:
    s = at(State.DECIDING)
    s.decide(Proceed(Operation.INSTALL, KeySpec.ec(Curve.P256)))
    return s


def _decided(operation: Operation) -> Callable[[], ServerSession]:
    def make() -> ServerSession:
        s = at(State.DECIDING)
        s.decide(Proceed(operation))
        return s

    return make


def _fed(state: State, command: Command) -> Callable[[], ServerSession]:
    def make() -> ServerSession:
        s = at(state)
        s.receive_data(message(command).to_wire())
        return s

    return make


def _started() -> ServerSession:
    s = ServerSession(SID)
    s.start()
    return s


def _refused() -> ServerSession:
    s = at(State.DECIDING)
    s.decide(Refuse(Reason.UNKNOWN_DEVICE, "unknown"))
    return s


def _issued() -> ServerSession:
    s = at(State.ISSUING)
    s.certificate_issued(LSC)
    return s


PATHS: dict[State, Callable[[], ServerSession]] = {
    State.START: lambda: ServerSession(SID),
    State.AWAIT_AUTH: _started,
    State.DECIDING: _fed(State.AWAIT_AUTH, Command.AUTH_RESPONSE),
    State.AWAIT_KEY: _install,
    State.ISSUING: _fed(State.AWAIT_KEY, Command.KEY_GEN_RESPONSE),
    State.AWAIT_STORE: _issued,
    State.AWAIT_FETCH: _decided(Operation.FETCH),
    State.AWAIT_DELETE: _decided(Operation.DELETE),
    State.RECORDING: _fed(State.AWAIT_DELETE, Command.DELETE_CERTIFICATE_RESPONSE),
    State.CLOSED: _refused,
}


def at(state: State) -> ServerSession:
    """A session in ``state``, its output and events drained."""
    session = PATHS[state]()
    assert session.state is state
    session.data_to_send()
    while session.next_event() is not None:
        pass
    return session


def state_of(session: ServerSession) -> State:
    """The state now (a call, so that type checkers do not keep an earlier narrowing)."""
    return session.state


def test_every_state_is_reachable() -> None:
    assert set(PATHS) == set(State)


def end_reasons(data: bytes) -> list[int | None]:
    out = []
    while data:
        size = 8 + int.from_bytes(data[6:8], "big")
        msg = Message.from_wire(data[:size])
        if isinstance(msg, EndSession):
            out.append(msg.reason)
        data = data[size:]
    return out


def check_cell(state: State, command: Command) -> None:
    session = at(state)
    session.receive_data(message(command).to_wire())
    sent = session.data_to_send()
    events = []
    while (event := session.next_event()) is not None:
        events.append(event)
    entry = PEER_TABLE.get((state, command))
    if state not in READING:
        assert session.state is state, (state, command)
        assert not sent
        assert not events
        return
    if entry is not None:
        assert session.state in entry[1], (state, command, session.state)
        assert Reason.INVALID_ELEMENT not in end_reasons(sent) or command is Command.END_SESSION
        return
    # a protocol error: END SESSION {7} now, or once the failed outcome is recorded
    assert len(events) == 1, (state, command, events)
    completed = events[0]
    assert isinstance(completed, Completed)
    assert not completed.outcome.success
    assert "unexpected" in completed.outcome.info
    if state in OPERATING:
        assert session.state is State.RECORDING
        assert completed.outcome.recordable
        session.finish()
        sent += session.data_to_send()
    assert session.state is State.CLOSED
    assert end_reasons(sent) == [Reason.INVALID_ELEMENT]


@pytest.mark.parametrize("command", list(Command), ids=lambda c: c.name)
@pytest.mark.parametrize("state", list(State), ids=lambda s: s.name)
def test_every_state_and_command(state: State, command: Command) -> None:
    check_cell(state, command)


ACTIONS: dict[Action, Callable[[ServerSession], None]] = {
    Action.START: lambda s: s.start(),
    Action.DECIDE: lambda s: s.decide(Proceed(Operation.NONE)),
    Action.ISSUED: lambda s: s.certificate_issued(LSC),
    Action.ISSUE_FAILED: lambda s: s.issue_failed("no key"),
    Action.FINISH: lambda s: s.finish(),
    Action.CONNECTION_LOST: lambda s: s.connection_lost("gone"),
}


@pytest.mark.parametrize("action", list(Action), ids=lambda a: a.name)
@pytest.mark.parametrize("state", list(State), ids=lambda s: s.name)
def test_every_state_and_program_call(state: State, action: Action) -> None:
    session = at(state)
    allowed = LOCAL_TABLE[action].get(state)
    if allowed is None:
        with pytest.raises(CapfSessionError):
            ACTIONS[action](session)
        assert session.state is state
    else:
        ACTIONS[action](session)
        assert session.state in allowed, (state, action, session.state)


def expected_after(before: State, command: Command) -> frozenset[State]:
    """Where ``command`` takes a session that was in ``before`` and had no events pending.

    In a state that does not read, the bytes wait: the state stays. In a
    reading state, a cell of PEER_TABLE gives its next states; any other
    command is a protocol error: RECORDING once an operation started (the
    failure is recorded), else CLOSED.
    """
    if before not in READING:
        return frozenset({before})
    entry = PEER_TABLE.get((before, command))
    if entry is not None:
        return entry[1]
    return frozenset({State.RECORDING if before in OPERATING else State.CLOSED})


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(list(State)), st.lists(st.sampled_from(list(Command)), max_size=5))
def test_random_commands_in_random_states_follow_the_table(
    state: State, commands: list[Command]
) -> None:
    """Each command moves the session where the tables say, and nothing raises.

    The program's answers below never lead back into a reading state, so
    bytes that waited in a state that does not read are never read later.
    """
    session = at(state)
    for command in commands:
        before = session.state
        session.receive_data(message(command).to_wire())
        assert session.state in expected_after(before, command), (before, command, session.state)
        events = []
        while (event := session.next_event()) is not None:
            events.append(event)
            if isinstance(event, Completed) and session.state is State.RECORDING:
                session.finish()
            elif isinstance(event, NeedDeviceDecision):
                session.decide(Refuse(Reason.UNKNOWN_DEVICE))
            elif isinstance(event, IssueCertificate):
                session.issue_failed("test")
        if before in READING and (before, command) not in PEER_TABLE:
            assert len(events) == 1, (before, command, events)
            assert isinstance(events[0], Completed)
            assert not events[0].outcome.success
        session.data_to_send()


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(sorted(READING, key=lambda s: s.value)), st.binary(max_size=40))
def test_garbage_in_a_reading_state_ends_the_session_cleanly(state: State, junk: bytes) -> None:
    session = at(state)
    session.receive_data(b"\x16" + junk)  # a TLS record header where CAPF is expected
    events = []
    while (event := session.next_event()) is not None:
        events.append(event)
    assert len(events) == 1
    assert isinstance(events[0], Completed)
    assert session.state in (State.CLOSED, State.RECORDING)


# -- the walk through whole sessions -----------------------------------------------------------


def run_install(decision: Proceed | Refuse, phone: PhoneSession) -> ServerSession:
    server = ServerSession(SID)
    server.start()
    for _ in range(20):
        data = server.data_to_send()
        if data:
            phone.receive_data(data)
        answer = phone.data_to_send()
        if answer:
            server.receive_data(answer)
        event = server.next_event()
        if isinstance(event, NeedDeviceDecision):
            assert event.auth == AuthInput(DEVICE, password="", version=3)
            server.decide(decision)
        elif isinstance(event, IssueCertificate):
            assert event.key == KeySpec.ec(Curve.P256)
            server.certificate_issued(lsc_for(PHONE_KEY))
        elif isinstance(event, Completed) and event.outcome.recordable:
            server.finish()
        elif event is None and server.closed:
            phone.receive_data(server.data_to_send())
            return server
    raise AssertionError("the session did not end")


def test_a_whole_install_both_sides() -> None:
    phone = PhoneSession(DEVICE, key_for=lambda spec: PHONE_KEY)
    server = run_install(Proceed(Operation.INSTALL, KeySpec.ec(Curve.P256)), phone)
    assert server.state is State.CLOSED
    result = phone.result()
    assert result.success
    assert result.operation is Operation.INSTALL
    assert result.reason == Reason.UPDATE_CERTIFICATE
    assert result.lsc is not None
    assert result.session_id == SID


def test_a_refusal_both_sides() -> None:
    phone = PhoneSession(DEVICE)
    run_install(Refuse(Reason.UNKNOWN_DEVICE, "who?"), phone)
    result = phone.result()
    assert not result.success
    assert result.reason == Reason.UNKNOWN_DEVICE
    assert result.lsc is None


def test_a_session_id_mismatch_ends_the_session() -> None:
    session = at(State.AWAIT_AUTH)
    session.receive_data(message(Command.AUTH_RESPONSE, sid=SID + 1).to_wire())
    event = session.next_event()
    assert isinstance(event, Completed)
    assert "session id" in event.outcome.info
    assert end_reasons(session.data_to_send()) == [Reason.INVALID_ELEMENT]


def test_a_wrong_public_key_is_refused_and_recorded() -> None:
    session = at(State.AWAIT_KEY)
    other = ec.generate_private_key(ec.SECP384R1()).public_key()
    der = other.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    session.receive_data(KeyGenResponse.make(SID, der).to_wire())
    event = session.next_event()
    assert isinstance(event, Completed)
    assert event.outcome.recordable
    assert "EC-P384" in event.outcome.info
    assert "EC-P256" in event.outcome.info
    session.finish()
    assert end_reasons(session.data_to_send()) == [Reason.INVALID_ELEMENT]


def test_request_in_progress_is_bounded() -> None:
    session = ServerSession(SID, max_in_progress=3)
    session.start()
    session.receive_data(message(Command.AUTH_RESPONSE).to_wire())
    session.next_event()
    session.decide(Proceed(Operation.INSTALL, KeySpec.ec(Curve.P256)))
    session.receive_data(message(Command.REQUEST_IN_PROGRESS).to_wire() * 3)
    assert state_of(session) is State.AWAIT_KEY
    session.receive_data(message(Command.REQUEST_IN_PROGRESS).to_wire())
    assert state_of(session) is State.RECORDING


def test_pipelined_bytes_wait_while_the_program_decides() -> None:
    session = at(State.AWAIT_AUTH)
    both = message(Command.AUTH_RESPONSE).to_wire() + message(Command.REQUEST_IN_PROGRESS).to_wire()
    session.receive_data(both)
    assert state_of(session) is State.DECIDING
    assert isinstance(session.next_event(), NeedDeviceDecision)
    session.decide(Proceed(Operation.INSTALL, KeySpec.ec(Curve.P256)))
    assert state_of(session) is State.AWAIT_KEY  # the waiting REQUEST IN PROGRESS was read
    session.receive_eof()
    event = session.next_event()
    assert isinstance(event, Completed)
    assert "closed the connection" in event.outcome.info
    assert session.state is State.RECORDING


# -- the phone's table -------------------------------------------------------------------------


PHONE_PATHS: dict[PhoneState, list[Command]] = {
    PhoneState.AWAIT_AUTH_REQUEST: [],
    PhoneState.AWAIT_OPERATION: [Command.AUTH_REQUEST],
    PhoneState.AWAIT_STORE: [Command.AUTH_REQUEST, Command.KEY_GEN_REQUEST],
    PhoneState.AWAIT_END: [Command.AUTH_REQUEST, Command.DELETE_CERTIFICATE_REQUEST],
    PhoneState.DONE: [Command.END_SESSION],
}


def phone_at(state: PhoneState) -> PhoneSession:
    phone = PhoneSession(DEVICE, key_for=lambda spec: PHONE_KEY)
    for command in PHONE_PATHS[state]:
        phone.receive_data(message(command).to_wire())
    phone.data_to_send()
    assert phone.state is state
    return phone


@pytest.mark.parametrize("command", list(Command), ids=lambda c: c.name)
@pytest.mark.parametrize("state", list(PhoneState), ids=lambda s: s.name)
def test_every_phone_state_and_command(state: PhoneState, command: Command) -> None:
    phone = phone_at(state)
    entry = PHONE_TABLE.get((state, command))
    if state is PhoneState.DONE:
        phone.receive_data(message(command).to_wire())  # ignored once done
        assert phone.state is PhoneState.DONE
    elif entry is None:
        with pytest.raises(ProtocolError, match="unexpected"):
            phone.receive_data(message(command).to_wire())
    else:
        phone.receive_data(message(command).to_wire())
        assert phone.state is entry[1]


def test_the_phone_refuses_a_certificate_for_another_key() -> None:
    phone = phone_at(PhoneState.AWAIT_STORE)
    other = lsc_for(ec.generate_private_key(ec.SECP256R1()))
    store = StoreCertificateRequest.of(SID, Element.of(CertificateBlob(CertificateType.LSC, other)))
    phone.receive_data(store.to_wire())
    answer = Message.from_wire(phone.data_to_send())
    assert isinstance(answer, StoreCertificateResponse)
    assert answer.reason == Reason.INVALID_ELEMENT
    phone.receive_data(message(Command.END_SESSION).to_wire())
    result = phone.result()
    assert not result.success
    assert "not for the key" in result.info


def test_the_phone_checks_the_session_id_and_the_end() -> None:
    phone = phone_at(PhoneState.AWAIT_OPERATION)
    with pytest.raises(ProtocolError, match="session id"):
        phone.receive_data(message(Command.END_SESSION, sid=SID + 1).to_wire())
    with pytest.raises(ProtocolError, match="closed the connection"):
        phone.receive_eof()
    with pytest.raises(ProtocolError, match="not ended"):
        phone.result()

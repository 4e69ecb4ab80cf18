"""One transfer's state table, cell by cell; its fast path against the table; its packets.

The sweep (h2's ``test_state_machines``) puts a transfer in each state,
feeds it each input and checks the reaction the table names; random walks
chain cells. The fast path of :meth:`Transfer.receive` must answer exactly
what :meth:`Transfer.step` (the table alone) answers, for any datagrams.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from phonetrust.protocols.tftp.packets import Ack, Data, Error, OptionAck
from phonetrust.protocols.tftp.server import TftpServerCore
from phonetrust.protocols.tftp.transfer import (
    SPLIT_LIMIT,
    TRANSITIONS,
    Input,
    Negotiated,
    PacketCache,
    Reaction,
    ServerConfig,
    State,
    Transfer,
    split,
)
from tests.protocols.tftp.test_server_core import OTHER, PHONE, T0, seeded, sends

# -- the state table -------------------------------------------------------------------------


def test_the_table_has_a_reaction_for_every_cell() -> None:
    assert set(TRANSITIONS) == {(s, i) for s in State for i in Input}


IMPOSSIBLE = {(State.NEGOTIATING, Input.ACK_OLD)}
"""Nothing was acknowledged before the OACK: an ACK is 0 (next) or ahead."""


def transfer_in(state: State) -> Transfer:
    config = ServerConfig(jitter=0.1)
    oack = Negotiated(b"\x00\x06blksize\x00512\x00") if state is State.NEGOTIATING else None
    transfer = Transfer(
        1,
        PHONE,
        "f",
        b"s" * 2000,
        oack or Negotiated(None),
        config=config,
        rng=seeded(1),
        now=T0,
    )
    transfer.start(T0)
    if state is State.COMPLETE:
        for block in range(1, 5):
            transfer.receive(Ack(block).to_wire(), T0)
    elif state is State.FAILED:
        transfer.receive(Error(0, "").to_wire(), T0)
    assert transfer.state is state
    return transfer


def datagram_for(transfer: Transfer, what: Input) -> bytes:
    if what is Input.ACK_NEXT:
        return Ack(0 if transfer.state is State.NEGOTIATING else transfer.acked + 1).to_wire()
    if what is Input.ACK_OLD:
        return Ack(transfer.acked).to_wire()
    if what is Input.ACK_AHEAD:
        return Ack(transfer.sent + 3).to_wire()
    if what is Input.ERROR:
        return Error(0, "stop").to_wire()
    if what is Input.OTHER:
        return Data(1, b"x").to_wire()
    return b"\x00\x09??"


def unacknowledged_window(transfer: Transfer) -> list[bytes]:
    """The DATA packets a SENDING timeout must resend: from the first unacknowledged block
    to the end of the window (or of the file), made here from the file, not by the transfer."""
    size, data = transfer.blksize, transfer.data
    last = min(transfer.acked + transfer.windowsize, len(data) // size + 1)
    return [
        Data(n & 0xFFFF, data[(n - 1) * size : n * size]).to_wire()
        for n in range(transfer.acked + 1, last + 1)
    ]


def check_cell(transfer: Transfer, what: Input, now: float) -> None:
    """Apply one input and check the table's reaction for the state it met."""
    before = transfer.state
    reaction = TRANSITIONS[before, what]
    acked, retransmissions = transfer.acked, transfer.retransmissions
    answered = transfer.answered
    resend = [transfer.oack] if before is State.NEGOTIATING else unacknowledged_window(transfer)
    if what is Input.FOREIGN:
        core = TftpServerCore(ServerConfig(), seeded(1))
        core._transfers[transfer.tid] = transfer  # the cell, inside a core
        out = sends(core.receive_datagram(Ack(1).to_wire(), OTHER, now, transfer.tid))
        expected = [Error(5, "Unknown transfer ID").to_wire()]
        assert out == (expected if reaction is Reaction.REJECT else [])
        assert transfer.state is before
        return
    if what is Input.TIMEOUT:
        out = transfer.timeout(now)
    else:
        datagram = datagram_for(transfer, what)
        if before not in (State.COMPLETE, State.FAILED):
            assert transfer.classify(datagram)[0] is what
        out = transfer.receive(datagram, now)
    if reaction is Reaction.IGNORE:
        assert out == []
        assert (transfer.state, transfer.acked) == (before, acked)
    elif reaction is Reaction.ADVANCE:
        assert transfer.acked > acked or before is State.NEGOTIATING
        assert transfer.state in (State.SENDING, State.COMPLETE)
        assert out or transfer.state is State.COMPLETE
    elif reaction is Reaction.END:
        assert (out, transfer.state) == ([], State.FAILED)
    elif reaction is Reaction.ABORT:
        assert out == [Error(4, "Illegal TFTP operation").to_wire()]
        assert transfer.state is State.FAILED
    else:
        assert reaction is Reaction.RESEND
        if transfer.state is State.FAILED:  # a peer that never answered is given up quietly
            assert out == ([Error(0, "Transfer timed out").to_wire()] if answered else [])
        else:
            assert transfer.retransmissions == retransmissions + 1
            assert (transfer.state, transfer.acked) == (before, acked)
            assert resend, "a transfer still running always has something to resend"
            assert out == resend


@pytest.mark.parametrize("what", list(Input), ids=lambda i: i.name)
@pytest.mark.parametrize("state", list(State), ids=lambda s: s.name)
def test_every_cell_of_the_table(state: State, what: Input) -> None:
    if (state, what) in IMPOSSIBLE:
        pytest.skip("cannot arise: see IMPOSSIBLE")
    check_cell(transfer_in(state), what, T0 + 100)


@given(
    st.sampled_from([State.NEGOTIATING, State.SENDING]),
    st.lists(st.sampled_from(list(Input)), max_size=30),
)
def test_random_walks_follow_the_table(start_state: State, inputs: list[Input]) -> None:
    transfer = transfer_in(start_state)
    now = T0
    for what in inputs:
        now += 0.1
        if (transfer.state, what) in IMPOSSIBLE:
            continue
        check_cell(transfer, what, now)


# -- the fast path: Transfer.receive against Transfer.step, the table alone ---------------

OBSERVED = (
    "state",
    "acked",
    "sent",
    "retries",
    "retransmissions",
    "rto",
    "deadline",
    "reason",
    "expected",
)


def twins(data: bytes, windowsize: int, oack: bool, pre_split: bool) -> tuple[Transfer, Transfer]:
    """The same transfer twice, with the same jitter."""
    pair = []
    for _ in range(2):
        negotiated = Negotiated(
            OptionAck((("windowsize", str(windowsize)),)).to_wire() if oack else None,
            512,
            windowsize,
        )
        transfer = Transfer(
            1,
            PHONE,
            "f",
            data,
            negotiated,
            config=ServerConfig(retries=3),
            rng=seeded(3),
            now=T0,
            packets=split(data, 512) if pre_split else None,
        )
        transfer.start(T0)
        pair.append(transfer)
    return pair[0], pair[1]


STEPS = st.one_of(
    st.sampled_from(["expected", "next", "timeout", "error", "data", "junk", "short"]),
    st.integers(0, 20),
)


def datagram(transfer: Transfer, step: str | int) -> bytes:
    if isinstance(step, int):
        return Ack(step).to_wire()
    return {
        "expected": Ack(transfer.sent & 0xFFFF).to_wire(),
        "next": Ack((transfer.acked + 1) & 0xFFFF).to_wire(),
        "error": Error(0, "stop").to_wire(),
        "data": Data(1, b"x").to_wire(),
        "junk": b"\x00\x09??",
        "short": b"\x00\x04\x00",
    }[step]


@given(
    size=st.integers(0, 6000),
    windowsize=st.integers(1, 4),
    oack=st.booleans(),
    pre_split=st.booleans(),
    steps=st.lists(STEPS, max_size=40),
)
def test_the_fast_path_answers_exactly_what_the_table_answers(
    size: int, windowsize: int, oack: bool, pre_split: bool, steps: list[str | int]
) -> None:
    """``receive`` (fast path, then the table) and ``step`` (the table only), same datagrams."""
    data = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
    fast, general = twins(data, windowsize, oack, pre_split)
    now = T0
    for step in steps:
        now += 0.01
        if step == "timeout":
            assert fast.timeout(now) == general.timeout(now)
        else:
            packet = datagram(fast, step)
            assert fast.receive(packet, now) == general.step(packet, now)
        assert [getattr(fast, a) for a in OBSERVED] == [getattr(general, a) for a in OBSERVED]


def test_the_fast_path_takes_the_ack_of_everything_sent_and_nothing_else() -> None:
    fast, _ = twins(b"d" * 1100, 1, oack=False, pre_split=True)  # blocks 1, 2 and a short 3
    expected, answers = [], []
    for block in (1, 2, 3):
        expected.append(fast.expected)
        answers.append(fast.receive(Ack(block).to_wire(), T0))
    assert expected == [Ack(1).to_wire(), Ack(2).to_wire(), Ack(3).to_wire()]
    assert answers == [[Data(2, b"d" * 512).to_wire()], [Data(3, b"d" * 76).to_wire()], []]
    assert (fast.state, fast.expected) == (State.COMPLETE, None)
    windowed, _ = twins(b"d" * 1100, 2, oack=True, pre_split=False)
    expected = [windowed.expected]  # NEGOTIATING: the OACK's ACK
    assert len(windowed.receive(Ack(0).to_wire(), T0)) == 2
    expected.append(windowed.expected)  # the ACK of the whole window
    windowed.fail("gone")
    expected.append(windowed.expected)
    assert expected == [Ack(0).to_wire(), Ack(2).to_wire(), None]


def test_packets_are_kept_by_content_never_by_identity() -> None:
    cache = PacketCache()
    first = cache.get(b"k" * 1000, 512)
    assert first == split(b"k" * 1000, 512)
    assert cache.get(bytes(bytearray(b"k" * 1000)), 512) is first  # equal bytes, another object
    assert cache.get(b"k" * 1000, 1024) is not first  # another block size: other packets
    other = cache.get(b"j" * 1000, 512)  # may reuse a freed object's id: never its packets
    assert other == split(b"j" * 1000, 512)
    assert cache.get(bytes(SPLIT_LIMIT + 1), 512) is None  # too large to keep: cut as sent

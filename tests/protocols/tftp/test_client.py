"""The sans-I/O client, alone and against the sans-I/O server over a lossy in-memory network."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from phonetrust.protocols.tftp.client import ClientState, ClientTransfer
from phonetrust.protocols.tftp.packets import (
    Ack,
    Data,
    Error,
    OptionAck,
    PeerError,
    ProtocolViolation,
    ReadRequest,
    TransferTimeout,
    parse,
)
from phonetrust.protocols.tftp.server import (
    LISTENER,
    OpenTransfer,
    RequestReceived,
    Send,
    TftpServerCore,
)
from phonetrust.protocols.tftp.transfer import Address, ServerConfig

SERVER: Address = ("10.0.0.10", 69)
TID: Address = ("10.0.0.10", 40000)
ME: Address = ("10.1.1.5", 50000)
T0 = 50.0


def seeded(seed: int) -> random.Random:
    return random.Random(seed)  # noqa: S311 - reproducible jitter, not secrets


def test_request_carries_the_options_asked_for() -> None:
    client = ClientTransfer("f", SERVER, blksize=1428, windowsize=4, timeout=2, tsize=True)
    assert parse(client.start(T0)) == ReadRequest(
        "f", "octet", (("blksize", "1428"), ("tsize", "0"), ("timeout", "2"), ("windowsize", "4"))
    )


def test_plain_transfer_locks_onto_the_servers_new_port() -> None:
    client = ClientTransfer("f", SERVER)
    client.start(T0)
    out = client.receive_datagram(Data(1, b"a" * 512).to_wire(), TID, T0)
    assert out == [(Ack(1).to_wire(), TID)]
    stranger = client.receive_datagram(Data(2, b"b").to_wire(), ("10.0.0.10", 40001), T0)
    assert stranger == [(Error(5, "Unknown transfer ID").to_wire(), ("10.0.0.10", 40001))]
    assert client.receive_datagram(Data(2, b"b").to_wire(), TID, T0) == [(Ack(2).to_wire(), TID)]
    assert client.state is ClientState.COMPLETE
    assert client.result() == b"a" * 512 + b"b"
    # the server did not get our last ACK: say it again
    assert client.receive_datagram(Data(2, b"b").to_wire(), TID, T0) == [(Ack(2).to_wire(), TID)]


def test_answers_from_another_host_are_ignored_before_the_lock() -> None:
    client = ClientTransfer("f", SERVER)
    client.start(T0)
    assert client.receive_datagram(Data(1, b"x").to_wire(), ("6.6.6.6", 69), T0) == []
    assert client.state is ClientState.REQUESTED


def test_oack_within_what_was_asked_is_acknowledged_with_block_0() -> None:
    client = ClientTransfer("f", SERVER, blksize=1428, tsize=True)
    client.start(T0)
    oack = OptionAck((("blksize", "1024"), ("tsize", "3000")))
    assert client.receive_datagram(oack.to_wire(), TID, T0) == [(Ack(0).to_wire(), TID)]
    assert (client.blksize, client.tsize) == (1024, 3000)
    # our ACK 0 was lost: the OACK comes again and is acknowledged again
    assert client.receive_datagram(oack.to_wire(), TID, T0) == [(Ack(0).to_wire(), TID)]


@pytest.mark.parametrize(
    "options",
    [
        (("blksize", "2000"),),
        (("windowsize", "2"),),
        (("blksize", "x"),),
        (("blksize", "\u00b2"),),  # byte 0xB2: isdigit() says yes, int() raises
        (("blksize", "\u0663".encode().decode("latin-1")),),  # an Arabic-Indic three, UTF-8
        (("tsize", "99999999999"),),
        (("blksize", ""),),
        (("blksize", "-1"),),
    ],
)
def test_oack_granting_more_than_asked_is_refused_with_error_8(
    options: tuple[tuple[str, str], ...],
) -> None:
    client = ClientTransfer("f", SERVER, blksize=1428)
    client.start(T0)
    out = client.receive_datagram(OptionAck(options).to_wire(), TID, T0)
    packet = parse(out[0][0])
    assert isinstance(packet, Error)
    assert packet.code == 8
    with pytest.raises(ProtocolViolation):
        client.result()


def test_a_server_error_is_the_result() -> None:
    client = ClientTransfer("f", SERVER)
    client.start(T0)
    client.receive_datagram(Error(1, "File not found").to_wire(), SERVER, T0)
    with pytest.raises(PeerError) as caught:
        client.result()
    assert caught.value.code == 1


def test_retransmits_the_request_with_backoff_then_times_out() -> None:
    client = ClientTransfer("f", SERVER, retries=3, jitter=0)
    request = client.start(T0)
    now, waits = T0, []
    while not client.finished:
        when = client.next_timer()
        assert when is not None
        waits.append(when - now)
        now = when
        out = client.handle_timer(now)
        if not client.finished:
            assert out == [(request, SERVER)]
    assert waits == [1, 2, 4, 8]
    assert client.retransmissions == 3
    with pytest.raises(TransferTimeout):
        client.result()


def test_too_large_a_file_is_refused() -> None:
    client = ClientTransfer("f", SERVER, max_size=600)
    client.start(T0)
    client.receive_datagram(Data(1, b"x" * 512).to_wire(), TID, T0)
    out = client.receive_datagram(Data(2, b"x" * 512).to_wire(), TID, T0)
    assert parse(out[0][0]) == Error(3, "f is larger than 600 bytes")
    assert client.state is ClientState.FAILED


def test_windowed_client_acks_each_window_and_the_last_in_order_block_on_a_gap() -> None:
    client = ClientTransfer("f", SERVER, windowsize=3)
    client.start(T0)
    client.receive_datagram(OptionAck((("windowsize", "3"),)).to_wire(), TID, T0)
    assert client.receive_datagram(Data(1, b"a" * 512).to_wire(), TID, T0) == []
    assert client.receive_datagram(Data(3, b"c" * 512).to_wire(), TID, T0) == [
        (Ack(1).to_wire(), TID)
    ]
    client.receive_datagram(Data(2, b"b" * 512).to_wire(), TID, T0)
    assert client.receive_datagram(Data(3, b"c" * 512).to_wire(), TID, T0) == []
    assert client.receive_datagram(Data(4, b"d" * 512).to_wire(), TID, T0) == [
        (Ack(4).to_wire(), TID)
    ]


# -- client and server together ------------------------------------------------------------


def exchange(  # noqa: PLR0912 - a whole network in one loop reads best in one place
    payload: bytes,
    loss: list[bool],
    *,
    blksize: int | None,
    windowsize: int | None,
    seed: int,
) -> ClientTransfer:
    """Run one transfer through a network that drops the datagrams ``loss`` marks."""
    core = TftpServerCore(ServerConfig(retries=8, max_timeout=4), seeded(seed))
    client = ClientTransfer(
        "f", SERVER, blksize=blksize, windowsize=windowsize, retries=8, rng=seeded(seed)
    )
    ports: dict[int, Address] = {LISTENER: SERVER}
    wire: list[tuple[bytes, Address, Address]] = [(client.start(T0), ME, SERVER)]
    drops = iter(loss)
    now = T0
    for _ in range(20_000):
        if client.finished and (not wire or core.active == 0):
            break
        if not wire:
            timers = [t for t in (client.next_timer(), core.next_timer()) if t is not None]
            if not timers:
                break
            now = max(now, min(timers))
            for datagram, to in client.handle_timer(now):
                wire.append((datagram, ME, to))
            server_actions = core.handle_timer(now)
        else:
            datagram, source, to = wire.pop(0)
            if next(drops, False):
                continue
            if to == ME:
                for out, dest in client.receive_datagram(datagram, source, now):
                    wire.append((out, ME, dest))
                continue
            tid = next((t for t, a in ports.items() if a == to), None)
            if tid is None:
                continue
            server_actions = core.receive_datagram(datagram, source, now, tid)
        todo = list(server_actions)
        while todo:
            action = todo.pop(0)
            if isinstance(action, RequestReceived):
                todo.extend(core.accept(action.addr, payload, now))
            elif isinstance(action, OpenTransfer):
                ports[action.tid] = ("10.0.0.10", 40000 + action.tid)
            elif isinstance(action, Send):
                wire.append((action.datagram, ports[action.tid], action.addr))
    return client


@settings(max_examples=60, deadline=None)
@given(
    size=st.integers(0, 6000),
    loss=st.lists(st.booleans(), max_size=60),
    blksize=st.sampled_from([None, 8, 512, 1428]),
    windowsize=st.sampled_from([None, 1, 4]),
    seed=st.integers(0, 1000),
)
def test_a_lossy_network_delays_but_never_corrupts(
    size: int, loss: list[bool], blksize: int | None, windowsize: int | None, seed: int
) -> None:
    payload = seeded(seed).randbytes(size)
    client = exchange(payload, loss, blksize=blksize, windowsize=windowsize, seed=seed)
    assert client.finished
    if client.state is ClientState.COMPLETE:
        assert client.result() == payload
    else:  # only a run of losses may defeat the retries: 3 before the server hears the client
        assert sum(loss) >= 3


def test_the_last_ack_lost_still_leaves_the_client_complete() -> None:
    payload = b"p" * 700
    # RRQ, DATA 1, ACK 1, DATA 2 pass; the final ACK 2 is lost
    client = exchange(
        payload, [False, False, False, False, True], blksize=None, windowsize=None, seed=1
    )
    assert client.result() == payload

"""The sans-I/O TFTP server: options, blocks, retransmission, capacity, and its state table.

Time is an argument: every test moves a number, nothing sleeps. Randomness
(the retransmission jitter) comes from a seeded ``random.Random``.
"""

from __future__ import annotations

import random

import pytest

from phonetrust.protocols.tftp.packets import (
    Ack,
    Data,
    Error,
    ErrorCode,
    OptionAck,
    ReadRequest,
    WriteRequest,
    option_number,
    parse,
)
from phonetrust.protocols.tftp.server import (
    LISTENER,
    Action,
    Dropped,
    OpenTransfer,
    Queued,
    Refused,
    RequestReceived,
    Send,
    SlotsFull,
    TftpServerCore,
    TransferEnded,
)
from phonetrust.protocols.tftp.transfer import (
    Address,
    ServerConfig,
)

PHONE: Address = ("10.1.1.5", 50000)
OTHER: Address = ("10.1.1.6", 50001)
T0 = 1000.0


def seeded(seed: int) -> random.Random:
    return random.Random(seed)  # noqa: S311 - reproducible jitter, not secrets


def core_with(**config: float) -> TftpServerCore:
    return TftpServerCore(ServerConfig(**config), seeded(7))  # type: ignore[arg-type]


def sends(actions: list[Action], tid: int | None = None) -> list[bytes]:
    return [a.datagram for a in actions if isinstance(a, Send) and (tid is None or a.tid == tid)]


def ended(actions: list[Action]) -> list[TransferEnded]:
    return [a for a in actions if isinstance(a, TransferEnded)]


def start(
    core: TftpServerCore,
    payload: bytes,
    *options: tuple[str, str],
    addr: Address = PHONE,
    name: str = "ITLFile.tlv",
    now: float = T0,
) -> tuple[int, list[Action]]:
    """Request ``name`` from ``addr`` and serve ``payload``; returns the tid and first actions."""
    actions = core.receive_datagram(ReadRequest(name, "octet", options).to_wire(), addr, now)
    assert [type(a) for a in actions] == [RequestReceived]
    actions = core.accept(addr, payload, now, tag="tag")
    opened = [a for a in actions if isinstance(a, OpenTransfer)]
    assert len(opened) == 1
    return opened[0].tid, actions


def ack(core: TftpServerCore, tid: int, block: int, now: float = T0) -> list[Action]:
    return core.receive_datagram(Ack(block).to_wire(), PHONE, now, tid)


def oack_of(actions: list[Action]) -> dict[str, str]:
    packet = parse(sends(actions)[0])
    assert isinstance(packet, OptionAck)
    return dict(packet.options)


# -- options -----------------------------------------------------------------------------


def test_no_options_means_no_oack_and_data_1_at_once() -> None:
    core = core_with()
    tid, actions = start(core, b"hello")
    assert sends(actions, tid) == [Data(1, b"hello").to_wire()]
    done = ack(core, tid, 1)
    assert ended(done)[0].ok
    assert ended(done)[0].tag == "tag"
    assert core.active == 0


@pytest.mark.parametrize(
    ("asked", "max_blksize", "granted"),
    [
        ("512", 65464, "512"),
        ("1428", 65464, "1428"),
        ("65464", 65464, "65464"),
        ("70000", 65464, "65464"),
        ("65464", 1428, "1428"),
        ("8", 65464, "8"),
    ],
)
def test_blksize_is_granted_up_to_the_limit(asked: str, max_blksize: int, granted: str) -> None:
    core = core_with(max_blksize=max_blksize)
    tid, actions = start(core, bytes(100_000), ("blksize", asked))
    assert oack_of(actions) == {"blksize": granted}
    first = parse(sends(ack(core, tid, 0), tid)[0])
    assert isinstance(first, Data)
    assert len(first.data) == int(granted)


NOT_NUMBERS = [
    b"\xb2",  # "²" read as Latin-1: str.isdigit() accepted it, int() raised ValueError
    b"1\xb2",
    b"\xb9\xb3",
    "\u0663".encode(),  # ARABIC-INDIC DIGIT THREE in UTF-8
    "\uff11".encode(),  # FULLWIDTH DIGIT ONE in UTF-8
    b"-1",
    b"+5",
    b"",
    b" ",
    b"1.5",
    b"0x10",
    b"99999999999",
    b"9" * 4000,
]
"""Option values that are no TFTP number: each one is left out, never an exception."""


def request_with(name: bytes, value: bytes) -> bytes:
    """An RRQ with one option's raw bytes, then ``blksize 1024``."""
    return b"\x00\x01f\x00octet\x00" + name + b"\x00" + value + b"\x00blksize\x001024\x00"


@pytest.mark.parametrize("value", NOT_NUMBERS)
@pytest.mark.parametrize("name", [b"blksize", b"timeout", b"windowsize", b"tsize"])
def test_an_option_value_that_is_not_ascii_digits_costs_only_that_option(
    name: bytes, value: bytes
) -> None:
    core = core_with()
    assert [type(a) for a in core.receive_datagram(request_with(name, value), PHONE, T0)] == [
        RequestReceived
    ]
    actions = core.accept(PHONE, b"x" * 600, T0)
    expected = {"blksize": "1024"} if name != b"blksize" else {}
    if name == b"tsize":
        expected["tsize"] = "600"  # tsize's value is ignored: it is answered with the size
    if expected:
        assert oack_of(actions) == expected
    else:
        assert sends(actions) == [Data(1, b"x" * 512).to_wire()]
    # the next request is served as usual
    other, more = start(core, b"y", addr=OTHER)
    assert sends(more, other) == [Data(1, b"y").to_wire()]


@pytest.mark.parametrize("text", ["\u00b2", "\u0663", "\u0663\u0663", "\uff11", "\u00bd"])
def test_unicode_digits_are_no_option_number(text: str) -> None:
    assert text.isdigit() or text.isnumeric()
    assert option_number(text) is None
    assert option_number(" 42 ") == 42
    assert option_number("0000000001") == 1


@pytest.mark.parametrize("bad", ["7", "0", "-1", "abc", "", "99999999999"])
def test_an_invalid_blksize_is_left_out(bad: str) -> None:
    core = core_with()
    tid, actions = start(core, b"x" * 600, ("blksize", bad))
    assert sends(actions, tid) == [Data(1, b"x" * 512).to_wire()]


def test_tsize_timeout_and_windowsize_are_answered() -> None:
    core = core_with(max_windowsize=8)
    tid, actions = start(
        core,
        b"z" * 5000,
        ("tsize", "0"),
        ("timeout", "3"),
        ("windowsize", "100"),
        ("unknown", "1"),
    )
    assert oack_of(actions) == {"tsize": "5000", "timeout": "3", "windowsize": "8"}
    transfer = core.transfer(tid)
    assert transfer is not None
    assert T0 + 2 <= transfer.deadline <= T0 + 2 * 1.5  # silent_wait until the peer answers
    window = sends(ack(core, tid, 0), tid)
    assert [Data.from_wire(d).block for d in window] == list(range(1, 9))
    assert T0 + 3 <= transfer.deadline <= T0 + 3 * 1.5  # then the client's timeout


@pytest.mark.parametrize("bad", ["0", "11", "255", "256", "1.5", "x"])
def test_an_invalid_timeout_is_left_out(bad: str) -> None:
    _, actions = start(core_with(), b"x", ("timeout", bad), ("tsize", "0"))
    assert oack_of(actions) == {"tsize": "1"}


def test_option_names_are_echoed_as_the_client_spelt_them() -> None:
    _, actions = start(core_with(), b"x", ("BLKSIZE", "1024"))
    assert oack_of(actions) == {"BLKSIZE": "1024"}


def test_a_client_refusing_the_oack_ends_the_transfer_quietly() -> None:
    core = core_with()
    tid, _ = start(core, b"x", ("blksize", "1024"))
    answer = core.receive_datagram(Error(8, "no").to_wire(), PHONE, T0, tid)
    assert sends(answer) == []
    assert not ended(answer)[0].ok


# -- blocks ------------------------------------------------------------------------------


def run_to_end(core: TftpServerCore, tid: int, first: list[Action]) -> list[bytes]:
    """ACK every DATA until the transfer ends; the payloads in order."""
    got: list[bytes] = []
    pending = sends(first, tid)
    while pending:
        packet = parse(pending[-1])
        if isinstance(packet, OptionAck):
            pending = sends(ack(core, tid, 0), tid)
            continue
        assert isinstance(packet, Data)
        got.extend(Data.from_wire(d).data for d in pending)
        pending = sends(ack(core, tid, packet.block), tid)
    return got


def test_a_file_of_exactly_n_blocks_ends_with_an_empty_data() -> None:
    core = core_with()
    tid, actions = start(core, b"a" * 1024)
    assert [len(b) for b in run_to_end(core, tid, actions)] == [512, 512, 0]
    assert core.active == 0
    assert core.stats.completed == 1


def test_an_empty_file_is_one_empty_data() -> None:
    core = core_with()
    tid, actions = start(core, b"")
    assert sends(actions, tid) == [Data(1, b"").to_wire()]
    assert ended(ack(core, tid, 1))[0].ok


def test_block_numbers_roll_over_past_65535() -> None:
    core = core_with()
    payload = bytes(range(256)) * 2100  # 537,600 bytes: 67,201 blocks of 8
    tid, actions = start(core, payload, ("blksize", "8"))
    assert b"".join(run_to_end(core, tid, actions)) == payload


def test_windowsize_sends_a_window_and_resumes_after_the_acked_block() -> None:
    core = core_with()
    tid, _ = start(core, b"q" * 512 * 10, ("windowsize", "4"))
    window = sends(ack(core, tid, 0), tid)
    assert [Data.from_wire(d).block for d in window] == [1, 2, 3, 4]
    # the client got 1 and 2 only: it acknowledges 2, the server goes on from 3
    window = sends(ack(core, tid, 2), tid)
    assert [Data.from_wire(d).block for d in window] == [3, 4, 5, 6]
    window = sends(ack(core, tid, 6), tid)
    assert [Data.from_wire(d).block for d in window] == [7, 8, 9, 10]
    window = sends(ack(core, tid, 10), tid)
    assert [Data.from_wire(d).block for d in window] == [11]
    assert ended(ack(core, tid, 11))[0].ok


def test_duplicate_and_wrong_acks_are_not_answered() -> None:
    core = core_with()
    tid, _ = start(core, b"d" * 2000)
    assert sends(ack(core, tid, 1), tid) == [Data(2, b"d" * 512).to_wire()]
    assert ack(core, tid, 1) == []  # duplicate: no Sorcerer's Apprentice resend
    assert ack(core, tid, 0) == []  # older still
    assert ack(core, tid, 9) == []  # a block never sent
    assert sends(ack(core, tid, 2), tid) == [Data(3, b"d" * 512).to_wire()]


def test_packets_other_than_ack_from_the_client() -> None:
    core = core_with()
    tid, _ = start(core, b"d" * 2000)
    assert core.receive_datagram(b"\x00\x09junk", PHONE, T0, tid) == []  # malformed: dropped
    foreign = core.receive_datagram(Ack(1).to_wire(), OTHER, T0, tid)
    assert foreign == [Send(tid, Error(5, "Unknown transfer ID").to_wire(), OTHER)]
    assert core.active == 1
    illegal = core.receive_datagram(Data(1, b"x").to_wire(), PHONE, T0, tid)
    assert parse(sends(illegal)[0]) == Error(4, "Illegal TFTP operation")
    assert not ended(illegal)[0].ok
    assert core.receive_datagram(Ack(1).to_wire(), PHONE, T0, tid) == [
        Dropped(PHONE, "datagram for a finished transfer")
    ]


def test_an_error_from_the_client_ends_the_transfer_without_an_answer() -> None:
    core = core_with()
    tid, _ = start(core, b"d" * 2000)
    actions = core.receive_datagram(Error(0, "bye").to_wire(), PHONE, T0, tid)
    assert sends(actions) == []
    assert ended(actions)[0].reason == "client sent error 0"


# -- retransmission ----------------------------------------------------------------------


def test_retransmission_backs_off_and_gives_up_after_the_retries() -> None:
    core = core_with(jitter=0, timeout=1, max_timeout=8, retries=5)
    tid, _ = start(core, b"r" * 600)
    first = sends(ack(core, tid, 1), tid)  # the peer answered once: the full backoff applies
    waits = []
    now = T0
    while True:
        when = core.next_timer()
        assert when is not None
        waits.append(when - now)
        now = when
        actions = core.handle_timer(now)
        if ended(actions):
            break
        assert sends(actions, tid) == first
    assert waits == [1, 2, 4, 8, 8, 8]
    assert parse(sends(actions, tid)[0]) == Error(0, "Transfer timed out")
    assert ended(actions)[0].reason == "timed out after 5 retransmissions"
    assert ended(actions)[0].retransmissions == 5
    assert core.stats.retransmissions == 5
    assert core.next_timer() is None


def test_progress_resets_the_backoff() -> None:
    core = core_with(jitter=0, timeout=1)
    tid, _ = start(core, b"r" * 2000)
    core.handle_timer(T0 + 1)
    core.handle_timer(T0 + 3)
    ack(core, tid, 1, now=T0 + 3.5)
    transfer = core.transfer(tid)
    assert transfer is not None
    assert transfer.deadline == T0 + 4.5


def test_jitter_spreads_the_retries_of_clients_that_lost_packets_together() -> None:
    core = core_with(jitter=0.5, timeout=1)
    tids = [start(core, b"x", addr=("10.0.0.1", 1000 + i))[0] for i in range(200)]
    deadlines = []
    for tid in tids:
        transfer = core.transfer(tid)
        assert transfer is not None
        deadlines.append(transfer.deadline - T0)
    assert all(1.0 <= d <= 1.5 for d in deadlines)
    assert len({round(d, 3) for d in deadlines}) > 150
    assert max(deadlines) - min(deadlines) > 0.4


def test_an_early_timer_call_changes_nothing() -> None:
    core = core_with()
    tid, _ = start(core, b"x" * 2000)
    ack(core, tid, 1, now=T0 + 0.9)  # the deadline moved on; the heap entry did not
    assert core.handle_timer(T0 + 1.2) == []
    assert (core.next_timer() or 0) > T0 + 1.2


# -- requests ------------------------------------------------------------------------------


def test_write_requests_are_refused_with_access_violation() -> None:
    core = core_with()
    actions = core.receive_datagram(WriteRequest("x").to_wire(), PHONE, T0)
    assert parse(sends(actions, LISTENER)[0]) == Error(2, "Access violation")
    assert isinstance(actions[1], Refused)


def test_unknown_modes_are_refused_and_netascii_is_accepted() -> None:
    core = core_with()
    actions = core.receive_datagram(ReadRequest("x", "mail").to_wire(), PHONE, T0)
    error = parse(sends(actions, LISTENER)[0])
    assert isinstance(error, Error)
    assert error.code == ErrorCode.ILLEGAL_OPERATION
    actions = core.receive_datagram(ReadRequest("x", "NetAscii").to_wire(), OTHER, T0)
    assert [type(a) for a in actions] == [RequestReceived]


def test_garbage_and_stray_packets_on_the_request_port_get_no_answer() -> None:
    core = core_with()
    for junk in (b"", b"\xff" * 40, Ack(1).to_wire(), Data(1, b"").to_wire()):
        actions = core.receive_datagram(junk, PHONE, T0)
        assert len(actions) == 1
        assert isinstance(actions[0], Dropped)
    assert core.stats.dropped == 4


def test_a_refused_request_is_answered_from_the_listener() -> None:
    core = core_with()
    core.receive_datagram(ReadRequest("nope").to_wire(), PHONE, T0)
    actions = core.refuse(PHONE, ErrorCode.FILE_NOT_FOUND, "File not found", "no such file")
    assert actions == [
        Send(LISTENER, Error(1, "File not found").to_wire(), PHONE),
        Refused("nope", PHONE, 1, "no such file"),
    ]
    assert core.refuse(PHONE, ErrorCode.FILE_NOT_FOUND, "again") == []


def test_a_retransmitted_request_starts_nothing_new() -> None:
    core = core_with()
    request = ReadRequest("ITLFile.tlv").to_wire()
    assert isinstance(core.receive_datagram(request, PHONE, T0)[0], RequestReceived)
    assert isinstance(core.receive_datagram(request, PHONE, T0)[0], Dropped)  # pending
    core.accept(PHONE, b"x" * 2000, T0)
    assert isinstance(core.receive_datagram(request, PHONE, T0 + 0.5)[0], Dropped)  # running
    assert core.active == 1


def test_another_file_from_the_same_address_ends_the_old_transfer() -> None:
    core = core_with()
    tid, _ = start(core, b"x" * 2000)
    actions = core.receive_datagram(ReadRequest("other").to_wire(), PHONE, T0)
    assert ended(actions)[0].tid == tid
    assert isinstance(actions[-1], RequestReceived)


def test_over_the_cap_requests_queue_and_a_full_queue_tells_its_oldest_busy() -> None:
    core = core_with(max_transfers=1, max_queue=1, queue_wait=5)
    tid, _ = start(core, b"x")
    second, third = ("10.0.0.2", 2), ("10.0.0.3", 3)
    for addr in (second, third):
        core.receive_datagram(ReadRequest("f").to_wire(), addr, T0)
    assert core.accept(second, b"y", T0) == [SlotsFull(1), Queued("f", second)]
    busy = core.accept(third, b"z", T0)  # the fresh request takes the stale one's place
    assert busy[:2] == [SlotsFull(1), Send(LISTENER, BUSY, second)]
    assert busy[-1] == Queued("f", third)
    assert core.stats.busy == 1
    done = ack(core, tid, 1, now=T0 + 0.1)
    opened = [a for a in done if isinstance(a, OpenTransfer)]
    assert [o.addr for o in opened] == [third]
    assert sends(done, opened[0].tid) == [Data(1, b"z").to_wire()]


BUSY = Error(0, "Server busy, try again later").to_wire()


def test_a_fresh_request_evicts_the_oldest_transfer_never_answered() -> None:
    core = core_with(max_transfers=3, max_queue=10, evict_after=0.5)
    answered, _ = start(core, b"a" * 2000, addr=("10.0.0.1", 1))
    core.receive_datagram(Ack(1).to_wire(), ("10.0.0.1", 1), T0, answered)
    old, _ = start(core, b"b" * 2000, addr=("10.0.0.2", 2), now=T0)
    young, _ = start(core, b"c" * 2000, addr=("10.0.0.3", 3), now=T0 + 0.3)
    # at T0 + 0.4 nothing never-answered is 0.5 s old: the fresh request waits
    core.receive_datagram(ReadRequest("f").to_wire(), PHONE, T0 + 0.4)
    assert core.accept(PHONE, b"p", T0 + 0.4)[-1] == Queued("f", PHONE)
    # at T0 + 0.6 the next fresh request evicts the old one, quietly, and starts at once
    core.receive_datagram(ReadRequest("f").to_wire(), OTHER, T0 + 0.6)
    actions = core.accept(OTHER, b"o", T0 + 0.6)
    assert ended(actions)[0].tid == old
    assert not ended(actions)[0].ok
    assert "never answered" in ended(actions)[0].reason
    assert sends(actions) == [Data(1, b"o").to_wire()]  # nothing to the evicted peer
    assert core.stats.evicted == 1
    assert {core.transfer(t) is not None for t in (answered, young)} == {True}
    # the queued one starts at the next timer, in the young one's slot once it is stale
    later = core.handle_timer(T0 + 0.85)
    assert [e.tid for e in ended(later)] == [young]
    assert Send(ended(later)[0].tid + 2, Data(1, b"p").to_wire(), PHONE) in later
    assert core.active == 3


@pytest.mark.parametrize(("options", "size"), [((), 1), ((), 5000), ((("blksize", "1428"),), 5000)])
def test_a_peer_that_never_answers_gets_the_first_datagram_three_times_at_most(
    options: tuple[tuple[str, str], ...], size: int
) -> None:
    core = core_with(timeout=1, jitter=0.5, silent_retries=2, silent_wait=2)
    tid, actions = start(core, b"q" * size, *options)
    out = sends(actions, tid)
    now = T0
    while core.active:
        when = core.next_timer()
        assert when is not None
        now = when
        actions = core.handle_timer(now)
        out += sends(actions, tid)
    assert len(out) == 3
    assert len(set(out)) == 1  # the first datagram again, nothing louder
    assert sum(map(len, out)) <= 3 * (4 + 512)
    assert now - T0 <= 3 * 1 * 1.5
    assert ended(actions)[0].reason == "no answer from the client after 3 sends"


def test_a_long_timeout_option_is_declined_and_a_silent_peer_still_costs_nine_seconds() -> None:
    core = core_with(jitter=0.5)
    _, accepted = start(core, b"x" * 5000, ("timeout", "10"), addr=("10.0.0.9", 10))
    assert oack_of(accepted) == {"timeout": "10"}
    _, declined = start(core, b"x" * 5000, ("timeout", "255"), addr=("10.0.0.9", 255))
    assert [parse(d) for d in sends(declined)] == [Data(1, b"x" * 512)]  # no option left: no OACK
    now = T0
    while core.active:
        when = core.next_timer()
        assert when is not None
        now = when
        core.handle_timer(now)
    assert now - T0 <= 3 * 2 * 1.5


def test_the_freshest_waiting_request_starts_first_and_a_retransmission_refreshes_it() -> None:
    core = core_with(max_transfers=1, max_queue=5, queue_wait=5)
    tid, _ = start(core, b"x")
    clients = [("10.0.0.2", 2), ("10.0.0.3", 3), ("10.0.0.4", 4)]
    for i, addr in enumerate(clients):
        core.receive_datagram(ReadRequest("f").to_wire(), addr, T0 + i * 0.1)
        core.accept(addr, b"y", T0 + i * 0.1)
    # the first client is alive: it retransmits, and its request is fresh again
    again = core.receive_datagram(ReadRequest("f").to_wire(), clients[0], T0 + 0.3)
    assert again == [Dropped(clients[0], "retransmitted request (it waits, refreshed)")]
    done = ack(core, tid, 1, now=T0 + 0.4)
    assert [o.addr for o in done if isinstance(o, OpenTransfer)] == [clients[0]]


def test_a_request_that_waited_too_long_is_dropped_when_its_turn_comes() -> None:
    core = core_with(max_transfers=1, max_queue=5, queue_wait=2)
    tid, _ = start(core, b"x")
    core.receive_datagram(ReadRequest("f").to_wire(), OTHER, T0)
    core.accept(OTHER, b"y", T0)
    done = ack(core, tid, 1, now=T0 + 3)
    assert Dropped(OTHER, "waited too long for a free transfer slot") in done
    assert core.stats.expired == 1
    assert core.active == 0


def test_abort_all_ends_everything_and_stops_accepting() -> None:
    core = core_with()
    start(core, b"x" * 5000)
    start(core, b"x" * 5000, addr=OTHER)
    actions = core.abort_all(T0, "stop")
    assert len(ended(actions)) == 2
    assert core.active == 0
    assert isinstance(core.receive_datagram(ReadRequest("f").to_wire(), PHONE, T0)[0], Dropped)

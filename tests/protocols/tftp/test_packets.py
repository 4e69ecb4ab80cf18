"""TFTP packets: one case table, both directions, fed three ways (style.md habit 1).

Each row is a packet value and its bytes, written out by hand from RFC 1350
(opcode 2 bytes; strings NUL-terminated; block numbers 2 bytes big-endian),
RFC 2347 (options as name/value string pairs, OACK opcode 6) - never
produced by the code under test. Decoding is checked against the value and
encoding against the bytes. Fed whole; fed as every shorter prefix (a UDP
datagram arrives whole, so a prefix must be refused or read as a different
packet - never crash); and followed by junk (refused, except after DATA,
whose payload runs to the end of the datagram).
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from hypothesis import given
from hypothesis import strategies as st

from phonetrust.errors import BuildError, ParseError, ProtocolError
from phonetrust.protocols.tftp.packets import (
    Ack,
    Data,
    Error,
    ErrorCode,
    MalformedPacket,
    OptionAck,
    Packet,
    PeerError,
    ProtocolViolation,
    ReadRequest,
    TftpError,
    TransferTimeout,
    WriteRequest,
    parse,
)


@dataclass(frozen=True)
class Case:
    value: Packet
    wire: bytes
    junk_ok: bool = False
    """Trailing bytes are part of the value (DATA payload)."""


CASES = (
    Case(ReadRequest("ITLFile.tlv"), b"\x00\x01ITLFile.tlv\x00octet\x00"),
    Case(
        ReadRequest("CTLSEP0011215A1AE3.tlv", "octet", (("blksize", "1428"), ("tsize", "0"))),
        b"\x00\x01CTLSEP0011215A1AE3.tlv\x00octet\x00blksize\x001428\x00tsize\x000\x00",
    ),
    Case(
        ReadRequest("a", "NETASCII", (("timeout", "3"), ("windowsize", "16"))),
        b"\x00\x01a\x00NETASCII\x00timeout\x003\x00windowsize\x0016\x00",
    ),
    Case(WriteRequest("x.bin", "octet"), b"\x00\x02x.bin\x00octet\x00"),
    Case(Data(1, b""), b"\x00\x03\x00\x01", junk_ok=True),
    Case(Data(0xFFFF, b"\x00\xffab"), b"\x00\x03\xff\xff\x00\xffab", junk_ok=True),
    Case(Ack(0), b"\x00\x04\x00\x00"),
    Case(Ack(0x1234), b"\x00\x04\x12\x34"),
    Case(Error(1, "File not found"), b"\x00\x05\x00\x01File not found\x00"),
    Case(Error(0, ""), b"\x00\x05\x00\x00\x00"),
    Case(OptionAck((("blksize", "512"),)), b"\x00\x06blksize\x00512\x00"),
    Case(OptionAck(()), b"\x00\x06"),
)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.wire[:12].hex())
def test_decode_and_encode_agree_with_the_table(case: Case) -> None:
    assert parse(case.wire) == case.value
    assert case.value.to_wire() == case.wire
    assert type(case.value).from_wire(case.wire) == case.value


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.wire[:12].hex())
def test_every_prefix_is_refused_or_a_different_packet(case: Case) -> None:
    for end in range(len(case.wire)):
        try:
            packet = parse(case.wire[:end])
        except MalformedPacket:
            continue
        lenient = isinstance(case.value, Error) and end == len(case.wire) - 1
        assert packet != case.value or lenient  # an ERROR may lack its final NUL


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.wire[:12].hex())
def test_trailing_junk_is_refused_or_belongs_to_the_payload(case: Case) -> None:
    junk = b"\x01junk"
    if case.junk_ok:
        packet = parse(case.wire + junk)
        assert isinstance(packet, Data)
        assert isinstance(case.value, Data)
        assert packet.data == case.value.data + junk
    else:
        with pytest.raises(MalformedPacket):
            parse(case.wire + junk)


def test_error_without_its_final_nul_is_read_leniently() -> None:
    assert parse(b"\x00\x05\x00\x02denied") == Error(2, "denied")


@pytest.mark.parametrize(
    "wire",
    [
        b"",
        b"\x00",
        b"\x00\x07",
        b"\x01\x01a\x00octet\x00",
        b"\x00\x01a\x00",  # no mode
        b"\x00\x01a\x00octet\x00blksize\x00",  # an option without value
        b"\x00\x01a\x00octet\x00\x00512\x00",  # an empty option name
        b"\x00\x04\x00",  # short ACK
        b"\x00\x04\x00\x01\x00",  # long ACK
        b"\x00\x03\x00",  # DATA without its block number
        b"\x00\x05\x00",  # ERROR without its code
        b"\x00\x06blksize",  # unterminated OACK
    ],
)
def test_malformed_datagrams_raise_the_typed_error(wire: bytes) -> None:
    with pytest.raises(MalformedPacket) as caught:
        parse(wire)
    assert isinstance(caught.value, ParseError)
    assert isinstance(caught.value, TftpError)
    assert isinstance(caught.value, ProtocolError)  # the one type of CAPF, TVS and TFTP
    assert caught.value.code == ErrorCode.ILLEGAL_OPERATION
    assert caught.value.reason == caught.value.message
    assert 0 <= caught.value.offset <= len(wire)
    assert str(caught.value) == f"{caught.value.reason} (at byte {caught.value.offset})"


def test_every_tftp_failure_is_the_protocol_error_of_capf_and_tvs() -> None:
    timeout = TransferTimeout("no answer")
    assert isinstance(timeout, ProtocolError)
    assert (str(timeout), timeout.reason, timeout.offset, timeout.code) == (
        "no answer",
        "no answer",
        None,
        ErrorCode.NOT_DEFINED,
    )
    peer = Error(1, "File not found").exception()
    assert isinstance(peer, ProtocolError)
    assert peer.code == ErrorCode.FILE_NOT_FOUND
    assert isinstance(ProtocolViolation("unexpected DATA"), ProtocolError)


def test_repeated_options_keep_the_first_and_lookup_ignores_case() -> None:
    packet = parse(b"\x00\x01f\x00octet\x00BlkSize\x001024\x00blksize\x00512\x00")
    assert isinstance(packet, ReadRequest)
    assert packet.options == (("BlkSize", "1024"),)
    assert packet.option("BLKSIZE") == "1024"
    assert packet.option("tsize") is None


def test_non_ascii_bytes_decode_as_latin1_and_round_trip() -> None:
    wire = b"\x00\x01caf\xe9\x00octet\x00"
    packet = parse(wire)
    assert isinstance(packet, ReadRequest)
    assert packet.filename == "caf\xe9"
    assert packet.to_wire() == wire


@pytest.mark.parametrize(
    "build",
    [
        lambda: Ack(-1),
        lambda: Ack(65536),
        lambda: Data(70000, b""),
        lambda: ReadRequest("a\0b"),
        lambda: ReadRequest("\u20ac"),
        lambda: Error(70000),
        lambda: OptionAck((("", "1"),)),
    ],
)
def test_values_that_cannot_go_on_the_wire_cannot_be_built(build: object) -> None:
    with pytest.raises(BuildError):
        build()  # type: ignore[operator]


def test_from_wire_of_one_type_refuses_another() -> None:
    with pytest.raises(MalformedPacket):
        Ack.from_wire(b"\x00\x03\x00\x01")
    with pytest.raises(MalformedPacket):
        ReadRequest.from_wire(b"\x00\x02a\x00octet\x00")


def test_an_error_packet_becomes_the_peer_error_with_its_code() -> None:
    exc = Error(1, "File not found").exception()
    assert isinstance(exc, PeerError)
    assert exc.code == 1
    assert "FILE_NOT_FOUND" in str(exc)
    assert Error(99, "?").exception().code == 99


@given(st.binary(max_size=600))
def test_arbitrary_datagrams_parse_or_raise_the_typed_error(data: bytes) -> None:
    try:
        packet = parse(data)
    except MalformedPacket:
        return
    assert parse(packet.to_wire()) == packet


@given(st.sampled_from([1, 2, 6]), st.lists(st.binary(max_size=20), max_size=8))
def test_nul_separated_datagrams_parse_or_raise_the_typed_error(
    opcode: int, parts: list[bytes]
) -> None:
    data = bytes([0, opcode]) + b"\0".join(parts) + b"\0"
    try:
        packet = parse(data)
    except MalformedPacket:  # any other exception fails the test
        return
    assert isinstance(packet, ReadRequest | WriteRequest | OptionAck)

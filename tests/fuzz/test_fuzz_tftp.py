"""A bounded fuzz run over TFTP option values, on both sides of the wire.

A read request with any option names and any option values either starts
a transfer or is refused - never an exception - and the request after it
is served as usual; an OACK with any values is acknowledged or refused with
error 8 by the client - never an exception.

The values are raw bytes (the wire decodes them as Latin-1, so ``\\xb2``
arrives as ``²``): ASCII digits, Unicode digits in UTF-8, signs, huge
numbers, empty strings and arbitrary bytes. Plain hypothesis generation,
600 examples in all. A failure prints a reproduction blob.
"""

from __future__ import annotations

import random

from hypothesis import example, given, settings
from hypothesis import strategies as st

from phonetrust.protocols.tftp.client import ClientTransfer
from phonetrust.protocols.tftp.packets import Data, Error, parse
from phonetrust.protocols.tftp.server import (
    OpenTransfer,
    RequestReceived,
    Send,
    TftpServerCore,
    TransferEnded,
)
from phonetrust.protocols.tftp.transfer import Address, ServerConfig

FUZZ = settings(max_examples=200, deadline=None, print_blob=True)
PEER: Address = ("10.9.9.9", 4000)
NEXT: Address = ("10.9.9.10", 4001)
SERVER: Address = ("10.0.0.10", 69)
T0 = 100.0

NAMES = st.sampled_from(
    [b"blksize", b"BLKSIZE", b"timeout", b"TimeOut", b"tsize", b"windowsize", b"x", b"\xb2"]
)
LATIN_DIGITS = "0123456789\u00b2\u00b3\u00b9\u00bc +-."
"""What Latin-1 decoding makes of bytes 0x30-0x39, 0xB2, 0xB3, 0xB9, 0xBC: isdigit() or not."""
OTHER_DIGITS = "0123456789\u0663\u06f5\u0967\uff11\u2460"
"""Digits of other scripts, sent as UTF-8 by a client that thinks in Unicode."""
VALUES = st.one_of(
    st.binary(max_size=24).map(lambda b: b.replace(b"\0", b"")),
    st.text(alphabet=LATIN_DIGITS, max_size=14).map(lambda t: t.encode("latin-1")),
    st.text(alphabet=OTHER_DIGITS, max_size=6).map(str.encode),
    st.integers(min_value=-(10**12), max_value=10**30).map(lambda n: str(n).encode()),
)
OPTIONS = st.lists(st.tuples(NAMES, VALUES), max_size=6)


def rrq(options: list[tuple[bytes, bytes]]) -> bytes:
    return b"\x00\x01f\x00octet\x00" + b"".join(n + b"\0" + v + b"\0" for n, v in options)


@FUZZ
@example(options=[(b"blksize", b"\xb2")], size=600)  # the report: blksize=²
@example(options=[(b"timeout", "\u0663".encode())], size=600)
@given(options=OPTIONS, size=st.integers(min_value=0, max_value=3000))
def test_any_option_values_start_a_transfer_or_are_refused(
    options: list[tuple[bytes, bytes]], size: int
) -> None:
    core = TftpServerCore(ServerConfig(), random.Random(1))  # noqa: S311 - jitter, not secrets
    actions = core.receive_datagram(rrq(options), PEER, T0)
    if [type(a) for a in actions] == [RequestReceived]:
        started = core.accept(PEER, b"d" * size, T0)
        assert isinstance(started[0], OpenTransfer)
        first = parse(next(a.datagram for a in started if isinstance(a, Send)))
        assert not isinstance(first, Error)
    # whatever happened, the clock still runs every transfer to its end ...
    now = T0
    for _ in range(50):
        when = core.next_timer()
        if when is None:
            break
        now = when
        core.handle_timer(now)
    assert core.active == 0
    # ... and the next request is served
    core.receive_datagram(rrq([]), NEXT, now)
    after = core.accept(NEXT, b"ok", now)
    assert Send(after[0].tid, Data(1, b"ok").to_wire(), NEXT) in after  # type: ignore[union-attr]
    assert not any(isinstance(a, TransferEnded) for a in after)


@FUZZ
@given(options=st.lists(st.tuples(NAMES, VALUES), min_size=1, max_size=4))
def test_any_oack_values_are_acknowledged_or_refused_with_error_8(
    options: list[tuple[bytes, bytes]],
) -> None:
    client = ClientTransfer("f", SERVER, blksize=1428, windowsize=4, timeout=2, tsize=True)
    client.start(T0)
    oack = b"\x00\x06" + b"".join(n + b"\0" + v + b"\0" for n, v in options)
    out = client.receive_datagram(oack, ("10.0.0.10", 40000), T0)
    assert len(out) <= 1
    if out:
        packet = parse(out[0][0])
        assert not isinstance(packet, Error) or packet.code == 8


@FUZZ
@given(value=VALUES)
def test_a_timeout_option_never_makes_the_server_wait_longer_than_its_cap(value: bytes) -> None:
    core = TftpServerCore(ServerConfig(), random.Random(2))  # noqa: S311 - jitter, not secrets
    core.receive_datagram(rrq([(b"timeout", value)]), PEER, T0)
    core.accept(PEER, b"d" * 100, T0)
    when = core.next_timer()
    assert when is not None
    assert when - T0 <= ServerConfig().max_option_timeout * (1 + ServerConfig().jitter)

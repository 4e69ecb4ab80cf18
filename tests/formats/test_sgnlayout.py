"""SignedLayout: a ``.sgn`` recognised without parsing is one the full parse would keep.

The file plan keeps a published ``.sgn`` when parsing it gives the new
content, the signer's serial and the digest. :class:`SignedLayouts` answers
"yes" without parsing for files that are byte for byte what ``sign_file``
writes; these tests check that every "yes" is also the parser's "yes", that
every file ``sign_file`` writes is recognised, and that a change anywhere
outside the timestamp and signature is noticed.
"""

from __future__ import annotations

import functools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from phonetrust.errors import ParseError
from phonetrust.formats.algorithms import Digest
from phonetrust.formats.names import serial_bytes
from phonetrust.formats.sgn import SignedFile, sign_file
from phonetrust.formats.sgnlayout import SignedLayout, SignedLayouts
from phonetrust.formats.signing import Signer
from phonetrust.testing.pki import Identity, make_identity, plain_name

NAME = "SEP001122334455.cnf.xml.sgn"
CONTENT = b'<?xml version="1.0" encoding="UTF-8"?>\n<device>\n</device>\n'


@functools.cache
def _identity(slot: int, serial: int | None = None, cn: str = "cucm-pub") -> Identity:
    return make_identity(plain_name(cn), bits=2048, slot=slot, serial=serial)


def _signer(which: int = 0) -> Signer:
    if which == 2:  # same serial as 0, another name and key
        return _identity(1, serial=_identity(0).certificate.serial_number, cn="other").signer
    return _identity(which).signer


def _parser_keeps(data: bytes, signer: Signer, digest: Digest, content: bytes) -> bool:
    """The file plan's full check: parse, same content, same signer serial and digest."""
    try:
        old = SignedFile.from_wire(data)
    except ParseError:
        return False
    return (
        old.content == content
        and old.header.signer_serial == serial_bytes(signer.certificate.serial_number)
        and old.header.digest == digest
    )


def _signed(content: bytes, name: str, timestamp: int, digest: Digest, which: int = 0) -> bytes:
    return sign_file(
        content, _signer(which), filename=name, timestamp=timestamp, digest=digest
    ).to_wire()


_names = st.one_of(
    st.just(NAME),
    st.text(alphabet="SEPabc019.-é€", min_size=1, max_size=30),
)
_contents = st.binary(max_size=200)
_digests = st.sampled_from([Digest.SHA1, Digest.SHA512])
_slow = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@_slow
@given(_contents, _names, st.integers(0, 0xFFFFFFFF), _digests)
def test_every_file_sign_file_writes_is_recognised(
    content: bytes, name: str, timestamp: int, digest: Digest
) -> None:
    data = _signed(content, name, timestamp, digest)
    assert SignedLayouts(_signer(), digest).holds(data, name, content)
    assert _parser_keeps(data, _signer(), digest, content)


@_slow
@given(
    _contents,
    st.integers(0, 0xFFFFFFFF),
    _digests,
    st.data(),
)
def test_a_recognised_file_is_one_the_parser_keeps(
    content: bytes, timestamp: int, digest: Digest, data: st.DataObject
) -> None:
    """Damage a signed file anywhere; whenever the layout still matches, parsing agrees."""
    original = bytearray(_signed(content, NAME, timestamp, digest))
    layouts = SignedLayouts(_signer(), digest)
    for _ in range(8):
        damaged = bytearray(original)
        kind = data.draw(st.sampled_from(["flip", "cut", "grow"]))
        if kind == "flip":
            at = data.draw(st.integers(0, len(damaged) - 1))
            damaged[at] ^= data.draw(st.integers(1, 255))
        elif kind == "cut":
            del damaged[data.draw(st.integers(0, len(damaged) - 1)) :]
        else:
            damaged[data.draw(st.integers(0, len(damaged))) : 0] = data.draw(
                st.binary(min_size=1, max_size=8)
            )
        if layouts.holds(bytes(damaged), NAME, content):
            assert _parser_keeps(bytes(damaged), _signer(), digest, content)


def test_only_the_timestamp_and_signature_may_differ() -> None:
    data = _signed(CONTENT, NAME, 1_700_000_000, Digest.SHA1)
    layout = SignedLayout.of(_signer(), Digest.SHA1, len(NAME))
    holes = {*range(*layout.signature), *range(*layout.timestamp)}
    header = len(layout.template)
    for at in range(len(data)):
        damaged = bytearray(data)
        damaged[at] ^= 0x01
        assert layout.holds(bytes(damaged), NAME, CONTENT) is (at in holes), at
    assert header == len(data) - len(CONTENT)


@pytest.mark.parametrize(
    ("which", "digest", "name", "content"),
    [
        (1, Digest.SHA1, NAME, CONTENT),  # another signer
        (2, Digest.SHA1, NAME, CONTENT),  # same serial, other signer name and key
        (0, Digest.SHA512, NAME, CONTENT),  # another digest
        (0, Digest.SHA1, "SEP0011223344AA.cnf.xml.sgn", CONTENT),  # another file's header
        (0, Digest.SHA1, NAME, CONTENT + b" "),  # other content
    ],
)
def test_anything_else_is_left_to_the_parser(
    which: int, digest: Digest, name: str, content: bytes
) -> None:
    data = _signed(content, name, 1_700_000_000, digest, which)
    assert not SignedLayouts(_signer(), Digest.SHA1).holds(data, NAME, CONTENT)


def test_same_serial_other_name_is_still_kept_by_the_parser() -> None:
    """The layout is stricter than the parser: the fallback must remain (fileplan does)."""
    data = _signed(CONTENT, NAME, 1_700_000_000, Digest.SHA1, which=2)
    assert _parser_keeps(data, _signer(), Digest.SHA1, CONTENT)

"""Signed files (``.sgn``): a VERSION 1.0 header, then the original file byte for byte.

Built with :func:`sign_file`, parsed back, compared byte for byte; the
signature is checked both through :meth:`SignedFile.verify` and directly with
``cryptography`` over the file minus its SIGNATURE element, as spec/formats.md
defines the signed bytes. Unsigning is dropping the first HEADER LENGTH bytes.
"""

from __future__ import annotations

import functools

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from hypothesis import given, settings
from hypothesis import strategies as st

from phonetrust.errors import ParseError
from phonetrust.formats import names
from phonetrust.formats.algorithms import Digest
from phonetrust.formats.detect import parse_any
from phonetrust.formats.header import PAD_BYTE, Header
from phonetrust.formats.record import Record
from phonetrust.formats.sgn import SignedFile, sign_file
from phonetrust.formats.signing import Failure
from phonetrust.formats.tags import HeaderTag, Role
from phonetrust.formats.trustlist import build_trust_list
from phonetrust.pki.selfsigned import Organisation
from phonetrust.testing.pki import Identity, make_identity, serial_of_length
from phonetrust.wire.tlv import HEADER_SIZE, Element, walk

TIMESTAMP = 1767225600
SGN_NAME = "SEP001122334455.cnf.xml.sgn"
CONFIG = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n'
    b'<device xsi:type="axl:XIPPhone" ctiid="548">\n'
    b"<loadInformation>SIP75.9-4-2SR3-1S</loadInformation>\n"
    b"</device>\n"
)
CUCM_ORDER = [
    HeaderTag.VERSION,
    HeaderTag.HEADERLENGTH,
    HeaderTag.SIGNERID,
    HeaderTag.SIGNATUREINFO,
    HeaderTag.SIGNATURE,
    HeaderTag.FILENAME,
    HeaderTag.TIMESTAMP,
]
ORG = Organisation()


@functools.cache
def tftp(bits: int = 1024) -> Identity:
    """The TFTP node's CallManager identity (cached RSA key)."""
    return make_identity(ORG.name("cucm-pub"), bits=bits, serial=serial_of_length(16), slot=0)


@functools.cache
def other_node() -> Identity:
    """Another node's CallManager certificate: another serial, another key."""
    return make_identity(ORG.name("cucm-sub"), bits=1024, serial=serial_of_length(16, 7), slot=1)


@functools.cache
def impostor() -> Identity:
    """The TFTP certificate's subject and serial, but another key."""
    return make_identity(ORG.name("cucm-pub"), bits=1024, serial=serial_of_length(16), slot=1)


def signed(
    content: bytes = CONFIG, *, digest: Digest = Digest.SHA1, bits: int = 1024
) -> SignedFile:
    return sign_file(
        content, tftp(bits).signer, filename=SGN_NAME, timestamp=TIMESTAMP, digest=digest
    )


def header_length_of(data: bytes) -> int:
    """HEADER LENGTH read from the raw bytes: VERSION (5 bytes) then HEADER LENGTH."""
    assert data[0] == HeaderTag.VERSION
    assert data[5:8] == bytes([HeaderTag.HEADERLENGTH, 0, 2])
    return int.from_bytes(data[8:10], "big")


def signature_element_span(data: bytes) -> tuple[int, int]:
    """Walk the raw top-level TLVs to the SIGNATURE element (spec: what signing cuts out)."""
    pos = 0
    while data[pos] != HeaderTag.SIGNATURE:
        pos += HEADER_SIZE + int.from_bytes(data[pos + 1 : pos + 3], "big")
    return pos, pos + HEADER_SIZE + int.from_bytes(data[pos + 1 : pos + 3], "big")


# -- building, parsing, round trip ---------------------------------------------------------


@pytest.mark.parametrize(
    "content",
    [CONFIG, b"", b"\r\r\r\n<device/>", bytes(range(256)) * 3, b"\x01\x00\x02\x01\x02"],
    ids=["config", "empty", "starts-with-padding-bytes", "binary", "looks-like-a-header"],
)
def test_parse_gives_back_the_content_and_the_bytes(content: bytes) -> None:
    data = signed(content).to_wire()
    parsed = SignedFile.from_wire(data)
    assert parsed.content == content
    assert parsed.to_wire() == data
    assert parse_any(data) == parsed
    assert parsed.verify(tftp().certificate).verified


@pytest.mark.parametrize("content", [CONFIG, b"", b"\r\r\r\r\r"])
def test_unsigning_is_dropping_header_length_bytes(content: bytes) -> None:
    data = signed(content).to_wire()
    header_length = header_length_of(data)
    assert header_length == SignedFile.from_wire(data).header.size
    assert data[header_length:] == content
    assert data.endswith(content)


def test_header_is_version_1_0_named_after_the_sgn_file() -> None:
    header = signed().header
    assert header.version == (1, 0)
    assert header.filename == SGN_NAME
    node = header.node(HeaderTag.FILENAME)
    assert isinstance(node, Element)
    assert node.value == SGN_NAME.encode() + b"\0"  # UTF-8 with the NUL the length counts
    assert header.timestamp == TIMESTAMP


def test_header_has_no_signer_version_and_cucm_element_order() -> None:
    data = signed().to_wire()
    header = Header.from_wire(data)
    assert all(node.tag != HeaderTag.SIGNERVERSION for node in walk(header.nodes))
    assert [node.tag for node in header.nodes] == CUCM_ORDER
    # padding: 0x0D bytes up to a multiple of 4
    assert header.size % 4 == 0
    assert 0 <= header.padding < 4
    unpadded = header.size - header.padding
    assert data[unpadded : header.size] == bytes([PAD_BYTE]) * header.padding


def test_header_names_the_signer() -> None:
    header = signed().header
    certificate = tftp().certificate
    assert header.signer_name == names.cucm_name(certificate.subject)
    assert header.ca_name == names.cucm_name(certificate.issuer)
    assert header.signer_serial == names.serial_bytes(certificate.serial_number)
    assert header.signer_serial is not None
    assert len(header.signer_serial) == 16
    assert header.modulus_bits == 1024
    assert header.signature is not None
    assert len(header.signature) == 128


@pytest.mark.parametrize(("digest", "code"), [(Digest.SHA1, 1), (Digest.SHA512, 3)])
@pytest.mark.parametrize("bits", [1024, 2048])
def test_signature_covers_the_whole_file_minus_the_signature_element(
    digest: Digest, code: int, bits: int
) -> None:
    data = signed(digest=digest, bits=bits).to_wire()
    parsed = SignedFile.from_wire(data)
    assert parsed.header.digest_code == code
    assert parsed.header.modulus_bits == bits
    start, end = signature_element_span(data)
    signature = data[start + HEADER_SIZE : end]
    assert len(signature) == bits // 8
    key = tftp(bits).certificate.public_key()
    assert isinstance(key, rsa.RSAPublicKey)
    key.verify(signature, data[:start] + data[end:], padding.PKCS1v15(), digest.hash_algorithm())
    with pytest.raises(InvalidSignature):
        key.verify(signature, data, padding.PKCS1v15(), digest.hash_algorithm())
    assert parsed.signed_bytes() == data[:start] + data[end:]


# -- verification --------------------------------------------------------------------------


@pytest.mark.parametrize("digest", [Digest.SHA1, Digest.SHA512])
def test_verifies_against_the_signer_certificate(digest: Digest) -> None:
    verification = SignedFile.from_wire(signed(digest=digest).to_wire()).verify(tftp().certificate)
    assert verification.verified
    assert verification.failure is None


@pytest.mark.parametrize("digest", [Digest.SHA1, Digest.SHA512])
def test_another_certificate_is_a_signer_mismatch(digest: Digest) -> None:
    parsed = SignedFile.from_wire(signed(digest=digest).to_wire())
    verification = parsed.verify(other_node().certificate)
    assert not verification.verified
    assert verification.failure is Failure.SIGNER_MISMATCH


@pytest.mark.parametrize("digest", [Digest.SHA1, Digest.SHA512])
def test_same_serial_with_another_key_is_a_bad_signature(digest: Digest) -> None:
    fake: x509.Certificate = impostor().certificate
    assert fake.serial_number == tftp().certificate.serial_number
    assert fake.subject == tftp().certificate.subject
    verification = SignedFile.from_wire(signed(digest=digest).to_wire()).verify(fake)
    assert not verification.verified
    assert verification.failure is Failure.BAD_SIGNATURE


@pytest.mark.parametrize("where", ["content", "header name", "timestamp", "signature"])
def test_tampering_is_a_bad_signature(where: str) -> None:
    original = signed().to_wire()
    start, _ = signature_element_span(original)
    position = {
        "content": header_length_of(original) + 10,
        "header name": original.index(b"CN=cucm-pub") + 4,
        "timestamp": original.index(TIMESTAMP.to_bytes(4, "big")) + 3,
        "signature": start + HEADER_SIZE + 5,
    }[where]
    data = bytearray(original)
    data[position] ^= 0x01
    parsed = SignedFile.from_wire(bytes(data))
    verification = parsed.verify(tftp().certificate)
    assert not verification.verified
    assert verification.failure is Failure.BAD_SIGNATURE


@settings(deadline=None, max_examples=40)
@given(st.binary(max_size=300))
def test_any_content_round_trips_and_verifies(content: bytes) -> None:
    data = signed(content).to_wire()
    parsed = SignedFile.from_wire(data)
    assert parsed.content == content
    assert data[header_length_of(data) :] == content
    assert parsed.to_wire() == data
    assert parsed.verify(tftp().certificate).verified


# -- what is not an .sgn -------------------------------------------------------------------


def test_a_trust_list_is_not_a_signed_file() -> None:
    itl = build_trust_list(
        tftp().signer,
        [Record.from_certificate(tftp().certificate, Role.SAST)],
        filename="ITLFile.tlv",
        timestamp=TIMESTAMP,
    )
    with pytest.raises(ParseError, match=r"version 1\.0") as info:
        SignedFile.from_wire(itl.to_wire())
    assert info.value.offset == 0


def test_without_a_signature_element_nothing_verifies() -> None:
    original = signed().to_wire()
    start, _ = signature_element_span(original)
    data = original[:start] + b"\x63" + original[start + 1 :]  # SIGNATURE becomes unknown tag 99
    parsed = SignedFile.from_wire(data)
    assert parsed.header.signature is None
    assert parsed.content == CONFIG
    verification = parsed.verify(tftp().certificate)
    assert not verification.verified
    assert verification.failure is Failure.NO_SIGNATURE


def test_an_unknown_digest_code_is_unsupported() -> None:
    original = signed().to_wire()
    at = original.index(bytes([HeaderTag.DIGESTALGORTITHM, 0, 1, Digest.SHA1])) + HEADER_SIZE
    parsed = SignedFile.from_wire(original[:at] + b"\x09" + original[at + 1 :])
    assert parsed.header.digest is None
    verification = parsed.verify(tftp().certificate)
    assert not verification.verified
    assert verification.failure is Failure.DIGEST_UNSUPPORTED

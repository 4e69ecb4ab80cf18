"""Hostile input: whatever the bytes, a parser either succeeds or raises ParseError.

The sentence (style.md habit 9): ``parse_any``, ``TrustList.from_wire``,
``SignedFile.from_wire`` and ``EncryptedFile.from_wire`` either return a
value or raise :class:`phonetrust.errors.ParseError` whose ``offset`` is an
int inside the input - never any other exception. Whatever they accept
re-serialises to the very bytes it came from.

The inputs are arbitrary bytes, header-shaped bytes, and mutations of four
valid files (a CTL, an ITL, a ``.sgn`` and an ``.enc.sgn``) signed with
cached 1024-bit keys: truncation at every length, bit flips, lengths made too
long, too short or 0xFFFF, containers that overflow their parent, and
containers nested without end. Beyond the sentence, every single-byte change
of a valid ITL must make its parse or its verification fail.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from phonetrust.errors import DecryptionError, ParseError
from phonetrust.formats.detect import parse_any
from phonetrust.formats.encsgn import EncryptedFile, EncryptionInfo, decrypt_file, encrypt_file
from phonetrust.formats.header import Header
from phonetrust.formats.record import ETOKEN_DNS_NAME, Record
from phonetrust.formats.sgn import SignedFile, sign_file
from phonetrust.formats.signing import Failure
from phonetrust.formats.tags import HEADER_CONTAINERS, HeaderTag, RecordTag, Role
from phonetrust.formats.trustlist import TrustList, build_trust_list
from phonetrust.pki.selfsigned import Organisation
from phonetrust.testing.pki import Identity, make_identity, serial_of_length
from phonetrust.wire.tlv import HEADER_SIZE, Container, Element, Node, encode

TIMESTAMP = 1767225600
CONFIG_NAME = "SEP001122334455.cnf.xml"
CONFIG = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<device xsi:type="axl:XIPPhone" ctiid="548">\n'
    b"<loadInformation>SIP75.9-4-2SR3-1S</loadInformation>\n</device>\n"
)
AES_KEY = bytes(range(16))
IV = bytes.fromhex("f0e1d2c3b4a5968778695a4b3c2d1e0f")

Parser = Callable[[bytes], object]
PARSERS: tuple[tuple[str, Parser], ...] = (
    ("parse_any", parse_any),
    ("TrustList.from_wire", TrustList.from_wire),
    ("SignedFile.from_wire", SignedFile.from_wire),
    ("EncryptedFile.from_wire", EncryptedFile.from_wire),
)
KIND_PARSERS: dict[str, Parser] = {
    "itl": TrustList.from_wire,
    "ctl": TrustList.from_wire,
    "sgn": SignedFile.from_wire,
    "encsgn": EncryptedFile.from_wire,
}
KINDS = tuple(KIND_PARSERS)


# -- the valid files -----------------------------------------------------------------------


@dataclass(frozen=True)
class Valid:
    signer: Identity
    device: Identity
    files: dict[str, bytes]


@functools.cache
def valid() -> Valid:
    """Four small valid files, signed by one 1024-bit key (RSA keys come from the cache)."""
    org = Organisation()
    signer = make_identity(org.name("cucm-pub"), bits=1024, serial=serial_of_length(16), slot=0)
    tvs = make_identity(org.name("cucm-pub"), bits=1024, serial=serial_of_length(8, 3), slot=1)
    device = make_identity(org.name("SEP001122334455"), bits=1024, slot=2)
    itl = build_trust_list(
        signer.signer,
        [
            Record.from_certificate(signer.certificate, Role.SAST),
            Record.from_certificate(tvs.certificate, Role.TVS, hash_only=True),
        ],
        filename="ITLFile.tlv",
        timestamp=TIMESTAMP,
    )
    ctl = build_trust_list(
        signer.signer,
        [
            Record.from_certificate(
                signer.certificate,
                Role.SAST,
                dns_name=ETOKEN_DNS_NAME,
                include_signature=False,
                ip_address=ipaddress.IPv4Address("10.48.46.4"),
            ),
            Record.from_certificate(
                signer.certificate,
                Role.CCM_TFTP,
                dns_name="cucm-pub",
                ip_address=ipaddress.IPv4Address("10.48.46.4"),
            ),
        ],
        filename="CTLFile.tlv",
        timestamp=TIMESTAMP,
        signer_version=1,
    )
    sgn = sign_file(CONFIG, signer.signer, filename=f"{CONFIG_NAME}.sgn", timestamp=TIMESTAMP)
    enc = encrypt_file(
        CONFIG,
        signer.signer,
        device.certificate,
        filename=f"{CONFIG_NAME}.enc.sgn",
        timestamp=TIMESTAMP,
        aes_key=AES_KEY,
        iv=IV,
    )
    files = {
        "itl": itl.to_wire(),
        "ctl": ctl.to_wire(),
        "sgn": sgn.to_wire(),
        "encsgn": enc.to_wire(),
    }
    return Valid(signer, device, files)


@pytest.fixture(scope="module", autouse=True)
def _build_valid_files() -> None:
    """Keys and files are made once, before any hypothesis example runs."""
    for kind, data in valid().files.items():
        assert accepted(kind, data), kind


def signer_certificate() -> x509.Certificate:
    return valid().signer.certificate


def accepted(kind: str, data: bytes) -> bool:
    """Whether ``data`` parses as ``kind`` and verifies against the signer."""
    try:
        parsed = KIND_PARSERS[kind](data)
    except ParseError:
        return False
    certificate = signer_certificate()
    if isinstance(parsed, TrustList):
        by_record = parsed.verify().verified
        by_key = parsed.verify_with(certificate.public_key()).verified
        return by_record or by_key
    assert isinstance(parsed, SignedFile | EncryptedFile)
    return parsed.verify(certificate).verified


# -- the sentence ----------------------------------------------------------------------------


def parse_or_error(parse: Parser, data: bytes) -> object:
    """What ``parse`` returns, or the ParseError it raises; any other exception escapes."""
    try:
        return parse(data)
    except ParseError as exc:
        return exc


def assert_parse_error_offset(error: ParseError, data: bytes) -> None:
    assert type(error.offset) is int, error
    assert 0 <= error.offset <= len(data), (error, len(data))


def assert_parses_or_parse_error(data: bytes) -> None:
    """Every parser returns a value that re-serialises to ``data``, or raises ParseError.

    Any other exception escapes and fails the test.
    """
    for name, parse in PARSERS:
        outcome = parse_or_error(parse, data)
        if isinstance(outcome, ParseError):
            assert_parse_error_offset(outcome, data)
            continue
        assert isinstance(outcome, TrustList | SignedFile | EncryptedFile), name
        assert outcome.to_wire() == data, name


@dataclass(frozen=True)
class LengthField:
    """Where a 2-byte length sits in a file, and whether any off-by-one must fail the parse."""

    offset: int
    strict: bool
    what: str


HEADER_FIXED = frozenset(
    {
        HeaderTag.VERSION,
        HeaderTag.HEADERLENGTH,
        HeaderTag.DIGESTALGORTITHM,
        HeaderTag.SIGNATUREALGORTITHM,
        HeaderTag.SIGNATUREMODULUS,
        HeaderTag.TIMESTAMP,
        HeaderTag.SIGNERVERSION,
    }
)
RECORD_FIXED = frozenset(
    {RecordTag.RECORDLENGTH, RecordTag.FUNCTION, RecordTag.IPADDRESS, RecordTag.HASHALGORITHM}
)


def _header_fields(nodes: tuple[Node, ...], pos: int) -> list[LengthField]:
    fields: list[LengthField] = []
    for node in nodes:
        strict = isinstance(node, Container) or node.tag in HEADER_FIXED
        fields.append(LengthField(pos + 1, strict, f"header element {node.tag} at {pos}"))
        if node.tag == HeaderTag.HEADERLENGTH:
            fields.append(LengthField(pos + HEADER_SIZE, False, "HEADER LENGTH value"))
        if isinstance(node, Container):
            fields.extend(_header_fields(node.children, pos + HEADER_SIZE))
        pos += node.size
    return fields


@functools.cache
def length_fields(kind: str) -> tuple[LengthField, ...]:
    """Every length in a valid file: TLV lengths, HEADER LENGTH and RECORDLENGTH values."""
    data = valid().files[kind]
    header = Header.from_wire(data)
    fields = _header_fields(header.nodes, 0)
    if kind in ("itl", "ctl"):
        pos = header.size
        for record in TrustList.from_wire(data).records:
            fields.append(LengthField(pos + HEADER_SIZE, True, f"RECORDLENGTH value at {pos}"))
            for element in record.elements:
                strict = element.tag in RECORD_FIXED
                what = f"record element {element.tag} at {pos}"
                fields.append(LengthField(pos + 1, strict, what))
                pos += element.size
    return tuple(fields)


def with_u16(data: bytes, offset: int, value: int) -> bytes:
    return data[:offset] + value.to_bytes(2, "big") + data[offset + 2 :]


def u16_at(data: bytes, offset: int) -> int:
    return int.from_bytes(data[offset : offset + 2], "big")


def tlv(tag: int, value: bytes) -> bytes:
    return bytes([tag]) + len(value).to_bytes(2, "big") + value


HYPOTHESIS = settings(deadline=None, max_examples=200, suppress_health_check=[HealthCheck.too_slow])


# -- arbitrary and header-shaped bytes -----------------------------------------------------


@HYPOTHESIS
@given(st.binary(max_size=400))
def test_arbitrary_bytes(data: bytes) -> None:
    assert_parses_or_parse_error(data)


def _element(tag: int, value: bytes, lie: int) -> bytes:
    """An element whose declared length is off by ``lie`` (clamped to 16 bits)."""
    declared = min(max(len(value) + lie, 0), 0xFFFF)
    return bytes([tag]) + declared.to_bytes(2, "big") + value


LIES = st.sampled_from([0, 0, 0, 0, 0, 0, -1, 1, -3, 5, 0xFFFF])
CONTAINER_TAGS = sorted(int(tag) for tag in HEADER_CONTAINERS)
ENCRYPTION_BLOCK = encode(
    EncryptionInfo(
        iv=IV,
        padding_count=3,
        key_size_bits=1024,
        key_algorithm=1,
        wrapped_key=bytes(128),
        hash_algorithm=1,
        plaintext_hash=bytes(20),
    ).nodes()
)
"""A well-formed ENCRYPTION INFO block and its hash elements, so .enc.sgn parsing gets far."""

leaf_elements = st.builds(
    _element, st.sampled_from([*range(1, 29), 0, 0x0D, 99, 255]), st.binary(max_size=24), LIES
)
elements = st.recursive(
    leaf_elements,
    lambda children: st.builds(
        lambda tag, kids, lie: _element(tag, b"".join(kids), lie),
        st.sampled_from(CONTAINER_TAGS),
        st.lists(children, max_size=4),
        LIES,
    ),
    max_leaves=10,
) | st.just(ENCRYPTION_BLOCK)


@HYPOTHESIS
@given(
    version=st.sampled_from([b"\x01\x02", b"\x01\x00", b"\x02\x00", b"\x09\x09"]),
    before=st.lists(elements, max_size=3),
    after=st.lists(elements, max_size=6),
    padding=st.integers(0, 4),
    length_lie=LIES,
    body=st.one_of(st.binary(max_size=64), st.integers(0, 4).map(lambda n: bytes(16 * n))),
)
def test_header_shaped_bytes(
    *,
    version: bytes,
    before: list[bytes],
    after: list[bytes],
    padding: int,
    length_lie: int,
    body: bytes,
) -> None:
    """VERSION, HEADER LENGTH (mostly true) and nested elements: the parsers get deep in."""
    head = tlv(HeaderTag.VERSION, version) + b"".join(before)
    tail = b"".join(after) + b"\x0d" * padding
    length = min(max(len(head) + 5 + len(tail) + length_lie, 0), 0xFFFF)
    data = head + tlv(HeaderTag.HEADERLENGTH, length.to_bytes(2, "big")) + tail + body
    assert_parses_or_parse_error(data)


# -- mutations of valid files --------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_truncation_at_every_length(kind: str) -> None:
    """Every prefix obeys the sentence; exactly the prefixes that end a unit parse."""
    data = valid().files[kind]
    header_size = Header.from_wire(data).size
    if kind in ("itl", "ctl"):
        ends = {header_size}
        for record in TrustList.from_wire(data).records:
            ends.add(max(ends) + record.size)

        def whole(n: int) -> bool:
            return n in ends

    elif kind == "sgn":

        def whole(n: int) -> bool:
            return n >= header_size

    else:

        def whole(n: int) -> bool:
            return n >= header_size and (n - header_size) % 16 == 0

    parse = KIND_PARSERS[kind]
    for end in range(len(data)):
        prefix = data[:end]
        assert_parses_or_parse_error(prefix)
        try:
            parse(prefix)
        except ParseError:
            assert not whole(end), f"a {kind} cut at {end} bytes should parse"
        else:
            assert whole(end), f"a {kind} cut at {end} bytes parsed"
            assert not accepted(kind, prefix), f"a {kind} cut at {end} bytes verified"


@HYPOTHESIS
@given(kind=st.sampled_from(KINDS), data=st.data())
def test_bit_flips(kind: str, data: st.DataObject) -> None:
    original = valid().files[kind]
    mutated = bytearray(original)
    flips = data.draw(
        st.lists(
            st.tuples(st.integers(0, len(original) - 1), st.integers(0, 7)),
            min_size=1,
            max_size=4,
        )
    )
    for position, bit in flips:
        mutated[position] ^= 1 << bit
    assert_parses_or_parse_error(bytes(mutated))
    if bytes(mutated) != original:
        assert not accepted(kind, bytes(mutated))


@HYPOTHESIS
@given(kind=st.sampled_from(KINDS), data=st.data())
def test_any_length_set_to_any_value(kind: str, data: st.DataObject) -> None:
    original = valid().files[kind]
    field = data.draw(st.sampled_from(length_fields(kind)))
    current = u16_at(original, field.offset)
    value = data.draw(
        st.one_of(
            st.integers(0, 0xFFFF),
            st.integers(-8, 8).map(lambda delta: min(max(current + delta, 0), 0xFFFF)),
        )
    )
    mutated = with_u16(original, field.offset, value)
    assert_parses_or_parse_error(mutated)
    if value != current:
        assert not accepted(kind, mutated), field


@pytest.mark.parametrize("kind", KINDS)
def test_lengths_too_long_too_short_and_0xffff(kind: str) -> None:
    """Off by one in a container, RECORDLENGTH or fixed-size element: the parse fails.

    Any length at all set to 0xFFFF overruns these small files and fails too.
    Other lengths off by one may realign by chance, so for them (and for every
    length) the file must at least not verify.
    """
    original = valid().files[kind]
    parse = KIND_PARSERS[kind]
    fields = length_fields(kind)
    assert sum(f.strict for f in fields) >= 8
    for field in fields:
        current = u16_at(original, field.offset)
        for value in (current - 1, current + 1, 0xFFFF):
            if not 0 <= value <= 0xFFFF:
                continue
            mutated = with_u16(original, field.offset, value)
            assert_parses_or_parse_error(mutated)
            assert not accepted(kind, mutated), (field, value)
            if field.strict or value == 0xFFFF:
                with pytest.raises(ParseError):
                    parse(mutated)


def test_every_single_byte_of_an_itl_is_protected() -> None:
    """Change any one byte of a valid ITL - header, records, signature tag, length or
    value - and the file no longer parses, or no longer verifies (by its own signer
    record, nor by the signer's key)."""
    data = valid().files["itl"]
    itl = TrustList.from_wire(data)
    span = itl.header.signature_span()
    assert span is not None
    assert span[1] - span[0] == HEADER_SIZE + 128  # the signature value is inside the loop
    key = signer_certificate().public_key()
    changed = 0
    for position in range(len(data)):
        for mask in (0x01, 0x80, 0xFF):
            mutated = bytearray(data)
            mutated[position] ^= mask
            parsed = parse_or_error(TrustList.from_wire, bytes(mutated))
            if isinstance(parsed, ParseError):
                assert_parse_error_offset(parsed, data)
                continue
            assert isinstance(parsed, TrustList)
            assert not parsed.verify().verified, (position, mask)
            assert not parsed.verify_with(key).verified, (position, mask)
            changed += 1
    assert changed > len(data)  # most changes parse: it is the signature that catches them


# -- hand-made hostile headers -------------------------------------------------------------


def header_bytes(*elements: bytes, version: bytes = b"\x01\x02", padding: int = 0) -> bytes:
    """VERSION, HEADER LENGTH (counting everything), ``elements``, padding."""
    size = 2 * (HEADER_SIZE + 2) + sum(len(e) for e in elements) + padding
    return (
        tlv(HeaderTag.VERSION, version)
        + tlv(HeaderTag.HEADERLENGTH, size.to_bytes(2, "big"))
        + b"".join(elements)
        + b"\x0d" * padding
    )


def test_a_hand_made_header_parses() -> None:
    """The helper itself makes valid headers, so the failures below are the mutations'."""
    data = header_bytes(tlv(HeaderTag.SIGNERID, tlv(HeaderTag.SIGNERNAME, b"a\0")), padding=3)
    parsed = parse_any(data)
    assert isinstance(parsed, TrustList)
    assert parsed.header.signer_name == "a"
    assert parsed.records == ()


def test_a_child_that_overflows_its_container_fails_at_the_child() -> None:
    # SIGNERID says 5 bytes; its SIGNERNAME says 9, and bytes follow the container.
    signer_id = bytes([HeaderTag.SIGNERID]) + (5).to_bytes(2, "big")
    signer_id += bytes([HeaderTag.SIGNERNAME]) + (9).to_bytes(2, "big") + b"ab"
    data = header_bytes(signer_id + tlv(HeaderTag.FILENAME, b"ITLFile.tlv\0"))
    child_value = 10 + HEADER_SIZE + HEADER_SIZE
    for _, parse in PARSERS:
        with pytest.raises(ParseError, match="value of element 4") as info:
            parse(data)
        assert info.value.offset == child_value


def test_a_container_that_overflows_its_parent_fails_where_it_opens() -> None:
    # SIGNATUREINFO says 8 bytes; inside it, SIGNATUREALGOINFO says 8 bytes of its own.
    algo = tlv(HeaderTag.SIGNATUREALGORTITHM, b"\0") + tlv(HeaderTag.SIGNATUREMODULUS, b"\1")
    inner = tlv(HeaderTag.SIGNATUREALGOINFO, algo)
    info_value = tlv(HeaderTag.DIGESTALGORTITHM, b"\1") + inner
    outer = bytes([HeaderTag.SIGNATUREINFO]) + (8).to_bytes(2, "big") + info_value
    data = header_bytes(outer, padding=1)
    inner_value = 10 + HEADER_SIZE + 4 + HEADER_SIZE
    for _, parse in PARSERS:
        with pytest.raises(ParseError, match="container 9 declares 8 bytes, only 1 left") as info:
            parse(data)
        assert info.value.offset == inner_value


def test_a_header_element_that_overruns_header_length_fails() -> None:
    data = header_bytes(tlv(HeaderTag.FILENAME, b"ITLFile.tlv\0"))
    data = with_u16(data, 5 + HEADER_SIZE, len(data) - 1)  # HEADER LENGTH one short
    data += bytes(Record.from_elements([]).to_wire())
    for _, parse in PARSERS:
        with pytest.raises(ParseError) as info:
            parse(data)
        assert 10 <= info.value.offset <= len(data)


def test_a_fixed_size_header_element_of_the_wrong_size_is_reported_where_it_is() -> None:
    data = header_bytes(tlv(HeaderTag.FILENAME, b"x\0"), tlv(HeaderTag.TIMESTAMP, bytes(5)))
    timestamp_at = 10 + HEADER_SIZE + 2
    with pytest.raises(ParseError, match="TIMESTAMP must be 4 bytes") as info:
        parse_any(data)
    assert info.value.offset in (timestamp_at, timestamp_at + HEADER_SIZE)


def test_a_0xffff_element_cannot_be_counted_by_header_length() -> None:
    """A whole 64 KB element before HEADER LENGTH: the header cannot declare its own size."""
    data = (
        tlv(HeaderTag.VERSION, b"\x01\x02")
        + tlv(99, bytes(0xFFFF))
        + tlv(HeaderTag.HEADERLENGTH, (0xFFFF).to_bytes(2, "big"))
    )
    for _, parse in PARSERS:
        with pytest.raises(ParseError, match="shorter than the elements before it") as info:
            parse(data)
        assert info.value.offset == 5 + HEADER_SIZE + 0xFFFF


def test_a_0xffff_element_in_a_record_overruns_it() -> None:
    header = header_bytes(padding=0)
    record = (
        tlv(RecordTag.RECORDLENGTH, (0xFFFF).to_bytes(2, "big"))
        + tlv(99, bytes(0xFFFF))[: 0xFFFF - 5]
    )
    data = header + record
    with pytest.raises(ParseError, match="value of element 99") as info:
        TrustList.from_wire(data)
    assert info.value.offset == len(header) + 5 + HEADER_SIZE


def test_0xffff_lengths_everywhere_in_a_header() -> None:
    for position in range(0, 60, 1):
        data = bytearray(header_bytes(tlv(HeaderTag.SIGNERID, tlv(4, b"x" * 40)), padding=2))
        if position + 2 > len(data):
            break
        data[position : position + 2] = b"\xff\xff"
        assert_parses_or_parse_error(bytes(data))


def nested(depth: int, tag: int = HeaderTag.SIGNERID, core: bytes = b"") -> bytes:
    """``depth`` containers, each holding the next."""
    data = core
    for _ in range(depth):
        data = tlv(tag, data)
    return data


@pytest.mark.parametrize("where", ["before HEADER LENGTH", "after HEADER LENGTH"])
def test_deeply_nested_containers(where: str) -> None:
    """Eight levels parse; a ninth is refused where it starts; a thousand never recurse."""

    def make(depth: int) -> tuple[bytes, int]:
        containers = nested(depth, core=tlv(HeaderTag.SIGNERNAME, b"n\0"))
        if where == "after HEADER LENGTH":
            return header_bytes(containers, padding=-len(containers) % 4), 10
        size = 2 * (HEADER_SIZE + 2) + len(containers)
        data = (
            tlv(HeaderTag.VERSION, b"\x01\x02")
            + containers
            + tlv(HeaderTag.HEADERLENGTH, size.to_bytes(2, "big"))
        )
        return data, 5

    ok, _ = make(8)
    parsed = parse_any(ok)
    assert isinstance(parsed, TrustList)
    assert parsed.header.signer_name == "n"
    for depth in (9, 1000):
        data, start = make(depth)
        for _, parse in PARSERS:
            with pytest.raises(ParseError, match="nested too deeply") as info:
                parse(data)
            assert info.value.offset == start + 8 * HEADER_SIZE


def test_mixed_container_tags_nest_no_deeper() -> None:
    tags = [HeaderTag.ENCRYPTIONINFO, HeaderTag.IVINFO, HeaderTag.KEYINFO, HeaderTag.SIGNERID]
    data = b""
    for i in range(2000):
        data = tlv(tags[i % len(tags)], data)
    hostile = header_bytes(data, version=b"\x02\x00")
    assert_parses_or_parse_error(hostile)
    with pytest.raises(ParseError, match="nested too deeply") as info:
        parse_any(hostile)
    assert info.value.offset == 10 + 8 * HEADER_SIZE


# -- what parses must still be handled safely ----------------------------------------------


@HYPOTHESIS
@given(data=st.data())
def test_a_mutated_encrypted_file_decrypts_or_raises_decryption_error(
    data: st.DataObject,
) -> None:
    original = valid().files["encsgn"]
    mutated = bytearray(original)
    position = data.draw(st.integers(0, len(original) - 1))
    mutated[position] ^= data.draw(st.integers(1, 255))
    try:
        parsed = EncryptedFile.from_wire(bytes(mutated))
    except ParseError:
        return
    try:
        plaintext = decrypt_file(parsed, valid().device.key)
    except DecryptionError:
        return
    # Only a change the digest cannot see gets through: never altered content.
    assert plaintext == CONFIG


def _itl_with_signer_record(signer_record: Record) -> TrustList:
    return build_trust_list(
        valid().signer.signer, [signer_record], filename="ITLFile.tlv", timestamp=TIMESTAMP
    )


def _spki_with_unknown_algorithm(key: rsa.RSAPrivateKey) -> bytes:
    spki = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    rsa_oid = bytes.fromhex("2a864886f70d010101")  # 1.2.840.113549.1.1.1 rsaEncryption
    return spki.replace(rsa_oid, bytes.fromhex("2a864886f70d010109"))


def _certificate_with_even_exponent(certificate: x509.Certificate) -> bytes:
    der = certificate.public_bytes(serialization.Encoding.DER)
    exponent = bytes.fromhex("0203010001")  # INTEGER 65537
    assert der.count(exponent) == 1
    return der.replace(exponent, bytes.fromhex("0203010000"))


def _hostile_signer_records() -> list[tuple[str, Record]]:
    signer = valid().signer
    good = Record.from_certificate(signer.certificate, Role.SAST)
    base = [
        e for e in good.elements[1:] if e.tag not in (RecordTag.PUBLICKEY, RecordTag.CERTIFICATE)
    ]
    spki = _spki_with_unknown_algorithm(signer.key)
    bad_der = _certificate_with_even_exponent(signer.certificate)
    unknown_key_der = signer.certificate.public_bytes(serialization.Encoding.DER).replace(
        bytes.fromhex("2a864886f70d010101"), bytes.fromhex("2a864886f70d010109")
    )
    return [
        (
            "PUBLICKEY is an SPKI of an unknown algorithm",
            Record.from_elements([*base, Element(RecordTag.PUBLICKEY, spki)]),
        ),
        (
            "no PUBLICKEY, certificate with an even RSA exponent",
            Record.from_elements([*base, Element(RecordTag.CERTIFICATE, bad_der)]),
        ),
        (
            "no PUBLICKEY, certificate with an unknown key algorithm",
            Record.from_elements([*base, Element(RecordTag.CERTIFICATE, unknown_key_der)]),
        ),
    ]


@pytest.mark.parametrize("case", range(3))
def test_verify_of_a_parsed_hostile_trust_list_fails_cleanly(case: int) -> None:
    """A file that parses is verified or refused with a Failure - verify() never raises."""
    what, record = _hostile_signer_records()[case]
    itl = TrustList.from_wire(_itl_with_signer_record(record).to_wire())
    assert itl.signer_index() == 0, what
    verification = itl.verify()
    assert not verification.verified, what
    assert verification.failure in (Failure.KEY_UNUSABLE, Failure.BAD_SIGNATURE), what

"""Trust lists survive bytes → objects → bytes unchanged, whatever they hold.

Two parts: hypothesis builds CTLs and ITLs from varied certificates (names
in any script, serials of 1 to 20 bytes, RSA 1024/2048/4096, every role,
hash-only records, records with and without the certificate's signature,
SHA-1 and SHA-512) and checks that parsing and re-serialising gives the
same bytes, that the file verifies against its first record, and that the
listing is stable; a table then feeds hand-made files whose elements come in
foreign orders or carry tags phonetrust does not know.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, replace
from datetime import UTC, datetime

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from phonetrust.formats import names
from phonetrust.formats.algorithms import Digest
from phonetrust.formats.header import PAD_BYTE, Header
from phonetrust.formats.listing import render
from phonetrust.formats.record import ETOKEN_DNS_NAME, ITL_DNS_NAME, Record
from phonetrust.formats.signing import Signer
from phonetrust.formats.tags import HeaderTag, RecordTag, Role
from phonetrust.formats.trustlist import Kind, TrustList, build_trust_list, signed_bytes
from phonetrust.testing.pki import FIXED_NOW, rsa_key, serial_of_length
from phonetrust.wire import Reader
from phonetrust.wire.tlv import Container, Element, Node

KEY_SIZES = (1024, 2048, 4096)
KEY_SLOTS = 2
NOT_AFTER = datetime(2031, 1, 1, tzinfo=UTC)


@pytest.fixture(scope="module", autouse=True)
def _warm_keys() -> None:
    """Generate every cached key once, outside the hypothesis examples."""
    for bits in KEY_SIZES:
        for slot in range(KEY_SLOTS):
            rsa_key(bits, slot)


# -- strategies ----------------------------------------------------------------------------

# Printable text in any script. cryptography holds a CN to 64 UTF-8 bytes (RFC 5280
# ub-common-name), hence at most 16 characters of up to 4 bytes each.
name_text = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")),
    min_size=1,
    max_size=40,
)
common_names = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")),
    min_size=1,
    max_size=16,
)


@st.composite
def x509_names(draw: st.DrawFn) -> x509.Name:
    attributes = [x509.NameAttribute(NameOID.COMMON_NAME, draw(common_names))]
    if draw(st.booleans()):
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, draw(name_text)))
    if draw(st.booleans()):
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, draw(name_text)))
    if draw(st.booleans()):
        attributes.append(
            x509.NameAttribute(NameOID.COUNTRY_NAME, draw(st.sampled_from(["PL", "US"])))
        )
    return x509.Name(draw(st.permutations(attributes)))


@dataclass(frozen=True)
class CertPlan:
    subject: x509.Name
    issuer: x509.Name | None  # None: self-signed
    serial_length: int
    bits: int
    slot: int


@dataclass(frozen=True)
class RecordPlan:
    cert: CertPlan
    role: Role | None
    hash_only: bool
    hash_algorithm: Digest
    include_signature: bool
    cucm_names: bool
    dns_name: bytes | str
    ip_address: ipaddress.IPv4Address | None


cert_plans = st.builds(
    CertPlan,
    subject=x509_names(),
    issuer=st.none() | x509_names(),
    serial_length=st.integers(min_value=1, max_value=20),
    bits=st.sampled_from(KEY_SIZES),
    slot=st.integers(min_value=0, max_value=KEY_SLOTS - 1),
)

record_plans = st.builds(
    RecordPlan,
    cert=cert_plans,
    role=st.none() | st.sampled_from(Role),
    hash_only=st.booleans(),
    hash_algorithm=st.sampled_from([Digest.SHA1, Digest.SHA512]),
    include_signature=st.booleans(),
    cucm_names=st.booleans(),
    dns_name=st.sampled_from([ITL_DNS_NAME, ETOKEN_DNS_NAME]) | name_text,
    ip_address=st.none() | st.builds(ipaddress.IPv4Address, st.integers(0, 2**32 - 1)),
)


def certificate(plan: CertPlan, serial_seed: int) -> tuple[x509.Certificate, rsa.RSAPrivateKey]:
    """A certificate per the plan; keys come from the cache, only signing happens here."""
    key = rsa_key(plan.bits, plan.slot)
    signing_key = key if plan.issuer is None else rsa_key(1024, (plan.slot + 1) % KEY_SLOTS)
    cert = (
        x509.CertificateBuilder()
        .subject_name(plan.subject)
        .issuer_name(plan.issuer or plan.subject)
        .public_key(key.public_key())
        .serial_number(serial_of_length(plan.serial_length, seed=serial_seed))
        .not_valid_before(FIXED_NOW)
        .not_valid_after(NOT_AFTER)
        .sign(signing_key, hashes.SHA256())
    )
    return cert, key


def record(plan: RecordPlan, cert: x509.Certificate) -> Record:
    return Record.from_certificate(
        cert,
        plan.role,
        dns_name=plan.dns_name,
        ip_address=plan.ip_address,
        hash_only=plan.hash_only,
        hash_algorithm=plan.hash_algorithm,
        include_signature=plan.include_signature,
        cucm_names=plan.cucm_names,
    )


@dataclass(frozen=True)
class ListPlan:
    signer: RecordPlan
    others: list[RecordPlan]
    kind: Kind
    digest: Digest
    signer_version: int | None
    timestamp: int


list_plans = st.builds(
    ListPlan,
    # The signer's own record has role SAST; with cucm_names=False its ISSUERNAME
    # differs from the header's CANAME and the serial alone must find it.
    signer=record_plans.map(lambda p: replace(p, role=Role.SAST)),
    others=st.lists(record_plans, max_size=3),
    kind=st.sampled_from(Kind),
    digest=st.sampled_from([Digest.SHA1, Digest.SHA512]),
    signer_version=st.none() | st.integers(0, 0xFFFF),
    timestamp=st.integers(0, 0xFFFFFFFF),
)


def build(plan: ListPlan) -> TrustList:
    signer_cert, signer_key = certificate(plan.signer.cert, serial_seed=0)
    records = [record(plan.signer, signer_cert)]
    # Distinct seeds give distinct serials: no other record can pass for the signer.
    for seed, other in enumerate(plan.others, start=1):
        records.append(record(other, certificate(other.cert, serial_seed=seed)[0]))
    return build_trust_list(
        Signer.from_private_key(signer_cert, signer_key),
        records,
        filename=plan.kind.default_filename(),
        timestamp=plan.timestamp,
        digest=plan.digest,
        signer_version=plan.signer_version,
    )


def reencoded(trust_list: TrustList) -> bytes:
    """The file encoded again from its parsed elements alone.

    A parsed header may keep the bytes it was read from; a fresh header of the
    same elements must encode to them too, or the element tree lost something.
    """
    header = Header(trust_list.header.nodes, trust_list.header.padding)
    records = (Record(record.elements) for record in trust_list.records)
    return header.to_wire() + b"".join(record.to_wire() for record in records)


ROUND_TRIP = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


# -- properties ----------------------------------------------------------------------------


@ROUND_TRIP
@given(list_plans)
def test_built_list_round_trips_byte_for_byte(plan: ListPlan) -> None:
    """build → to_wire → from_wire → to_wire gives the same bytes and the same values."""
    built = build(plan)
    data = built.to_wire()
    parsed = TrustList.from_wire(data)
    assert parsed.to_wire() == data
    assert parsed == built
    assert reencoded(parsed) == data
    assert parsed.kind is plan.kind
    assert parsed.header.digest is plan.digest
    assert parsed.header.signer_version == plan.signer_version
    assert parsed.header.timestamp == plan.timestamp
    assert parsed.header.size % 4 == 0
    assert len(parsed.records) == 1 + len(plan.others)


@ROUND_TRIP
@given(list_plans)
def test_built_list_verifies_against_its_first_record(plan: ListPlan) -> None:
    """The signer's SAST record is found by serial and issuer, and its key checks the file."""
    parsed = TrustList.from_wire(build(plan).to_wire())
    verification = parsed.verify()
    assert verification.verified, verification.reason
    assert verification.signer_record == 0


@ROUND_TRIP
@given(list_plans)
def test_listing_is_stable(plan: ListPlan) -> None:
    """The listing of the bytes, of the same bytes again and of the re-serialised bytes agree."""
    data = build(plan).to_wire()
    first = render(data)
    assert render(data) == first
    assert render(TrustList.from_wire(data).to_wire()) == first
    assert f"Length of {plan.kind.value} file: {len(data)}" in first.splitlines()
    assert first.endswith(f"The {plan.kind.value} file was verified successfully.\n")


@settings(max_examples=60, deadline=None)
@given(cert_plans, st.integers(min_value=1, max_value=63))
def test_serial_is_minimal_unsigned_bytes(plan: CertPlan, seed: int) -> None:
    """SERIALNUMBER holds the serial's minimal bytes, without DER's sign byte, 1 to 20 long."""
    cert, _ = certificate(plan, serial_seed=seed)
    rec = Record.from_certificate(cert, Role.TFTP)
    assert rec.serial is not None
    assert len(rec.serial) == plan.serial_length
    assert int.from_bytes(rec.serial, "big") == cert.serial_number
    assert Record.read(Reader(rec.to_wire())) == rec


# -- foreign orders and unknown tags -------------------------------------------------------
#
# Files written by other tools: header children in another order, the SIGNER
# VERSION element (tag 28), tags phonetrust does not know. Each case is signed
# over its own bytes, so the checks cover parsing, re-serialising and
# verification together.

FOREIGN_BITS = 1024


@pytest.fixture(scope="module")
def foreign_signer() -> tuple[x509.Certificate, rsa.RSAPrivateKey]:
    plan = CertPlan(
        subject=x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "foreign-signer")]),
        issuer=None,
        serial_length=9,
        bits=FOREIGN_BITS,
        slot=0,
    )
    return certificate(plan, serial_seed=7)


def el(tag: int, value: bytes) -> Element:
    return Element(tag, value)


def signer_id(cert: x509.Certificate, order: tuple[int, ...]) -> Container:
    values = {
        HeaderTag.SIGNERNAME: names.encode_text(names.cucm_name(cert.subject)),
        HeaderTag.SERIALNUMBER: names.serial_bytes(cert.serial_number),
        HeaderTag.CANAME: names.encode_text(names.cucm_name(cert.issuer)),
    }
    return Container(HeaderTag.SIGNERID, tuple(el(tag, values[HeaderTag(tag)]) for tag in order))


def signature_info(*, reverse: bool) -> Container:
    algo = [el(HeaderTag.SIGNATUREALGORTITHM, b"\x00"), el(HeaderTag.SIGNATUREMODULUS, b"\x01")]
    children: list[Node] = [
        el(HeaderTag.DIGESTALGORTITHM, bytes([Digest.SHA1])),
        Container(HeaderTag.SIGNATUREALGOINFO, tuple(algo[::-1] if reverse else algo)),
    ]
    return Container(HeaderTag.SIGNATUREINFO, tuple(children[::-1] if reverse else children))


VERSION = el(HeaderTag.VERSION, b"\x01\x02")
HEADER_LENGTH = el(HeaderTag.HEADERLENGTH, b"\x00\x00")  # placeholder, sized by header()
SIGNATURE = el(HeaderTag.SIGNATURE, bytes(FOREIGN_BITS // 8))
FILENAME = el(HeaderTag.FILENAME, b"ITLFile.tlv\x00")
TIMESTAMP = el(HeaderTag.TIMESTAMP, (1_400_000_000).to_bytes(4, "big"))
SIGNER_VERSION = el(HeaderTag.SIGNERVERSION, b"\x00\x01")
UNKNOWN_99 = el(99, b"foreign")
CUCM = (4, 5, 6)


@dataclass(frozen=True)
class HeaderCase:
    """Top-level layout: a name per element (``id``, ``info`` stand for the containers)."""

    layout: tuple[str, ...]
    id_order: tuple[int, ...] = CUCM
    reverse_info: bool = False
    listed: tuple[str, ...] = ()  # lines the listing must show for the foreign elements

    def nodes(self, cert: x509.Certificate) -> list[Node]:
        parts: dict[str, Node] = {
            "version": VERSION,
            "length": HEADER_LENGTH,
            "id": signer_id(cert, self.id_order),
            "info": signature_info(reverse=self.reverse_info),
            "signature": SIGNATURE,
            "filename": FILENAME,
            "timestamp": TIMESTAMP,
            "28": SIGNER_VERSION,
            "99": UNKNOWN_99,
        }
        return [parts[name] for name in self.layout]


CUCM_LAYOUT = ("version", "length", "id", "info", "signature", "filename", "timestamp")

HEADER_CASES = {
    "cucm order": HeaderCase(CUCM_LAYOUT),
    "tag 28 after the timestamp": HeaderCase(
        (*CUCM_LAYOUT, "28"), listed=("28\tSIGNERVERSION\t2",)
    ),
    "container children reversed": HeaderCase(CUCM_LAYOUT, id_order=(6, 5, 4), reverse_info=True),
    "header length first, everything shuffled": HeaderCase(
        ("length", "version", "28", "timestamp", "filename", "signature", "info", "id"),
        id_order=(5, 6, 4),
    ),
    "unknown tag 99 in the header": HeaderCase(
        ("version", "length", "id", "99", "info", "signature", "filename", "timestamp"),
        listed=("99\tUNKNOWN\t7",),
    ),
}


def header(nodes: list[Node]) -> Header:
    """A header of ``nodes`` with its HEADER LENGTH (wherever it stands) made right."""
    unpadded = sum(node.size for node in nodes)
    pad = -unpadded % 4
    length = el(HeaderTag.HEADERLENGTH, (unpadded + pad).to_bytes(2, "big"))
    return Header(tuple(length if n.tag == HeaderTag.HEADERLENGTH else n for n in nodes), pad)


def signed_file(hdr: Header, records: list[Record], key: rsa.RSAPrivateKey) -> tuple[Header, bytes]:
    """Sign ``hdr`` and ``records`` the way CUCM does: everything but the SIGNATURE element."""
    body = b"".join(r.to_wire() for r in records)
    signature = key.sign(signed_bytes(hdr, body), padding.PKCS1v15(), hashes.SHA1())  # noqa: S303
    signed = hdr.with_signature(signature)
    return signed, signed.to_wire() + body


def foreign_record(elements: list[Element]) -> Record:
    return Record.from_elements(elements)


RECORD_CASES: dict[str, list[Element]] = {
    "descending tags": [
        el(RecordTag.HASHALGORITHM, b"\x01"),
        el(RecordTag.CERTHASH, bytes(range(20))),
        el(RecordTag.SERIALNUMBER, b"\x42\x01"),
        el(RecordTag.ISSUERNAME, b"CN=x\x00"),
        el(RecordTag.FUNCTION, b"\x00\x15"),
        el(RecordTag.SUBJECTNAME, b"CN=x\x00"),
        el(RecordTag.DNSNAME, b"\x00\x00"),
    ],
    "unknown tag 99 between known ones": [
        el(RecordTag.DNSNAME, b"\x00\x00"),
        el(99, b"whatever this is"),
        el(RecordTag.SUBJECTNAME, b"CN=y\x00"),
        el(RecordTag.FUNCTION, b"\x00\x04"),
    ],
    "empty function (rollback ITL) and an empty unknown tag": [
        el(RecordTag.FUNCTION, b""),
        el(RecordTag.SUBJECTNAME, b"CN=z\x00"),
        el(200, b""),
    ],
    "repeated element": [
        el(RecordTag.DNSNAME, b"a\x00"),
        el(RecordTag.DNSNAME, b"b\x00"),
        el(RecordTag.IPADDRESS, b"\x0a\x00\x00\x01"),
    ],
    "lone record length": [],
}


@pytest.mark.parametrize("case", HEADER_CASES.values(), ids=HEADER_CASES.keys())
def test_foreign_header_round_trips_and_verifies(
    case: HeaderCase, foreign_signer: tuple[x509.Certificate, rsa.RSAPrivateKey]
) -> None:
    """Any element order, tag 28 and unknown tags: same bytes back, same tree, still verifies."""
    cert, key = foreign_signer
    records = [Record.from_certificate(cert, Role.SAST)]
    hdr, data = signed_file(header(case.nodes(cert)), records, key)

    assert Header.from_wire(hdr.to_wire()) == hdr
    parsed = TrustList.from_wire(data)
    assert parsed.to_wire() == data
    assert reencoded(parsed) == data
    assert parsed.header.nodes == hdr.nodes
    assert parsed.header.padding == hdr.padding
    assert [n.tag for n in parsed.header.nodes] == [n.tag for n in case.nodes(cert)]
    # The typed views find the elements wherever they stand.
    assert parsed.header.version == (1, 2)
    assert parsed.header.signer_serial == names.serial_bytes(cert.serial_number)
    assert parsed.header.filename == "ITLFile.tlv"
    assert parsed.header.digest is Digest.SHA1
    assert parsed.header.modulus_bits == FOREIGN_BITS
    assert parsed.header.signer_version == (1 if "28" in case.layout else None)
    verification = parsed.verify()
    assert verification.verified, verification.reason
    assert verification.signer_record == 0
    listing = render(data).splitlines()
    assert "The ITL file was verified successfully." in listing
    for line in case.listed:
        assert line in listing


@pytest.mark.parametrize("elements", RECORD_CASES.values(), ids=RECORD_CASES.keys())
def test_foreign_record_round_trips(
    elements: list[Element], foreign_signer: tuple[x509.Certificate, rsa.RSAPrivateKey]
) -> None:
    """A record in any order, with unknown or repeated tags, reads back to the same elements."""
    rec = foreign_record(elements)
    wire = rec.to_wire()
    reader = Reader(wire)
    again = Record.read(reader)
    assert reader.at_end()
    assert again == rec
    assert again.to_wire() == wire
    assert [(x.tag, x.value) for x in again.elements[1:]] == [(x.tag, x.value) for x in elements]

    # Inside a signed list, after the signer's record, it survives and is covered.
    cert, key = foreign_signer
    records = [Record.from_certificate(cert, Role.SAST), rec]
    hdr = header(HEADER_CASES["cucm order"].nodes(cert))
    _, data = signed_file(hdr, records, key)
    parsed = TrustList.from_wire(data)
    assert parsed.to_wire() == data
    assert reencoded(parsed) == data
    assert parsed.records[1] == rec
    assert parsed.verify().verified


@pytest.mark.parametrize("order", ["reversed", "unknown tag 99 inserted"])
def test_signer_record_in_foreign_order_still_signs(
    order: str, foreign_signer: tuple[x509.Certificate, rsa.RSAPrivateKey]
) -> None:
    """The signer record is found by its serial and issuer values, not by where they stand."""
    cert, key = foreign_signer
    elements = list(Record.from_certificate(cert, Role.SAST).elements[1:])
    if order == "reversed":
        elements.reverse()
    else:
        elements.insert(3, el(99, b"\x01\x02\x03"))
    records = [foreign_record(elements)]
    _, data = signed_file(header(HEADER_CASES["cucm order"].nodes(cert)), records, key)
    parsed = TrustList.from_wire(data)
    assert parsed.to_wire() == data
    verification = parsed.verify()
    assert verification.verified, verification.reason
    assert verification.signer_record == 0


def test_header_padding_bytes_are_0x0d() -> None:
    """The padding written and read is 0x0D, as many as the header needs."""
    hdr = header([VERSION, HEADER_LENGTH, FILENAME])  # 5 + 5 + 15 = 25 → 3 padding bytes
    wire = hdr.to_wire()
    assert len(wire) == 28
    assert wire[25:] == bytes([PAD_BYTE]) * 3
    assert Header.from_wire(wire).padding == 3

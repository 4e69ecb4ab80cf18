"""The byte counts of the reference listings, rebuilt from fresh certificates.

Each row of the two tables "Byte counts to reproduce" in ``spec/formats.md``
lists field lengths as CUCM printed them and the totals it printed. Here each
row is rebuilt from a certificate with the same name, serial, key and DER
sizes, and the totals phonetrust writes must be the ones CUCM printed. A
second test per table checks the row's own arithmetic, so a typo in a table
cannot hide behind the writer.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

import pytest
from cryptography import x509

from phonetrust.formats import names
from phonetrust.formats.header import Header
from phonetrust.formats.listing import render
from phonetrust.formats.record import ETOKEN_DNS_NAME, ITL_DNS_NAME, Record
from phonetrust.formats.tags import HeaderTag, RecordTag, Role
from phonetrust.formats.trustlist import TrustList, build_trust_list
from phonetrust.testing.pki import Identity, serial_of_length
from phonetrust.wire.tlv import Container
from tests.formats.conftest import (
    ETOKEN_ISSUER,
    cluster_003,
    cucm_name_of_length,
    der_size,
    etoken_subject,
    exact_certificate,
    rendered_length,
)

TIMESTAMP = 1_314_811_683  # 2011-08-31, the era of listings 002 and 004
IP_ADDRESS = ipaddress.IPv4Address("14.48.44.80")


def tlv(length: int) -> int:
    """Bytes an element of ``length`` value bytes takes: tag, 2-byte length, value."""
    return 3 + length


def pad4(size: int) -> int:
    return size + (-size % 4)


# -- header rows ---------------------------------------------------------------------------


@dataclass(frozen=True)
class HeaderRow:
    source: str
    filename: str
    signer_name: int
    serial: int
    ca_name: int
    signature: int
    header_length: int | None  # None: the listing does not print it
    signer_id: int
    etoken: bool = False


HEADER_ROWS = [
    HeaderRow("002 ITL (8.x)", "ITLFile.tlv", 76, 10, 15, 128, 296, 110),
    HeaderRow("004 CTL (8.x, eToken)", "CTLFile.tlv", 56, 10, 42, 128, 304, 117, etoken=True),
    HeaderRow("003 ITL before reset", "ITLFile.tlv", 57, 16, 57, 128, 324, 139),
    HeaderRow("003 ITL after reset (ITLRecovery signer)", "ITLFile.tlv", 66, 16, 66, 128, 344, 157),
    HeaderRow("000 CTL tokenless", "CTLFile.tlv", 62, 16, 62, 128, None, 149),
]


def elements_size(row: HeaderRow) -> int:
    """The header's elements in CUCM's order, before padding, from the row's lengths alone."""
    signature_info = tlv(1) + tlv(tlv(1) + tlv(1))  # 8, 9{10, 11}: 15
    return (
        tlv(2)  # VERSION
        + tlv(2)  # HEADER LENGTH
        + tlv(row.signer_id)
        + tlv(signature_info)
        + tlv(row.signature)
        + tlv(len(row.filename) + 1)  # FILENAME with its NUL
        + tlv(4)  # TIMESTAMP
    )


def header_length_of(row: HeaderRow) -> int:
    return pad4(elements_size(row))


def signer_for(row: HeaderRow) -> Identity:
    bits = row.signature * 8
    serial = serial_of_length(row.serial)
    if row.etoken:
        return exact_certificate(etoken_subject(), serial=serial, bits=bits, issuer=ETOKEN_ISSUER)
    subject = cucm_name_of_length(row.signer_name)
    if row.ca_name == row.signer_name:
        return exact_certificate(subject, serial=serial, bits=bits)  # self-signed
    issuer = cucm_name_of_length(row.ca_name, host="J")
    return exact_certificate(subject, serial=serial, bits=bits, issuer=issuer)


@pytest.mark.parametrize("row", HEADER_ROWS, ids=lambda r: r.source)
def test_header_row_arithmetic(row: HeaderRow) -> None:
    """SIGNERID is the three children's size; HEADER LENGTH the padded sum of the elements."""
    assert tlv(row.signer_name) + tlv(row.serial) + tlv(row.ca_name) == row.signer_id
    if row.header_length is not None:
        assert header_length_of(row) == row.header_length


@pytest.mark.parametrize("row", HEADER_ROWS, ids=lambda r: r.source)
def test_header_row_is_reproduced(row: HeaderRow) -> None:
    """A signer of the row's name, serial and key sizes: the row's HEADER LENGTH and SIGNERID."""
    signer = signer_for(row)
    cert = signer.certificate
    assert rendered_length(cert.subject) == row.signer_name
    assert rendered_length(cert.issuer) == row.ca_name
    assert len(names.serial_bytes(cert.serial_number)) == row.serial

    trust_list = build_trust_list(
        signer.signer,
        [Record.from_certificate(cert, Role.SAST)],
        filename=row.filename,
        timestamp=TIMESTAMP,
    )
    data = trust_list.to_wire()
    expected_header = row.header_length or header_length_of(row)  # 000: derived, not listed

    # Raw bytes, independent of the parser: VERSION 1.2, HEADER LENGTH, SIGNERID.
    assert data[:5] == bytes([HeaderTag.VERSION, 0, 2, 1, 2])
    assert data[5:8] == bytes([HeaderTag.HEADERLENGTH, 0, 2])
    assert int.from_bytes(data[8:10], "big") == expected_header
    assert data[10] == HeaderTag.SIGNERID
    assert int.from_bytes(data[11:13], "big") == row.signer_id
    # 0x0D padding up to HEADER LENGTH, then the first record.
    unpadded = elements_size(row)
    assert data[unpadded:expected_header] == b"\x0d" * (expected_header - unpadded)
    assert data[expected_header] == RecordTag.RECORDLENGTH

    header = trust_list.header
    assert header.size == expected_header
    signer_id = header.node(HeaderTag.SIGNERID)
    assert isinstance(signer_id, Container)
    assert signer_id.content_size == row.signer_id
    assert [(n.tag, n.size - 3) for n in signer_id.children] == [
        (HeaderTag.SIGNERNAME, row.signer_name),
        (HeaderTag.SERIALNUMBER, row.serial),
        (HeaderTag.CANAME, row.ca_name),
    ]
    assert header.signature is not None
    assert len(header.signature) == row.signature
    assert trust_list.verify().verified

    listing = render(data, checksums=False).splitlines()
    assert f"HeaderLength: {expected_header} (BYTES)" in listing
    assert f"3\tSIGNERID\t2\t{row.signer_id}" in listing


def test_header_padding_is_0x0d_to_a_multiple_of_four() -> None:
    """002's header is 294 bytes of elements, written as 296 with two 0x0D bytes."""
    row = HEADER_ROWS[0]
    trust_list = build_trust_list(
        signer_for(row).signer, [], filename=row.filename, timestamp=TIMESTAMP
    )
    data = trust_list.to_wire()
    assert len(data) == 296
    assert data[294:] == b"\x0d\x0d"
    assert Header.from_wire(data).padding == 2


# -- record rows ---------------------------------------------------------------------------


@dataclass(frozen=True)
class RecordRow:
    source: str
    role: Role
    fields: tuple[tuple[int, int], ...]
    record_length: int
    dns: bytes  # DNSNAME value
    etoken: bool = False

    def length(self, tag: int) -> int | None:
        return dict(self.fields).get(tag)

    def need(self, tag: int) -> int:
        length = self.length(tag)
        assert length is not None, f"row {self.source} has no tag {tag}"
        return length


def fields(text: str) -> tuple[tuple[int, int], ...]:
    """``"2:16 3:62"`` as the table writes it → ``((2, 16), (3, 62))``."""
    pairs = (item.split(":") for item in text.split())
    return tuple((int(tag), int(length)) for tag, length in pairs)


def dns(text: str) -> bytes:
    return names.encode_text(text)


RECORD_ROWS = [
    RecordRow(
        "000 CCM+TFTP, tokenless",
        Role.CCM_TFTP,
        fields("2:16 3:62 4:2 5:62 6:16 7:140 8:128 9:694 10:4"),
        1156,
        dns("cucm-1051-a-pub"),
    ),
    RecordRow(
        "000 eToken SAST",
        Role.SAST,
        fields("2:1 3:56 4:2 5:42 6:10 7:140 9:902 10:4"),
        1186,
        ETOKEN_DNS_NAME,
        etoken=True,
    ),
    RecordRow(
        "000 after regen (2048-bit)",
        Role.CCM_TFTP,
        fields("2:16 3:62 4:2 5:62 6:16 7:270 8:256 9:955 10:4"),
        1675,
        dns("cucm-1051-a-pub"),
    ),
    RecordRow(
        "004 eToken SAST",
        Role.SAST,
        fields("2:1 3:56 4:2 5:42 6:10 7:140 9:894 10:4"),
        1178,
        ETOKEN_DNS_NAME,
        etoken=True,
    ),
    RecordRow(
        "004 CCM+TFTP",
        Role.CCM_TFTP,
        fields("2:12 3:63 4:2 5:63 6:8 7:140 9:738 10:4"),
        1059,
        dns("14.48.44.80"),
    ),
    RecordRow(
        "002 ITL SAST",
        Role.SAST,
        fields("2:2 3:76 4:2 5:15 6:10 7:140 8:256 9:1442"),
        1972,
        ITL_DNS_NAME,
    ),
    RecordRow(
        "002 ITL CCM+TFTP",
        Role.CCM_TFTP,
        fields("2:2 3:76 4:2 5:15 6:10 7:140 8:256 9:1442"),
        1972,
        ITL_DNS_NAME,
    ),
    RecordRow(
        "002 ITL TVS",
        Role.TVS,
        fields("2:2 3:76 4:2 5:76 6:8 7:270 8:256 11:20 12:1"),
        743,
        ITL_DNS_NAME,
    ),
    RecordRow(
        "003 ITL CAPF",
        Role.CAPF,
        fields("2:2 3:49 4:2 5:49 6:16 7:140 8:128 11:20 12:1"),
        439,
        ITL_DNS_NAME,
    ),
    RecordRow(
        "003 ITL TVS",
        Role.TVS,
        fields("2:2 3:57 4:2 5:57 6:16 7:140 8:128 11:20 12:1"),
        455,
        ITL_DNS_NAME,
    ),
    RecordRow(
        "003 ITL ITLRECOVERY",
        Role.SAST,
        fields("2:2 3:66 4:2 5:66 6:16 7:140 8:128 9:692"),
        1141,
        ITL_DNS_NAME,
    ),
]

PUBLIC_KEY_BITS = {140: 1024, 270: 2048}
"""PUBLICKEY length → RSA size: PKCS#1 ``RSAPublicKey`` DER with exponent 65537."""


def identity_for(row: RecordRow) -> Identity:
    subject_len, issuer_len = row.need(RecordTag.SUBJECTNAME), row.need(RecordTag.ISSUERNAME)
    bits = PUBLIC_KEY_BITS[row.need(RecordTag.PUBLICKEY)]
    signature_len = row.length(RecordTag.SIGNATURE)
    # Without a SIGNATURE element the row does not say the issuer's key size;
    # the certificate size does not depend on it beyond the signature length.
    issuer_bits = bits if signature_len is None else signature_len * 8
    serial = serial_of_length(row.need(RecordTag.SERIALNUMBER), seed=0x3D)
    size = row.length(RecordTag.CERTIFICATE)
    subject: x509.Name
    issuer: x509.Name | None
    if row.etoken:
        subject, issuer = etoken_subject("ADN4e31f914"), ETOKEN_ISSUER
    else:
        subject = cucm_name_of_length(subject_len)
        issuer = None if issuer_len == subject_len else cucm_name_of_length(issuer_len, host="J")
    if issuer is None and issuer_bits == bits:
        return exact_certificate(subject, serial=serial, bits=bits, slot=1, size=size)
    return exact_certificate(
        subject,
        serial=serial,
        bits=bits,
        slot=1,
        issuer=issuer or subject,
        issuer_bits=issuer_bits,
        size=size,
    )


@pytest.mark.parametrize("row", RECORD_ROWS, ids=lambda r: r.source)
def test_record_row_arithmetic(row: RecordRow) -> None:
    """RECORDLENGTH counts itself (5 bytes) and every element with its 3-byte tag and length."""
    assert tlv(2) + sum(tlv(length) for _, length in row.fields) == row.record_length


@pytest.mark.parametrize("row", RECORD_ROWS, ids=lambda r: r.source)
def test_record_row_is_reproduced(row: RecordRow) -> None:
    """A certificate with the row's sizes gives the row's fields, in order, and its RECORDLENGTH."""
    identity = identity_for(row)
    cert = identity.certificate
    if (size := row.length(RecordTag.CERTIFICATE)) is not None:
        assert der_size(cert) == size
    record = Record.from_certificate(
        cert,
        row.role,
        dns_name=row.dns,
        ip_address=IP_ADDRESS if row.length(RecordTag.IPADDRESS) else None,
        hash_only=row.length(RecordTag.CERTHASH) is not None,
        include_signature=row.length(RecordTag.SIGNATURE) is not None,
    )
    assert [(e.tag, len(e.value)) for e in record.elements] == [
        (RecordTag.RECORDLENGTH, 2),
        *row.fields,
    ]
    assert record.length == row.record_length
    wire = record.to_wire()
    assert len(wire) == row.record_length
    assert wire[:3] == bytes([RecordTag.RECORDLENGTH, 0, 2])
    assert int.from_bytes(wire[3:5], "big") == row.record_length
    assert record.role is row.role


# -- whole files ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reset", "total", "header", "signer_record"),
    [(False, 5302, 324, 0), (True, 5322, 344, 4)],
    ids=["before reset", "after reset"],
)
def test_itl_003_total_length(reset: bool, total: int, header: int, signer_record: int) -> None:
    """003's ITL is 5302 bytes signed by CallManager and 5322 re-signed by ITLRecovery."""
    trust_list = cluster_003().itl(reset=reset)
    data = trust_list.to_wire()
    assert len(data) == total
    assert trust_list.header.size == header
    assert [r.length for r in trust_list.records] == [1115, 1115, 439, 455, 1141, 713]
    parsed = TrustList.from_wire(data)
    verification = parsed.verify()
    assert verification.verified
    assert verification.signer_record == signer_record

"""The ``show ctl`` / ``show itl`` text, line by line as CUCM prints it.

The trust lists here are rebuilt from the reference listings 003 (ITL of CUCM
10.0, before and after ``utils itl reset``) and 004 (CTL of CUCM 8.x signed by
an eToken) with the same names, serials and sizes, so every line that does
not depend on a key (hashes, signature bytes) is the reference's own line;
columns are tab-separated. The lines that depend on keys are computed here
with hashlib, independently of phonetrust's formatting helpers.
"""

from __future__ import annotations

import hashlib

import pytest
from cryptography.hazmat.primitives import serialization

from phonetrust.formats.listing import not_found, render
from phonetrust.formats.record import Record
from phonetrust.formats.tags import HeaderTag, RecordTag, Role
from phonetrust.formats.trustlist import Kind, TrustList, build_trust_list
from phonetrust.wire.tlv import Element
from tests.formats.conftest import (
    CTL_004_WRITTEN,
    ITL_003_RESET,
    ITL_003_WRITTEN,
    cluster_003,
    cluster_004,
)

PUB = "CN=test10pub.joemar2.lab;OU=tac;O=cisco;L=rtp;ST=nc;C=US"
SUB = "CN=test10sub.joemar2.lab;OU=tac;O=cisco;L=rtp;ST=nc;C=US"
CAPF = "CN=CAPF-75638ad9;OU=tac;O=cisco;L=rtp;ST=nc;C=US"
RECOVERY = "CN=ITLRECOVERY_test10pub.jmr2.lab;OU=tac;O=cisco;L=rtp;ST=nc;C=US"
CM_SERIAL = "61:40:52:E9:1E:E9:7C:77:9B:7B:5E:81:0A:B1:46:A5"
RECOVERY_SERIAL = "6E:3F:65:C2:97:B3:E0:1F:E7:42:81:AB:52:CC:55:DC"

ITL_USED = "This etoken was used to sign the ITL file."
ITL_NOT_USED = "This etoken was not used to sign the ITL file."
ITL_VERIFIED = "The ITL file was verified successfully."
ITL_FAILED = "Verification of the ITL file failed. Error parsing the ITL file!!"
CTL_USED = "This etoken was used to sign the CTL file."
CTL_NOT_USED = "This etoken was not used to sign the CTL file."
CTL_VERIFIED = "The CTL file was verified successfully."
CTL_FAILED = "Verification of the CTL File Failed"


def spaced_upper_hex(data: bytes) -> str:
    return " ".join(f"{b:02X}" for b in data)


def sha1_spaced(der: bytes) -> str:
    return spaced_upper_hex(hashlib.sha1(der).digest())


def signature_dump(signature: bytes) -> str:
    """CUCM's dump: unpadded lower-case hex, eight bytes a line (``8f d4 0 cb a8 23 bc b0``)."""
    rows = [signature[i : i + 8] for i in range(0, len(signature), 8)]
    return "\n".join(" ".join(format(b, "x") for b in row) for row in rows)


def certificate_of(trust_list: TrustList, index: int) -> bytes:
    der = trust_list.records[index].value(RecordTag.CERTIFICATE)
    assert der is not None
    return der


def cert_hash_of(trust_list: TrustList, index: int) -> str:
    value = trust_list.records[index].value(RecordTag.CERTHASH)
    assert value is not None
    return spaced_upper_hex(value)


def flip(data: bytes, offset: int) -> bytes:
    return data[:offset] + bytes([data[offset] ^ 0x01]) + data[offset + 1 :]


def between(lines: list[str], first: str, last: str) -> list[str]:
    """The lines after ``first`` up to (not including) ``last``."""
    start = lines.index(first) + 1
    return lines[start : lines.index(last, start)]


# -- file absent (scenario D10) ------------------------------------------------------------


def test_ctl_not_found_prints_cucm_three_lines() -> None:
    """``show ctl`` with no CTL on the node: D10's three lines, nothing else."""
    assert not_found(Kind.CTL) == (
        "Length of CTL file: 0\n"
        "CTL File not found. Please run CTLClient plugin or run the CLI - utils ctl.. "
        "to generate the CTL file.\n"
        "Error parsing the CTL File.\n"
    )


def test_itl_not_found_says_itl() -> None:
    assert not_found(Kind.ITL).splitlines() == [
        "Length of ITL file: 0",
        "ITL File not found. Please run CTLClient plugin or run the CLI - utils ctl.. "
        "to generate the ITL file.",
        "Error parsing the ITL File.",
    ]


# -- 003: the whole listing ----------------------------------------------------------------

EXPECTED_003 = """\
The checksum value of the ITL file:
{md5}(MD5)
{sha1}(SHA1)

Length of ITL file: 5302
The ITL File was last modified on Wed Feb 26 10:24:27 PST 2014

Parse ITL File
----------------

Version: 1.2
HeaderLength: 324 (BYTES)

BYTEPOS\tTAG\tLENGTH\tVALUE
-------\t---\t------\t-----
3\tSIGNERID\t2\t139
4\tSIGNERNAME\t57\t{pub}
5\tSERIALNUMBER\t16\t{cm_serial}
6\tCANAME\t57\t{pub}
7\tSIGNATUREINFO\t2\t15
8\tDIGESTALGORTITHM\t1
9\tSIGNATUREALGOINFO\t2\t8
10\tSIGNATUREALGORTITHM\t1
11\tSIGNATUREMODULUS\t1
12\tSIGNATURE\t128
{signature}
14\tFILENAME\t12
15\tTIMESTAMP\t4

ITL Record #:1
----
BYTEPOS\tTAG\tLENGTH\tVALUE
-------\t---\t------\t-----
1\tRECORDLENGTH\t2\t1115
2\tDNSNAME\t2
3\tSUBJECTNAME\t57\t{pub}
4\tFUNCTION\t2\tSystem Administrator Security Token
5\tISSUERNAME\t57\t{pub}
6\tSERIALNUMBER\t16\t{cm_serial}
7\tPUBLICKEY\t140
8\tSIGNATURE\t128
9\tCERTIFICATE\t684\t{cm_sha1} (SHA1 Hash HEX)

This etoken was used to sign the ITL file.

ITL Record #:2
----
BYTEPOS\tTAG\tLENGTH\tVALUE
-------\t---\t------\t-----
1\tRECORDLENGTH\t2\t1115
2\tDNSNAME\t2
3\tSUBJECTNAME\t57\t{pub}
4\tFUNCTION\t2\tTFTP
5\tISSUERNAME\t57\t{pub}
6\tSERIALNUMBER\t16\t{cm_serial}
7\tPUBLICKEY\t140
8\tSIGNATURE\t128
9\tCERTIFICATE\t684\t{cm_sha1} (SHA1 Hash HEX)

ITL Record #:3
----
BYTEPOS\tTAG\tLENGTH\tVALUE
-------\t---\t------\t-----
1\tRECORDLENGTH\t2\t439
2\tDNSNAME\t2
3\tSUBJECTNAME\t49\t{capf}
4\tFUNCTION\t2\tCAPF
5\tISSUERNAME\t49\t{capf}
6\tSERIALNUMBER\t16\t42:BF:37:77:9B:16:AF:1C:D2:30:88:C2:17:24:9D:AA
7\tPUBLICKEY\t140
8\tSIGNATURE\t128
11\tCERTHASH\t20\t{capf_hash}
12\tHASH ALGORITHM\t1\tSHA-1

ITL Record #:4
----
BYTEPOS\tTAG\tLENGTH\tVALUE
-------\t---\t------\t-----
1\tRECORDLENGTH\t2\t455
2\tDNSNAME\t2
3\tSUBJECTNAME\t57\t{pub}
4\tFUNCTION\t2\tTVS
5\tISSUERNAME\t57\t{pub}
6\tSERIALNUMBER\t16\t76:59:84:D8:B7:30:60:63:36:E5:C7:B6:A7:DD:B9:D6
7\tPUBLICKEY\t140
8\tSIGNATURE\t128
11\tCERTHASH\t20\t{tvs_hash}
12\tHASH ALGORITHM\t1\tSHA-1

ITL Record #:5
----
BYTEPOS\tTAG\tLENGTH\tVALUE
-------\t---\t------\t-----
1\tRECORDLENGTH\t2\t1141
2\tDNSNAME\t2
3\tSUBJECTNAME\t66\t{recovery}
4\tFUNCTION\t2\tSystem Administrator Security Token
5\tISSUERNAME\t66\t{recovery}
6\tSERIALNUMBER\t16\t{recovery_serial}
7\tPUBLICKEY\t140
8\tSIGNATURE\t128
9\tCERTIFICATE\t692\t{recovery_sha1} (SHA1 Hash HEX)

This etoken was not used to sign the ITL file.

ITL Record #:6
----
BYTEPOS\tTAG\tLENGTH\tVALUE
-------\t---\t------\t-----
1\tRECORDLENGTH\t2\t713
2\tDNSNAME\t2
3\tSUBJECTNAME\t57\t{sub}
4\tFUNCTION\t2\tTVS
5\tISSUERNAME\t57\t{sub}
6\tSERIALNUMBER\t16\t67:D1:A1:9E:F8:AB:91:E6:C0:A6:10:35:26:30:EE:02
7\tPUBLICKEY\t270
8\tSIGNATURE\t256
11\tCERTHASH\t20\t{sub_tvs_hash}
12\tHASH ALGORITHM\t1\tSHA-1

The ITL file was verified successfully.
"""


def test_itl_003_listing_is_cucm_listing() -> None:
    """The rebuilt ITL of 003 lists exactly as CUCM listed it, key-dependent values aside."""
    trust_list = cluster_003().itl()
    data = trust_list.to_wire()
    assert trust_list.header.signature is not None
    expected = EXPECTED_003.format(
        md5=hashlib.md5(data).hexdigest(),
        sha1=hashlib.sha1(data).hexdigest(),
        pub=PUB,
        sub=SUB,
        capf=CAPF,
        recovery=RECOVERY,
        cm_serial=CM_SERIAL,
        recovery_serial=RECOVERY_SERIAL,
        signature=signature_dump(trust_list.header.signature),
        cm_sha1=sha1_spaced(certificate_of(trust_list, 0)),
        recovery_sha1=sha1_spaced(certificate_of(trust_list, 4)),
        capf_hash=cert_hash_of(trust_list, 2),
        tvs_hash=cert_hash_of(trust_list, 3),
        sub_tvs_hash=cert_hash_of(trust_list, 5),
    )
    assert render(data, modified=ITL_003_WRITTEN) == expected


def test_itl_003_after_reset_names_the_recovery_record() -> None:
    """Re-signed by ITLRecovery: its header, 344 bytes, and the etoken lines swap places."""
    data = cluster_003().itl(reset=True).to_wire()
    lines = render(data, modified=ITL_003_RESET).splitlines()
    assert "Length of ITL file: 5322" in lines
    assert "The ITL File was last modified on Wed Feb 26 10:34:46 PST 2014" in lines
    assert "HeaderLength: 344 (BYTES)" in lines
    assert between(lines, "-------\t---\t------\t-----", "7\tSIGNATUREINFO\t2\t15") == [
        "3\tSIGNERID\t2\t157",
        f"4\tSIGNERNAME\t66\t{RECOVERY}",
        f"5\tSERIALNUMBER\t16\t{RECOVERY_SERIAL}",
        f"6\tCANAME\t66\t{RECOVERY}",
    ]
    assert [line for line in lines if line.startswith("This etoken")] == [ITL_NOT_USED, ITL_USED]
    # Each etoken line closes its own SAST record: 1 (CallManager), then 5 (ITLRecovery).
    assert lines.index(ITL_NOT_USED) < lines.index("ITL Record #:2")
    assert lines.index("ITL Record #:5") < lines.index(ITL_USED) < lines.index("ITL Record #:6")
    assert lines[-1] == ITL_VERIFIED


def test_checksum_block_is_md5_and_sha1_of_the_bytes() -> None:
    data = cluster_003().itl().to_wire()
    assert render(data).splitlines()[:5] == [
        "The checksum value of the ITL file:",
        f"{hashlib.md5(data).hexdigest()}(MD5)",
        f"{hashlib.sha1(data).hexdigest()}(SHA1)",
        "",
        f"Length of ITL file: {len(data)}",
    ]


def test_without_checksums_the_listing_starts_with_the_length() -> None:
    data = cluster_003().itl().to_wire()
    listing = render(data, checksums=False)
    assert listing.startswith("Length of ITL file: 5302\n\nParse ITL File\n")
    assert "(MD5)" not in listing


def test_signature_dump_is_unpadded_lower_hex_eight_per_line() -> None:
    trust_list = cluster_003().itl()
    signature = trust_list.header.signature
    assert signature is not None
    lines = render(trust_list.to_wire()).splitlines()
    dump = between(lines, "12\tSIGNATURE\t128", "14\tFILENAME\t12")
    assert len(dump) == 16
    assert all(len(line.split(" ")) == 8 for line in dump)
    tokens = " ".join(dump).split(" ")
    assert bytes(int(token, 16) for token in tokens) == signature
    assert all(token == token.lower() and (len(token) == 1 or token[0] != "0") for token in tokens)


def test_certificate_row_shows_sha1_of_the_der() -> None:
    trust_list = cluster_003().itl()
    der = certificate_of(trust_list, 0)
    lines = render(trust_list.to_wire()).splitlines()
    row = f"9\tCERTIFICATE\t684\t{sha1_spaced(der)} (SHA1 Hash HEX)"
    assert lines.count(row) == 2  # records 1 (SAST) and 2 (TFTP) hold the same certificate


def test_hash_only_records_show_certhash_and_sha1_algorithm() -> None:
    trust_list = cluster_003().itl()
    capf = trust_list.records[2]
    lines = render(trust_list.to_wire()).splitlines()
    record_3 = between(lines, "ITL Record #:3", "ITL Record #:4")
    assert f"11\tCERTHASH\t20\t{cert_hash_of(trust_list, 2)}" in record_3
    assert "12\tHASH ALGORITHM\t1\tSHA-1" in record_3
    assert not any(line.startswith("9\tCERTIFICATE") for line in record_3)
    capf_der = cluster_003().capf.certificate.public_bytes(serialization.Encoding.DER)
    assert capf.cert_hash == hashlib.sha1(capf_der).digest()


# -- verdicts ------------------------------------------------------------------------------


def test_tampered_itl_fails_and_keeps_the_etoken_lines() -> None:
    """A flipped signed byte: ITL failure verdict; the signer is still named by its record."""
    trust_list = cluster_003().itl()
    data = trust_list.to_wire()
    # A byte of record 3's CERTHASH: signed, and touching neither names nor serials.
    capf_start = trust_list.header.size + sum(r.size for r in trust_list.records[:2])
    capf_hash_at = capf_start + trust_list.records[2].size - 4 - 20
    tampered = flip(data, capf_hash_at)
    assert TrustList.from_wire(tampered).records[2].cert_hash != trust_list.records[2].cert_hash

    lines = render(tampered).splitlines()
    assert lines[-1] == ITL_FAILED
    assert ITL_VERIFIED not in lines
    assert [line for line in lines if line.startswith("This etoken")] == [ITL_USED, ITL_NOT_USED]
    assert lines.index(ITL_USED) < lines.index("ITL Record #:2")


def test_tampered_timestamp_fails_too() -> None:
    """The header's own fields are signed: a changed TIMESTAMP fails verification."""
    trust_list = cluster_003().itl()
    header = trust_list.header
    assert header.node(HeaderTag.TIMESTAMP) == header.nodes[-1]  # CUCM's order: last element
    last_timestamp_byte = header.size - header.padding - 1
    tampered = flip(trust_list.to_wire(), last_timestamp_byte)
    assert TrustList.from_wire(tampered).header.timestamp != header.timestamp
    lines = render(tampered).splitlines()
    assert lines[-1] == ITL_FAILED
    assert [line for line in lines if line.startswith("This etoken")] == [ITL_USED, ITL_NOT_USED]


def test_itl_without_its_signer_record_fails_with_every_etoken_unused() -> None:
    """Signed by CallManager but without CallManager's SAST record: no etoken was used."""
    cluster = cluster_003()
    records = cluster.records()[1:]  # TFTP, CAPF, TVS, ITLRECOVERY (SAST), TVS
    trust_list = build_trust_list(
        cluster.callmanager.signer, records, filename="ITLFile.tlv", timestamp=1_393_439_067
    )
    lines = render(trust_list.to_wire()).splitlines()
    assert [line for line in lines if line.startswith("This etoken")] == [ITL_NOT_USED]
    assert lines[-1] == ITL_FAILED


def test_unparseable_itl_prints_the_parse_error_and_failure() -> None:
    data = cluster_003().itl().to_wire()[:-7]  # the last record is cut short
    lines = render(data, kind=Kind.ITL, checksums=False).splitlines()
    assert lines[0] == f"Length of ITL file: {len(data)}"
    assert lines[lines.index("Parse ITL File") + 1] == "----------------"
    assert lines[-2].startswith("Error parsing the ITL File: ")
    assert lines[-1] == ITL_FAILED


# -- 004: the eToken CTL -------------------------------------------------------------------


def test_ctl_004_header_and_records_match_the_reference() -> None:
    trust_list = cluster_004().ctl()
    data = trust_list.to_wire()
    lines = render(data, modified=CTL_004_WRITTEN, checksums=False).splitlines()
    assert lines[:12] == [
        "Length of CTL file: 4712",
        "The CTL File was last modified on Wed Aug 31 13:28:03 EDT 2011",
        "",
        "Parse CTL File",
        "----------------",
        "",
        "Version: 1.2",
        "HeaderLength: 304 (BYTES)",
        "",
        "BYTEPOS\tTAG\tLENGTH\tVALUE",
        "-------\t---\t------\t-----",
        "3\tSIGNERID\t2\t117",
    ]
    # The eToken names render CUCM's way with the quotes inside the values; the
    # lengths are CUCM's (it prints these names cut at the comma).
    assert lines[12] == '4\tSIGNERNAME\t56\tCN="SAST-ADN4e31f914 ";OU=IPCBU;O="Cisco Systems, Inc."'
    assert lines[13:15] == [
        "5\tSERIALNUMBER\t10\tBD:A3:02:00:00:00:D8:88:64:1F",
        "6\tCANAME\t42\tCN=Cisco Manufacturing CA;O=Cisco Systems",
    ]
    record_1 = between(lines, "CTL Record #:1", CTL_USED)
    assert record_1[3:] == [
        "1\tRECORDLENGTH\t2\t1178",
        "2\tDNSNAME\t1",
        '3\tSUBJECTNAME\t56\tCN="SAST-ADN4e31f914 ";OU=IPCBU;O="Cisco Systems, Inc."',
        "4\tFUNCTION\t2\tSystem Administrator Security Token",
        "5\tISSUERNAME\t42\tCN=Cisco Manufacturing CA;O=Cisco Systems",
        "6\tSERIALNUMBER\t10\tBD:A3:02:00:00:00:D8:88:64:1F",
        "7\tPUBLICKEY\t140",
        f"9\tCERTIFICATE\t894\t{sha1_spaced(certificate_of(trust_list, 0))} (SHA1 Hash HEX)",
        "10\tIPADDRESS\t4",
        "",
    ]
    record_2 = between(lines, "CTL Record #:2", CTL_NOT_USED)
    assert "1\tRECORDLENGTH\t2\t1180" in record_2
    assert "6\tSERIALNUMBER\t10\tAA:C9:20:00:00:00:78:C4:2E:22" in record_2
    assert "7\tPUBLICKEY\t141" in record_2
    record_3 = between(lines, "CTL Record #:3", "CTL Record #:4")
    assert record_3[3:] == [
        "1\tRECORDLENGTH\t2\t1059",
        "2\tDNSNAME\t12\t14.48.44.80",
        "3\tSUBJECTNAME\t63\tCN=CUCM8-Publisher.bbbburns.lab;OU=AS;O=Cisco;L=RTP;ST=NC;C=US",
        "4\tFUNCTION\t2\tCCM+TFTP",
        "5\tISSUERNAME\t63\tCN=CUCM8-Publisher.bbbburns.lab;OU=AS;O=Cisco;L=RTP;ST=NC;C=US",
        "6\tSERIALNUMBER\t8\t74:AE:9E:6B:DB:C2:A5:1D",
        "7\tPUBLICKEY\t140",
        f"9\tCERTIFICATE\t738\t{sha1_spaced(certificate_of(trust_list, 2))} (SHA1 Hash HEX)",
        "10\tIPADDRESS\t4",
        "",
    ]
    record_4 = lines[lines.index("CTL Record #:4") :]
    assert "1\tRECORDLENGTH\t2\t991" in record_4
    assert "4\tFUNCTION\t2\tCAPF" in record_4
    assert "6\tSERIALNUMBER\t8\t0A:DC:6E:77:42:91:4A:53" in record_4
    assert [line for line in lines if line.startswith("This etoken")] == [CTL_USED, CTL_NOT_USED]
    assert lines[-2:] == ["", CTL_VERIFIED]


def test_tampered_ctl_fails_with_the_ctl_wording() -> None:
    trust_list = cluster_004().ctl()
    data = trust_list.to_wire()
    in_callmanager_cert = trust_list.header.size + sum(r.size for r in trust_list.records[:2]) + 400
    lines = render(flip(data, in_callmanager_cert)).splitlines()
    assert lines[-1] == CTL_FAILED
    assert CTL_VERIFIED not in lines
    assert [line for line in lines if line.startswith("This etoken")] == [CTL_USED, CTL_NOT_USED]


@pytest.mark.parametrize(("kind", "failure"), [(Kind.CTL, CTL_FAILED), (Kind.ITL, ITL_FAILED)])
def test_garbage_lists_as_a_parse_failure_of_the_asked_kind(kind: Kind, failure: str) -> None:
    lines = render(b"\x01\x00\x02", kind=kind).splitlines()
    assert f"Length of {kind.value} file: 3" in lines
    assert lines[-1] == failure


def test_role_names_as_show_prints_them() -> None:
    """FUNCTION shows CUCM's words; a code phonetrust does not know shows as UNKNOWN(n)."""
    cluster = cluster_003()
    words: dict[bytes, str] = {
        int(role).to_bytes(2, "big"): word
        for role, word in [
            (Role.SAST, "System Administrator Security Token"),
            (Role.CCM, "CCM"),
            (Role.CCM_TFTP, "CCM+TFTP"),
            (Role.TFTP, "TFTP"),
            (Role.CAPF, "CAPF"),
            (Role.APP_SERVER, "APP-SERVER"),
            (Role.TVS, "TVS"),
        ]
    }
    words[b"\x00\x09"] = "UNKNOWN(9)"
    for code, word in words.items():
        record = Record.from_elements(
            [Element(RecordTag.DNSNAME, b"\x00\x00"), Element(RecordTag.FUNCTION, code)]
        )
        records = [Record.from_certificate(cluster.callmanager.certificate, Role.SAST), record]
        data = build_trust_list(
            cluster.callmanager.signer, records, filename="ITLFile.tlv", timestamp=0
        ).to_wire()
        lines = render(data).splitlines()
        assert f"4\tFUNCTION\t2\t{word}" in lines[lines.index("ITL Record #:2") :]

"""The ``show ctl`` / ``show itl`` listing, laid out and worded as CUCM prints it.

Administrators compare these listings line by line with their phones and
with TAC notes, so every fixed sentence here is CUCM's own, misspelt tag
names included. Values CUCM leaves blank (digest, file name, timestamp, IP
address) stay blank; ``file show --json`` has them all.
"""

from __future__ import annotations

from datetime import datetime

from phonetrust.errors import ParseError
from phonetrust.formats import legacy, names
from phonetrust.formats.header import Header
from phonetrust.formats.record import Record
from phonetrust.formats.signing import Verification
from phonetrust.formats.tags import RECORD_TAG_NAMES, HeaderTag, RecordTag, Role
from phonetrust.formats.trustlist import Kind, TrustList
from phonetrust.wire.tlv import Container, Element, Node

TABLE_HEAD = ("BYTEPOS\tTAG\tLENGTH\tVALUE", "-------\t---\t------\t-----")
SIGNATURE_BYTES_PER_LINE = 8
DATE_FORMAT = "%a %b %d %H:%M:%S %Z %Y"

_HEADER_NAMES: dict[int, str] = {
    HeaderTag.HEADERLENGTH: "HEADERLENGTH",
    HeaderTag.KEYUNKNOWN: "UNKNOWN",
    HeaderTag.IVUNKNOWN: "UNKNOWN",
    HeaderTag.ENCRYPTIONHASHALGORITHM: "ENCRYPTIONHASHALGORITHM",
    HeaderTag.SIGNERVERSION: "SIGNERVERSION",
}


def not_found(kind: Kind) -> str:
    """What ``show ctl`` / ``show itl`` print when the node has no such file."""
    k = kind.value
    return (
        f"Length of {k} file: 0\n"
        f"{k} File not found. Please run CTLClient plugin or run the CLI - utils ctl.. "
        f"to generate the {k} file.\n"
        f"Error parsing the {k} File.\n"
    )


def render(
    data: bytes,
    *,
    kind: Kind | None = None,
    modified: datetime | None = None,
    checksums: bool = True,
) -> str:
    """The listing of a trust list file's bytes, including when they do not parse."""
    try:
        trust_list: TrustList | None = TrustList.from_wire(data)
        error: ParseError | None = None
    except ParseError as exc:
        trust_list, error = None, exc
    k = kind or (trust_list.kind if trust_list else Kind.CTL)
    lines: list[str] = []
    if checksums:
        lines += [
            f"The checksum value of the {k.value} file:",
            f"{legacy.md5_hex(data)}(MD5)",
            f"{legacy.sha1(data).hex()}(SHA1)",
            "",
        ]
    lines.append(f"Length of {k.value} file: {len(data)}")
    if modified is not None:
        lines.append(f"The {k.value} File was last modified on {modified.strftime(DATE_FORMAT)}")
    lines += ["", f"Parse {k.value} File", "----------------", ""]
    if trust_list is None:
        assert error is not None  # noqa: S101 - set together with trust_list above
        lines += [f"Error parsing the {k.value} File: {error}.", failure_line(k), ""]
        return "\n".join(lines)
    verification = trust_list.verify()
    lines += header_lines(trust_list.header)
    for number, record in enumerate(trust_list.records, start=1):
        lines += ["", f"{k.value} Record #:{number}", "----", *record_lines(record)]
        if record.role is Role.SAST:
            used = "was" if verification.signer_record == number - 1 else "was not"
            lines += ["", f"This etoken {used} used to sign the {k.value} file."]
    lines += ["", verdict_line(k, verification), ""]
    return "\n".join(lines)


def verdict_line(kind: Kind, verification: Verification) -> str:
    if verification.verified:
        return f"The {kind.value} file was verified successfully."
    return failure_line(kind)


def failure_line(kind: Kind) -> str:
    if kind is Kind.ITL:
        return "Verification of the ITL file failed. Error parsing the ITL file!!"
    return "Verification of the CTL File Failed"


def header_lines(header: Header) -> list[str]:
    """``Version``, ``HeaderLength`` and the BYTEPOS table of every element after them."""
    lines = [f"Version: {header.version_text}", f"HeaderLength: {header.size} (BYTES)", ""]
    lines += TABLE_HEAD
    for node in header.nodes:
        if node.tag not in (HeaderTag.VERSION, HeaderTag.HEADERLENGTH):
            lines += _header_node_lines(node)
    return lines


def _header_node_lines(node: Node) -> list[str]:
    name = _header_name(node.tag)
    if isinstance(node, Container):
        lines = [_row(node.tag, name, 2, str(node.content_size))]
        for child in node.children:
            lines += _header_node_lines(child)
        return lines
    value = node.value
    tag = node.tag
    if tag in (HeaderTag.SIGNERNAME, HeaderTag.CANAME):
        return [_row(tag, name, len(value), names.decode_text(value))]
    if tag == HeaderTag.SERIALNUMBER:
        return [_row(tag, name, len(value), names.colon_hex(value))]
    if tag == HeaderTag.SIGNATURE:
        return [_row(tag, name, len(value), ""), *hex_dump(value)]
    if tag in (HeaderTag.IV, HeaderTag.ENCRYPTIONHASH):
        return [_row(tag, name, len(value), value.hex())]
    if tag in (HeaderTag.PADDINGCOUNT, HeaderTag.KEYSIZE):
        return [_row(tag, name, len(value), str(int.from_bytes(value, "big")))]
    return [_row(tag, name, len(value), "")]


def _header_name(tag: int) -> str:
    if tag in _HEADER_NAMES:
        return _HEADER_NAMES[tag]
    if tag in HeaderTag._value2member_map_:
        return HeaderTag(tag).name
    return "UNKNOWN"


def hex_dump(value: bytes) -> list[str]:
    """CUCM's signature dump: unpadded lower-case hex bytes, eight to a line."""
    step = SIGNATURE_BYTES_PER_LINE
    return [" ".join(f"{b:x}" for b in value[i : i + step]) for i in range(0, len(value), step)]


def record_lines(record: Record) -> list[str]:
    lines = list(TABLE_HEAD)
    for element in record.elements:
        lines.append(_record_row(record, element))
    return lines


def _record_row(record: Record, element: Element) -> str:
    tag, value = element.tag, element.value
    name = RECORD_TAG_NAMES.get(tag, "UNKNOWN")
    shown = ""
    if tag == RecordTag.RECORDLENGTH:
        shown = str(record.length)
    elif tag in (RecordTag.DNSNAME, RecordTag.SUBJECTNAME, RecordTag.ISSUERNAME):
        shown = names.decode_text(value)
    elif tag == RecordTag.FUNCTION:
        role = record.role
        code = record.role_code
        if role is not None:
            shown = role.listing_name
        elif code is not None:
            shown = f"UNKNOWN({code})"
    elif tag == RecordTag.SERIALNUMBER:
        shown = names.colon_hex(value)
    elif tag == RecordTag.CERTIFICATE:
        shown = f"{names.spaced_hex(legacy.sha1(value))} (SHA1 Hash HEX)"
    elif tag == RecordTag.CERTHASH:
        shown = names.spaced_hex(value)
    elif tag == RecordTag.HASHALGORITHM:
        shown = {1: "SHA-1", 2: "SHA-256", 3: "SHA-512"}.get(value[0], f"UNKNOWN({value[0]})")
    return _row(tag, name, len(value), shown)


def _row(tag: int, name: str, length: int, value: str) -> str:
    return f"{tag}\t{name}\t{length}\t{value}".rstrip()


def render_signed(
    data: bytes, header: Header, content_length: int, verification: Verification | None
) -> str:
    """A listing for ``.sgn`` / ``.enc.sgn`` in the same style (CUCM has no command for these).

    ``verification`` is None when no certificate was given to check against.
    """
    kind = "ENC.SGN" if header.version == (2, 0) else "SGN"
    lines = [
        f"Length of {kind} file: {len(data)}",
        "",
        f"Parse {kind} File",
        "----------------",
        "",
        *header_lines(header),
        "",
        f"Content: {content_length} bytes" + (" (encrypted)" if kind == "ENC.SGN" else ""),
        "",
    ]
    if verification is None:
        lines.append("The signature was not verified: no certificate was given (use --cert).")
    elif verification.verified:
        lines.append(f"The {kind} file was verified successfully.")
    else:
        lines.append(f"Verification of the {kind} file failed: {verification.reason}.")
    lines.append("")
    return "\n".join(lines)

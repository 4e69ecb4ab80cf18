"""Names and serial numbers as CUCM writes and prints them.

CUCM renders its own certificates' names as ``CN=..;OU=..;O=..;L=..;ST=..;C=..``
whatever the certificate's own order; other tools join with ``,`` in
certificate order. Names here are for display and for byte-compatibility
only: nothing decides trust by comparing them as text.
"""

from __future__ import annotations

from cryptography import x509
from cryptography.x509.oid import NameOID

_CUCM_ORDER = (
    (NameOID.COMMON_NAME, "CN"),
    (NameOID.ORGANIZATIONAL_UNIT_NAME, "OU"),
    (NameOID.ORGANIZATION_NAME, "O"),
    (NameOID.LOCALITY_NAME, "L"),
    (NameOID.STATE_OR_PROVINCE_NAME, "ST"),
    (NameOID.COUNTRY_NAME, "C"),
)
_SHORT = dict(_CUCM_ORDER) | {
    NameOID.EMAIL_ADDRESS: "emailAddress",
    NameOID.SERIAL_NUMBER: "serialNumber",
    NameOID.DOMAIN_COMPONENT: "DC",
    NameOID.STREET_ADDRESS: "street",
    NameOID.USER_ID: "UID",
    NameOID.TITLE: "title",
}


def _attr_text(attr: x509.NameAttribute[str | bytes]) -> str:
    value = attr.value
    return value if isinstance(value, str) else value.hex()


def _short(oid: x509.ObjectIdentifier) -> str:
    return _SHORT.get(oid, oid.dotted_string)


def cucm_name(name: x509.Name) -> str:
    """``CN=a;OU=b;O=c;L=d;ST=e;C=f``: CUCM's order, then any other attribute as it comes."""
    attrs = list(name)
    parts: list[str] = []
    for oid, short in _CUCM_ORDER:
        parts.extend(f"{short}={_attr_text(a)}" for a in attrs if a.oid == oid)
    known = {oid for oid, _ in _CUCM_ORDER}
    parts.extend(f"{_short(a.oid)}={_attr_text(a)}" for a in attrs if a.oid not in known)
    return ";".join(parts)


def certificate_order_name(name: x509.Name) -> str:
    """``CN=a,OU=b,...`` in the certificate's own attribute order (how other tools write it)."""
    return ",".join(f"{_short(a.oid)}={_attr_text(a)}" for a in name)


def serial_bytes(serial: int) -> bytes:
    """Minimal unsigned big-endian bytes, without DER's sign byte (``BD:A3:..`` stays 10 bytes)."""
    if serial < 0:
        raise ValueError("certificate serial numbers are positive")
    return serial.to_bytes(max(1, (serial.bit_length() + 7) // 8), "big")


def colon_hex(data: bytes) -> str:
    """``70:CA:F6:4E``: how ``show`` prints serial numbers."""
    return ":".join(f"{b:02X}" for b in data)


def spaced_hex(data: bytes) -> str:
    """``E9 D4 33``: how ``show`` prints certificate hashes."""
    return " ".join(f"{b:02X}" for b in data)


def encode_text(text: str) -> bytes:
    """A text value: UTF-8 with the trailing NUL that the length counts."""
    return text.encode("utf-8") + b"\0"


def decode_text(value: bytes) -> str:
    """Lenient inverse of :func:`encode_text`: drops trailing NULs, never fails."""
    return value.rstrip(b"\0").decode("utf-8", errors="replace")

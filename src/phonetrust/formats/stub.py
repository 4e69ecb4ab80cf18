"""The signed stub served as ``SEP<MAC>.cnf.xml.sgn`` beside an encrypted config.

It tells a phone that asked for the signed file to fetch ``.enc.sgn``, and
which of its certificates unwraps the key (``certHash``: MD5 of the DER).
It keeps the few settings a phone needs before it can decrypt - firmware
and CAPF - copied from the full configuration.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from xml.sax.saxutils import escape

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from phonetrust.formats import legacy

COPIED_ELEMENTS = ("ipAddressMode", "loadInformation", "capfAuthMode", "capfList")

_ROOT_START = re.compile(rb"<device\b[^>]*>")


def build_stub(full_config: bytes, device_certificate: x509.Certificate) -> bytes:
    """The stub XML for ``full_config``; settings it cannot find are simply left out."""
    copies = _copied_elements(full_config)
    der = device_certificate.public_bytes(serialization.Encoding.DER)
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        "<device>",
        "  <fullConfig>false</fullConfig>",
        *(f"  {c}" for c in copies),
        f"  <certHash>{escape(legacy.md5_hex(der))}</certHash>",
        "  <encrConfig>true</encrConfig>",
        "</device>",
        "",
    ]
    return "\n".join(lines).encode("utf-8")


def _copied_elements(full_config: bytes) -> list[str]:
    # Real CUCM roots carry undeclared prefixes (xsi:type) that a namespace-aware
    # parser rejects; the root's attributes are irrelevant here, so drop them.
    text = _ROOT_START.sub(b"<device>", full_config, count=1)
    try:
        root = ET.fromstring(text)  # noqa: S314 - expat bounds entity expansion; input is a config
    except (ET.ParseError, LookupError, ValueError):
        # ValueError covers UnicodeError: a declared encoding expat cannot use.
        return []
    if root.tag != "device":
        return []
    out = []
    for name in COPIED_ELEMENTS:
        found = root.find(name)
        if found is not None:
            found.tail = None
            out.append(ET.tostring(found, encoding="unicode"))
    return out

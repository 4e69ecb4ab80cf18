"""A trust file as plain data (what ``file show --json`` prints and the API returns).

The keys are a contract other tools rely on: ``kind``, ``version``,
``header_length``, ``digest``, ``signer``, ``records``, ``signer_record``,
``verified``, ``reason``; further keys may be added, none renamed.
"""

from __future__ import annotations

from typing import Any

from phonetrust.formats import legacy, names
from phonetrust.formats.detect import TrustFile
from phonetrust.formats.encsgn import EncryptedFile
from phonetrust.formats.header import Header
from phonetrust.formats.record import Record
from phonetrust.formats.sgn import SignedFile
from phonetrust.formats.signing import Verification
from phonetrust.formats.trustlist import TrustList

Json = dict[str, Any]


def kind_of(item: TrustFile) -> str:
    if isinstance(item, TrustList):
        return item.kind.value.lower()
    return "enc.sgn" if isinstance(item, EncryptedFile) else "sgn"


def summarise(item: TrustFile, raw: bytes, verification: Verification) -> Json:
    header = item.header
    out: Json = {
        "kind": kind_of(item),
        "version": header.version_text,
        "header_length": header.size,
        "digest": _digest_label(header),
        "signer": {
            "name": header.signer_name,
            "serial": None
            if header.signer_serial is None
            else names.colon_hex(header.signer_serial),
            "issuer": header.ca_name,
        },
        "records": [record_summary(r) for r in item.records] if isinstance(item, TrustList) else [],
        "signer_record": verification.signer_record,
        "verified": verification.verified,
        "reason": verification.reason,
        "filename": header.filename,
        "timestamp": header.timestamp,
        "length": len(raw),
        "md5": legacy.md5_hex(raw),
        "sha1": legacy.sha1(raw).hex(),
    }
    if isinstance(item, SignedFile):
        out["content_length"] = len(item.content)
    if isinstance(item, EncryptedFile):
        info = item.encryption
        out["content_length"] = len(item.ciphertext)
        out["encryption"] = {
            "key_size": info.key_size_bits,
            "padding_count": info.padding_count,
            "hash_algorithm": info.hash_algorithm,
            "plaintext_hash": info.plaintext_hash.hex(),
        }
    return out


def record_summary(record: Record) -> Json:
    sha1 = record.certificate_sha1
    cert_hash = record.cert_hash
    ip = record.ip_address
    role = record.role
    return {
        "role": role.spelling if role is not None else _unknown_role(record.role_code),
        "subject": record.subject,
        "issuer": record.issuer,
        "serial": None if record.serial is None else names.colon_hex(record.serial),
        "dns_name": record.dns_name,
        "ip_address": None if ip is None else str(ip),
        "certificate_sha1": None if sha1 is None else sha1.hex(),
        "certificate_hash": None if cert_hash is None else cert_hash.hex(),
        "length": record.length,
    }


def _unknown_role(code: int | None) -> str | None:
    return None if code is None else f"UNKNOWN({code})"


def _digest_label(header: Header) -> str | None:
    digest = header.digest
    if digest is not None:
        return digest.label
    code = header.digest_code
    return None if code is None else f"unknown({code})"

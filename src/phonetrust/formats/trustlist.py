"""CTL and ITL files: a signed header followed by records to the end of the file.

Both lists share one layout (VERSION 1.2); the header's FILENAME tells them
apart. The whole file except the SIGNATURE element is signed, by the key of
the record with role SAST whose serial number and issuer equal the header's.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum

from cryptography import x509

from phonetrust.errors import BuildError, ParseError
from phonetrust.formats import names
from phonetrust.formats.algorithms import Digest
from phonetrust.formats.header import Header
from phonetrust.formats.record import Record
from phonetrust.formats.signing import Failure, Signer, Verification, check_signature
from phonetrust.formats.tags import Role
from phonetrust.wire import Reader
from phonetrust.wire.tlv import Node

TRUST_LIST_VERSION = (1, 2)

ITL_SIZE_LIMIT = 64 * 1024
"""Phones refuse an ITL larger than 64 KB (about 39 certificates)."""


class Kind(Enum):
    CTL = "CTL"
    ITL = "ITL"

    @classmethod
    def from_filename(cls, filename: str | None) -> Kind:
        """ITL for ``ITL...`` names (``ITLFile.tlv``, ``ITLSEP<MAC>.tlv``), else CTL."""
        return cls.ITL if (filename or "").upper().startswith("ITL") else cls.CTL

    def default_filename(self) -> str:
        return f"{self.value}File.tlv"


@dataclass(frozen=True, slots=True)
class TrustList:
    """A CTL or ITL: header and records, immutable."""

    header: Header
    records: tuple[Record, ...]

    @property
    def kind(self) -> Kind:
        return Kind.from_filename(self.header.filename)

    def to_wire(self) -> bytes:
        return self.header.to_wire() + b"".join(r.to_wire() for r in self.records)

    def signed_bytes(self) -> bytes:
        """The bytes the signature covers: the whole file minus the SIGNATURE element."""
        return signed_bytes(self.header, b"".join(r.to_wire() for r in self.records))

    @classmethod
    def from_wire(cls, data: bytes) -> TrustList:
        """Parse a CTL or ITL; any defect raises :class:`ParseError` with its offset."""
        r = Reader(data)
        header = Header.read(r)
        if header.version != TRUST_LIST_VERSION:
            raise ParseError(
                f"trust lists are version 1.2, this header says {header.version_text}", 0
            )
        records: list[Record] = []
        while not r.at_end():
            records.append(Record.read(r))
        return cls(header, tuple(records))

    # -- verification --------------------------------------------------------

    def signer_index(self) -> int | None:
        """Index of the SAST record named by the header (serial and issuer), if any.

        The issuer is compared as the bytes both fields hold: inside one file
        the writer renders both the same way; when it did not, a serial match
        on a single SAST record still identifies the signer.
        """
        serial = self.header.signer_serial
        if serial is None:
            return None
        candidates = [
            i
            for i, rec in enumerate(self.records)
            if rec.role is Role.SAST and rec.serial == serial
        ]
        issuer = self.header.ca_name_bytes
        exact = [i for i in candidates if self.records[i].issuer_bytes == issuer]
        if exact:
            return exact[0]
        return candidates[0] if len(candidates) == 1 else None

    def _role_less_signer_index(self) -> int | None:
        """The header's signer among records with an empty FUNCTION (E1).

        The "Prepare Cluster for Rollback to pre 8.0" ITL empties every
        FUNCTION but is still signed by a certificate it lists: the file is
        valid, and ``show itl`` must not call it broken.
        """
        serial = self.header.signer_serial
        candidates = [
            i
            for i, rec in enumerate(self.records)
            if rec.role_code is None and serial is not None and rec.serial == serial
        ]
        issuer = self.header.ca_name_bytes
        exact = [i for i in candidates if self.records[i].issuer_bytes == issuer]
        best = exact or candidates
        return best[0] if best else None

    def verify(self) -> Verification:
        """Whether the file is signed by its own signer record (what ``show`` checks)."""
        signature = self.header.signature
        if signature is None:
            return Verification(False, Failure.NO_SIGNATURE)
        index = self.signer_index()
        if index is None:
            index = self._role_less_signer_index()
        if index is None:
            return Verification(False, Failure.SIGNER_ABSENT)
        outcome = check_signature(
            self.records[index].public_key(), signature, self.signed_bytes(), self.header.digest
        )
        return Verification(outcome.verified, outcome.failure, index)

    def verify_with(self, public_key: object) -> Verification:
        """Whether the file is signed by ``public_key`` (how a phone checks a signer it trusts)."""
        signature = self.header.signature
        if signature is None:
            return Verification(False, Failure.NO_SIGNATURE)
        return check_signature(public_key, signature, self.signed_bytes(), self.header.digest)


def signed_bytes(header: Header, body: bytes) -> bytes:
    """Header and body with the SIGNATURE element cut out."""
    raw = header.to_wire()
    span = header.signature_span()
    if span is None:
        return raw + body
    return raw[: span[0]] + raw[span[1] :] + body


def sign_header(
    signer: Signer,
    body: bytes,
    *,
    version: tuple[int, int],
    filename: str,
    digest: Digest,
    timestamp: int,
    signer_version: int | None = None,
    extra: tuple[Node, ...] = (),
) -> Header:
    """Build a header for ``body``, sign header and body together, and return the signed header."""
    signer_name, signer_serial, ca_name = signer_identity(signer.certificate)
    header = Header.build(
        version=version,
        signer_name=signer_name,
        signer_serial=signer_serial,
        ca_name=ca_name,
        digest=digest,
        modulus_bits=signer.key.key_size,
        filename=filename,
        timestamp=timestamp,
        signer_version=signer_version,
        extra=extra,
    )
    return header.with_signature(signer.key.sign(signed_bytes(header, body), digest))


@functools.lru_cache(maxsize=256)
def signer_identity(certificate: x509.Certificate) -> tuple[str, bytes, str]:
    """Signer name, serial and CA name as the header carries them (cached per certificate)."""
    return (
        names.cucm_name(certificate.subject),
        names.serial_bytes(certificate.serial_number),
        names.cucm_name(certificate.issuer),
    )


def build_trust_list(
    signer: Signer,
    records: Iterable[Record],
    *,
    filename: str,
    timestamp: int,
    digest: Digest = Digest.SHA1,
    signer_version: int | None = None,
) -> TrustList:
    """Sign ``records`` into a trust list named ``filename`` (``CTLFile.tlv``, ``ITLFile.tlv``...).

    The caller chooses the records, the signer's own SAST record included
    (CUCM puts it first); an ITL above the phones' 64 KB limit is refused.
    """
    recs = tuple(records)
    body = b"".join(r.to_wire() for r in recs)
    header = sign_header(
        signer,
        body,
        version=TRUST_LIST_VERSION,
        filename=filename,
        digest=digest,
        timestamp=timestamp,
        signer_version=signer_version,
    )
    size = header.size + len(body)
    if Kind.from_filename(filename) is Kind.ITL and size > ITL_SIZE_LIMIT:
        raise BuildError(
            f"the ITL would be {size} bytes with {len(recs)} records; phones refuse an ITL "
            f"above {ITL_SIZE_LIMIT} bytes (64 KB), so remove certificates before publishing"
        )
    return TrustList(header, recs)

"""One trust-list record: a certificate (or its hash) and the role it is trusted for.

A record has no outer container: its first element, RECORDLENGTH, says how
many bytes it spans, itself included. The elements are kept in file order,
unknown tags too, so any record re-serialises to the bytes it came from.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from phonetrust.errors import BuildError, ParseError
from phonetrust.formats import legacy, names
from phonetrust.formats.algorithms import Digest
from phonetrust.formats.tags import RecordTag, Role
from phonetrust.wire import Reader
from phonetrust.wire.tlv import HEADER_SIZE, Element, encode, read_node

ITL_DNS_NAME = b"\0\0"
"""CUCM's ITL records carry a 2-byte DNSNAME that shows as empty. Its content is
not documented; two NULs read as an empty name everywhere."""

ETOKEN_DNS_NAME = b"\0"
"""eToken records in a CTL have an empty, NUL-only DNSNAME."""

_FIXED_SIZES: dict[int, tuple[int, ...]] = {
    RecordTag.RECORDLENGTH: (2,),
    RecordTag.FUNCTION: (0, 2),  # empty in the rollback ITL's "empty function entries"
    RecordTag.IPADDRESS: (4,),
    RecordTag.HASHALGORITHM: (1,),
}


@dataclass(frozen=True, slots=True)
class Record:
    """A record's elements in file order, RECORDLENGTH first."""

    elements: tuple[Element, ...]

    def __post_init__(self) -> None:
        if not self.elements or self.elements[0].tag != RecordTag.RECORDLENGTH:
            raise BuildError("a record must start with its RECORDLENGTH element")
        for element in self.elements:
            sizes = _FIXED_SIZES.get(element.tag)
            if sizes is not None and len(element.value) not in sizes:
                raise BuildError(
                    f"record element {RecordTag(element.tag).name} cannot be "
                    f"{len(element.value)} bytes"
                )
        if self.length != self.size:
            raise BuildError(f"RECORDLENGTH says {self.length} but the record is {self.size} bytes")

    # -- sizes ---------------------------------------------------------------

    @property
    def size(self) -> int:
        return sum(e.size for e in self.elements)

    @property
    def length(self) -> int:
        """The declared RECORDLENGTH."""
        return int.from_bytes(self.elements[0].value, "big")

    # -- typed views ---------------------------------------------------------

    def value(self, tag: int) -> bytes | None:
        for element in self.elements:
            if element.tag == tag:
                return element.value
        return None

    def _text(self, tag: int) -> str | None:
        raw = self.value(tag)
        return None if raw is None else names.decode_text(raw)

    @property
    def dns_name(self) -> str | None:
        return self._text(RecordTag.DNSNAME)

    @property
    def subject(self) -> str | None:
        return self._text(RecordTag.SUBJECTNAME)

    @property
    def issuer(self) -> str | None:
        return self._text(RecordTag.ISSUERNAME)

    @property
    def issuer_bytes(self) -> bytes | None:
        return self.value(RecordTag.ISSUERNAME)

    @property
    def role_code(self) -> int | None:
        raw = self.value(RecordTag.FUNCTION)
        return int.from_bytes(raw, "big") if raw else None

    @property
    def role(self) -> Role | None:
        """The role, or None when the FUNCTION is empty, absent, or not a known role."""
        code = self.role_code
        return Role(code) if code is not None and code in Role._value2member_map_ else None

    @property
    def serial(self) -> bytes | None:
        return self.value(RecordTag.SERIALNUMBER)

    @property
    def public_key_bytes(self) -> bytes | None:
        return self.value(RecordTag.PUBLICKEY)

    @property
    def certificate_signature(self) -> bytes | None:
        return self.value(RecordTag.SIGNATURE)

    @property
    def certificate_der(self) -> bytes | None:
        return self.value(RecordTag.CERTIFICATE)

    @property
    def ip_address(self) -> ipaddress.IPv4Address | None:
        raw = self.value(RecordTag.IPADDRESS)
        return None if raw is None else ipaddress.IPv4Address(raw)

    @property
    def cert_hash(self) -> bytes | None:
        return self.value(RecordTag.CERTHASH)

    @property
    def hash_algorithm_code(self) -> int | None:
        raw = self.value(RecordTag.HASHALGORITHM)
        return None if raw is None else raw[0]

    @property
    def certificate_sha1(self) -> bytes | None:
        der = self.certificate_der
        return None if der is None else legacy.sha1(der)

    def certificate(self) -> x509.Certificate | None:
        """The embedded certificate, or None when absent or not parseable."""
        der = self.certificate_der
        if der is None:
            return None
        try:
            return x509.load_der_x509_certificate(der)
        except ValueError:
            return None

    def public_key(self) -> object | None:
        """The key this record trusts: its PUBLICKEY element, else its certificate's key."""
        raw = self.public_key_bytes
        if raw:
            try:
                return serialization.load_der_public_key(raw)
            except (ValueError, TypeError, UnsupportedAlgorithm):
                pass
        cert = self.certificate()
        if cert is None:
            return None
        try:
            return cert.public_key()
        except (ValueError, UnsupportedAlgorithm):  # e.g. an even RSA exponent, an unknown OID
            return None

    def matches_certificate(self, der: bytes) -> bool:
        """Whether ``der`` is the certificate this record stands for (by content, never by name)."""
        if self.certificate_der is not None:
            return self.certificate_der == der
        cert_hash, code = self.cert_hash, self.hash_algorithm_code
        if cert_hash is None or code is None or code not in Digest._value2member_map_:
            return False
        return Digest(code).digest(der) == cert_hash

    # -- codec ---------------------------------------------------------------

    def to_wire(self) -> bytes:
        return encode(self.elements)

    @classmethod
    def read(cls, r: Reader) -> Record:
        start = r.offset
        tag = r.u8("record tag")
        if tag != RecordTag.RECORDLENGTH:
            raise ParseError(
                f"a record must start with RECORDLENGTH (tag 1), found tag {tag}", start
            )
        if r.u16("RECORDLENGTH size") != 2:
            raise ParseError("RECORDLENGTH must be 2 bytes", start)
        length = r.u16("RECORDLENGTH")
        body = length - (HEADER_SIZE + 2)
        if body < 0:
            raise ParseError(f"RECORDLENGTH {length} is shorter than the element itself", start)
        elements = [Element(RecordTag.RECORDLENGTH, length.to_bytes(2, "big"))]
        with r.fence(body, f"record of {length} bytes"):
            while not r.at_end():
                node = read_node(r, frozenset())
                assert isinstance(node, Element)  # noqa: S101 - no containers were asked for
                elements.append(node)
        try:
            return cls(tuple(elements))
        except BuildError as exc:
            raise ParseError(str(exc), start) from None

    @classmethod
    def from_elements(cls, elements: list[Element]) -> Record:
        """A record from its elements (RECORDLENGTH excluded); the length is computed."""
        size = HEADER_SIZE + 2 + sum(e.size for e in elements)
        if size > 0xFFFF:
            raise BuildError(f"a record of {size} bytes does not fit RECORDLENGTH")
        return cls((Element(RecordTag.RECORDLENGTH, size.to_bytes(2, "big")), *elements))

    @classmethod
    def from_certificate(
        cls,
        certificate: x509.Certificate,
        role: Role | None,
        *,
        dns_name: bytes | str = ITL_DNS_NAME,
        ip_address: ipaddress.IPv4Address | None = None,
        hash_only: bool = False,
        hash_algorithm: Digest = Digest.SHA1,
        include_signature: bool = True,
        cucm_names: bool = True,
    ) -> Record:
        """A record as CUCM writes it, fields in ascending tag order.

        ``hash_only`` gives CUCM's ITL form for TVS and CAPF (CERTHASH and HASH
        ALGORITHM instead of the certificate); ``include_signature=False`` the
        hardware-token CTL client's form, without the certificate's signature.
        ``role=None`` writes an empty FUNCTION (the rollback ITL).
        """
        render = names.cucm_name if cucm_names else names.certificate_order_name
        der = certificate.public_bytes(serialization.Encoding.DER)
        dns = names.encode_text(dns_name) if isinstance(dns_name, str) else dns_name
        elements = [
            Element(RecordTag.DNSNAME, dns),
            Element(RecordTag.SUBJECTNAME, names.encode_text(render(certificate.subject))),
            Element(RecordTag.FUNCTION, b"" if role is None else int(role).to_bytes(2, "big")),
            Element(RecordTag.ISSUERNAME, names.encode_text(render(certificate.issuer))),
            Element(RecordTag.SERIALNUMBER, names.serial_bytes(certificate.serial_number)),
            Element(RecordTag.PUBLICKEY, public_key_bytes(certificate)),
        ]
        if include_signature:
            elements.append(Element(RecordTag.SIGNATURE, certificate.signature))
        if not hash_only:
            elements.append(Element(RecordTag.CERTIFICATE, der))
        if ip_address is not None:
            elements.append(Element(RecordTag.IPADDRESS, ip_address.packed))
        if hash_only:
            elements.append(Element(RecordTag.CERTHASH, hash_algorithm.digest(der)))
            elements.append(Element(RecordTag.HASHALGORITHM, bytes([hash_algorithm])))
        return cls.from_elements(elements)


def public_key_bytes(certificate: x509.Certificate) -> bytes:
    """PUBLICKEY value: PKCS#1 ``RSAPublicKey`` DER, or an EC key's uncompressed point."""
    key = certificate.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.PKCS1)
    if isinstance(key, ec.EllipticCurvePublicKey):
        return key.public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
    raise BuildError(f"a trust list cannot carry a {type(key).__name__.lstrip('_')} key")

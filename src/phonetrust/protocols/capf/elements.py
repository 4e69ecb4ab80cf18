"""CAPF elements: the TLV values a message carries, validated when built (spec/protocols.md).

Each element is ``tag (1) | length (2) | value``. An :class:`Element` keeps
its exact value bytes (so a message re-serialises to the very bytes it came
from) and is validated when built: a REASON of two bytes or a CERTIFICATE
whose inner length lies cannot be constructed, from the wire or by a caller.
A message's typed accessors (:mod:`.messages`) can therefore decode an
element's bytes without checking them again.

Decisions where the specification is open (lenient when reading, canonical
when writing):

- Text elements (DEVICE NAME, PASSWORD, REASON INFO) are written with a
  trailing NUL and read with or without one. DEVICE NAME is 1 to 64
  visible ASCII characters (any device type, not only ``SEP<MAC>``);
  PASSWORD is 0 to 64 printable ASCII characters (spaces allowed).
- RETRY DELAY is written as 4 bytes (seconds) and read from 1, 2 or 4.
- CERTIFICATE holds exactly one ``0x01 | length (2) | 0x00 | type (1) | DER``
  entry; the inner length must account for every byte.
- SHA2 SIGNED DATA is ``hash algorithm (1) | length (2) | signature``;
  SUDI DATA is three such blocks tagged 0 (certificate), 1 (SHA-1
  signature) and the SHA-2 algorithm (3 = SHA-512).
- Unknown tags are kept as opaque bytes.

What certificate authentication signs is here too (:func:`auth_signed_bytes`,
:func:`sudi_signed_bytes`); the phone signs in :mod:`.client`, the server
verifies in :mod:`.server`.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum

from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurve
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

from phonetrust.errors import BuildError, ParseError, ProtocolError
from phonetrust.wire import Reader, Writer

MAX_PAYLOAD = 0xFFFF
MAX_TEXT = 64
MAX_REASON_INFO = 1024
_PRINTABLE = re.compile(rb"[\x20-\x7e]*")
_VISIBLE = re.compile(rb"[\x21-\x7e]*")


class Reason(IntEnum):
    """REASON codes: the outcome an END SESSION (or a response) carries."""

    NO_ACTION = 0
    UPDATE_CERTIFICATE = 1
    INVALID_ELEMENT = 7
    UNKNOWN_DEVICE = 9


class Tag(IntEnum):
    REASON = 1
    REASON_INFO = 2
    CERTIFICATE_TYPE = 3
    CERTIFICATE = 4
    CERTIFICATE_ID = 5
    SIGNED_DATA = 6
    VERSION = 7
    AUTH_TYPE = 8
    PUBLIC_KEY = 9
    KEY_SIZE = 10
    PASSWORD = 11
    RETRY_DELAY = 12
    DEVICE_NAME = 13
    SUDI_DATA = 16
    KEY_TYPE = 17
    CURVE = 18
    DIGEST_TYPE = 19
    SHA2_SIGNED_DATA = 20


class AuthType(IntEnum):
    """AUTH TYPE: same numbers as the configuration's capfAuthMode."""

    NONE = 0
    PASSWORD = 1
    NULL_STRING = 2
    LSC = 3
    MIC = 4


class CertificateType(IntEnum):
    LSC = 1
    MIC = 2


class KeyType(IntEnum):
    RSA = 0
    EC = 1


class Curve(IntEnum):
    P256 = 0
    P384 = 1
    P521 = 2


class HashAlgorithm(IntEnum):
    SHA1 = 1
    SHA256 = 2
    SHA512 = 3


RSA_SIZES = (1024, 2048, 3072, 4096)
CURVE_BITS = {Curve.P256: 256, Curve.P384: 384, Curve.P521: 521}
_CURVE_CLASSES: dict[Curve, type[EllipticCurve]] = {
    Curve.P256: ec.SECP256R1,
    Curve.P384: ec.SECP384R1,
    Curve.P521: ec.SECP521R1,
}


# -- composite element values ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CertificateBlob:
    """The value of a CERTIFICATE element: a certificate type and its DER."""

    type: int
    der: bytes

    def __post_init__(self) -> None:
        if not 0 <= self.type <= 0xFF:
            raise BuildError(f"certificate type {self.type} does not fit in one byte")
        if not self.der or len(self.der) + 2 > MAX_PAYLOAD - 3:
            raise BuildError(f"a certificate of {len(self.der)} bytes cannot be sent")

    def encode(self) -> bytes:
        return struct.pack(">BHBB", 1, len(self.der) + 2, 0, self.type) + self.der

    @classmethod
    def decode(cls, value: bytes) -> CertificateBlob:
        r = Reader(value)
        if r.u8("certificate entry tag") != 1:
            raise r.fail("a certificate entry starts with 0x01", 0)
        with r.fence(r.u16("certificate entry length"), "certificate entry"):
            r.u8("reserved byte")
            kind = r.u8("certificate type")
            der = r.read(r.remaining, "certificate")
        if not r.at_end():
            raise r.fail("bytes after the certificate entry")
        if not der:
            raise r.fail("an empty certificate")
        return cls(kind, der)

    @property
    def kind(self) -> CertificateType | None:
        return (
            CertificateType(self.type) if self.type in CertificateType._value2member_map_ else None
        )


@dataclass(frozen=True, slots=True)
class Sha2Signature:
    """SHA2 SIGNED DATA: a hash algorithm number and the signature made with it."""

    algorithm: int
    signature: bytes

    def __post_init__(self) -> None:
        if not 0 <= self.algorithm <= 0xFF or not self.signature:
            raise BuildError("a SHA-2 signature needs an algorithm byte and signature bytes")

    def encode(self) -> bytes:
        return struct.pack(">BH", self.algorithm, len(self.signature)) + self.signature

    @classmethod
    def decode(cls, value: bytes) -> Sha2Signature:
        r = Reader(value)
        algorithm = r.u8("hash algorithm")
        with r.fence(r.u16("signature length"), "signature"):
            signature = r.read(r.remaining, "signature")
        if not r.at_end():
            raise r.fail("bytes after the signature")
        if not signature:
            raise r.fail("an empty signature")
        return cls(algorithm, signature)


@dataclass(frozen=True, slots=True)
class SudiData:
    """SUDI DATA: the SUDI certificate and its SHA-1 and SHA-2 signatures over the session."""

    certificate: bytes
    sha1_signature: bytes
    sha2_signature: Sha2Signature

    def encode(self) -> bytes:
        w = Writer()
        w.tlv(0, self.certificate)
        w.tlv(1, self.sha1_signature)
        w.tlv(self.sha2_signature.algorithm, self.sha2_signature.signature)
        return w.getvalue()

    @classmethod
    def decode(cls, value: bytes) -> SudiData:
        r = Reader(value)
        blocks: list[tuple[int, bytes]] = []
        for expected in ("certificate", "SHA-1 signature", "SHA-2 signature"):
            tag = r.u8(f"SUDI {expected} tag")
            blocks.append((tag, r.read(r.u16(f"SUDI {expected} length"), f"SUDI {expected}")))
        if not r.at_end():
            raise r.fail("bytes after the SUDI data")
        (t0, cert), (t1, sha1), (t2, sha2) = blocks
        if (t0, t1) != (0, 1) or not cert or not sha1 or not sha2:
            raise r.fail("SUDI data is certificate (0), SHA-1 (1), SHA-2 blocks, none empty", 0)
        return cls(cert, sha1, Sha2Signature(t2, sha2))


# -- elements -----------------------------------------------------------------------


def _u8(value: bytes) -> int:
    if len(value) != 1:
        raise ValueError(f"{len(value)} bytes where one is expected")
    return value[0]


def _u16(value: bytes) -> int:
    if len(value) != 2:
        raise ValueError(f"{len(value)} bytes where two are expected")
    return int.from_bytes(value, "big")


def _delay(value: bytes) -> int:
    if len(value) not in (1, 2, 4):
        raise ValueError(f"a retry delay of {len(value)} bytes (1, 2 or 4 expected)")
    return int.from_bytes(value, "big")


def _text(limit: int, *, empty: bool, pattern: re.Pattern[bytes]) -> Callable[[bytes], str]:
    def decode(value: bytes) -> str:
        raw = value[:-1] if value.endswith(b"\0") else value
        if len(raw) > limit or (not raw and not empty) or not pattern.fullmatch(raw):
            what = "0" if empty else "1"
            raise ValueError(f"not {what} to {limit} printable ASCII characters")
        return raw.decode("ascii")

    return decode


def _reason_info(value: bytes) -> str:
    raw = value[:-1] if value.endswith(b"\0") else value
    if len(raw) > MAX_REASON_INFO:
        raise ValueError(f"reason info of {len(raw)} bytes")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError("reason info is not UTF-8 text") from None


def _opaque(limit: int) -> Callable[[bytes], bytes]:
    def decode(value: bytes) -> bytes:
        if not value or len(value) > limit:
            raise ValueError(f"{len(value)} bytes (1 to {limit} expected)")
        return value

    return decode


def _structured(decode: Callable[[bytes], object]) -> Callable[[bytes], object]:
    def check(value: bytes) -> object:
        try:
            return decode(value)
        except (ParseError, BuildError) as exc:
            raise ValueError(str(exc)) from None

    return check


_DECODERS: dict[int, Callable[[bytes], object]] = {
    Tag.REASON: _u8,
    Tag.REASON_INFO: _reason_info,
    Tag.CERTIFICATE_TYPE: _u8,
    Tag.CERTIFICATE: _structured(CertificateBlob.decode),
    Tag.CERTIFICATE_ID: _opaque(1024),
    Tag.SIGNED_DATA: _opaque(1024),
    Tag.VERSION: _u8,
    Tag.AUTH_TYPE: _u8,
    Tag.PUBLIC_KEY: _opaque(4096),
    Tag.KEY_SIZE: _u16,
    Tag.PASSWORD: _text(MAX_TEXT, empty=True, pattern=_PRINTABLE),
    Tag.RETRY_DELAY: _delay,
    Tag.DEVICE_NAME: _text(MAX_TEXT, empty=False, pattern=_VISIBLE),
    Tag.SUDI_DATA: _structured(SudiData.decode),
    Tag.KEY_TYPE: _u8,
    Tag.CURVE: _u8,
    Tag.DIGEST_TYPE: _u8,
    Tag.SHA2_SIGNED_DATA: _structured(Sha2Signature.decode),
}


def _problem(tag: int, value: bytes) -> str | None:
    decoder = _DECODERS.get(tag)
    if decoder is None:
        return None
    try:
        decoder(value)
    except ValueError as exc:
        return f"{_tag_name(tag)}: {exc}"
    return None


def text_of(tag: int, value: bytes) -> str:
    """A validated text element's text, without its NUL."""
    raw = value[:-1] if value.endswith(b"\0") else value
    return raw.decode("utf-8" if tag == Tag.REASON_INFO else "ascii")


def tag_name(tag: int) -> str:
    """``DEVICE_NAME``, or ``element 99`` for a tag this codec does not know."""
    return _tag_name(tag)


def known(tag: int) -> bool:
    """A tag this codec validates (and allows once per message)."""
    return tag in _DECODERS


def _tag_name(tag: int) -> str:
    return Tag(tag).name if tag in Tag._value2member_map_ else f"element {tag}"


@dataclass(frozen=True, slots=True)
class Element:
    """One TLV element; the value is checked against its tag when built."""

    tag: int
    value: bytes

    def __post_init__(self) -> None:
        if not 0 <= self.tag <= 0xFF:
            raise BuildError(f"tag {self.tag} does not fit in one byte")
        if len(self.value) > MAX_PAYLOAD - 3:
            raise BuildError(f"{_tag_name(self.tag)} of {len(self.value)} bytes does not fit")
        problem = _problem(self.tag, self.value)
        if problem is not None:
            raise BuildError(problem)

    @classmethod
    def number(cls, tag: Tag, value: int) -> Element:
        """An integer element: KEY SIZE in 2 bytes, RETRY DELAY in 4, the others in 1."""
        size = _NUMBER_SIZES.get(tag, 1)
        if not 0 <= value < 1 << (8 * size):
            raise BuildError(f"{_tag_name(tag)} {value} does not fit in {size} byte(s)")
        return cls(tag, value.to_bytes(size, "big"))

    @classmethod
    def text(cls, tag: Tag, text: str) -> Element:
        """A text element (DEVICE NAME, PASSWORD, REASON INFO), NUL-terminated."""
        try:
            raw = text.encode("ascii" if tag is not Tag.REASON_INFO else "utf-8")
        except UnicodeEncodeError:
            raise BuildError(f"{_tag_name(tag)} {text!r} is not ASCII") from None
        return cls(tag, raw + b"\0")

    @classmethod
    def of(cls, value: CertificateBlob | Sha2Signature | SudiData) -> Element:
        """CERTIFICATE, SHA2 SIGNED DATA or SUDI DATA from its structured value."""
        tag = {
            CertificateBlob: Tag.CERTIFICATE,
            Sha2Signature: Tag.SHA2_SIGNED_DATA,
            SudiData: Tag.SUDI_DATA,
        }[type(value)]
        return cls(tag, value.encode())


_NUMBER_SIZES = {Tag.KEY_SIZE: 2, Tag.RETRY_DELAY: 4}


# -- key specifications ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class KeySpec:
    """What key the phone must generate: RSA of some size, or EC on some curve."""

    key_type: KeyType
    bits: int
    """RSA modulus size, or the curve's size (256, 384, 521)."""

    def __post_init__(self) -> None:
        if self.key_type is KeyType.RSA and self.bits not in RSA_SIZES:
            raise BuildError(f"RSA keys are {', '.join(map(str, RSA_SIZES))} bits, not {self.bits}")
        if self.key_type is KeyType.EC and self.bits not in CURVE_BITS.values():
            raise BuildError(f"EC keys are on P-256, P-384 or P-521, not {self.bits} bits")

    @classmethod
    def rsa(cls, bits: int) -> KeySpec:
        return cls(KeyType.RSA, bits)

    @classmethod
    def ec(cls, curve: Curve) -> KeySpec:
        return cls(KeyType.EC, CURVE_BITS[curve])

    @property
    def curve(self) -> Curve | None:
        if self.key_type is not KeyType.EC:
            return None
        return next(c for c, bits in CURVE_BITS.items() if bits == self.bits)

    @property
    def text(self) -> str:
        """``RSA-2048``, ``EC-P256``: how a device's key is written in the store."""
        return f"RSA-{self.bits}" if self.key_type is KeyType.RSA else f"EC-P{self.bits}"

    def elements(self) -> tuple[Element, ...]:
        """KEY TYPE 0 + KEY SIZE, or KEY TYPE 1 + CURVE."""
        curve = self.curve
        if curve is None:
            return (
                Element.number(Tag.KEY_TYPE, KeyType.RSA),
                Element.number(Tag.KEY_SIZE, self.bits),
            )
        return (Element.number(Tag.KEY_TYPE, KeyType.EC), Element.number(Tag.CURVE, curve))

    @classmethod
    def requested(cls, kind: int | None, size: int | None, curve: int | None) -> KeySpec:
        """The key a key-generate request asks for (no KEY TYPE: RSA, as before EC existed)."""
        try:
            if kind in (None, KeyType.RSA):
                if size is None:
                    raise ProtocolError("an RSA key-generate request without KEY SIZE")
                return cls.rsa(size)
            if kind == KeyType.EC:
                if curve is None or curve not in Curve._value2member_map_:
                    raise ProtocolError(f"an EC key-generate request with curve {curve}")
                return cls.ec(Curve(curve))
        except BuildError as exc:
            raise ProtocolError(str(exc)) from None
        raise ProtocolError(f"unknown key type {kind}")

    @classmethod
    def of_key(cls, key: PublicKeyTypes) -> KeySpec | None:
        """The spec a public key satisfies; None for key types CAPF does not issue for."""
        try:
            if isinstance(key, rsa.RSAPublicKey):
                return cls.rsa(key.key_size)
            if isinstance(key, ec.EllipticCurvePublicKey):
                for curve, kind in _CURVE_CLASSES.items():
                    if isinstance(key.curve, kind):
                        return cls.ec(curve)
        except BuildError:
            return None
        return None

    def curve_class(self) -> EllipticCurve:
        curve = self.curve
        if curve is None:
            raise BuildError(f"{self.text} is not an EC key")
        return _CURVE_CLASSES[curve]()


# -- certificate authentication -----------------------------------------------------------


def auth_signed_bytes(device: str, certificate: bytes) -> bytes:
    """What a phone signs to prove it holds its certificate's key: name, NUL, DER."""
    return device.encode("ascii") + b"\0" + certificate


def sudi_signed_bytes(session_id: int, sudi_certificate: bytes) -> bytes:
    """What SUDI DATA signs: the session id (4 bytes, little-endian, as CUCM's host order)
    and the SUDI certificate."""
    return session_id.to_bytes(4, "little") + sudi_certificate

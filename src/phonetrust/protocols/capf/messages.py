"""CAPF messages, one frozen type per command (spec/protocols.md, CAPF).

A message is an 8-byte header followed by TLV elements (:mod:`.elements`)::

    protocol id (1) = 85 | command (1) | session id (4) | payload length (2) | elements

Each command has its own type, as h11 has one per event, so that the
session tables dispatch on the type and a handler reads typed fields. A
message keeps its elements in wire order, exactly as they came (so it
re-serialises to the very bytes it came from); its accessors decode them.
An accessor either returns the value or, for an element the command needs
(an AUTH RESPONSE's DEVICE NAME, a KEY GENERATE REQUEST's key), raises
:class:`~phonetrust.errors.ProtocolError`; an optional one returns None only
when the element is absent, since a present element was validated when the
message was built.

Decisions where the specification is open (lenient when reading, canonical
when writing): elements may come in any order and any command may carry
any element (the accessors look only at the ones they need); a known tag
twice in one message is an error (two device names are an ambiguity an
attacker would use); unknown tags are kept as opaque bytes.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum
from typing import ClassVar, TypeVar

from phonetrust.errors import BuildError, ParseError, ProtocolError, VerificationError
from phonetrust.protocols.capf.elements import (
    CURVE_BITS,
    MAX_PAYLOAD,
    MAX_REASON_INFO,
    MAX_TEXT,
    RSA_SIZES,
    AuthType,
    CertificateBlob,
    CertificateType,
    Curve,
    Element,
    HashAlgorithm,
    KeySpec,
    KeyType,
    Reason,
    Sha2Signature,
    SudiData,
    Tag,
    auth_signed_bytes,
    known,
    sudi_signed_bytes,
    tag_name,
    text_of,
)
from phonetrust.protocols.framing import Framer, Framing
from phonetrust.wire import Reader

__all__ = [
    "CURVE_BITS",
    "HEADER_SIZE",
    "MAX_PAYLOAD",
    "MAX_REASON_INFO",
    "MAX_TEXT",
    "PROTOCOL_ID",
    "RSA_SIZES",
    "VERSION",
    "AbortRequest",
    "AbortResponse",
    "AuthRequest",
    "AuthResponse",
    "AuthType",
    "CapfServerUntrusted",
    "CertificateBlob",
    "CertificateType",
    "Command",
    "Curve",
    "DeleteCertificateRequest",
    "DeleteCertificateResponse",
    "Element",
    "EndSession",
    "FetchCertificateRequest",
    "FetchCertificateResponse",
    "HashAlgorithm",
    "Header",
    "KeyGenRequest",
    "KeyGenResponse",
    "KeySpec",
    "KeyType",
    "Message",
    "Reason",
    "RequestInProgress",
    "RetryLater",
    "Sha2Signature",
    "StoreCertificateRequest",
    "StoreCertificateResponse",
    "SudiData",
    "Tag",
    "auth_signed_bytes",
    "framer",
    "message",
    "sudi_signed_bytes",
]

PROTOCOL_ID = 85
VERSION = 3
HEADER_SIZE = 8
_HEADER = struct.Struct(">BBIH")
_ELEMENT = struct.Struct(">BH")


class CapfServerUntrusted(VerificationError):
    """The CAPF server's certificate is not the one the phone's CTL/ITL names."""


class Command(IntEnum):
    AUTH_REQUEST = 1
    AUTH_RESPONSE = 2
    KEY_GEN_REQUEST = 3
    KEY_GEN_RESPONSE = 4
    ENCRYPT_RESPONSE = 5
    ENCRYPT_REQUEST = 6
    DECRYPT_REQUEST = 7
    DECRYPT_RESPONSE = 8
    STORE_CERTIFICATE_REQUEST = 9
    STORE_CERTIFICATE_RESPONSE = 10
    FETCH_CERTIFICATE_REQUEST = 11
    FETCH_CERTIFICATE_RESPONSE = 12
    DELETE_CERTIFICATE_REQUEST = 13
    DELETE_CERTIFICATE_RESPONSE = 14
    END_SESSION = 15
    RETRY_LATER = 16
    REQUEST_IN_PROGRESS = 17
    STATUS_REQUEST = 18
    STATUS_RESPONSE = 19
    ABORT_REQUEST = 20
    ABORT_RESPONSE = 21
    SIGN_CERTIFICATE_REQUEST = 22
    SIGN_CERTIFICATE_RESPONSE = 23


@dataclass(frozen=True, slots=True)
class Header:
    command: Command
    session_id: int
    payload_length: int

    @classmethod
    def from_wire(cls, data: bytes | bytearray) -> Header:
        """The header in the first 8 bytes of ``data`` (later bytes are not looked at)."""
        if len(data) < HEADER_SIZE:
            raise ProtocolError(f"a header needs {HEADER_SIZE} bytes, got {len(data)}", 0)
        protocol, command, session_id, length = _HEADER.unpack_from(data)
        if protocol != PROTOCOL_ID:
            raise ProtocolError(f"protocol id {protocol} is not CAPF ({PROTOCOL_ID})", 0)
        if command not in Command._value2member_map_:
            raise ProtocolError(f"unknown command {command}", 1)
        return cls(Command(command), session_id, length)


M = TypeVar("M", bound="Message")


@dataclass(frozen=True, slots=True)
class Message:
    """What every CAPF message has: its command (the type's), session id and elements."""

    session_id: int
    elements: tuple[Element, ...] = ()
    command: ClassVar[Command]

    def __post_init__(self) -> None:
        if not 0 <= self.session_id <= 0xFFFF_FFFF:
            raise BuildError(f"session id {self.session_id} does not fit in four bytes")
        seen: set[int] = set()
        for element in self.elements:
            if element.tag in seen and known(element.tag):
                raise BuildError(f"{tag_name(element.tag)} appears twice")
            seen.add(element.tag)
        size = sum(3 + len(e.value) for e in self.elements)
        if size > MAX_PAYLOAD:
            raise BuildError(f"a payload of {size} bytes does not fit two bytes")

    @classmethod
    def of(cls: type[M], session_id: int, *elements: Element) -> M:
        return cls(session_id, elements)

    def to_wire(self) -> bytes:
        """Header and payload together: they must reach the phone in one write."""
        payload = b"".join(_ELEMENT.pack(e.tag, len(e.value)) + e.value for e in self.elements)
        return _HEADER.pack(PROTOCOL_ID, self.command, self.session_id, len(payload)) + payload

    @staticmethod
    def from_wire(data: bytes) -> Message:
        """Exactly one message: trailing bytes are an error."""
        header = Header.from_wire(data)
        if len(data) != HEADER_SIZE + header.payload_length:
            raise ProtocolError(
                f"message declares {header.payload_length} payload bytes, "
                f"{len(data) - HEADER_SIZE} follow the header",
                6,
            )
        return framed(header, data)

    # -- typed access, for the accessors of each command ------------------------------------
    def _value(self, tag: Tag) -> bytes | None:
        for element in self.elements:
            if element.tag == tag:
                return element.value
        return None

    def _number(self, tag: Tag) -> int | None:
        value = self._value(tag)
        return None if value is None else int.from_bytes(value, "big")

    def _text(self, tag: Tag) -> str | None:
        value = self._value(tag)
        return None if value is None else text_of(tag, value)

    def _certificate(self) -> CertificateBlob | None:
        value = self._value(Tag.CERTIFICATE)
        return None if value is None else CertificateBlob.decode(value)

    def _required(self, tag: Tag) -> bytes:
        value = self._value(tag)
        if value is None:
            command, element = self.command.name, tag_name(tag)
            raise ProtocolError(f"an {command} without {element}".replace("_", " "))
        return value


def framed(header: Header, data: bytes) -> Message:
    """The message ``header`` begins, in ``data`` exactly; offsets count from its first byte."""
    r = Reader(data, HEADER_SIZE)
    elements: list[Element] = []
    seen: set[int] = set()
    tag = -1
    try:
        while not r.at_end():
            start = r.offset
            tag = r.u8("element tag")
            value = r.read(r.u16("element length"), "element value")
            if tag in seen and known(tag):
                raise ProtocolError(f"{tag_name(tag)} appears twice", start)
            seen.add(tag)
            try:
                elements.append(Element(tag, value))
            except BuildError as exc:
                raise ProtocolError(str(exc), start) from None
    except ParseError as exc:
        where = f"{tag_name(tag)}: " if tag >= 0 else ""
        raise ProtocolError.at(exc, where) from None
    return _TYPES[header.command](header.session_id, tuple(elements))


def message(command: Command, session_id: int, elements: tuple[Element, ...] = ()) -> Message:
    """A message of ``command``'s type (for tests and tools that pick the command at run time)."""
    return _TYPES[command](session_id, elements)


def framer(max_payload: int = MAX_PAYLOAD) -> Framer[Header, Message]:
    """A stream's CAPF messages, one by one; a payload above ``max_payload`` fails at once."""
    return Framer(FRAMING, HEADER_SIZE + max_payload)


def _reason(reason: int) -> tuple[Element, ...]:
    return (Element.number(Tag.REASON, reason),)


# -- the commands CAPF speaks -----------------------------------------------------------------


class _WithReason(Message):
    __slots__ = ()

    @property
    def reason(self) -> int | None:
        """The REASON; None when the peer sent none (the phones' responses may omit it)."""
        return self._number(Tag.REASON)


class AuthRequest(Message):
    """The server's first message: which protocol version, how to authenticate."""

    __slots__ = ()
    command = Command.AUTH_REQUEST

    @classmethod
    def make(cls, session_id: int, auth_type: AuthType = AuthType.NONE) -> AuthRequest:
        return cls.of(
            session_id,
            Element.number(Tag.VERSION, VERSION),
            Element.number(Tag.AUTH_TYPE, auth_type),
        )

    @property
    def auth_type(self) -> int | None:
        return self._number(Tag.AUTH_TYPE)


class AuthResponse(_WithReason):
    """The phone says who it is and offers its proofs."""

    __slots__ = ()
    command = Command.AUTH_RESPONSE

    @property
    def device(self) -> str:
        return text_of(Tag.DEVICE_NAME, self._required(Tag.DEVICE_NAME))

    @property
    def password(self) -> str | None:
        return self._text(Tag.PASSWORD)

    @property
    def version(self) -> int | None:
        return self._number(Tag.VERSION)

    @property
    def certificate(self) -> CertificateBlob | None:
        return self._certificate()

    @property
    def signed_data(self) -> bytes | None:
        return self._value(Tag.SIGNED_DATA)

    @property
    def sha2_signed_data(self) -> Sha2Signature | None:
        value = self._value(Tag.SHA2_SIGNED_DATA)
        return None if value is None else Sha2Signature.decode(value)

    @property
    def sudi(self) -> SudiData | None:
        value = self._value(Tag.SUDI_DATA)
        return None if value is None else SudiData.decode(value)


class KeyGenRequest(Message):
    """The server asks the phone for a new key pair of some kind."""

    __slots__ = ()
    command = Command.KEY_GEN_REQUEST

    @classmethod
    def make(cls, session_id: int, key: KeySpec) -> KeyGenRequest:
        return cls(session_id, key.elements())

    @property
    def key(self) -> KeySpec:
        return KeySpec.requested(
            self._number(Tag.KEY_TYPE), self._number(Tag.KEY_SIZE), self._number(Tag.CURVE)
        )


class KeyGenResponse(_WithReason):
    """The phone's new public key; none when it could not make one."""

    __slots__ = ()
    command = Command.KEY_GEN_RESPONSE

    @classmethod
    def make(cls, session_id: int, public_key: bytes) -> KeyGenResponse:
        return cls.of(session_id, Element(Tag.PUBLIC_KEY, public_key))

    @property
    def public_key(self) -> bytes | None:
        """SubjectPublicKeyInfo DER."""
        return self._value(Tag.PUBLIC_KEY)


class StoreCertificateRequest(Message):
    __slots__ = ()
    command = Command.STORE_CERTIFICATE_REQUEST

    @classmethod
    def make(cls, session_id: int, der: bytes) -> StoreCertificateRequest:
        return cls.of(
            session_id,
            Element.number(Tag.CERTIFICATE_TYPE, CertificateType.LSC),
            Element.of(CertificateBlob(CertificateType.LSC, der)),
        )

    @property
    def certificate(self) -> CertificateBlob | None:
        return self._certificate()


class StoreCertificateResponse(_WithReason):
    __slots__ = ()
    command = Command.STORE_CERTIFICATE_RESPONSE

    @classmethod
    def make(cls, session_id: int, reason: Reason) -> StoreCertificateResponse:
        return cls(session_id, _reason(reason))


class FetchCertificateRequest(Message):
    __slots__ = ()
    command = Command.FETCH_CERTIFICATE_REQUEST


class FetchCertificateResponse(_WithReason):
    __slots__ = ()
    command = Command.FETCH_CERTIFICATE_RESPONSE

    @classmethod
    def make(
        cls, session_id: int, reason: Reason, certificate: CertificateBlob | None = None
    ) -> FetchCertificateResponse:
        found = _reason(reason)
        if certificate is not None:
            found += (Element.of(certificate),)
        return cls(session_id, found)

    @property
    def certificate(self) -> CertificateBlob | None:
        return self._certificate()


class DeleteCertificateRequest(Message):
    __slots__ = ()
    command = Command.DELETE_CERTIFICATE_REQUEST


class DeleteCertificateResponse(_WithReason):
    __slots__ = ()
    command = Command.DELETE_CERTIFICATE_RESPONSE

    @classmethod
    def make(cls, session_id: int, reason: Reason) -> DeleteCertificateResponse:
        return cls(session_id, _reason(reason))


class EndSession(_WithReason):
    """The last message of a session, with its outcome; either side may send it."""

    __slots__ = ()
    command = Command.END_SESSION

    @classmethod
    def make(cls, session_id: int, reason: Reason, info: str = "") -> EndSession:
        found = _reason(reason)
        if info:
            found += (Element.text(Tag.REASON_INFO, info),)
        return cls(session_id, found)

    @property
    def info(self) -> str | None:
        return self._text(Tag.REASON_INFO)


class RetryLater(Message):
    __slots__ = ()
    command = Command.RETRY_LATER

    @property
    def delay(self) -> int | None:
        """Seconds the phone should wait before it tries again."""
        return self._number(Tag.RETRY_DELAY)


class RequestInProgress(Message):
    """The phone is still working (generating its key)."""

    __slots__ = ()
    command = Command.REQUEST_IN_PROGRESS


class AbortRequest(Message):
    __slots__ = ()
    command = Command.ABORT_REQUEST


class AbortResponse(_WithReason):
    __slots__ = ()
    command = Command.ABORT_RESPONSE

    @classmethod
    def make(cls, session_id: int, reason: Reason) -> AbortResponse:
        return cls(session_id, _reason(reason))


# -- commands CAPF does not speak -------------------------------------------------------------


def _unspoken(command: Command) -> type[Message]:
    """A type for a command CAPF defines but no session here sends or accepts.

    Parsed all the same, so that a session refuses it as an unexpected
    command, by its table, rather than as malformed bytes.
    """
    name = command.name.title().replace("_", "")
    return type(name, (Message,), {"__slots__": (), "command": command, "__module__": __name__})


_SPOKEN: tuple[type[Message], ...] = (
    AuthRequest,
    AuthResponse,
    KeyGenRequest,
    KeyGenResponse,
    StoreCertificateRequest,
    StoreCertificateResponse,
    FetchCertificateRequest,
    FetchCertificateResponse,
    DeleteCertificateRequest,
    DeleteCertificateResponse,
    EndSession,
    RetryLater,
    RequestInProgress,
    AbortRequest,
    AbortResponse,
)
_TYPES: dict[Command, type[Message]] = {kind.command: kind for kind in _SPOKEN}
_TYPES.update({c: _unspoken(c) for c in Command if c not in _TYPES})

FRAMING = Framing("CAPF", PROTOCOL_ID, HEADER_SIZE, Header.from_wire, framed)

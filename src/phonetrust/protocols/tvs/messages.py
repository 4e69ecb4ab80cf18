"""TVS messages as immutable values with symmetric codecs (spec/protocols.md, TVS).

A message is a 10-byte header followed by TLV elements::

    protocol id (1) = 87 | version (1) = 1 | command (1) | reserved (1) = 0 |
    session id (4) | payload length (2) | elements (payload length bytes)

Elements have a 1-byte tag and a 2-byte length:

=====  ===========  =============================================================
tag    name         value
=====  ===========  =============================================================
1      DEVICE NAME  one byte 0x01, then ASCII ``CP-<model>-SEP<12 hex>``
2      CERTIFICATE  the DER certificate the phone wants vouched for
7      STATUS       1 byte: 0 valid, 1 invalid
8      ROLES        one byte per role, numbered as in trust lists (formats.tags.Role)
9      TTL          4 bytes: seconds the phone may cache the answer
=====  ===========  =============================================================

Decisions where the specification is open or silent (each is lenient when
reading, canonical when writing):

- Commands 3/4 (query request / response) carry the same elements as 1/2; a
  request may use either, and its answer uses the matching response command.
  The "certificate cache flush" the reference logs show is phone-internal
  (between the phone's processes), so it never reaches the wire here.
- Elements may come in any order; they are written in tag order. A tag seen
  twice, a tag unknown or out of place (STATUS in a request), or a request
  without CERTIFICATE is an error: the connection that sent it is closed.
- DEVICE NAME text may be any printable ASCII of 1 to 64 characters, not
  only ``CP-<model>-SEP<MAC>`` (other device types may spell it otherwise);
  the 0x01 prefix is required.
- ROLES may be empty, and role numbers outside :class:`~phonetrust.formats.tags.Role`
  are kept (a newer CUCM may know more roles). A response without TTL means
  the default, 86,400 s, when valid, and "do not cache" when invalid.
- CERTIFICATE is kept as opaque bytes: TVS decides by the exact bytes (their
  SHA-256), never by parsing, so an unparseable certificate is simply unknown.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass
from enum import IntEnum

from phonetrust.errors import BuildError, ParseError, ProtocolError, VerificationError
from phonetrust.protocols.framing import Framer, Framing
from phonetrust.wire import Reader, Writer

PROTOCOL_ID = 87
VERSION = 1
HEADER_SIZE = 10
MAX_PAYLOAD = 0xFFFF
DEFAULT_TTL = 86_400
"""Seconds a phone may cache a positive answer unless told otherwise (A7)."""
DEVICE_NAME_PREFIX = 0x01
MAX_DEVICE_NAME = 64
_HEADER = struct.Struct(">BBBBIH")
_DEVICE_TEXT = re.compile(r"^[\x21-\x7e]{1,%d}$" % MAX_DEVICE_NAME)  # noqa: UP031 - a regex


class TvsServerUntrusted(VerificationError):
    """The TVS server's certificate is not the one the phone's ITL names (by SHA-1 hash)."""


class Command(IntEnum):
    VERIFY_REQUEST = 1
    VERIFY_RESPONSE = 2
    QUERY_REQUEST = 3
    QUERY_RESPONSE = 4

    @property
    def is_request(self) -> bool:
        return self in _RESPONSE_TO

    @property
    def response(self) -> Command:
        """The command that answers this request."""
        try:
            return _RESPONSE_TO[self]
        except KeyError:
            raise BuildError(f"{self.name} is not a request") from None


_RESPONSE_TO = {
    Command.VERIFY_REQUEST: Command.VERIFY_RESPONSE,
    Command.QUERY_REQUEST: Command.QUERY_RESPONSE,
}


class Tag(IntEnum):
    DEVICE_NAME = 1
    CERTIFICATE = 2
    STATUS = 7
    ROLES = 8
    TTL = 9


REQUEST_TAGS = frozenset({Tag.DEVICE_NAME, Tag.CERTIFICATE})
RESPONSE_TAGS = frozenset({Tag.STATUS, Tag.ROLES, Tag.TTL})


class Status(IntEnum):
    VALID = 0
    INVALID = 1


def device_name(model: str, mac: str) -> str:
    """The DEVICE NAME a phone sends: ``CP-<model>-SEP<12 hex>`` (``CP-7975-SEP001122334455``)."""
    bare = mac.upper().removeprefix("SEP").replace(":", "").replace("-", "").replace(".", "")
    if not re.fullmatch(r"[0-9A-F]{12}", bare):
        raise BuildError(f"{mac!r} is not a MAC address (12 hex digits)")
    if not re.fullmatch(r"[0-9A-Za-z]{1,16}", model):
        raise BuildError(f"{model!r} is not a phone model number")
    return f"CP-{model}-SEP{bare}"


def _check_u32(what: str, value: int) -> None:
    if not 0 <= value <= 0xFFFF_FFFF:
        raise BuildError(f"{what} {value} does not fit in 4 bytes")


# -- values -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Header:
    """The 10 bytes in front of every message; built only with valid values."""

    command: Command
    session_id: int
    payload_length: int

    def __post_init__(self) -> None:
        _check_u32("session id", self.session_id)
        if not 0 <= self.payload_length <= MAX_PAYLOAD:
            raise BuildError(f"payload of {self.payload_length} bytes does not fit 2 bytes")

    @property
    def message_size(self) -> int:
        return HEADER_SIZE + self.payload_length

    def to_wire(self) -> bytes:
        return _HEADER.pack(
            PROTOCOL_ID, VERSION, self.command, 0, self.session_id, self.payload_length
        )

    @classmethod
    def from_wire(cls, data: bytes) -> Header:
        """The header in the first 10 bytes of ``data`` (later bytes are not looked at)."""
        if len(data) < HEADER_SIZE:
            raise ProtocolError(f"a header needs {HEADER_SIZE} bytes, got {len(data)}", 0)
        protocol, version, command, reserved, session_id, length = _HEADER.unpack_from(data)
        if protocol != PROTOCOL_ID:
            raise ProtocolError(f"protocol id {protocol} is not TVS ({PROTOCOL_ID})", 0)
        if version != VERSION:
            raise ProtocolError(f"TVS version {version} is not supported (only {VERSION})", 1)
        if command not in Command._value2member_map_:
            raise ProtocolError(f"unknown command {command}", 2)
        if reserved != 0:
            raise ProtocolError(f"reserved byte is {reserved}, not 0", 3)
        return cls(Command(command), session_id, length)


@dataclass(frozen=True, slots=True)
class Answer:
    """What TVS says about a certificate: valid or not, its roles, how long to cache it.

    An invalid answer has no roles and a TTL of 0 (nothing to cache).
    """

    valid: bool
    roles: tuple[int, ...] = ()
    ttl: int = DEFAULT_TTL

    def __post_init__(self) -> None:
        for role in self.roles:
            if not 0 <= role <= 0xFF:
                raise BuildError(f"role {role} does not fit in one byte")
        _check_u32("TTL", self.ttl)

    @classmethod
    def invalid(cls) -> Answer:
        return cls(False, (), 0)


@dataclass(frozen=True, slots=True)
class Request:
    """A phone asks whether ``certificate`` (DER) is trusted; ``device`` says who asks."""

    session_id: int
    certificate: bytes
    device: str | None = None
    command: Command = Command.VERIFY_REQUEST

    def __post_init__(self) -> None:
        _check_u32("session id", self.session_id)
        if not self.command.is_request:
            raise BuildError(f"{self.command.name} is not a request command")
        if not self.certificate:
            raise BuildError("a request needs a certificate")
        if self.device is not None and not _DEVICE_TEXT.match(self.device):
            raise BuildError(
                f"device name {self.device!r} is not 1 to {MAX_DEVICE_NAME} printable ASCII "
                "characters"
            )

    def elements(self) -> list[tuple[int, bytes]]:
        found: list[tuple[int, bytes]] = []
        if self.device is not None:
            found.append((Tag.DEVICE_NAME, bytes([DEVICE_NAME_PREFIX]) + self.device.encode()))
        found.append((Tag.CERTIFICATE, self.certificate))
        return found

    def to_wire(self) -> bytes:
        return _encode(self.command, self.session_id, self.elements())


@dataclass(frozen=True, slots=True)
class Response:
    """TVS's verdict; ``session_id`` echoes the request's."""

    session_id: int
    status: Status
    roles: tuple[int, ...] | None = None
    """None: no ROLES element (an invalid answer); ``()``: an empty one."""
    ttl: int | None = None
    command: Command = Command.VERIFY_RESPONSE

    def __post_init__(self) -> None:
        _check_u32("session id", self.session_id)
        if self.command.is_request:
            raise BuildError(f"{self.command.name} is not a response command")
        for role in self.roles or ():
            if not 0 <= role <= 0xFF:
                raise BuildError(f"role {role} does not fit in one byte")
        if self.ttl is not None:
            _check_u32("TTL", self.ttl)

    @classmethod
    def answering(cls, request: Request, answer: Answer) -> Response:
        """The response to ``request``: STATUS, plus ROLES and TTL when valid."""
        command = request.command.response
        if not answer.valid:
            return cls(request.session_id, Status.INVALID, command=command)
        return cls(request.session_id, Status.VALID, answer.roles, answer.ttl, command)

    def answer(self) -> Answer:
        if self.status is not Status.VALID:
            return Answer.invalid()
        ttl = DEFAULT_TTL if self.ttl is None else self.ttl
        return Answer(True, self.roles or (), ttl)

    def elements(self) -> list[tuple[int, bytes]]:
        found: list[tuple[int, bytes]] = [(Tag.STATUS, bytes([self.status]))]
        if self.roles is not None:
            found.append((Tag.ROLES, bytes(self.roles)))
        if self.ttl is not None:
            found.append((Tag.TTL, self.ttl.to_bytes(4, "big")))
        return found

    def to_wire(self) -> bytes:
        return _encode(self.command, self.session_id, self.elements())


Message = Request | Response


# -- codec --------------------------------------------------------------------


def _encode(command: Command, session_id: int, elements: list[tuple[int, bytes]]) -> bytes:
    body = Writer()
    for tag, value in elements:
        body.tlv(tag, value)
    payload = body.getvalue()
    return Header(command, session_id, len(payload)).to_wire() + payload


def from_wire(data: bytes) -> Message:
    """Exactly one whole message; anything else raises :class:`ProtocolError`."""
    header = Header.from_wire(data)
    if len(data) < header.message_size:
        raise ProtocolError(
            f"message declares {header.payload_length} payload bytes, only "
            f"{len(data) - HEADER_SIZE} present",
            len(data),
        )
    if len(data) > header.message_size:
        raise ProtocolError(
            f"{len(data) - header.message_size} bytes after the message", header.message_size
        )
    return parse_payload(header, data)


def parse_payload(header: Header, data: bytes) -> Message:
    """The message whose ``header`` begins ``data``, which holds at least the whole message."""
    try:
        return _parse(header, Reader(data, HEADER_SIZE, header.message_size))
    except ParseError as exc:
        raise ProtocolError.at(exc) from None


def _parse(header: Header, r: Reader) -> Message:
    allowed = REQUEST_TAGS if header.command.is_request else RESPONSE_TAGS
    values: dict[int, bytes] = {}
    while not r.at_end():
        start = r.offset
        tag = r.u8("element tag")
        length = r.u16(f"length of element {tag}")
        value = r.read(length, f"value of element {tag}")
        if tag not in Tag._value2member_map_:
            raise ProtocolError(f"unknown element tag {tag}", start)
        if tag not in allowed:
            raise ProtocolError(
                f"element {Tag(tag).name} does not belong in a {header.command.name}", start
            )
        if tag in values:
            raise ProtocolError(f"element {Tag(tag).name} appears twice", start)
        _check_value(Tag(tag), value, start)
        values[tag] = value
    try:
        if header.command.is_request:
            return _request(header, values)
        return _response(header, values)
    except BuildError as exc:
        raise ProtocolError(str(exc), HEADER_SIZE) from None


def _check_value(tag: Tag, value: bytes, offset: int) -> None:
    sizes = {Tag.STATUS: 1, Tag.TTL: 4}
    if tag in sizes and len(value) != sizes[tag]:
        raise ProtocolError(f"{tag.name} must be {sizes[tag]} byte(s), not {len(value)}", offset)
    if tag is Tag.STATUS and value[0] not in Status._value2member_map_:
        raise ProtocolError(f"STATUS {value[0]} is neither 0 (valid) nor 1 (invalid)", offset)
    if tag is Tag.DEVICE_NAME and (not value or value[0] != DEVICE_NAME_PREFIX):
        raise ProtocolError("DEVICE NAME must start with the byte 0x01", offset)


def _request(header: Header, values: dict[int, bytes]) -> Request:
    certificate = values.get(Tag.CERTIFICATE)
    if not certificate:
        raise ProtocolError("the request carries no certificate", HEADER_SIZE)
    raw_device = values.get(Tag.DEVICE_NAME)
    device = None
    if raw_device is not None:
        device = raw_device[1:].decode("ascii", "replace")
    return Request(header.session_id, certificate, device, header.command)


def _response(header: Header, values: dict[int, bytes]) -> Response:
    status = values.get(Tag.STATUS)
    if status is None:
        raise ProtocolError("the response carries no STATUS", HEADER_SIZE)
    roles = values.get(Tag.ROLES)
    ttl = values.get(Tag.TTL)
    return Response(
        header.session_id,
        Status(status[0]),
        None if roles is None else tuple(roles),
        None if ttl is None else int.from_bytes(ttl, "big"),
        header.command,
    )


FRAMING = Framing("TVS", PROTOCOL_ID, HEADER_SIZE, Header.from_wire, parse_payload)


def framer(max_message: int = HEADER_SIZE + MAX_PAYLOAD) -> Framer[Header, Message]:
    """A stream's TVS messages, one by one; one above ``max_message`` bytes fails at once."""
    return Framer(FRAMING, max_message)

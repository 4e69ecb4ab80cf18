"""Reading a phone configuration document (``SEP<MAC>.cnf.xml``) the way a phone does.

The reader is tolerant of what real files look like: the root of CUCM
output carries attributes whose namespace prefixes are never declared
(``<device xsi:type="axl:XIPPhone" ctiid="548" uuid="{...}">``), community
templates omit elements and pretty-print values, and the stub served beside
an encrypted configuration has no ``devicePool`` at all. So the document is
parsed with expat *without* namespace processing - a prefix is then just
part of a name - and every element the phone does not need is ignored.

It is strict where a phone must not guess: input that is not well-formed
XML, a root other than ``<device>``, a number that is not a number, a
document larger than :data:`MAX_DOCUMENT_SIZE`, and any DOCTYPE or ENTITY
declaration (the door to entity-expansion attacks) all raise
:class:`~phonetrust.errors.ParseError`, and nothing else escapes.

Element names and meanings are those of ``spec/config-xml.md``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from xml.parsers import expat

from phonetrust.errors import ParseError

MAX_DOCUMENT_SIZE = 1 << 20
"""Largest document read: real files are tens of kilobytes."""

DEFAULT_ETHERNET_PHONE_PORT = 2000
DEFAULT_SIP_PORT = 5060
DEFAULT_SECURED_SIP_PORT = 5061
DEFAULT_TVS_PORT = 2445
DEFAULT_CAPF_PORT = 3804

DEFAULT_DEVICE_SECURITY_MODE = 1
"""``deviceSecurityMode`` when absent: Non Secure (spec §3, inferred)."""


@dataclass(frozen=True, slots=True)
class ParsedCallManager:
    """One ``callManagerGroup`` member: where the phone registers."""

    priority: int
    process_node_name: str
    name: str = ""
    description: str = ""
    ethernet_phone_port: int = DEFAULT_ETHERNET_PHONE_PORT
    sip_port: int = DEFAULT_SIP_PORT
    secured_sip_port: int = DEFAULT_SECURED_SIP_PORT


@dataclass(frozen=True, slots=True)
class ParsedTvsServer:
    """One TVS server the phone may ask about a certificate it does not know."""

    priority: int
    address: str
    port: int = DEFAULT_TVS_PORT


@dataclass(frozen=True, slots=True)
class ParsedCapf:
    """One ``capfList/capf`` entry; an empty host means no CAPF operation is set up."""

    process_node_name: str
    phone_port: int = DEFAULT_CAPF_PORT


@dataclass(frozen=True, slots=True)
class ParsedSipLine:
    """One SIP line (``featureID`` 9) of ``sipProfile/sipLines``."""

    button: int
    directory_number: str
    display_name: str = ""
    label: str = ""


@dataclass(frozen=True)
class ParsedConfig:
    """What a phone takes from its configuration document.

    ``members`` and ``tvs`` are in priority order (lower first), ``capf`` in
    document order. When the document has no ``<TVS>`` block (older and
    hand-written files) ``tvs`` falls back to the CallManager group's hosts
    on port 2445 and ``tvs_explicit`` is false (spec §2.4). Values absent
    from the document take the defaults a phone assumes.
    """

    full_config: bool = True
    device_protocol: str | None = None
    ssh_user_id: str = ""
    ssh_password: str = ""
    cm_group_name: str = ""
    members: tuple[ParsedCallManager, ...] = ()
    tvs: tuple[ParsedTvsServer, ...] = ()
    tvs_explicit: bool = False
    sip_lines: tuple[ParsedSipLine, ...] = ()
    load_information: str = ""
    vendor_config: dict[str, str] = field(default_factory=dict)
    common_config: dict[str, str] = field(default_factory=dict)
    enterprise_config: dict[str, str] = field(default_factory=dict)
    version_stamp: str = ""
    device_security_mode: int = DEFAULT_DEVICE_SECURITY_MODE
    transport_layer_protocol: int | None = None
    urls: dict[str, str] = field(default_factory=dict)
    secure_urls: dict[str, str] = field(default_factory=dict)
    capf_auth_mode: int = 0
    capf: tuple[ParsedCapf, ...] = ()
    cert_hash: str = ""
    encr_config: bool = False

    def setting(self, key: str) -> str | None:
        """A product-specific setting, device level first (spec §4).

        ``vendorConfig`` (the device) wins over ``commonConfig`` (Common
        Phone Profile), which wins over ``enterpriseConfig``.
        """
        for source in (self.vendor_config, self.common_config, self.enterprise_config):
            if key in source:
                return source[key]
        return None


def read(data: bytes) -> ParsedConfig:
    """Parse a configuration document; :class:`ParseError` on anything malformed."""
    root = _parse_tree(data)
    if root.tag != "device":
        raise ParseError(f"the root element is <{_clip(root.tag)}>, not <device>", root.offset)
    group = root.path("devicePool", "callManagerGroup")
    members = _members(group)
    tvs_node = root.child("TVS")
    if tvs_node is None:
        tvs = tuple(ParsedTvsServer(m.priority, m.process_node_name) for m in members)
    else:
        tvs = _tvs(tvs_node)
    return ParsedConfig(
        full_config=_bool(root.child("fullConfig"), default=True),
        device_protocol=_token(root.child("deviceProtocol")) or None,
        ssh_user_id=_raw(root.child("sshUserId")),
        ssh_password=_raw(root.child("sshPassword")),
        cm_group_name=_raw(group.child("name") if group else None),
        members=members,
        tvs=tvs,
        tvs_explicit=tvs_node is not None,
        sip_lines=_sip_lines(root.path("sipProfile", "sipLines")),
        load_information=_token(root.child("loadInformation")),
        vendor_config=_settings(root.child("vendorConfig")),
        common_config=_settings(root.child("commonConfig")),
        enterprise_config=_settings(root.child("enterpriseConfig")),
        version_stamp=_token(root.child("versionStamp")),
        device_security_mode=_int(
            root.child("deviceSecurityMode"), DEFAULT_DEVICE_SECURITY_MODE, 0, 3
        ),
        transport_layer_protocol=_optional_int(root.child("transportLayerProtocol"), 1, 4),
        urls=_urls(root, secure=False),
        secure_urls=_urls(root, secure=True),
        capf_auth_mode=_int(root.child("capfAuthMode"), 0, 0, 4),
        capf=_capf_list(root.child("capfList")),
        cert_hash=_token(root.child("certHash")),
        encr_config=_bool(root.child("encrConfig"), default=False),
    )


# -- the blocks ----------------------------------------------------------------


def _members(group: _Node | None) -> tuple[ParsedCallManager, ...]:
    found: list[ParsedCallManager] = []
    for index, member in enumerate(_entries(group, "members", "member")):
        manager = member.child("callManager")
        if manager is None:
            continue
        host = _token(manager.child("processNodeName"))
        if not host:
            continue  # nothing to connect to
        ports = manager.child("ports")
        found.append(
            ParsedCallManager(
                priority=_priority(member, index),
                process_node_name=host,
                name=_raw(manager.child("name")),
                description=_raw(manager.child("description")),
                ethernet_phone_port=_port(ports, "ethernetPhonePort", DEFAULT_ETHERNET_PHONE_PORT),
                sip_port=_port(ports, "sipPort", DEFAULT_SIP_PORT),
                secured_sip_port=_port(ports, "securedSipPort", DEFAULT_SECURED_SIP_PORT),
            )
        )
    return tuple(sorted(found, key=lambda m: m.priority))


def _tvs(tvs_node: _Node) -> tuple[ParsedTvsServer, ...]:
    found: list[ParsedTvsServer] = []
    for index, member in enumerate(_entries(tvs_node, "members", "member")):
        address = _token(member.child("address"))
        if address:
            port = _port(member, "port", DEFAULT_TVS_PORT)
            found.append(ParsedTvsServer(_priority(member, index), address, port))
    return tuple(sorted(found, key=lambda t: t.priority))


def _capf_list(capf_list: _Node | None) -> tuple[ParsedCapf, ...]:
    if capf_list is None:
        return ()
    return tuple(
        ParsedCapf(_token(c.child("processNodeName")), _port(c, "phonePort", DEFAULT_CAPF_PORT))
        for c in capf_list.children
        if c.tag == "capf"  # capf6 (IPv6) entries are not followed
    )


def _sip_lines(lines: _Node | None) -> tuple[ParsedSipLine, ...]:
    found: list[ParsedSipLine] = []
    for index, line in enumerate(_entries(lines, "line")):
        if _token(line.child("featureID")) not in ("", "9"):
            continue  # speed dials and other buttons
        number = _token(line.child("name"))
        if not number:
            continue
        button = _number(
            line.attrs.get("button"), line, "button", default=index + 1, low=1, high=999
        )
        found.append(
            ParsedSipLine(
                button=button,
                directory_number=number,
                display_name=_raw(line.child("displayName")),
                label=_raw(line.child("featureLabel")),
            )
        )
    return tuple(sorted(found, key=lambda line: line.button))


def _settings(block: _Node | None) -> dict[str, str]:
    settings: dict[str, str] = {}
    for child in block.children if block is not None else ():
        settings.setdefault(child.tag, child.text.strip())
    return settings


def _urls(root: _Node, *, secure: bool) -> dict[str, str]:
    urls: dict[str, str] = {}
    for child in root.children:
        if child.tag.endswith("URL") and child.tag.startswith("secure") == secure:
            urls.setdefault(child.tag, child.text.strip())
    return urls


def _entries(node: _Node | None, *path: str) -> list[_Node]:
    """The children named ``path[-1]`` of ``node/path[:-1]``."""
    parent = node.path(*path[:-1]) if node is not None else None
    return [] if parent is None else [c for c in parent.children if c.tag == path[-1]]


# -- values --------------------------------------------------------------------

_DIGITS = re.compile(r"[0-9]{1,10}")
_TRUE = ("true", "1")
_FALSE = ("false", "0")


def _raw(node: _Node | None) -> str:
    """Free text (names, descriptions, passwords): kept exactly as written."""
    return "" if node is None else node.text


def _token(node: _Node | None) -> str:
    """A host, number, identifier or URL: surrounding layout whitespace dropped."""
    return "" if node is None else node.text.strip()


def _number(text: str | None, node: _Node, what: str, *, default: int, low: int, high: int) -> int:
    text = "" if text is None else text.strip()
    if not text:
        return default
    if _DIGITS.fullmatch(text) is None or not low <= int(text) <= high:
        raise ParseError(
            f"{what} must be a number from {low} to {high}, not {_clip(text)!r}", node.offset
        )
    return int(text)


def _int(node: _Node | None, default: int, low: int, high: int) -> int:
    if node is None:
        return default
    return _number(node.text, node, f"<{node.tag}>", default=default, low=low, high=high)


def _optional_int(node: _Node | None, low: int, high: int) -> int | None:
    if node is None or not node.text.strip():
        return None
    return _number(node.text, node, f"<{node.tag}>", default=low, low=low, high=high)


def _port(parent: _Node | None, tag: str, default: int) -> int:
    return _int(parent.child(tag) if parent is not None else None, default, 1, 65535)


def _priority(member: _Node, index: int) -> int:
    """``@priority``; a member without one ranks by its place in the document."""
    return _number(
        member.attrs.get("priority"), member, "priority", default=index, low=0, high=999_999
    )


def _bool(node: _Node | None, *, default: bool) -> bool:
    if node is None or not node.text.strip():
        return default
    text = node.text.strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ParseError(f"<{node.tag}> must be true or false, not {_clip(text)!r}", node.offset)


def _clip(text: str) -> str:
    return text if len(text) <= 40 else text[:37] + "..."


# -- the tree ------------------------------------------------------------------


class _Node:
    """An element: name as written (prefix included), attributes, children, text."""

    __slots__ = ("attrs", "children", "offset", "parts", "tag")

    def __init__(self, tag: str, attrs: dict[str, str], offset: int) -> None:
        self.tag = tag
        self.attrs = attrs
        self.offset = offset
        self.children: list[_Node] = []
        self.parts: list[str] = []

    @property
    def text(self) -> str:
        """The element's own character data (children's text excluded)."""
        return "".join(self.parts)

    def child(self, tag: str) -> _Node | None:
        """The first child called ``tag``; later duplicates are ignored."""
        for child in self.children:
            if child.tag == tag:
                return child
        return None

    def path(self, *tags: str) -> _Node | None:
        node: _Node | None = self
        for tag in tags:
            if node is None:
                return None
            node = node.child(tag)
        return node


class _Rejected(Exception):
    """Raised inside an expat handler; becomes a ParseError at the read() edge."""


class _TreeBuilder:
    def __init__(self, parser: expat.XMLParserType) -> None:
        self._parser = parser
        self._stack: list[_Node] = []
        self.root: _Node | None = None

    def start(self, tag: str, attrs: dict[str, str]) -> None:
        node = _Node(tag, attrs, max(self._parser.CurrentByteIndex, 0))
        if self._stack:
            self._stack[-1].children.append(node)
        else:
            self.root = node
        self._stack.append(node)

    def end(self, _tag: str) -> None:
        self._stack.pop()

    def data(self, text: str) -> None:
        if self._stack:
            self._stack[-1].parts.append(text)

    def doctype(self, *_args: object) -> None:
        raise _Rejected("a configuration document must not carry a DOCTYPE declaration")

    def entity(self, *_args: object) -> None:
        raise _Rejected("a configuration document must not declare entities")


# expat's own encodings; any other would make pyexpat call a Python codec.
_ENCODINGS = {
    "UTF-8": "UTF-8",
    "UTF8": "UTF-8",
    "US-ASCII": "US-ASCII",
    "ASCII": "US-ASCII",
    "ISO-8859-1": "ISO-8859-1",
    "ISO8859-1": "ISO-8859-1",
    "LATIN-1": "ISO-8859-1",
    "LATIN1": "ISO-8859-1",
    "UTF-16": "UTF-16",
}
_DECLARED_ENCODING = re.compile(
    rb"(?:\xef\xbb\xbf)?<\?xml[ \t\r\n][^>]*?"
    rb"""\bencoding[ \t\r\n]*=[ \t\r\n]*["']([^"'>]{1,40})["']"""
)


def _encoding_of(data: bytes) -> str:
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return "UTF-16"
    declared = _DECLARED_ENCODING.match(data[:256])
    if declared is None:
        return "UTF-8"
    name = declared.group(1).decode("ascii", "replace")
    encoding = _ENCODINGS.get(name.upper().replace("_", "-"))
    if encoding is None:
        raise ParseError(f"unsupported encoding {_clip(name)!r}", declared.start(1))
    return encoding


def _parse_tree(data: bytes) -> _Node:
    if len(data) > MAX_DOCUMENT_SIZE:
        raise ParseError(
            f"a configuration document is at most {MAX_DOCUMENT_SIZE} bytes, this one is "
            f"{len(data)}",
            MAX_DOCUMENT_SIZE,
        )
    # The override is always one of expat's own encodings, so no Python codec
    # runs; no namespace separator, so undeclared prefixes are plain names.
    parser = expat.ParserCreate(encoding=_encoding_of(data))
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.buffer_text = True
    builder = _TreeBuilder(parser)
    parser.StartElementHandler = builder.start
    parser.EndElementHandler = builder.end
    parser.CharacterDataHandler = builder.data
    parser.StartDoctypeDeclHandler = builder.doctype
    parser.EntityDeclHandler = builder.entity
    try:
        parser.Parse(bytes(data), True)
    except expat.ExpatError as exc:
        reason = expat.ErrorString(exc.code) or "malformed"
        raise ParseError(f"not well-formed XML: {reason}", max(parser.ErrorByteIndex, 0)) from None
    except _Rejected as exc:
        raise ParseError(str(exc), max(parser.CurrentByteIndex, 0)) from None
    if builder.root is None:  # expat reports "no element found" first; kept for safety
        raise ParseError("no root element", 0)
    return builder.root

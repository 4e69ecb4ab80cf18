"""The per-phone configuration document, ``SEP<MAC>.cnf.xml``, as CUCM's TFTP builds it.

:class:`PhoneConfig` is an immutable, validated description of one phone's
configuration; :func:`render` turns it into the XML document, elements in
CUCM's own order (``spec/config-xml.md`` §1) so that real phones and peer
tools see a normal file. Every value is XML-escaped and the output depends
on nothing but the input: the same config gives the same bytes, which is
what a signature over the file needs.

The reading side (what the simulated phone takes from such a file, real
CUCM output included) is :func:`read` -> :class:`ParsedConfig`, defined in
:mod:`.cnfxml_read` with the ``Parsed*`` entry types and re-exported here.
"""

from __future__ import annotations

import itertools
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal
from xml.sax.saxutils import quoteattr

from phonetrust.errors import BuildError
from phonetrust.formats.cnfxml_read import (
    DEFAULT_CAPF_PORT,
    DEFAULT_ETHERNET_PHONE_PORT,
    DEFAULT_SECURED_SIP_PORT,
    DEFAULT_SIP_PORT,
    DEFAULT_TVS_PORT,
    ParsedConfig,
    read,
)

__all__ = [
    "DEFAULT_CAPF_PORT",
    "DEFAULT_ETHERNET_PHONE_PORT",
    "DEFAULT_SECURED_SIP_PORT",
    "DEFAULT_SIP_PORT",
    "DEFAULT_TVS_PORT",
    "MAX_CALL_MANAGERS",
    "MAX_CAPF_ENTRIES",
    "MAX_TVS_SERVERS",
    "CallManagerMember",
    "CapfEntry",
    "ParsedConfig",
    "PhoneConfig",
    "SipLine",
    "TvsMember",
    "make_version_stamp",
    "mirror_tvs",
    "read",
    "render",
]

MAX_CALL_MANAGERS = 3
"""CUCM allows up to three members in a CallManager group."""
MAX_TVS_SERVERS = 3
"""One TVS per CallManager of the group (spec §2.4)."""
MAX_CAPF_ENTRIES = 5
"""The usecallmanagernz documentation allows up to five ``<capf>`` entries."""
MAX_HOST_LENGTH = 50
"""``processNodeName`` is at most 50 characters on the phone (spec §5)."""

USECALLMANAGER = "USECALLMANAGER"
"""The proxy keyword meaning "use the callManagerGroup" (spec §1)."""

_INT_MAX = 2**31 - 1


# -- validation helpers --------------------------------------------------------

_DEVICE_NAME = re.compile(r"SEP[0-9A-F]{12}")
_NOT_XML_CHAR = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_ELEMENT_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,99}")
_CERT_HASH = re.compile(r"[0-9a-fA-F]{32}")


def _text(what: str, value: object, *, required: bool = False) -> str:
    """Any text XML can carry."""
    if not isinstance(value, str):
        raise BuildError(f"{what} must be a string, not {type(value).__name__}")
    bad = _NOT_XML_CHAR.search(value)
    if bad is not None:
        raise BuildError(f"{what} contains {bad.group()!r}, which an XML document cannot carry")
    if required and not value:
        raise BuildError(f"{what} must not be empty")
    return value


def _token(what: str, value: object, *, required: bool = False) -> str:
    """Text a phone reads without its surrounding whitespace, so it must have none."""
    text = _text(what, value, required=required)
    if text != text.strip():
        raise BuildError(f"{what} must not start or end with whitespace: {text!r}")
    return text


def _host(what: str, value: object, *, required: bool = True) -> str:
    text = _text(what, value, required=required)
    if any(c.isspace() for c in text):
        raise BuildError(f"{what} is a host name or address and cannot contain spaces: {text!r}")
    if len(text) > MAX_HOST_LENGTH:
        raise BuildError(f"{what} is longer than {MAX_HOST_LENGTH} characters: {text!r}")
    return text


def _int(what: str, value: object, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise BuildError(f"{what} must be an integer, not {type(value).__name__}")
    if not low <= value <= high:
        raise BuildError(f"{what} must be from {low} to {high}, not {value}")
    return value


def _port(what: str, value: object) -> int:
    return _int(what, value, 1, 65535)


def _items(what: str, value: object, kind: type, low: int, high: int) -> tuple[object, ...]:
    if isinstance(value, str | bytes) or not hasattr(value, "__iter__"):
        raise BuildError(f"{what} must be a tuple of {kind.__name__}")
    items = tuple(value)
    if not low <= len(items) <= high:
        raise BuildError(f"{what} must hold {low} to {high} entries, not {len(items)}")
    for item in items:
        if not isinstance(item, kind):
            raise BuildError(f"{what} must hold {kind.__name__} values, not {type(item).__name__}")
    return items


def _ordered(what: str, priorities: list[int]) -> None:
    if any(a >= b for a, b in itertools.pairwise(priorities)):
        raise BuildError(f"{what} must be listed by strictly increasing priority, not {priorities}")


def _pairs(what: str, value: object) -> tuple[tuple[str, str], ...]:
    if isinstance(value, str | bytes) or not hasattr(value, "__iter__"):
        raise BuildError(f"{what} must be a tuple of (key, value) pairs")
    pairs: list[tuple[str, str]] = []
    seen: set[str] = set()
    for pair in value:
        if not isinstance(pair, tuple) or len(pair) != 2:
            raise BuildError(f"{what} must hold (key, value) pairs, not {pair!r}")
        key, setting = pair
        if not isinstance(key, str) or _ELEMENT_NAME.fullmatch(key) is None:
            raise BuildError(f"{what} key {key!r} is not a usable element name")
        if key.lower().startswith("xml"):
            raise BuildError(f"{what} key {key!r}: names starting with 'xml' are reserved")
        if key in seen:
            raise BuildError(f"{what} sets {key!r} twice")
        seen.add(key)
        pairs.append((key, _token(f"{what} value of {key!r}", setting)))
    return tuple(pairs)


# -- the values ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CallManagerMember:
    """A CallManager node of the phone's group, as ``members/member/callManager``."""

    name: str
    process_node_name: str
    description: str
    priority: int
    ethernet_phone_port: int = DEFAULT_ETHERNET_PHONE_PORT
    sip_port: int = DEFAULT_SIP_PORT
    secured_sip_port: int = DEFAULT_SECURED_SIP_PORT

    def __post_init__(self) -> None:
        _text("CallManager name", self.name, required=True)
        _host("CallManager processNodeName", self.process_node_name)
        _text("CallManager description", self.description)
        _int("CallManager priority", self.priority, 0, 999_999)
        _port("ethernetPhonePort", self.ethernet_phone_port)
        _port("sipPort", self.sip_port)
        _port("securedSipPort", self.secured_sip_port)


@dataclass(frozen=True, slots=True)
class TvsMember:
    """A TVS server, as ``TVS/members/member``; lower priority is tried first."""

    address: str
    port: int = DEFAULT_TVS_PORT
    priority: int = 0

    def __post_init__(self) -> None:
        _host("TVS address", self.address)
        _port("TVS port", self.port)
        _int("TVS priority", self.priority, 0, 999_999)


@dataclass(frozen=True, slots=True)
class CapfEntry:
    """Where CAPF runs, as ``capfList/capf``; CUCM writes an empty host when idle."""

    process_node_name: str
    phone_port: int = DEFAULT_CAPF_PORT

    def __post_init__(self) -> None:
        _host("CAPF processNodeName", self.process_node_name, required=False)
        _port("CAPF phonePort", self.phone_port)


@dataclass(frozen=True, slots=True)
class SipLine:
    """A SIP line button (``featureID`` 9); SCCP phones get lines over SCCP instead."""

    directory_number: str
    display_name: str = ""
    label: str = ""

    def __post_init__(self) -> None:
        _host("SIP line directory number", self.directory_number)
        _text("SIP line display name", self.display_name)
        _text("SIP line label", self.label)


def mirror_tvs(members: tuple[CallManagerMember, ...]) -> tuple[TvsMember, ...]:
    """The TVS list CUCM derives from a CallManager group: same hosts, same order, port 2445."""
    return tuple(TvsMember(m.process_node_name, DEFAULT_TVS_PORT, m.priority) for m in members)


def make_version_stamp(epoch_seconds: int, unique: uuid.UUID) -> str:
    """A CUCM 7+ ``versionStamp``: ``<unix-epoch>-<uuid>``. Bump it on every change."""
    return f"{_int('epoch seconds', epoch_seconds, 0, 2**63 - 1)}-{unique}"


@dataclass(frozen=True, slots=True, kw_only=True)
class PhoneConfig:
    """Everything :func:`render` needs for one phone; invalid values raise BuildError.

    ``tvs=None`` (the default) mirrors the CallManager group, as CUCM does;
    ``tvs=()`` leaves the ``<TVS>`` block out, like pre-11 output. With
    ``secure_urls=False`` the ``secure*URL`` elements carry the plain HTTP
    URLs, which is what "Prepare Cluster for Rollback to pre 8.0" does. The
    service URLs point at ``url_host``, by default the first member.
    """

    device_name: str
    model: str
    protocol: Literal["SIP", "SCCP"]
    cm_group_name: str
    members: tuple[CallManagerMember, ...]
    version_stamp: str
    tvs: tuple[TvsMember, ...] | None = None
    capf: tuple[CapfEntry, ...] = (CapfEntry(""),)
    capf_auth_mode: int = 0
    device_security_mode: int = 1
    transport_layer_protocol: int = 4
    load_information: str = ""
    vendor_config: tuple[tuple[str, str], ...] = ()
    common_config: tuple[tuple[str, str], ...] = ()
    enterprise_config: tuple[tuple[str, str], ...] = ()
    secure_urls: bool = True
    url_host: str = ""
    ssh_user_id: str = ""
    ssh_password: str = ""
    cert_hash: str = ""
    encr_config: bool = False
    sip_lines: tuple[SipLine, ...] = ()
    ip_address_mode: int = 0
    device_pool_name: str = "Default"
    date_time_setting_name: str = "CMLocal"
    date_template: str = "M/D/YA"
    time_zone: str = "Greenwich Standard Time"
    olson_time_zone: str = "Etc/GMT"
    ntp_servers: tuple[str, ...] = ()
    tftp_default: bool = True
    connection_monitor_duration: int = 120
    phone_password: str = ""
    user_locale: str = "English_United_States"
    user_locale_lang_code: str = "en_US"
    network_locale: str = "United_States"
    locale_version: str = "14.0.0.0(1)"
    idle_timeout: int = 0
    tls_resumption_timer: int = 3600

    def __post_init__(self) -> None:
        if not isinstance(self.device_name, str) or not _DEVICE_NAME.fullmatch(self.device_name):
            raise BuildError(
                f"device name {self.device_name!r} is not 'SEP' + 12 upper-case hex digits"
            )
        _text("model", self.model, required=True)
        if self.protocol not in ("SIP", "SCCP"):
            raise BuildError(f"device protocol must be 'SIP' or 'SCCP', not {self.protocol!r}")
        _text("CallManager group name", self.cm_group_name, required=True)
        members = _items("members", self.members, CallManagerMember, 1, MAX_CALL_MANAGERS)
        object.__setattr__(self, "members", members)
        _ordered("CallManager group members", [m.priority for m in self.members])
        if self.tvs is not None:
            object.__setattr__(self, "tvs", _items("tvs", self.tvs, TvsMember, 0, MAX_TVS_SERVERS))
            _ordered("TVS members", [t.priority for t in self.tvs])
        object.__setattr__(self, "capf", _items("capf", self.capf, CapfEntry, 0, MAX_CAPF_ENTRIES))
        _int("capfAuthMode", self.capf_auth_mode, 0, 4)
        _int("deviceSecurityMode", self.device_security_mode, 1, 3)
        _int("transportLayerProtocol", self.transport_layer_protocol, 1, 4)
        _int("ipAddressMode", self.ip_address_mode, 0, 2)
        _token("loadInformation", self.load_information)
        _token("versionStamp", self.version_stamp)
        for name in ("vendor_config", "common_config", "enterprise_config"):
            object.__setattr__(self, name, _pairs(name, getattr(self, name)))
        for name in ("secure_urls", "encr_config", "tftp_default"):
            if not isinstance(getattr(self, name), bool):
                raise BuildError(f"{name} must be True or False")
        _host("url_host", self.url_host, required=False)
        if self.cert_hash and (
            not isinstance(self.cert_hash, str) or not _CERT_HASH.fullmatch(self.cert_hash)
        ):
            raise BuildError(
                f"certHash must be empty or 32 hex digits (MD5), not {self.cert_hash!r}"
            )
        lines = _items("sip_lines", self.sip_lines, SipLine, 0, 999)
        object.__setattr__(self, "sip_lines", lines)
        if lines and self.protocol == "SCCP":
            raise BuildError("an SCCP phone gets its lines over SCCP: sip_lines must be empty")
        ntps = _items("ntp_servers", self.ntp_servers, str, 0, 5)
        object.__setattr__(self, "ntp_servers", ntps)
        for ntp in ntps:
            _host("NTP server", ntp)
        for name in (
            "ssh_user_id",
            "ssh_password",
            "device_pool_name",
            "date_time_setting_name",
            "date_template",
            "time_zone",
            "olson_time_zone",
            "phone_password",
            "user_locale",
            "user_locale_lang_code",
            "network_locale",
            "locale_version",
        ):
            _text(name, getattr(self, name))
        for name in ("connection_monitor_duration", "idle_timeout", "tls_resumption_timer"):
            _int(name, getattr(self, name), 0, _INT_MAX)

    @property
    def file_name(self) -> str:
        """``SEP<MAC>.cnf.xml``."""
        return f"{self.device_name}.cnf.xml"

    @property
    def tvs_members(self) -> tuple[TvsMember, ...]:
        """The TVS servers written to the file (the group's hosts unless given)."""
        return mirror_tvs(self.members) if self.tvs is None else self.tvs

    @property
    def service_host(self) -> str:
        """The host of the Tomcat service URLs."""
        return self.url_host or self.members[0].process_node_name


# -- rendering -----------------------------------------------------------------
#
# A cluster renders thousands of documents when every configuration changes,
# so the writer is plain string assembly: every line is indented two spaces a
# level and every text and attribute escaped, and the runs of CUCM's fixed
# defaults are written once, when this module loads (tests/vectors/cnfxml
# holds golden documents). A document whose inputs did not change is not
# rendered at all: the file plan keeps it by the digest of its inputs.

_Value = str | int | bool

_PROLOG = '<?xml version="1.0" encoding="UTF-8"?>\n'


def _escape(text: str) -> str:
    """``xml.sax.saxutils.escape(text, {"\\r": "&#13;"})``, same order, without its overhead.

    A bare CR would read back as LF, hence the character reference.
    """
    if "&" not in text and ">" not in text and "<" not in text and "\r" not in text:
        return text  # most values: looking is cheaper than four replacements
    return (
        text.replace("&", "&amp;").replace(">", "&gt;").replace("<", "&lt;").replace("\r", "&#13;")
    )


def _str(value: _Value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _attrs(attrs: Mapping[str, _Value] | None) -> str:
    return "".join(f" {k}={quoteattr(_str(v))}" for k, v in (attrs or {}).items())


def _leaf(tag: str, value: _Value, depth: int = 1) -> str:
    """``<tag>value</tag>`` on its own line, ``depth`` levels in."""
    text = _escape(value) if isinstance(value, str) else _str(value)  # a number needs none
    return f"{'  ' * depth}<{tag}>{text}</{tag}>\n"


def _open(tag: str, depth: int, attrs: Mapping[str, _Value] | None = None) -> str:
    if attrs is None:
        return f"{'  ' * depth}<{tag}>\n"
    return f"{'  ' * depth}<{tag}{_attrs(attrs)}>\n"


def _close(tag: str, depth: int) -> str:
    return f"{'  ' * depth}</{tag}>\n"


def _leaves(pairs: tuple[tuple[str, _Value], ...], depth: int) -> str:
    return "".join(_leaf(tag, value, depth) for tag, value in pairs)


def _element(tag: str, depth: int, body: str, attrs: Mapping[str, _Value] | None = None) -> str:
    """``body`` (lines already indented one level deeper) between ``tag``'s open and close."""
    return _open(tag, depth, attrs) + body + _close(tag, depth)


def render(config: PhoneConfig) -> bytes:
    """The configuration document for ``config``, in CUCM's element order."""
    c, e = config, _escape
    parts = [
        _PROLOG,
        "<device>\n",
        "  <fullConfig>true</fullConfig>\n",
        f"  <deviceProtocol>{e(c.protocol)}</deviceProtocol>\n",
        f"  <sshUserId>{e(c.ssh_user_id)}</sshUserId>\n",
        f"  <sshPassword>{e(c.ssh_password)}</sshPassword>\n",
        f"  <ipAddressMode>{c.ip_address_mode}</ipAddressMode>\n",
        _device_pool(c),
        _tvs(c.tvs_members),
        _sip_profile(c.sip_lines) if c.protocol == "SIP" else "",
        "  <commonProfile>\n",
        f"    <phonePassword>{e(c.phone_password)}</phonePassword>\n",
        _COMMON_PROFILE_TAIL,
        "  </commonProfile>\n",
        f"  <loadInformation>{e(c.load_information)}</loadInformation>\n",
        _element("vendorConfig", 1, _leaves(c.vendor_config, 2)),
        _element("commonConfig", 1, _leaves(c.common_config, 2)),
        _element("enterpriseConfig", 1, _leaves(c.enterprise_config, 2)),
        f"  <versionStamp>{e(c.version_stamp)}</versionStamp>\n",
        "  <userLocale>\n",
        f"    <name>{e(c.user_locale)}</name>\n",
        "    <uid>1</uid>\n",
        f"    <langCode>{e(c.user_locale_lang_code)}</langCode>\n",
        f"    <version>{e(c.locale_version)}</version>\n",
        "    <winCharSet>utf-8</winCharSet>\n",
        "  </userLocale>\n",
        f"  <networkLocale>{e(c.network_locale)}</networkLocale>\n",
        "  <networkLocaleInfo>\n",
        f"    <name>{e(c.network_locale)}</name>\n",
        "    <uid>64</uid>\n",
        f"    <version>{e(c.locale_version)}</version>\n",
        "  </networkLocaleInfo>\n",
        f"  <deviceSecurityMode>{c.device_security_mode}</deviceSecurityMode>\n",
        f"  <idleTimeout>{c.idle_timeout}</idleTimeout>\n",
        _urls(c.service_host, c.secure_urls),
        _DSCP_TEXT,
        f"  <transportLayerProtocol>{c.transport_layer_protocol}</transportLayerProtocol>\n",
        f"  <capfAuthMode>{c.capf_auth_mode}</capfAuthMode>\n",
        _capf_list(c.capf),
        f"  <certHash>{e(c.cert_hash)}</certHash>\n",
        f"  <encrConfig>{_str(c.encr_config)}</encrConfig>\n",
        f"  <TLSResumptionTimer>{c.tls_resumption_timer}</TLSResumptionTimer>\n",
        _PHONE_SERVICES[c.secure_urls],
        "</device>\n",
    ]
    return "".join(parts).encode("utf-8")


def _device_pool(c: PhoneConfig) -> str:
    e = _escape
    parts = [
        "  <devicePool>\n",
        "    <revertPriority>0</revertPriority>\n",
        f"    <name>{e(c.device_pool_name)}</name>\n",
        "    <dateTimeSetting>\n",
        f"      <name>{e(c.date_time_setting_name)}</name>\n",
        f"      <dateTemplate>{e(c.date_template)}</dateTemplate>\n",
        f"      <timeZone>{e(c.time_zone)}</timeZone>\n",
        f"      <olsonTimeZone>{e(c.olson_time_zone)}</olsonTimeZone>\n",
    ]
    if c.ntp_servers:
        parts.append("      <ntps>\n")
        for ntp in c.ntp_servers:
            parts += ["        <ntp>\n", f"          <name>{e(ntp)}</name>\n", _NTP_TAIL]
            parts.append("        </ntp>\n")
        parts.append("      </ntps>\n")
    parts += [
        "    </dateTimeSetting>\n",
        "    <callManagerGroup>\n",
        f"      <name>{e(c.cm_group_name)}</name>\n",
        f"      <tftpDefault>{_str(c.tftp_default)}</tftpDefault>\n",
        "      <members>\n",
    ]
    for m in c.members:
        parts += [
            f'        <member priority="{m.priority}">\n',
            "          <callManager>\n",
            f"            <name>{e(m.name)}</name>\n",
            f"            <description>{e(m.description)}</description>\n",
            "            <ports>\n",
            f"              <ethernetPhonePort>{m.ethernet_phone_port}</ethernetPhonePort>\n",
            f"              <sipPort>{m.sip_port}</sipPort>\n",
            f"              <securedSipPort>{m.secured_sip_port}</securedSipPort>\n",
            _MGCP_PORTS,
            "            </ports>\n",
            f"            <processNodeName>{e(m.process_node_name)}</processNodeName>\n",
            "          </callManager>\n",
            "        </member>\n",
        ]
    parts += [
        "      </members>\n",
        "    </callManagerGroup>\n",
        _SRST_TEXT,
        f"    <connectionMonitorDuration>{c.connection_monitor_duration}"
        "</connectionMonitorDuration>\n",
        "  </devicePool>\n",
    ]
    return "".join(parts)


def _tvs(members: tuple[TvsMember, ...]) -> str:
    if not members:
        return ""
    body = "".join(
        _element(
            "member",
            3,
            _leaf("port", tvs.port, 4) + _leaf("address", tvs.address, 4),
            {"priority": tvs.priority},
        )
        for tvs in members
    )
    return _element("TVS", 1, _element("members", 2, body))


def _sip_profile(sip_lines: tuple[SipLine, ...]) -> str:
    lines = []
    for button, line in enumerate(sip_lines, start=1):
        lines += [
            _open("line", 3, {"button": button, "lineIndex": button}),
            _leaf("featureID", 9, 4),
            _leaf("featureLabel", line.label, 4),
            _leaf("proxy", USECALLMANAGER, 4),
            _leaf("port", DEFAULT_SIP_PORT, 4),
            _leaf("name", line.directory_number, 4),
            _leaf("displayName", line.display_name, 4),
            _AUTO_ANSWER,
            _SIP_LINE_DEFAULTS_TEXT,
            _leaf("contact", line.directory_number, 4),
            _SIP_LINE_TAIL,
            _close("line", 3),
        ]
    return _SIP_PROFILE_HEAD + _element("sipLines", 2, "".join(lines)) + _SIP_PROFILE_TAIL


# (plain element, secure twin or None, path on Tomcat or None for "empty")
_URLS: tuple[tuple[str, str | None, str | None], ...] = (
    ("authenticationURL", "secureAuthenticationURL", "/ccmcip/authenticate.jsp"),
    ("directoryURL", "secureDirectoryURL", "/ccmcip/xmldirectory.jsp"),
    ("idleURL", "secureIdleURL", None),
    ("informationURL", "secureInformationURL", "/ccmcip/GetTelecasterHelpText.jsp"),
    ("messagesURL", "secureMessagesURL", None),
    ("proxyServerURL", None, None),
    ("servicesURL", "secureServicesURL", "/ccmcip/getservicesmenu.jsp"),
)


def _urls(service_host: str, secure_urls: bool) -> str:
    host = _escape(service_host)  # the paths need no escaping
    if ":" in host:
        host = f"[{host}]"  # an IPv6 literal
    parts = [
        f"  <{tag}>http://{host}:8080{path}</{tag}>\n" if path else f"  <{tag}></{tag}>\n"
        for tag, _, path in _URLS
    ]
    scheme, port = ("https", 8443) if secure_urls else ("http", 8080)
    parts += [
        f"  <{tag}>{scheme}://{host}:{port}{path}</{tag}>\n" if path else f"  <{tag}></{tag}>\n"
        for _, tag, path in _URLS
        if tag is not None
    ]
    return "".join(parts)


def _capf_list(capf: tuple[CapfEntry, ...]) -> str:
    if not capf:
        return ""
    body = "".join(
        _element(
            "capf",
            2,
            _leaf("phonePort", entry.phone_port, 3)
            + _leaf("processNodeName", entry.process_node_name, 3),
        )
        for entry in capf
    )
    return _element("capfList", 1, body)


def _table(spec: str) -> tuple[tuple[str, _Value], ...]:
    """Fixed CUCM defaults written as ``name=value`` words (``name=`` for empty)."""
    return tuple((name, value) for name, _, value in (w.partition("=") for w in spec.split()))


_DSCP = _table("dscpForSCCPPhoneConfig=96 dscpForSCCPPhoneServices=0 dscpForCm2Dvce=96")
_DSCP_TEXT = _leaves(_DSCP, 1)
_SRST_DISABLED = _table(
    "name=Disable srstOption=Disable userModifiable=false"
    " ipAddr1= port1=2000 ipAddr2= port2=2000 ipAddr3= port3=2000"
    " sipIpAddr1= sipPort1=5060 sipIpAddr2= sipPort2=5060 sipIpAddr3= sipPort3=5060"
    " isSecure=false"
)
_SIP_PROXIES = _table(
    f"backupProxy={USECALLMANAGER} backupProxyPort=5060"
    f" emergencyProxy={USECALLMANAGER} emergencyProxyPort=5060"
    f" outboundProxy={USECALLMANAGER} outboundProxyPort=5060 registerWithProxy=true"
)
_SIP_CALL_FEATURES = _table(
    "cnfJoinEnabled=true callForwardURI=x-cisco-serviceuri-cfwdall"
    " callPickupURI=x-cisco-serviceuri-pickup callPickupListURI=x-cisco-serviceuri-opickup"
    " callPickupGroupURI=x-cisco-serviceuri-gpickup meetMeServiceURI=x-cisco-serviceuri-meetme"
    " abbreviatedDialURI=x-cisco-serviceuri-abbrdial rfc2543Hold=false callHoldRingback=2"
    " localCfwdEnable=true semiAttendedTransfer=true anonymousCallBlock=2 callerIdBlocking=2"
    " dndControl=0 remoteCcEnable=true"
)
_SIP_STACK = _table(
    "sipInviteRetx=6 sipRetx=10 timerInviteExpires=180 timerRegisterExpires=3600"
    " timerRegisterDelta=5 timerKeepAliveExpires=120 timerSubscribeExpires=120"
    " timerSubscribeDelta=5 timerT1=500 timerT2=4000 maxRedirects=70 remotePartyID=true"
    " userInfo=None"
)
_SIP_MEDIA = _table(
    "autoAnswerTimer=1 transferOnhookEnabled=false enableVad=false preferredCodec=none"
    " dtmfAvtPayload=101 dtmfDbLevel=3 dtmfOutofBand=avt kpml=3 phoneLabel= stutterMsgWaiting=0"
    " callStats=false offhookToFirstDigitTimer=15000 T302Timer=15000 startMediaPort=16384"
    " stopMediaPort=32766"
)
_SIP_LINE_DEFAULTS = _table(
    "callWaiting=3 sharedLine=false messageWaitingLampPolicy=3 messagesNumber="
    " ringSettingIdle=4 ringSettingActive=5"
)
_SIP_TAIL = _table(
    "voipControlPort=5060 dscpForAudio=184 dscpVideo=136 ringSettingBusyStationPolicy=0"
    " dialTemplate="
)

# CUCM's fixed runs of defaults, as text: the same in every document.
_NTP_TAIL = _leaves((("nameV6", ""), ("ntpMode", "Unicast")), 5)
_MGCP_PORTS = _element("mgcpPorts", 7, _leaves((("listen", 2427), ("keepAlive", 2428)), 8))
_SRST_TEXT = _element("srstInfo", 2, _leaves(_SRST_DISABLED, 3))
_COMMON_PROFILE_TAIL = _leaf("backgroundImageAccess", True, 2) + _leaf("callLogBlfEnabled", 2, 2)
_SIP_PROFILE_HEAD = (
    _open("sipProfile", 1)
    + _element("sipProxies", 2, _leaves(_SIP_PROXIES, 3))
    + _element("sipCallFeatures", 2, _leaves(_SIP_CALL_FEATURES, 3))
    + _element("sipStack", 2, _leaves(_SIP_STACK, 3))
    + _leaves(_SIP_MEDIA, 2)
)
_SIP_PROFILE_TAIL = _leaves(_SIP_TAIL, 2) + _close("sipProfile", 1)
_AUTO_ANSWER = _element("autoAnswer", 4, _leaf("autoAnswerEnabled", 2, 5))
_SIP_LINE_DEFAULTS_TEXT = _leaves(_SIP_LINE_DEFAULTS, 4)
_SIP_LINE_TAIL = _leaves((("maxNumCalls", 4), ("busyTrigger", 2)), 4)
_PHONE_SERVICES = {
    secure: _element("phoneServices", 1, _leaf("provisioning", 0, 2), {"useHTTPS": secure})
    for secure in (False, True)
}

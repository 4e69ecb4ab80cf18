"""The cnf.xml renderer exactly as it was before fragment caching: the oracle for byte identity.

:func:`phonetrust.formats.cnfxml.render` now assembles each document from
memoized fragments (device pool, TVS list, SIP profile, URLs, ...). This
module keeps the original, straightforward writer, copied verbatim, so the
tests can prove the cached renderer gives the same bytes for any config. If
the document's layout is ever changed on purpose, change both.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from xml.sax.saxutils import escape, quoteattr

from phonetrust.formats.cnfxml import USECALLMANAGER, PhoneConfig
from phonetrust.formats.cnfxml_read import DEFAULT_SIP_PORT

_Value = str | int | bool


class _Writer:
    """Indented XML, two spaces a level, every text and attribute escaped."""

    def __init__(self) -> None:
        self._lines: list[str] = ['<?xml version="1.0" encoding="UTF-8"?>']
        self._depth = 0

    def leaf(self, tag: str, value: _Value = "", attrs: Mapping[str, _Value] | None = None) -> None:
        text = escape(_str(value), {"\r": "&#13;"})  # a bare CR would read back as LF
        self._line(f"<{tag}{_attrs(attrs)}>{text}</{tag}>")

    @contextmanager
    def element(self, tag: str, attrs: Mapping[str, _Value] | None = None) -> Iterator[None]:
        self._line(f"<{tag}{_attrs(attrs)}>")
        self._depth += 1
        yield
        self._depth -= 1
        self._line(f"</{tag}>")

    def leaves(self, pairs: tuple[tuple[str, _Value], ...]) -> None:
        for tag, value in pairs:
            self.leaf(tag, value)

    def result(self) -> bytes:
        return ("\n".join(self._lines) + "\n").encode("utf-8")

    def _line(self, text: str) -> None:
        self._lines.append("  " * self._depth + text)


def _str(value: _Value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _attrs(attrs: Mapping[str, _Value] | None) -> str:
    return "".join(f" {k}={quoteattr(_str(v))}" for k, v in (attrs or {}).items())


def render(config: PhoneConfig) -> bytes:
    """The configuration document for ``config``, in CUCM's element order."""
    w = _Writer()
    with w.element("device"):
        w.leaf("fullConfig", True)
        w.leaf("deviceProtocol", config.protocol)
        w.leaf("sshUserId", config.ssh_user_id)
        w.leaf("sshPassword", config.ssh_password)
        w.leaf("ipAddressMode", config.ip_address_mode)
        _device_pool(w, config)
        if config.tvs_members:
            with w.element("TVS"), w.element("members"):
                for tvs in config.tvs_members:
                    with w.element("member", {"priority": tvs.priority}):
                        w.leaf("port", tvs.port)
                        w.leaf("address", tvs.address)
        if config.protocol == "SIP":
            _sip_profile(w, config)
        with w.element("commonProfile"):
            w.leaf("phonePassword", config.phone_password)
            w.leaf("backgroundImageAccess", True)
            w.leaf("callLogBlfEnabled", 2)
        w.leaf("loadInformation", config.load_information)
        for block in ("vendorConfig", "commonConfig", "enterpriseConfig"):
            with w.element(block):
                w.leaves(getattr(config, block.replace("Config", "_config")))
        w.leaf("versionStamp", config.version_stamp)
        _locales(w, config)
        w.leaf("deviceSecurityMode", config.device_security_mode)
        w.leaf("idleTimeout", config.idle_timeout)
        _urls(w, config)
        w.leaves(_DSCP)
        w.leaf("transportLayerProtocol", config.transport_layer_protocol)
        w.leaf("capfAuthMode", config.capf_auth_mode)
        if config.capf:
            with w.element("capfList"):
                for capf in config.capf:
                    with w.element("capf"):
                        w.leaf("phonePort", capf.phone_port)
                        w.leaf("processNodeName", capf.process_node_name)
        w.leaf("certHash", config.cert_hash)
        w.leaf("encrConfig", config.encr_config)
        w.leaf("TLSResumptionTimer", config.tls_resumption_timer)
        with w.element("phoneServices", {"useHTTPS": config.secure_urls}):
            w.leaf("provisioning", 0)
    return w.result()


def _locales(w: _Writer, config: PhoneConfig) -> None:
    with w.element("userLocale"):
        w.leaf("name", config.user_locale)
        w.leaf("uid", 1)
        w.leaf("langCode", config.user_locale_lang_code)
        w.leaf("version", config.locale_version)
        w.leaf("winCharSet", "utf-8")
    w.leaf("networkLocale", config.network_locale)
    with w.element("networkLocaleInfo"):
        w.leaf("name", config.network_locale)
        w.leaf("uid", 64)
        w.leaf("version", config.locale_version)


def _device_pool(w: _Writer, config: PhoneConfig) -> None:
    with w.element("devicePool"):
        w.leaf("revertPriority", 0)
        w.leaf("name", config.device_pool_name)
        with w.element("dateTimeSetting"):
            w.leaf("name", config.date_time_setting_name)
            w.leaf("dateTemplate", config.date_template)
            w.leaf("timeZone", config.time_zone)
            w.leaf("olsonTimeZone", config.olson_time_zone)
            if config.ntp_servers:
                with w.element("ntps"):
                    for ntp in config.ntp_servers:
                        with w.element("ntp"):
                            w.leaves((("name", ntp), ("nameV6", ""), ("ntpMode", "Unicast")))
        with w.element("callManagerGroup"):
            w.leaf("name", config.cm_group_name)
            w.leaf("tftpDefault", config.tftp_default)
            with w.element("members"):
                for m in config.members:
                    with w.element("member", {"priority": m.priority}), w.element("callManager"):
                        w.leaf("name", m.name)
                        w.leaf("description", m.description)
                        with w.element("ports"):
                            w.leaf("ethernetPhonePort", m.ethernet_phone_port)
                            w.leaf("sipPort", m.sip_port)
                            w.leaf("securedSipPort", m.secured_sip_port)
                            with w.element("mgcpPorts"):
                                w.leaves((("listen", 2427), ("keepAlive", 2428)))
                        w.leaf("processNodeName", m.process_node_name)
        with w.element("srstInfo"):
            w.leaves(_SRST_DISABLED)
        w.leaf("connectionMonitorDuration", config.connection_monitor_duration)


def _sip_profile(w: _Writer, config: PhoneConfig) -> None:
    with w.element("sipProfile"):
        with w.element("sipProxies"):
            w.leaves(_SIP_PROXIES)
        with w.element("sipCallFeatures"):
            w.leaves(_SIP_CALL_FEATURES)
        with w.element("sipStack"):
            w.leaves(_SIP_STACK)
        w.leaves(_SIP_MEDIA)
        with w.element("sipLines"):
            for button, line in enumerate(config.sip_lines, start=1):
                with w.element("line", {"button": button, "lineIndex": button}):
                    w.leaf("featureID", 9)
                    w.leaf("featureLabel", line.label)
                    w.leaf("proxy", USECALLMANAGER)
                    w.leaf("port", DEFAULT_SIP_PORT)
                    w.leaf("name", line.directory_number)
                    w.leaf("displayName", line.display_name)
                    with w.element("autoAnswer"):
                        w.leaf("autoAnswerEnabled", 2)
                    w.leaves(_SIP_LINE_DEFAULTS)
                    w.leaf("contact", line.directory_number)
                    w.leaves((("maxNumCalls", 4), ("busyTrigger", 2)))
        w.leaves(_SIP_TAIL)


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


def _urls(w: _Writer, config: PhoneConfig) -> None:
    host = config.service_host
    if ":" in host:
        host = f"[{host}]"  # an IPv6 literal
    for tag, _, path in _URLS:
        w.leaf(tag, f"http://{host}:8080{path}" if path else "")
    scheme, port = ("https", 8443) if config.secure_urls else ("http", 8080)
    for _, secure_tag, path in _URLS:
        if secure_tag is not None:
            w.leaf(secure_tag, f"{scheme}://{host}:{port}{path}" if path else "")


def _table(spec: str) -> tuple[tuple[str, _Value], ...]:
    """Fixed CUCM defaults written as ``name=value`` words (``name=`` for empty)."""
    return tuple((name, value) for name, _, value in (w.partition("=") for w in spec.split()))


_DSCP = _table("dscpForSCCPPhoneConfig=96 dscpForSCCPPhoneServices=0 dscpForCm2Dvce=96")
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

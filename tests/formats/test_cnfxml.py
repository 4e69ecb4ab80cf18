"""SEP<MAC>.cnf.xml: render -> read round trips, CUCM order, real-world samples, hostile input."""

from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET
from dataclasses import replace
from typing import Any
from xml.sax.saxutils import escape

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from phonetrust.errors import BuildError, ParseError
from phonetrust.formats.cnfxml import (
    CallManagerMember,
    CapfEntry,
    ParsedConfig,
    PhoneConfig,
    SipLine,
    TvsMember,
    make_version_stamp,
    mirror_tvs,
    read,
    render,
)
from phonetrust.formats.cnfxml_read import MAX_DOCUMENT_SIZE

# The top-level order of spec/config-xml.md §1 (CUCM's own order).
SPEC_ORDER = [
    "fullConfig",
    "portalDefaultServer",
    "deviceProtocol",
    "sshUserId",
    "sshPassword",
    "ipAddressMode",
    "allowAutoConfig",
    "dadEnable",
    "redirectEnable",
    "echoMultiEnable",
    "ipPreferenceModeControl",
    "ipMediaAddressFamilyPreference",
    "tzdata",
    "mlppDomainId",
    "mlppIndicationStatus",
    "preemption",
    "executiveOverridePreemptable",
    "devicePool",
    "TVS",
    "sipProfile",
    "MissedCallLoggingOption",
    "commonProfile",
    "loadInformation",
    "inactiveLoadInformation",
    "addOnModules",
    "vendorConfig",
    "commonConfig",
    "enterpriseConfig",
    "versionStamp",
    "userLocale",
    "networkLocale",
    "networkLocaleInfo",
    "deviceSecurityMode",
    "idleTimeout",
    "authenticationURL",
    "directoryURL",
    "idleURL",
    "informationURL",
    "messagesURL",
    "proxyServerURL",
    "servicesURL",
    "secureAuthenticationURL",
    "secureDirectoryURL",
    "secureUDSUsersAccessURL",
    "secureIdleURL",
    "secureInformationURL",
    "secureMessagesURL",
    "secureServicesURL",
    "dscpForSCCPPhoneConfig",
    "dscpForSCCPPhoneServices",
    "dscpForCm2Dvce",
    "transportLayerProtocol",
    "dialToneSetting",
    "capfAuthMode",
    "capfList",
    "certHash",
    "encrConfig",
    "advertiseG722Codec",
    "mobility",
    "TLSResumptionTimer",
    "featurePolicyFile",
    "userId",
    "ownerId",
    "phoneServices",
]

SUB1 = CallManagerMember("cucm-sub1.lab.example", "10.20.0.12", "cucm-sub1", 0)
PUB = CallManagerMember("cucm-pub.lab.example", "10.20.0.11", "cucm-pub (Publisher)", 1)
STAMP = make_version_stamp(1732355100, uuid.UUID("0f4e2d1c-6a7b-4c3d-8e9f-a0b1c2d3e4f5"))


def make_config(**changes: Any) -> PhoneConfig:
    base: dict[str, Any] = {
        "device_name": "SEP0021A084F3B2",
        "model": "Cisco 8845",
        "protocol": "SIP",
        "cm_group_name": "CMG-Sub1-Pub",
        "members": (SUB1, PUB),
        "version_stamp": STAMP,
    }
    base.update(changes)
    return PhoneConfig(**base)


def top_level_tags(document: bytes) -> list[str]:
    root = ET.fromstring(document)  # noqa: S314 - our own rendered output, no DTD
    return [child.tag for child in root]


def expected_urls(config: PhoneConfig) -> tuple[dict[str, str], dict[str, str]]:
    host = config.service_host
    host = f"[{host}]" if ":" in host else host
    paths = {
        "Authentication": "authenticate.jsp",
        "Directory": "xmldirectory.jsp",
        "Idle": "",
        "Information": "GetTelecasterHelpText.jsp",
        "Messages": "",
        "Services": "getservicesmenu.jsp",
    }
    plain = {
        f"{k[0].lower()}{k[1:]}URL": f"http://{host}:8080/ccmcip/{p}" if p else ""
        for k, p in paths.items()
    }
    plain["proxyServerURL"] = ""
    base = f"https://{host}:8443" if config.secure_urls else f"http://{host}:8080"
    secure = {f"secure{k}URL": f"{base}/ccmcip/{p}" if p else "" for k, p in paths.items()}
    return plain, secure


def assert_round_trip(config: PhoneConfig, parsed: ParsedConfig) -> None:
    assert parsed.full_config is True
    assert parsed.device_protocol == config.protocol
    assert parsed.ssh_user_id == config.ssh_user_id
    assert parsed.ssh_password == config.ssh_password
    assert parsed.cm_group_name == config.cm_group_name
    assert [
        (
            m.priority,
            m.process_node_name,
            m.name,
            m.description,
            m.ethernet_phone_port,
            m.sip_port,
            m.secured_sip_port,
        )
        for m in parsed.members
    ] == [
        (
            m.priority,
            m.process_node_name,
            m.name,
            m.description,
            m.ethernet_phone_port,
            m.sip_port,
            m.secured_sip_port,
        )
        for m in config.members
    ]
    written = config.tvs_members
    assert parsed.tvs_explicit is bool(written)
    expected_tvs = written or mirror_tvs(config.members)  # no block: fall back to the group
    assert [(t.priority, t.address, t.port) for t in parsed.tvs] == [
        (t.priority, t.address, t.port) for t in expected_tvs
    ]
    assert [(s.button, s.directory_number, s.display_name, s.label) for s in parsed.sip_lines] == [
        (i, s.directory_number, s.display_name, s.label)
        for i, s in enumerate(config.sip_lines, start=1)
    ]
    assert parsed.load_information == config.load_information
    assert parsed.vendor_config == dict(config.vendor_config)
    assert list(parsed.vendor_config) == [k for k, _ in config.vendor_config]
    assert parsed.common_config == dict(config.common_config)
    assert parsed.enterprise_config == dict(config.enterprise_config)
    assert parsed.version_stamp == config.version_stamp
    assert parsed.device_security_mode == config.device_security_mode
    assert parsed.transport_layer_protocol == config.transport_layer_protocol
    assert (parsed.urls, parsed.secure_urls) == expected_urls(config)
    assert parsed.capf_auth_mode == config.capf_auth_mode
    assert [(c.process_node_name, c.phone_port) for c in parsed.capf] == [
        (c.process_node_name, c.phone_port) for c in config.capf
    ]
    assert parsed.cert_hash == config.cert_hash
    assert parsed.encr_config is config.encr_config


# -- render -> read ------------------------------------------------------------


def test_every_field_round_trips() -> None:
    config = make_config(
        members=(
            CallManagerMember("n1", "cm1.example", "first", 3, 2001, 5070, 5071),
            CallManagerMember("n2", "10.0.0.2", "second", 7, 2002, 5080, 5081),
            CallManagerMember("n3", "fd00::3", "third", 9),
        ),
        tvs=(TvsMember("tvs-a.example", 2446, 0), TvsMember("10.0.0.9", priority=4)),
        capf=(CapfEntry("capf.example", 3805), CapfEntry("")),
        capf_auth_mode=3,
        device_security_mode=3,
        transport_layer_protocol=3,
        load_information="sip8845_65.12-5-1SR2-2",
        vendor_config=(("webAccess", "0"), ("sshAccess", "0"), ("settingsAccess", "2")),
        common_config=(("webAccess", "1"), ("spanToPCPort", "1")),
        enterprise_config=(("pcPort", "0"),),
        secure_urls=False,
        url_host="cucm-pub.lab.example",
        ssh_user_id="admin",
        ssh_password="s3cret!",  # noqa: S106 - a test value
        cert_hash="0123456789abcdef0123456789ABCDEF",
        encr_config=True,
        sip_lines=(SipLine("4101", "Reception", "Reception 4101"), SipLine("4102")),
        ntp_servers=("10.20.0.1",),
    )
    assert_round_trip(config, read(render(config)))


@pytest.mark.parametrize("protocol", ["SIP", "SCCP"])
def test_defaults_round_trip(protocol: str) -> None:
    config = make_config(protocol=protocol)
    parsed = read(render(config))
    assert_round_trip(config, parsed)
    assert parsed.capf_auth_mode == 0
    assert [(c.process_node_name, c.phone_port) for c in parsed.capf] == [("", 3804)]


def test_render_is_deterministic() -> None:
    assert render(make_config()) == render(make_config())
    assert render(make_config()).startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n<device>\n')


@pytest.mark.parametrize("protocol", ["SIP", "SCCP"])
def test_top_level_elements_follow_cucm_order(protocol: str) -> None:
    config = make_config(protocol=protocol, capf=(CapfEntry("10.20.0.11"),))
    tags = top_level_tags(render(config))
    assert set(tags) <= set(SPEC_ORDER), set(tags) - set(SPEC_ORDER)
    positions = [SPEC_ORDER.index(t) for t in tags]
    assert positions == sorted(positions)
    assert len(tags) == len(set(tags))
    for needed in ("fullConfig", "devicePool", "TVS", "versionStamp", "capfList", "encrConfig"):
        assert needed in tags


def test_sccp_has_no_sip_profile_and_sip_has_one() -> None:
    assert "sipProfile" not in top_level_tags(render(make_config(protocol="SCCP")))
    sip = render(make_config(sip_lines=(SipLine("4101"),)))
    assert "sipProfile" in top_level_tags(sip)
    root = ET.fromstring(sip)  # noqa: S314 - our own output
    line = root.find("sipProfile/sipLines/line")
    assert line is not None
    assert (line.get("button"), line.findtext("featureID"), line.findtext("proxy")) == (
        "1",
        "9",
        "USECALLMANAGER",
    )
    assert root.findtext("sipProfile/sipProxies/registerWithProxy") == "true"


def test_tvs_block_mirrors_the_callmanager_group() -> None:
    config = make_config()
    root = ET.fromstring(render(config))  # noqa: S314 - our own output
    tvs = [
        (m.get("priority"), m.findtext("address"), m.findtext("port"))
        for m in root.iterfind("TVS/members/member")
    ]
    cms = [
        (m.get("priority"), m.findtext("callManager/processNodeName"), "2445")
        for m in root.iterfind("devicePool/callManagerGroup/members/member")
    ]
    assert tvs == cms == [("0", "10.20.0.12", "2445"), ("1", "10.20.0.11", "2445")]
    assert config.tvs_members == mirror_tvs(config.members)


def test_no_tvs_block_falls_back_to_the_group() -> None:
    config = make_config(tvs=())
    document = render(config)
    assert "TVS" not in top_level_tags(document)
    parsed = read(document)
    assert not parsed.tvs_explicit
    assert [(t.address, t.port) for t in parsed.tvs] == [("10.20.0.12", 2445), ("10.20.0.11", 2445)]


def test_secure_urls() -> None:
    secure = read(render(make_config()))
    assert secure.secure_urls["secureAuthenticationURL"] == (
        "https://10.20.0.12:8443/ccmcip/authenticate.jsp"
    )
    rollback = read(render(make_config(secure_urls=False)))
    assert rollback.secure_urls["secureAuthenticationURL"] == (
        "http://10.20.0.12:8080/ccmcip/authenticate.jsp"
    )
    for name, url in rollback.secure_urls.items():
        plain = rollback.urls[name[len("secure") :][0].lower() + name[len("secure") + 1 :]]
        assert url == plain
    root = ET.fromstring(render(make_config(secure_urls=False)))  # noqa: S314 - our own output
    services = root.find("phoneServices")
    assert services is not None
    assert services.get("useHTTPS") == "false"
    ipv6 = read(render(make_config(url_host="fd00::11")))
    assert ipv6.urls["servicesURL"] == "http://[fd00::11]:8080/ccmcip/getservicesmenu.jsp"


HOSTILE = [
    "<device>",
    "a & b",
    "&amp;",
    "\"double\" 'single'",
    "]]>",
    "<!-- x -->",
    "<![CDATA[x]]>",
    "Zoë — 電話 ☎ \U0001f4de",
    "tab\tnew\nline\r\ncr\r",
    "  spaced  ",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_strings_round_trip(text: str) -> None:
    config = make_config(
        cm_group_name=text,
        members=(CallManagerMember(text, "h<&>'\"", text, 0),),
        ssh_user_id=text,
        ssh_password=text,
        sip_lines=(SipLine("41&01", text, text),),
        vendor_config=(("note", text.strip() or "x"),),
        version_stamp=text.strip() or "x",
    )
    document = render(config)
    if "<" in text or "&" in text:
        assert f"<displayName>{text}</displayName>".encode() not in document
        assert f"<displayName>{escape(text, {chr(13): '&#13;'})}</displayName>".encode() in document
    assert_round_trip(config, read(document))


def test_helpers() -> None:
    assert make_config().file_name == "SEP0021A084F3B2.cnf.xml"
    assert STAMP == "1732355100-0f4e2d1c-6a7b-4c3d-8e9f-a0b1c2d3e4f5"
    assert make_config().service_host == "10.20.0.12"


# -- validation ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"device_name": "SEP0021a084f3b2"}, "upper-case hex"),
        ({"device_name": "SEP0021A084F3"}, "upper-case hex"),
        ({"device_name": "ATA0021A084F3B2"}, "upper-case hex"),
        ({"members": ()}, "1 to 3 entries"),
        ({"members": (SUB1, PUB, replace(PUB, priority=2), replace(PUB, priority=3))}, "1 to 3"),
        ({"members": (PUB, SUB1)}, "increasing priority"),
        ({"members": (SUB1, replace(PUB, priority=0))}, "increasing priority"),
        ({"tvs": (TvsMember("a", priority=1), TvsMember("b", priority=0))}, "increasing"),
        ({"protocol": "MGCP"}, "'SIP' or 'SCCP'"),
        ({"capf_auth_mode": 5}, "capfAuthMode"),
        ({"capf_auth_mode": -1}, "capfAuthMode"),
        ({"device_security_mode": 0}, "deviceSecurityMode"),
        ({"device_security_mode": 4}, "deviceSecurityMode"),
        ({"device_security_mode": True}, "deviceSecurityMode must be an integer"),
        ({"transport_layer_protocol": 0}, "transportLayerProtocol"),
        ({"transport_layer_protocol": 5}, "transportLayerProtocol"),
        ({"capf": tuple(CapfEntry("") for _ in range(6))}, "0 to 5"),
        ({"vendor_config": (("web Access", "0"),)}, "element name"),
        ({"vendor_config": (("xmlThing", "0"),)}, "reserved"),
        ({"vendor_config": (("webAccess", "0"), ("webAccess", "1"))}, "twice"),
        ({"vendor_config": (("webAccess", " 0"),)}, "whitespace"),
        ({"ssh_password": "nul\x00"}, "cannot carry"),
        ({"ssh_password": "lone\ud800"}, "cannot carry"),
        ({"cert_hash": "abc"}, "certHash"),
        ({"version_stamp": " 1-x"}, "whitespace"),
        ({"model": ""}, "must not be empty"),
        ({"protocol": "SCCP", "sip_lines": (SipLine("4101"),)}, "over SCCP"),
        ({"secure_urls": 1}, "True or False"),
        ({"url_host": "a b"}, "spaces"),
    ],
)
def test_invalid_configs_are_refused(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(BuildError, match=message):
        make_config(**changes)


@pytest.mark.parametrize(
    "build",
    [
        lambda: CallManagerMember("n", "", "d", 0),
        lambda: CallManagerMember("n", "two words", "d", 0),
        lambda: CallManagerMember("n", "h" * 51, "d", 0),
        lambda: CallManagerMember("n", "h", "d", 0, ethernet_phone_port=0),
        lambda: CallManagerMember("n", "h", "d", 0, sip_port=65536),
        lambda: CallManagerMember("n", "h", "d", -1),
        lambda: TvsMember(""),
        lambda: TvsMember("h", 70000),
        lambda: CapfEntry("h", 0),
        lambda: SipLine(""),
    ],
)
def test_invalid_members_are_refused(build: Any) -> None:
    with pytest.raises(BuildError):
        build()


# -- real-world-like samples ---------------------------------------------------

CUCM_SIP_7821 = b"""<?xml version="1.0" encoding="UTF-8"?>
<device xsi:type="axl:XIPPhone" ctiid="548" uuid="{7fe8bd6e-1f2b-4c1d-9e3a-5b6c7d8e9f00}">
<fullConfig>true</fullConfig>
<portalDefaultServer>democm01</portalDefaultServer>
<deviceProtocol>SIP</deviceProtocol>
<sshUserId></sshUserId>
<sshPassword></sshPassword>
<ipAddressMode>0</ipAddressMode>
<devicePool uuid="{1b1b9eb6-7803-11d3-bdf0-00108302ead1}">
<revertPriority>0</revertPriority>
<name>Default</name>
<dateTimeSetting uuid="{9ec4850a-7748-11d3-bdf0-00108302ead1}">
<name>CMLocal</name><dateTemplate>M/D/YA</dateTemplate>
<timeZone>Central Standard/Daylight Time</timeZone><olsonTimeZone>America/Chicago</olsonTimeZone>
<ntps><ntp><name>10.1.1.1</name><nameV6></nameV6><ntpMode>Unicast</ntpMode></ntp></ntps>
</dateTimeSetting>
<callManagerGroup><name>Default</name><tftpDefault>true</tftpDefault>
<members><member priority="0"><callManager>
<name>democm01</name><description>democm01</description>
<ports><ethernetPhonePort>2000</ethernetPhonePort><sipPort>5060</sipPort>
<securedSipPort>5061</securedSipPort><sipOAuthPort>5090</sipOAuthPort>
<mgcpPorts><listen>2427</listen><keepAlive>2428</keepAlive></mgcpPorts></ports>
<processNodeName>10.1.1.11</processNodeName>
</callManager></member></members>
</callManagerGroup>
<srstInfo uuid="{cd241e11-4a58-4d3d-9661-f06c912a18a3}"><name>Disable</name>
<srstOption>Disable</srstOption><userModifiable>false</userModifiable><isSecure>false</isSecure>
</srstInfo>
<connectionMonitorDuration>120</connectionMonitorDuration>
</devicePool>
<TVS><members><member priority="0"><port>2445</port><address>10.1.1.11</address></member>
</members></TVS>
<sipProfile><sipLines><line button="1" lineIndex="1"><featureID>9</featureID>
<featureLabel>1001</featureLabel><proxy>USECALLMANAGER</proxy><port>5060</port>
<name>1001</name><displayName>Lobby</displayName></line>
<line button="2" lineIndex="2"><featureID>2</featureID><name>911</name></line>
</sipLines></sipProfile>
<loadInformation>sip78xx.14-1-1-0001-136</loadInformation>
<vendorConfig><pcPort>0</pcPort><spanToPCPort>1</spanToPCPort></vendorConfig>
<commonConfig><webAccess>1</webAccess><sshAccess>1</sshAccess></commonConfig>
<enterpriseConfig><webAccess>0</webAccess><settingsAccess>1</settingsAccess></enterpriseConfig>
<versionStamp>1606412345-2a9fe0b4-62d9-4a2b-9f2e-5b55e36cd1c8</versionStamp>
<deviceSecurityMode>1</deviceSecurityMode>
<authenticationURL>http://10.1.1.11:8080/ccmcip/authenticate.jsp</authenticationURL>
<secureAuthenticationURL>https://10.1.1.11:8443/ccmcip/authenticate.jsp</secureAuthenticationURL>
<secureUDSUsersAccessURL>https://10.1.1.11:8443/cucm-uds/users</secureUDSUsersAccessURL>
<transportLayerProtocol>4</transportLayerProtocol>
<capfAuthMode>0</capfAuthMode>
<capfList><capf><phonePort>3804</phonePort><processNodeName/></capf></capfList>
<certHash/>
<encrConfig>false</encrConfig>
<TLSResumptionTimer>3600</TLSResumptionTimer>
</device>
"""

# A 79xx SCCP template in the chan-sccp style: no <TVS>, no deviceProtocol,
# pretty-printed values, deviceSecurityMode 0 and a capf6 entry.
SCCP_79XX_TEMPLATE = b"""<device>
   <devicePool>
      <dateTimeSetting>
         <dateTemplate>D.M.Y</dateTemplate>
         <timeZone>W. Europe Standard/Daylight Time</timeZone>
      </dateTimeSetting>
      <callManagerGroup>
         <members>
            <member  priority="1">
               <callManager>
                  <ports>
                     <ethernetPhonePort> 2000 </ethernetPhonePort>
                  </ports>
                  <processNodeName>
                     192.168.1.2
                  </processNodeName>
               </callManager>
            </member>
            <member  priority="0">
               <callManager>
                  <ports><ethernetPhonePort>2002</ethernetPhonePort></ports>
                  <processNodeName>192.168.1.1</processNodeName>
               </callManager>
            </member>
            <member priority="2">
               <callManager><processNodeName></processNodeName></callManager>
            </member>
         </members>
      </callManagerGroup>
   </devicePool>
   <loadInformation>SCCP75.9-4-2SR4-3S</loadInformation>
   <vendorConfig>
      <webAccess> 0 </webAccess>
   </vendorConfig>
   <versionStamp>{Jan 01 2002 00:00:00}</versionStamp>
   <deviceSecurityMode>0</deviceSecurityMode>
   <capfAuthMode>1</capfAuthMode>
   <capfList>
      <capf><phonePort>3804</phonePort><processNodeName>192.168.1.1</processNodeName></capf>
      <capf6><phonePort>3804</phonePort><processNodeName>fd00::1</processNodeName></capf6>
   </capfList>
</device>
"""

ENCRYPTED_STUB = b"""<?xml version="1.0" encoding="UTF-8"?>
<device>
  <fullConfig>false</fullConfig>
  <loadInformation>sip8845_65.12-5-1SR2-2</loadInformation>
  <capfAuthMode>0</capfAuthMode>
  <capfList><capf><phonePort>3804</phonePort><processNodeName></processNodeName></capf></capfList>
  <certHash>9e107d9d372bb6826bd81d3542a419d6</certHash>
  <encrConfig>true</encrConfig>
</device>
"""


def test_reads_cucm_output_with_undeclared_prefixes() -> None:
    parsed = read(CUCM_SIP_7821)
    assert parsed.device_protocol == "SIP"
    assert [(m.process_node_name, m.sip_port, m.secured_sip_port) for m in parsed.members] == [
        ("10.1.1.11", 5060, 5061)
    ]
    assert parsed.tvs_explicit
    assert [(t.address, t.port) for t in parsed.tvs] == [("10.1.1.11", 2445)]
    assert [(s.button, s.directory_number, s.display_name) for s in parsed.sip_lines] == [
        (1, "1001", "Lobby")
    ]
    assert [(c.process_node_name, c.phone_port) for c in parsed.capf] == [("", 3804)]
    assert parsed.cert_hash == ""
    assert not parsed.encr_config
    assert parsed.transport_layer_protocol == 4
    assert parsed.secure_urls["secureUDSUsersAccessURL"] == "https://10.1.1.11:8443/cucm-uds/users"
    # device level first, then Common Phone Profile, then Enterprise
    assert parsed.setting("webAccess") == "1"
    assert parsed.setting("spanToPCPort") == "1"
    assert parsed.setting("settingsAccess") == "1"
    assert parsed.setting("sshPort") is None
    assert parsed.version_stamp.startswith("1606412345-")


def test_namespace_aware_parsing_would_reject_it() -> None:
    with pytest.raises(ET.ParseError, match="unbound prefix"):
        ET.fromstring(CUCM_SIP_7821)  # noqa: S314 - demonstrates the failure read() avoids


def test_reads_an_old_sccp_template() -> None:
    parsed = read(SCCP_79XX_TEMPLATE)
    assert parsed.device_protocol is None
    assert parsed.full_config
    assert [(m.priority, m.process_node_name, m.ethernet_phone_port) for m in parsed.members] == [
        (0, "192.168.1.1", 2002),
        (1, "192.168.1.2", 2000),
    ]
    assert not parsed.tvs_explicit
    assert [(t.address, t.port) for t in parsed.tvs] == [
        ("192.168.1.1", 2445),
        ("192.168.1.2", 2445),
    ]
    assert parsed.vendor_config == {"webAccess": "0"}
    assert parsed.version_stamp == "{Jan 01 2002 00:00:00}"
    assert parsed.device_security_mode == 0
    assert parsed.transport_layer_protocol is None
    assert parsed.capf_auth_mode == 1
    assert [c.process_node_name for c in parsed.capf] == ["192.168.1.1"]


def test_reads_the_encrypted_config_stub() -> None:
    parsed = read(ENCRYPTED_STUB)
    assert not parsed.full_config
    assert parsed.encr_config
    assert parsed.cert_hash == "9e107d9d372bb6826bd81d3542a419d6"
    assert parsed.members == () == parsed.tvs
    assert parsed.device_security_mode == 1


def test_reads_latin1_and_bom() -> None:
    latin1 = b"<?xml version='1.0' encoding='ISO-8859-1'?><device><sshUserId>caf\xe9</sshUserId>"
    assert read(latin1 + b"</device>").ssh_user_id == "caf\u00e9"
    assert read(b"\xef\xbb\xbf<device><sshUserId>u</sshUserId></device>").ssh_user_id == "u"
    utf16 = '<?xml version="1.0" encoding="UTF-16"?><device><sshUserId>\u00e9</sshUserId></device>'
    assert read(utf16.encode("utf-16")).ssh_user_id == "\u00e9"


# -- malformed input -----------------------------------------------------------

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE device [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
]>
<device><sshUserId>&lol3;</sshUserId></device>"""


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "not well-formed"),
        (b"not xml at all", "not well-formed"),
        (b"<device>", "not well-formed"),
        (b"<device></devicePool>", "not well-formed"),
        (b"\xff\xfe\x00<", "not well-formed"),
        (b"<device>\xc3\x28</device>", "not well-formed"),
        (b"<?xml version='1.0' encoding='UTF-7'?><device/>", "unsupported encoding"),
        (b"<?xml version='1.0' encoding='rot13'?><device/>", "unsupported encoding"),
        (b"<phone><fullConfig>true</fullConfig></phone>", "not <device>"),
        (b"<xsi:device/>", "not <device>"),
        (b"<device>&foo;</device>", "undefined entity"),
        (b"<device><x>&#0;</x></device>", "not well-formed"),
        (BILLION_LAUGHS, "DOCTYPE"),
        (b'<!DOCTYPE device SYSTEM "file:///etc/passwd"><device/>', "DOCTYPE"),
        (b"<!DOCTYPE device><device/>", "DOCTYPE"),
        (b"<device><capfAuthMode>x</capfAuthMode></device>", "capfAuthMode"),
        (b"<device><capfAuthMode>9</capfAuthMode></device>", "capfAuthMode"),
        (b"<device><capfAuthMode>-1</capfAuthMode></device>", "capfAuthMode"),
        (b"<device><deviceSecurityMode>\xd9\xa1</deviceSecurityMode></device>", "deviceSecurity"),
        (b"<device><transportLayerProtocol>1_0</transportLayerProtocol></device>", "transport"),
        (b"<device><encrConfig>maybe</encrConfig></device>", "encrConfig"),
        (
            b"<device><TVS><members><member priority='-1'><address>a</address></member>"
            b"</members></TVS></device>",
            "priority",
        ),
        (
            b"<device><TVS><members><member><address>a</address><port>70000</port></member>"
            b"</members></TVS></device>",
            "port",
        ),
        (
            b"<device><capfList><capf><phonePort>99999999999</phonePort></capf></capfList>"
            b"</device>",
            "phonePort",
        ),
        (b"<device>" + b" " * MAX_DOCUMENT_SIZE + b"</device>", "at most"),
    ],
)
def test_malformed_input_is_a_parse_error(data: bytes, reason: str) -> None:
    with pytest.raises(ParseError, match=reason):
        read(data)


def test_parse_error_points_at_the_element() -> None:
    data = b"<device><fullConfig>true</fullConfig><capfAuthMode>x</capfAuthMode></device>"
    with pytest.raises(ParseError) as caught:
        read(data)
    assert caught.value.offset == data.index(b"<capfAuthMode>")


# -- property tests ------------------------------------------------------------

XML_CHAR = st.characters(
    min_codepoint=0x20, codec="utf-8", exclude_characters="\ufffe\uffff"
) | st.sampled_from("\t\n\r")
TEXT = st.text(XML_CHAR, max_size=12)
TOKEN = TEXT.map(str.strip)
HOST = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=20)
NAME = st.text("abcXYZ019_.-", max_size=8).map(lambda n: "k" + n)  # never "xml..."
PORT = st.integers(1, 65535)
PAIRS = st.lists(st.tuples(NAME, TOKEN), max_size=4, unique_by=lambda p: p[0]).map(tuple)


def _priorities(low: int, high: int) -> st.SearchStrategy[list[int]]:
    return st.lists(st.integers(0, 50), min_size=low, max_size=high, unique=True).map(sorted)


@st.composite
def configs(draw: st.DrawFn) -> PhoneConfig:
    members = tuple(
        CallManagerMember(
            draw(st.text(XML_CHAR, min_size=1, max_size=12)),
            draw(HOST),
            draw(TEXT),
            p,
            *draw(st.tuples(PORT, PORT, PORT)),
        )
        for p in draw(_priorities(1, 3))
    )
    tvs = draw(
        st.none()
        | _priorities(0, 3).flatmap(
            lambda ps: st.tuples(*(st.builds(TvsMember, HOST, PORT, st.just(p)) for p in ps))
        )
    )
    protocol = draw(st.sampled_from(["SIP", "SCCP"]))
    lines = st.lists(st.builds(SipLine, HOST, TEXT, TEXT), max_size=2).map(tuple)
    return make_config(
        protocol=protocol,
        cm_group_name=draw(st.text(XML_CHAR, min_size=1, max_size=12)),
        members=members,
        tvs=tvs,
        capf=tuple(draw(st.lists(st.builds(CapfEntry, HOST | st.just(""), PORT), max_size=3))),
        capf_auth_mode=draw(st.integers(0, 4)),
        device_security_mode=draw(st.integers(1, 3)),
        transport_layer_protocol=draw(st.integers(1, 4)),
        load_information=draw(TOKEN),
        vendor_config=draw(PAIRS),
        common_config=draw(PAIRS),
        enterprise_config=draw(PAIRS),
        secure_urls=draw(st.booleans()),
        url_host=draw(st.just("") | HOST),
        ssh_user_id=draw(TEXT),
        ssh_password=draw(TEXT),
        version_stamp=draw(TOKEN),
        cert_hash=draw(st.just("") | st.binary(min_size=16, max_size=16).map(bytes.hex)),
        encr_config=draw(st.booleans()),
        sip_lines=draw(lines) if protocol == "SIP" else (),
    )


@settings(max_examples=80, deadline=None)
@given(configs())
def test_any_config_round_trips(config: PhoneConfig) -> None:
    document = render(config)
    assert document == render(config)
    assert_round_trip(config, read(document))


def _read_or_parse_error(data: bytes) -> None:
    try:
        read(data)
    except ParseError as exc:
        assert exc.offset >= 0  # noqa: PT017 - the fuzz sentence: ParseError and nothing else


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_arbitrary_bytes_read_or_raise_parse_error(data: bytes) -> None:
    _read_or_parse_error(data)


RENDERED = render(make_config(sip_lines=(SipLine("4101"),), capf=(CapfEntry("10.20.0.11"),)))
FRAGMENTS = st.sampled_from(
    [
        b"<",
        b">",
        b"&",
        b"&amp;",
        b"&#0;",
        b"]]>",
        b"<!DOCTYPE d>",
        b"<!ENTITY",
        b"x:y",
        b'"',
        b"\x00",
        b"\xff",
        b"-1",
        b"99999999999",
        b"</device>",
        b"<device>",
        b"<?xml",
        b" priority='z'",
        b"",
    ]
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(
            st.integers(0, len(RENDERED)), st.integers(0, 40), FRAGMENTS | st.binary(max_size=8)
        ),
        min_size=1,
        max_size=6,
    )
)
def test_mutated_documents_read_or_raise_parse_error(
    edits: list[tuple[int, int, bytes]],
) -> None:
    data = RENDERED
    for position, cut, insert in edits:
        data = data[:position] + insert + data[position + cut :]
    _read_or_parse_error(data)


NUMERIC_ELEMENTS = st.sampled_from(
    [
        b"capfAuthMode",
        b"deviceSecurityMode",
        b"transportLayerProtocol",
        b"encrConfig",
        b"fullConfig",
    ]
)


@settings(max_examples=150, deadline=None)
@given(NUMERIC_ELEMENTS, st.text(max_size=12))
def test_any_value_in_a_typed_element_reads_or_raises_parse_error(tag: bytes, value: str) -> None:
    body = escape(value).encode("utf-8", "surrogatepass")
    _read_or_parse_error(b"<device><" + tag + b">" + body + b"</" + tag + b"></device>")

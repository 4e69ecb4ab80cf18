"""The cnf.xml writer reproduces golden documents byte for byte.

Each case below is one :class:`PhoneConfig`; ``tests/vectors/cnfxml/<case>.cnf.xml``
is what :func:`render` wrote for it when the file was made. Together the cases
show every element and both branches of each choice the writer makes (SIP and
SCCP, secure and rollback URLs, mirrored, listed and absent TVS, NTP servers,
an IPv6 service host, empty and filled blocks) and values that escaping, the
CR reference and UTF-8 must get right.

A failure means the writer's bytes changed. If that was intended, write the
files again and review their diff in the commit::

    .venv/bin/python -m tests.formats.test_cnfxml_golden
"""

from __future__ import annotations

from pathlib import Path

import pytest

from phonetrust.formats.cnfxml import (
    CallManagerMember,
    CapfEntry,
    PhoneConfig,
    SipLine,
    TvsMember,
    mirror_tvs,
    read,
    render,
)

GOLDEN = Path(__file__).parent.parent / "vectors" / "cnfxml"

_PAIR = (
    CallManagerMember("cucm-pub", "10.0.0.10", "cucm-pub (Publisher)", 0),
    CallManagerMember("cucm-sub1", "10.0.0.11", "cucm-sub1", 1),
)

CASES = {
    # What the file plan writes for a SIP phone with a pending CAPF operation.
    "sip-capf-pending": PhoneConfig(
        device_name="SEP001122334455",
        model="8845",
        protocol="SIP",
        cm_group_name="Default",
        members=_PAIR,
        tvs=mirror_tvs(_PAIR),
        capf=(CapfEntry("10.0.0.10"),),
        capf_auth_mode=2,
        device_security_mode=2,
        transport_layer_protocol=3,
        load_information="sip88xx.14-2-1-0001-14",
        vendor_config=(("pcPort", "1"), ("webAccess", "0")),
        version_stamp="",
    ),
    # An SCCP phone after "Prepare Cluster for Rollback to pre 8.0": plain URLs, no TVS.
    "sccp-rollback-no-tvs": PhoneConfig(
        device_name="SEPAABBCCDDEEFF",
        model="7975",
        protocol="SCCP",
        cm_group_name="Pub only",
        members=_PAIR[:1],
        tvs=(),
        capf=(),
        transport_layer_protocol=1,
        secure_urls=False,
        version_stamp="1767225600-6f9619ff-8b86-d011-b42d-00c04fc964ff",
    ),
    # Everything optional filled, with values escaping must get right.
    "everything-escaped": PhoneConfig(
        device_name="SEP0A1B2C3D4E5F",
        model="Cisco 8865 <video> & more",
        protocol="SIP",
        cm_group_name="Group \"A\" & 'B'",
        members=(
            CallManagerMember("cm<1>", "fd00::10", "first\r\nsecond\ttab", 5, 2002, 5070, 5071),
            CallManagerMember("cm-2", "cm2.example.com", "zweiter Knoten é €", 9),
        ),
        tvs=(TvsMember("fd00::20", 2446, 0), TvsMember("tvs.example.com", 2445, 7)),
        capf=(CapfEntry("fd00::10", 3805), CapfEntry("")),
        device_security_mode=3,
        transport_layer_protocol=3,
        vendor_config=(("settingsAccess", "a&b<c>"),),
        common_config=(("sshAccess", "0"),),
        enterprise_config=(("x.y-z_1", "\U0001f600"),),
        url_host="fd00::30",
        ssh_user_id="admin",
        ssh_password="p&ss<word>",  # noqa: S106 - a value to escape, not a secret
        cert_hash="0123456789abcdef0123456789ABCDEF",
        encr_config=True,
        sip_lines=(
            SipLine("1001", "Alice & Bob", "Line <1>"),
            SipLine("1002", "Zoë", ""),
        ),
        ip_address_mode=2,
        device_pool_name="Kraków",
        ntp_servers=("10.0.0.1", "ntp.example.com"),
        tftp_default=False,
        connection_monitor_duration=60,
        phone_password="1234",  # noqa: S106 - a value to show, not a secret
        idle_timeout=30,
        tls_resumption_timer=0,
        version_stamp="42-00000000-0000-0000-0000-000000000000",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_render_gives_the_golden_bytes(case: str) -> None:
    assert render(CASES[case]) == (GOLDEN / f"{case}.cnf.xml").read_bytes()


@pytest.mark.parametrize("case", sorted(CASES))
def test_golden_document_reads_back(case: str) -> None:
    """The golden files are documents a phone reads, not just frozen bytes."""
    config = CASES[case]
    parsed = read((GOLDEN / f"{case}.cnf.xml").read_bytes())
    assert [m.process_node_name for m in parsed.members] == [
        m.process_node_name for m in config.members
    ]
    assert parsed.device_security_mode == config.device_security_mode


def main() -> None:
    GOLDEN.mkdir(exist_ok=True)
    for case, config in sorted(CASES.items()):
        (GOLDEN / f"{case}.cnf.xml").write_bytes(render(config))
        print(f"wrote {case}.cnf.xml")


if __name__ == "__main__":
    main()

"""The fragment-cached renderer writes the very bytes the original writer wrote.

:func:`render` memoizes its fragments (device pool, TVS list, SIP profile,
locales, URLs, ...) on the values they show. These tests render varied
configs, with caches cold and warm and in any order, and compare every byte
with the original renderer kept in :mod:`tests.formats.cnfxml_original`.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from phonetrust.formats import cnfxml
from phonetrust.formats.cnfxml import (
    CallManagerMember,
    CapfEntry,
    PhoneConfig,
    SipLine,
    TvsMember,
    clear_fragment_caches,
    render,
)
from tests.formats import cnfxml_original

# Characters that XML escaping, the CR reference and UTF-8 all have to get right.
_CHARS = "aZ09-_.:/ &<>\"'\r\n\té€\U0001f600"
_text = st.text(alphabet=_CHARS, max_size=12)
_token = _text.map(str.strip)
_host = st.text(alphabet="abz019.-:[]&<>'\"", min_size=1, max_size=20)
_maybe_host = st.one_of(st.just(""), _host)
_priority = st.integers(0, 999_999)
_port = st.integers(1, 65535)
_key = st.from_regex(r"[A-WYZa-wyz_][A-Za-z0-9_.-]{0,8}", fullmatch=True)
_pairs = st.dictionaries(_key, _token, max_size=4).map(lambda d: tuple(sorted(d.items())))


def _ordered(values: list[int]) -> list[int]:
    return sorted(set(values))


@st.composite
def members(draw: st.DrawFn) -> tuple[CallManagerMember, ...]:
    priorities = _ordered(draw(st.lists(_priority, min_size=1, max_size=3)))
    return tuple(
        CallManagerMember(
            name=draw(_text.filter(bool)),
            process_node_name=draw(_host),
            description=draw(_text),
            priority=p,
            ethernet_phone_port=draw(_port),
            sip_port=draw(_port),
            secured_sip_port=draw(_port),
        )
        for p in priorities
    )


@st.composite
def tvs_lists(draw: st.DrawFn) -> tuple[TvsMember, ...] | None:
    if draw(st.booleans()):
        return None
    priorities = _ordered(draw(st.lists(_priority, max_size=3)))
    return tuple(TvsMember(draw(_host), draw(_port), p) for p in priorities)


@st.composite
def configs(draw: st.DrawFn) -> PhoneConfig:
    protocol = draw(st.sampled_from(["SIP", "SCCP"]))
    sip_lines: tuple[SipLine, ...] = ()
    if protocol == "SIP":
        sip_lines = tuple(draw(st.lists(st.builds(SipLine, _host, _text, _text), max_size=3)))
    fields: dict[str, Any] = {
        "device_name": "SEP" + draw(st.from_regex(r"[0-9A-F]{12}", fullmatch=True)),
        "model": draw(_text.filter(bool)),
        "protocol": protocol,
        "cm_group_name": draw(_text.filter(bool)),
        "members": draw(members()),
        "version_stamp": draw(_token),
        "tvs": draw(tvs_lists()),
        "capf": tuple(
            draw(
                st.lists(st.builds(CapfEntry, _maybe_host, _port), max_size=cnfxml.MAX_CAPF_ENTRIES)
            )
        ),
        "capf_auth_mode": draw(st.integers(0, 4)),
        "device_security_mode": draw(st.integers(1, 3)),
        "transport_layer_protocol": draw(st.integers(1, 4)),
        "load_information": draw(_token),
        "vendor_config": draw(_pairs),
        "common_config": draw(_pairs),
        "enterprise_config": draw(_pairs),
        "secure_urls": draw(st.booleans()),
        "url_host": draw(_maybe_host),
        "ssh_user_id": draw(_text),
        "ssh_password": draw(_text),
        "cert_hash": draw(st.one_of(st.just(""), st.from_regex(r"[0-9a-f]{32}", fullmatch=True))),
        "encr_config": draw(st.booleans()),
        "sip_lines": sip_lines,
        "ip_address_mode": draw(st.integers(0, 2)),
        "device_pool_name": draw(_text),
        "date_time_setting_name": draw(_text),
        "date_template": draw(_text),
        "time_zone": draw(_text),
        "olson_time_zone": draw(_text),
        "ntp_servers": tuple(draw(st.lists(_host, max_size=5))),
        "tftp_default": draw(st.booleans()),
        "connection_monitor_duration": draw(st.integers(0, 2**31 - 1)),
        "phone_password": draw(_text),
        "user_locale": draw(_text),
        "user_locale_lang_code": draw(_text),
        "network_locale": draw(_text),
        "locale_version": draw(_text),
        "idle_timeout": draw(st.integers(0, 2**31 - 1)),
        "tls_resumption_timer": draw(st.integers(0, 2**31 - 1)),
    }
    return PhoneConfig(**fields)


def _base() -> PhoneConfig:
    member = CallManagerMember("cucm-pub", "10.0.0.10", "cucm-pub (Publisher)", 0)
    return PhoneConfig(
        device_name="SEP001122334455",
        model="8845",
        protocol="SIP",
        cm_group_name="Default",
        members=(member,),
        version_stamp="",
    )


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(configs())
def test_cold_render_is_the_original_bytes(config: PhoneConfig) -> None:
    clear_fragment_caches()
    assert render(config) == cnfxml_original.render(config)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(configs(), min_size=2, max_size=6), st.randoms())
def test_warm_render_in_any_order_is_the_original_bytes(
    batch: list[PhoneConfig], random: Any
) -> None:
    """Fragments memoized for one config never leak into another's document."""
    expected = {id(c): cnfxml_original.render(c) for c in batch}
    order = batch * 2
    random.shuffle(order)
    for config in order:
        assert render(config) == expected[id(config)]


# Each field of PhoneConfig with a second, valid value: changing it alone must show.
_CHANGES: dict[str, Any] = {
    "device_name": "SEP0011223344AA",
    "model": "7975",
    "protocol": "SCCP",
    "cm_group_name": "Group B",
    "members": (
        CallManagerMember("cucm-pub", "10.0.0.10", "cucm-pub (Publisher)", 0),
        CallManagerMember("cucm-sub1", "10.0.0.11", "cucm-sub1", 1),
    ),
    "version_stamp": "1-2",
    "tvs": (TvsMember("10.0.0.99"),),
    "capf": (CapfEntry("10.0.0.10"),),
    "capf_auth_mode": 1,
    "device_security_mode": 3,
    "transport_layer_protocol": 3,
    "load_information": "sip8845.14-1",
    "vendor_config": (("webAccess", "1"),),
    "common_config": (("sshAccess", "0"),),
    "enterprise_config": (("pcPort", "1"),),
    "secure_urls": False,
    "url_host": "tomcat.example",
    "ssh_user_id": "admin",
    "ssh_password": "secret",
    "cert_hash": "0123456789abcdef0123456789abcdef",
    "encr_config": True,
    "sip_lines": (SipLine("4101", "Reception", "Reception 4101"),),
    "ip_address_mode": 2,
    "device_pool_name": "Pool B",
    "date_time_setting_name": "CMLocal B",
    "date_template": "D/M/Y",
    "time_zone": "Central Standard/Daylight Time",
    "olson_time_zone": "America/Chicago",
    "ntp_servers": ("10.0.0.1",),
    "tftp_default": False,
    "connection_monitor_duration": 60,
    "phone_password": "1234",
    "user_locale": "French_France",
    "user_locale_lang_code": "fr_FR",
    "network_locale": "France",
    "locale_version": "12.5.0.0(1)",
    "idle_timeout": 30,
    "tls_resumption_timer": 600,
}


_NOT_WRITTEN = {"device_name", "model"}
"""Fields the document does not carry (the file name carries the device name)."""


def test_every_field_is_covered() -> None:
    assert set(_CHANGES) == set(PhoneConfig.__dataclass_fields__)


@pytest.mark.parametrize("field", sorted(_CHANGES))
def test_a_change_of_any_one_field_reaches_the_document(field: str) -> None:
    base = _base()
    changed = replace(base, **{field: _CHANGES[field]})
    before = render(base)  # warms every fragment for the base values
    after = render(changed)
    assert after == cnfxml_original.render(changed)
    assert (after == before) is (field in _NOT_WRITTEN)
    assert render(base) == before

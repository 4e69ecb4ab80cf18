"""Every field of a :class:`PhoneConfig` reaches its document, except the two the file name carries.

The file plan keeps a published document while the digest of its inputs is
unchanged, so what the writer shows must be exactly what the config holds:
a field the document ignored would be an input that changes nothing, and a
field it showed without being listed would be one that changes it unseen.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from phonetrust.formats.cnfxml import (
    CallManagerMember,
    CapfEntry,
    PhoneConfig,
    SipLine,
    TvsMember,
    render,
)


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
"""Fields the document does not carry (the file name carries the device name). The file
plan leaves the model out of a document's inputs for that reason
(``service.fileplan.DocumentInputs``): a model written here must go in there too."""


def test_every_field_is_covered() -> None:
    assert set(_CHANGES) == set(PhoneConfig.__dataclass_fields__)


@pytest.mark.parametrize("field", sorted(_CHANGES))
def test_a_change_of_any_one_field_reaches_the_document(field: str) -> None:
    base = _base()
    changed = replace(base, **{field: _CHANGES[field]})
    assert (render(changed) == render(base)) is (field in _NOT_WRITTEN)

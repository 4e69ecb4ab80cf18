"""The JSON shapes the HTTP API and ``--json`` share: their keys are a contract.

Each test pins a shape's exact key set and checks every value against the
domain object it came from, so a dropped, renamed or mislabelled field
fails here before it reaches a client of either.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
from datetime import UTC, datetime, timedelta, timezone

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from phonetrust.policy.domain import (
    CallManagerGroup,
    CapfAuthMode,
    CapfOperation,
    Device,
    DeviceSecurityMode,
    Node,
    Protocol,
    SecurityMode,
    SecurityProfile,
    Service,
    SignerOption,
    TrustedCertificate,
    TrustStore,
)
from phonetrust.service import shapes
from phonetrust.store.repository import Alert, AuditEntry, ClusterState
from phonetrust.testing.pki import make_identity, plain_name

AT = datetime(2026, 3, 6, 19, 45, 13, 250_000, tzinfo=UTC)
SERIAL = 0xBDA3_0102_0304_0506_0708
CERT = make_identity(
    plain_name("SEP00AABBCCDDEE"), serial=SERIAL, issuer_name=plain_name("CAPF-test"), slot=7
).certificate
DER = CERT.public_bytes(serialization.Encoding.DER)
CERT_KEYS = {"subject", "issuer", "serial", "not_before", "not_after", "sha1", "sha256"}
DEVICE_KEYS = {
    "name",
    "model",
    "protocol",
    "group",
    "profile",
    "description",
    "settings",
    "capf_operation",
    "capf_auth_mode",
    "capf_key",
    "capf_expires",
    "capf_status",
    "capf_auth_failures",
    "capf_locked",
    "capf_locked_at",
    "lsc",
    "mic",
}


def roundtrip(shape: shapes.Json) -> object:
    """What a client reads: a shape holding bytes or a datetime would fail to dump here."""
    return json.loads(shapes.dumps(shape))


def test_times_are_utc_seconds_with_z_whatever_zone_they_come_in() -> None:
    assert shapes.timestamp(AT) == "2026-03-06T19:45:13Z"
    two_hours_east = AT.astimezone(timezone(timedelta(hours=2)))
    assert shapes.timestamp(two_hours_east) == "2026-03-06T19:45:13Z"
    assert shapes.timestamp(AT.replace(tzinfo=None)) == "2026-03-06T19:45:13Z"
    assert shapes.timestamp(None) is None


def test_certificate_is_its_facts_and_pem_only_when_asked() -> None:
    facts = shapes.certificate(DER)
    assert set(facts) == CERT_KEYS
    assert facts == {
        "subject": "CN=SEP00AABBCCDDEE",
        "issuer": "CN=CAPF-test",
        "serial": "bda30102030405060708",
        "not_before": "2026-01-01T00:00:00Z",
        "not_after": "2031-01-01T00:00:00Z",
        "sha1": hashlib.sha1(DER).hexdigest(),
        "sha256": hashlib.sha256(DER).hexdigest(),
    }
    with_pem = shapes.certificate(DER, pem=True)
    assert set(with_pem) == CERT_KEYS | {"pem"}
    pem = with_pem["pem"]
    assert isinstance(pem, str)
    assert x509.load_pem_x509_certificate(pem.encode()) == CERT


def test_a_plain_device() -> None:
    shape = shapes.device(Device("SEP001122334455", "7975", Protocol.SCCP))
    assert set(shape) == DEVICE_KEYS
    assert shape["name"] == "SEP001122334455"
    assert shape["model"] == "7975"
    assert shape["protocol"] == "SCCP"
    assert shape["group"] == "Default"
    assert shape["capf_operation"] == "none"
    assert shape["capf_auth_mode"] == "none"
    assert (shape["lsc"], shape["mic"], shape["capf_expires"]) == (None, None, None)
    assert shape["capf_locked"] is False
    assert roundtrip(shape) == shape


def test_a_device_with_capf_pending_and_locked_and_an_lsc() -> None:
    d = Device(
        "SEP00AABBCCDDEE",
        "8845",
        Protocol.SIP,
        "Pair",
        "Encrypted",
        capf_operation=CapfOperation.INSTALL,
        capf_auth_mode=CapfAuthMode.AUTH_STRING,
        capf_auth_hash="salt$hash-never-shown",
        capf_key="EC-P256",
        capf_expires=AT + timedelta(days=1),
        settings={"webAccess": "1", "sshAccess": "0"},
        description="lobby",
        lsc=DER,
        capf_status="Failure: wrong authentication string",
        capf_auth_failures=3,
        capf_locked_at=AT,
    )
    shape = shapes.device(d)
    assert shape == {
        "name": "SEP00AABBCCDDEE",
        "model": "8845",
        "protocol": "SIP",
        "group": "Pair",
        "profile": "Encrypted",
        "description": "lobby",
        "settings": {"sshAccess": "0", "webAccess": "1"},
        "capf_operation": "install",
        "capf_auth_mode": "auth_string",
        "capf_key": "EC-P256",
        "capf_expires": "2026-03-07T19:45:13Z",
        "capf_status": "Failure: wrong authentication string",
        "capf_auth_failures": 3,
        "capf_locked": True,
        "capf_locked_at": "2026-03-06T19:45:13Z",
        "lsc": shapes.certificate(DER),
        "mic": None,
    }
    assert "salt$hash" not in shapes.dumps(shape)
    assert "pem" not in shapes.dumps(shape)  # a phone's certificate is facts only


def test_cluster_with_its_nodes_and_plan_version() -> None:
    state = ClusterState(
        "lab",
        SecurityMode.MIXED,
        SignerOption.ITLRECOVERY,
        AT,
        itl_reset_active=True,
        password_changed_at=AT,
        ctl_deleted=True,
    )
    pub = Node("cucm-pub", ipaddress.IPv4Address("10.0.0.10"), "lab.example", publisher=True)
    sub = Node(
        "cucm-sub1",
        ipaddress.IPv4Address("10.0.0.11"),
        services=frozenset({Service.TVS, Service.CALLMANAGER}),
    )
    shape = shapes.cluster(state, [pub, sub], 7)
    assert shape == {
        "name": "lab",
        "security_mode": 1,
        "security_mode_name": "mixed",
        "signer": "itlrecovery",
        "created_at": "2026-03-06T19:45:13Z",
        "itl_reset_active": True,
        "ctl_deleted": True,
        "password_changed_at": "2026-03-06T19:45:13Z",
        "p12_exported_at": None,
        "file_plan_version": 7,
        "nodes": [
            {
                "host": "cucm-pub",
                "ip": "10.0.0.10",
                "domain": "lab.example",
                "fqdn": "cucm-pub.lab.example",
                "publisher": True,
                "role": "publisher",
                "services": ["CAPF", "CallManager", "TFTP", "TVS"],
            },
            {
                "host": "cucm-sub1",
                "ip": "10.0.0.11",
                "domain": "",
                "fqdn": "cucm-sub1",
                "publisher": False,
                "role": "subscriber",
                "services": ["CallManager", "TVS"],
            },
        ],
    }
    assert roundtrip(shape) == shape


def test_alert_and_audit() -> None:
    assert shapes.alert(Alert("ITLRecoveryBackup", "export it", AT)) == {
        "kind": "ITLRecoveryBackup",
        "message": "export it",
        "raised_at": "2026-03-06T19:45:13Z",
        "cleared_at": None,
        "open": True,
    }
    cleared = shapes.alert(Alert("X", "m", AT, cleared_at=AT + timedelta(hours=1)))
    assert (cleared["open"], cleared["cleared_at"]) == (False, "2026-03-06T20:45:13Z")
    assert shapes.audit(AuditEntry(AT, "admin", "param set", "A = 1")) == {
        "at": "2026-03-06T19:45:13Z",
        "who": "admin",
        "action": "param set",
        "detail": "A = 1",
    }


def test_trusted_certificate_carries_its_pem() -> None:
    shape = shapes.trusted(TrustedCertificate(TrustStore.PHONE_SAST, DER, AT, "SAST token"))
    assert set(shape) == {"store", "description", "added_at", "certificate"}
    assert shape["store"] == "Phone-SAST-trust"
    assert shape["description"] == "SAST token"
    assert shape["added_at"] == "2026-03-06T19:45:13Z"
    assert shape["certificate"] == shapes.certificate(DER, pem=True)


def test_params_keep_their_order_as_name_value_pairs() -> None:
    values = {"ClusterSecurityMode": "0", "Prepare Cluster for Rollback to pre 8.0": "True"}
    assert shapes.params(values) == [
        {"name": "ClusterSecurityMode", "value": "0"},
        {"name": "Prepare Cluster for Rollback to pre 8.0", "value": "True"},
    ]


def test_profile_and_group() -> None:
    p = SecurityProfile("Enc", DeviceSecurityMode.ENCRYPTED, True, Protocol.SIP)
    assert shapes.profile(p) == {
        "name": "Enc",
        "mode": 3,
        "mode_name": "encrypted",
        "tftp_encrypted": True,
        "protocol": "SIP",
    }
    assert shapes.profile(SecurityProfile("Plain"))["protocol"] is None
    group = CallManagerGroup("Pair", ("cucm-sub1", "cucm-pub"))
    assert shapes.group(group) == {"name": "Pair", "members": ["cucm-sub1", "cucm-pub"]}


def test_listing_envelope_counts_what_it_holds() -> None:
    assert shapes.listing([]) == {"items": [], "total": 0}
    groups = (shapes.group(CallManagerGroup(n, ("a",))) for n in "xyz")
    shape = shapes.listing(groups)
    assert shape["total"] == 3
    assert shape["items"] == [{"name": n, "members": ["a"]} for n in "xyz"]

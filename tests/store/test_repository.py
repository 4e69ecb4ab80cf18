"""Every UnitOfWork operation, on SQLite and PostgreSQL (the ``repo`` fixture)."""

from __future__ import annotations

import ipaddress
import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy.exc import IntegrityError, StatementError

from phonetrust.errors import LocalError
from phonetrust.policy.capfauth import hash_auth_string
from phonetrust.policy.domain import (
    CallManagerGroup,
    CapfAuthMode,
    CapfOperation,
    CertName,
    Device,
    DeviceSecurityMode,
    Node,
    OwnCertificate,
    Protocol,
    SecurityMode,
    SecurityProfile,
    Service,
    SignerOption,
    TrustedCertificate,
    TrustStore,
)
from phonetrust.store.repository import (
    AuditEntry,
    CapfRecord,
    ClusterState,
    KeyVault,
    Repository,
    TokenCounter,
)
from phonetrust.store.sql import SqlRepository, SqlUnitOfWork

T0 = datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=UTC)
PARIS = timezone(timedelta(hours=2))
DIGEST = hash_auth_string("123456")


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def node(
    host: str,
    ip: str,
    *,
    domain: str = "",
    publisher: bool = False,
    services: frozenset[Service] = frozenset(Service),
) -> Node:
    return Node(host, ipaddress.IPv4Address(ip), domain, publisher, services)


def own(host: str, name: CertName, der: bytes, minutes: float) -> OwnCertificate:
    return OwnCertificate(host, name, der, at(minutes))


def test_the_sql_classes_satisfy_the_contract(repo: SqlRepository) -> None:
    as_contract: Repository = repo
    with as_contract.unit_of_work() as uow:
        assert isinstance(uow, SqlUnitOfWork)
        assert uow.current_version() == 0


# -- transactions and time -----------------------------------------------------------------


def test_an_exception_rolls_the_whole_unit_back(repo: SqlRepository) -> None:
    def change_then_fail() -> None:
        with repo.unit_of_work() as uow:
            uow.put_node(node("cucm-pub", "10.0.0.1", publisher=True))
            uow.add_own_certificate(own("cucm-pub", CertName.CALLMANAGER, b"cert", 0))
            uow.publish({("cucm-pub", "ITLFile.tlv"): b"itl"})
            uow.append_audit(AuditEntry(T0, "admin", "x", "y"))
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        change_then_fail()
    with repo.unit_of_work() as uow:
        assert uow.list_nodes() == []
        assert uow.list_own_certificates() == []
        assert uow.current_version() == 0
        assert uow.published_file("cucm-pub", "ITLFile.tlv", 1) is None
        assert uow.list_audit() == []


def test_datetimes_come_back_aware_in_utc(repo: SqlRepository) -> None:
    local = T0.astimezone(PARIS)
    with repo.unit_of_work() as uow:
        uow.append_audit(AuditEntry(local, "admin", "a", ""))
        uow.raise_alert("k", "m", local)
    with repo.unit_of_work() as uow:
        (entry,) = uow.list_audit()
        (alert,) = uow.list_alerts()
    for value in (entry.at, alert.raised_at):
        assert value == T0
        assert value.tzinfo is not None
        assert value.utcoffset() == timedelta(0)
        assert value.isoformat() == "2024-05-01T12:00:00.123456+00:00"


def test_naive_datetimes_are_refused(repo: SqlRepository) -> None:
    with pytest.raises(StatementError, match="naive datetime"), repo.unit_of_work() as uow:
        uow.append_audit(AuditEntry(datetime(2024, 1, 1), "admin", "a", ""))


# -- cluster --------------------------------------------------------------------------------


def test_cluster_round_trip_and_replace(repo: SqlRepository) -> None:
    first = ClusterState("Clüster-東京", SecurityMode.NON_SECURE, SignerOption.ITLRECOVERY, T0)
    second = ClusterState(
        "Clüster-東京",
        SecurityMode.MIXED,
        SignerOption.CALLMANAGER,
        T0,
        itl_reset_active=True,
        password_changed_at=at(5),
        p12_exported_at=at(6),
        ctl_deleted=True,
    )
    with repo.unit_of_work() as uow:
        assert uow.get_cluster() is None
        uow.put_cluster(first)
        assert uow.get_cluster() == first
    with repo.unit_of_work() as uow:
        uow.put_cluster(second)
    with repo.unit_of_work() as uow:
        got = uow.get_cluster()
    assert got == second
    assert got is not None
    assert isinstance(got.security_mode, SecurityMode)
    assert isinstance(got.signer, SignerOption)


# -- nodes ----------------------------------------------------------------------------------


def test_nodes_round_trip_in_publisher_then_host_order(repo: SqlRepository) -> None:
    pub = node("pub", "10.0.0.1", domain="example.com", publisher=True)
    sub_b = node("b-sub", "10.0.0.3", services=frozenset({Service.TFTP}))
    sub_a = node("a-sub", "10.0.0.2", services=frozenset())
    with repo.unit_of_work() as uow:
        for n in (sub_b, pub, sub_a):
            uow.put_node(n)
    with repo.unit_of_work() as uow:
        assert uow.list_nodes() == [pub, sub_a, sub_b]
        assert uow.get_node("b-sub") == sub_b
        assert uow.get_node("nobody") is None
        got = uow.get_node("pub")
    assert got is not None
    assert got.services == frozenset(Service)
    assert got.fqdn == "pub.example.com"


def test_put_node_is_an_upsert_on_the_host(repo: SqlRepository) -> None:
    with repo.unit_of_work() as uow:
        uow.put_node(node("cucm1", "10.0.0.1"))
        uow.put_node(node("cucm1", "10.0.0.9", domain="lab.local", publisher=True))
    with repo.unit_of_work() as uow:
        assert uow.list_nodes() == [node("cucm1", "10.0.0.9", domain="lab.local", publisher=True)]


def test_delete_node_takes_its_certificates_with_it(repo: SqlRepository) -> None:
    with repo.unit_of_work() as uow:
        uow.put_node(node("a", "10.0.0.1"))
        uow.put_node(node("b", "10.0.0.2"))
        uow.add_own_certificate(own("a", CertName.TVS, b"a-tvs", 0))
        uow.add_own_certificate(own("b", CertName.TVS, b"b-tvs", 0))
        uow.put_group(CallManagerGroup("G", ("a", "b")))
        uow.delete_node("a")
        uow.delete_node("never-existed")
    with repo.unit_of_work() as uow:
        assert [n.host for n in uow.list_nodes()] == ["b"]
        assert [c.der for c in uow.list_own_certificates()] == [b"b-tvs"]
        assert uow.certificate_history("a", CertName.TVS) == []
        assert uow.get_group("G") == CallManagerGroup("G", ("a", "b"))  # the service's job


def test_a_certificate_needs_its_node(repo: SqlRepository) -> None:
    with pytest.raises(IntegrityError), repo.unit_of_work() as uow:
        uow.add_own_certificate(own("ghost", CertName.TVS, b"x", 0))


def test_rename_node_moves_certificates_groups_and_published_files(repo: SqlRepository) -> None:
    with repo.unit_of_work() as uow:
        uow.put_node(node("old", "10.0.0.1", publisher=True))
        uow.put_node(node("other", "10.0.0.2"))
        uow.add_own_certificate(own("old", CertName.CALLMANAGER, b"cm-1", 0))
        uow.add_own_certificate(own("old", CertName.CALLMANAGER, b"cm-2", 1))
        uow.add_own_certificate(own("other", CertName.CALLMANAGER, b"other-cm", 0))
        uow.put_group(CallManagerGroup("G1", ("other", "old")))
        uow.put_group(CallManagerGroup("G2", ("other",)))
        uow.publish({("old", "ITLFile.tlv"): b"v1", ("other", "ITLFile.tlv"): b"o1"})
        uow.publish({("old", "ITLFile.tlv"): b"v2"})
    renamed = node("new", "10.0.0.7", domain="d.example", publisher=True)
    with repo.unit_of_work() as uow:
        uow.rename_node("old", renamed)
    with repo.unit_of_work() as uow:
        assert uow.get_node("old") is None
        assert uow.get_node("new") == renamed
        history = uow.certificate_history("new", CertName.CALLMANAGER)
        assert [c.der for c in history] == [b"cm-1", b"cm-2"]
        assert all(c.node == "new" for c in history)
        assert uow.list_own_certificates("old") == []
        assert uow.get_group("G1") == CallManagerGroup("G1", ("other", "new"))
        assert uow.get_group("G2") == CallManagerGroup("G2", ("other",))
        assert uow.published_file("new", "ITLFile.tlv") == b"v2"
        assert uow.published_file("new", "ITLFile.tlv", 1) == b"v1"
        assert uow.published_names("old", 1) == {}
        assert uow.published_file("other", "ITLFile.tlv", 1) == b"o1"


def test_rename_onto_a_deleted_nodes_leftover_files(repo: SqlRepository) -> None:
    with repo.unit_of_work() as uow:
        uow.put_node(node("a", "10.0.0.1"))
        uow.put_node(node("b", "10.0.0.2"))
        uow.publish({("a", "f"): b"from-a", ("b", "f"): b"from-b"})
        uow.delete_node("b")
        uow.rename_node("a", node("b", "10.0.0.1"))
    with repo.unit_of_work() as uow:
        assert uow.published_file("b", "f") == b"from-a"


def test_rename_node_to_the_same_host_updates_it(repo: SqlRepository) -> None:
    with repo.unit_of_work() as uow:
        uow.put_node(node("a", "10.0.0.1"))
        uow.rename_node("a", node("a", "10.0.0.1", domain="new.example"))
    with repo.unit_of_work() as uow:
        assert uow.list_nodes() == [node("a", "10.0.0.1", domain="new.example")]


def test_rename_node_refuses_missing_or_taken_names(repo: SqlRepository) -> None:
    with repo.unit_of_work() as uow:
        uow.put_node(node("a", "10.0.0.1"))
        uow.put_node(node("b", "10.0.0.2"))
    with pytest.raises(LocalError, match="no such node"), repo.unit_of_work() as uow:
        uow.rename_node("zz", node("c", "10.0.0.3"))
    with pytest.raises(LocalError, match="already exists"), repo.unit_of_work() as uow:
        uow.rename_node("a", node("b", "10.0.0.1"))
    with repo.unit_of_work() as uow:
        assert [n.host for n in uow.list_nodes()] == ["a", "b"]


# -- own certificates ---------------------------------------------------------------------


def test_certificate_history_and_current(repo: SqlRepository) -> None:
    with repo.unit_of_work() as uow:
        uow.put_node(node("a", "10.0.0.1"))
        uow.put_node(node("b", "10.0.0.2"))
        assert uow.current_certificate("a", CertName.TVS) is None
        uow.add_own_certificate(own("a", CertName.TVS, b"tvs-new", 10))
        uow.add_own_certificate(own("a", CertName.TVS, b"tvs-old", 0))  # added late, made early
        uow.add_own_certificate(own("a", CertName.CAPF, b"capf-1", 0))
        uow.add_own_certificate(own("a", CertName.CAPF, b"capf-2", 0))  # same time: later id wins
        uow.add_own_certificate(own("b", CertName.ITLRECOVERY, b"itlr", 3))
    with repo.unit_of_work() as uow:
        current = uow.current_certificate("a", CertName.TVS)
        assert current == own("a", CertName.TVS, b"tvs-new", 10)
        capf = uow.current_certificate("a", CertName.CAPF)
        assert capf is not None
        assert capf.der == b"capf-2"
        history = uow.certificate_history("a", CertName.TVS)
        assert [c.der for c in history] == [b"tvs-old", b"tvs-new"]
        assert all(isinstance(c.name, CertName) for c in history)
        assert [c.der for c in uow.list_own_certificates("a")] == [b"capf-2", b"tvs-new"]
        assert [c.der for c in uow.list_own_certificates()] == [b"capf-2", b"tvs-new", b"itlr"]
        assert uow.list_own_certificates("nobody") == []


# -- trust stores --------------------------------------------------------------------------


def test_trust_stores_hold_a_certificate_once(repo: SqlRepository) -> None:
    phone = TrustedCertificate(TrustStore.PHONE_SAST, b"der-1", at(1), "Jürgen's eToken")
    with repo.unit_of_work() as uow:
        assert uow.add_trusted(phone) is True
        assert uow.add_trusted(TrustedCertificate(TrustStore.PHONE_SAST, b"der-1", at(9))) is False
        assert uow.add_trusted(TrustedCertificate(TrustStore.CAPF, b"der-1", at(2))) is True
        assert uow.add_trusted(TrustedCertificate(TrustStore.PHONE_SAST, b"der-2", at(0))) is True
    with repo.unit_of_work() as uow:
        sast = uow.list_trusted(TrustStore.PHONE_SAST)
        assert [c.der for c in sast] == [b"der-2", b"der-1"]
        assert sast[1] == phone
        assert [c.store for c in uow.list_trusted()] == [
            TrustStore.CAPF,
            TrustStore.PHONE_SAST,
            TrustStore.PHONE_SAST,
        ]
        assert uow.list_trusted(TrustStore.TVS) == []
        assert uow.delete_trusted(TrustStore.PHONE_SAST, b"der-1") is True
        assert uow.delete_trusted(TrustStore.PHONE_SAST, b"der-1") is False
        assert uow.delete_trusted(TrustStore.TVS, b"der-1") is False
        assert [c.der for c in uow.list_trusted(TrustStore.PHONE_SAST)] == [b"der-2"]
        assert [c.der for c in uow.list_trusted(TrustStore.CAPF)] == [b"der-1"]


# -- groups, profiles, devices ---------------------------------------------------------------


def test_groups_keep_member_order(repo: SqlRepository) -> None:
    with repo.unit_of_work() as uow:
        uow.put_group(CallManagerGroup("Zürich", ("c", "a", "b")))
        uow.put_group(CallManagerGroup("Default", ("a",)))
        uow.put_group(CallManagerGroup("Default", ("b", "a")))  # upsert
    with repo.unit_of_work() as uow:
        assert uow.list_groups() == [
            CallManagerGroup("Default", ("b", "a")),
            CallManagerGroup("Zürich", ("c", "a", "b")),
        ]
        assert uow.get_group("nope") is None
        assert uow.delete_group("Zürich") is True
        assert uow.delete_group("Zürich") is False
        assert [g.name for g in uow.list_groups()] == ["Default"]


def test_profiles_round_trip(repo: SqlRepository) -> None:
    encrypted = SecurityProfile("Cisco 8845 - Encrypted ✓", DeviceSecurityMode.ENCRYPTED, True)
    sip = SecurityProfile("SIP auth", DeviceSecurityMode.AUTHENTICATED, False, Protocol.SIP)
    with repo.unit_of_work() as uow:
        uow.put_profile(sip)
        uow.put_profile(encrypted)
        uow.put_profile(SecurityProfile("SIP auth", DeviceSecurityMode.AUTHENTICATED, False))
    with repo.unit_of_work() as uow:
        assert uow.list_profiles() == [
            encrypted,
            SecurityProfile("SIP auth", DeviceSecurityMode.AUTHENTICATED, False),
        ]
        got = uow.get_profile(encrypted.name)
        assert got == encrypted
        assert got is not None
        assert isinstance(got.mode, DeviceSecurityMode)
        assert uow.get_profile("nope") is None
        assert uow.delete_profile("SIP auth") is True
        assert uow.delete_profile("SIP auth") is False


def test_devices_round_trip_every_field(repo: SqlRepository) -> None:
    full = Device(
        "SEP001122AABBCC",
        "Cisco 8845",
        protocol=Protocol.SCCP,
        group="Zürich",
        profile="Cisco 8845 - Encrypted ✓",
        capf_operation=CapfOperation.INSTALL,
        capf_auth_mode=CapfAuthMode.AUTH_STRING,
        capf_auth_hash=DIGEST,
        capf_key="EC-384",
        capf_expires=at(60).astimezone(PARIS),
        settings={"webAccess": "0", "sshUserId": "ünïcødé", "emoji": "☎️", "": "empty key"},
        description="Réception — 受付",
        lsc=b"\x30\x82lsc\x00\xff",
        mic=b"\x00mic",
        capf_auth_failures=5,
        capf_locked_at=at(30).astimezone(PARIS),
    )
    plain = Device("0011.22aa.bbcd", "Cisco 7841")
    with repo.unit_of_work() as uow:
        uow.put_device(plain)
        uow.put_device(full)
    with repo.unit_of_work() as uow:
        devices = uow.list_devices()
        assert devices == [full, plain]
        assert devices[0].settings == full.settings
        assert devices[0].capf_expires == at(60)
        assert devices[0].capf_locked_at == at(30)
        assert (devices[1].capf_auth_hash, devices[1].capf_auth_failures) == ("", 0)
        assert devices[1].capf_locked_at is None
        assert devices[1].settings == {}
        assert devices[1].lsc is None
        assert devices[1].name == "SEP001122AABBCD"
        got = uow.get_device("SEP001122AABBCC")
        assert got is not None
        assert got.settings == full.settings
        assert got.certificate == full.lsc
        assert isinstance(got.capf_auth_mode, CapfAuthMode)
        assert uow.get_device("SEP000000000000") is None


def test_put_device_replaces_the_whole_row(repo: SqlRepository) -> None:
    with repo.unit_of_work() as uow:
        uow.put_device(Device("SEP001122AABBCC", "Cisco 8845", settings={"a": "1"}, lsc=b"x"))
        uow.put_device(Device("SEP001122AABBCC", "Cisco 8865", settings={"b": "2"}))
    with repo.unit_of_work() as uow:
        (device,) = uow.list_devices()
        assert device.model == "Cisco 8865"
        assert device.settings == {"b": "2"}
        assert device.lsc is None
        assert uow.delete_device("SEP001122AABBCC") is True
        assert uow.delete_device("SEP001122AABBCC") is False


def test_record_capf_writes_only_the_columns_it_names(repo: SqlRepository) -> None:
    pending = Device(
        "SEP001122AABBCC",
        "Cisco 8845",
        settings={"a": "1"},
        description="desk",
        capf_operation=CapfOperation.INSTALL,
        capf_auth_mode=CapfAuthMode.AUTH_STRING,
        capf_auth_hash=DIGEST,
        capf_key="EC-P256",
        capf_expires=at(60),
        mic=b"mic",
        capf_auth_failures=2,
    )
    installed = CapfRecord(
        "Upgrade Success",
        operation=CapfOperation.NONE,
        auth_hash="",
        failures=0,
        clear_expiry=True,
        lsc=b"lsc",
    )
    with repo.unit_of_work() as uow:
        uow.put_device(pending)
        assert uow.record_capf(pending.name, installed) is True
        assert uow.record_capf("SEP000000000000", installed) is False
    with repo.unit_of_work() as uow:
        assert uow.get_device(pending.name) == Device(
            pending.name,
            "Cisco 8845",
            settings={"a": "1"},
            description="desk",
            capf_operation=CapfOperation.NONE,
            capf_auth_mode=CapfAuthMode.AUTH_STRING,
            capf_auth_hash="",
            capf_key="EC-P256",
            capf_expires=None,
            lsc=b"lsc",
            mic=b"mic",
            capf_status="Upgrade Success",
        )
        assert uow.get_device("SEP000000000000") is None
        # a status alone leaves the rest; clear_lsc empties the LSC, mic replaces the MIC
        assert uow.record_capf(pending.name, CapfRecord("Failure: x")) is True
        assert uow.record_capf(
            pending.name, CapfRecord("Delete Success", clear_lsc=True, mic=b"m2")
        )
    with repo.unit_of_work() as uow:
        device = uow.get_device(pending.name)
        assert device is not None
        assert (device.capf_status, device.lsc, device.mic) == ("Delete Success", None, b"m2")
        assert device.capf_operation is CapfOperation.NONE
        assert device.settings == {"a": "1"}


def test_record_capf_counts_wrong_strings_only_from_the_count_it_read(
    repo: SqlRepository,
) -> None:
    """The failure count is written conditionally: a count changed meanwhile is not lost."""
    name = "SEP001122AABBCC"
    with repo.unit_of_work() as uow:
        uow.put_device(Device(name, "Cisco 8845", capf_auth_hash=DIGEST, capf_auth_failures=3))
        first = CapfRecord("Failure: mismatch", failures=4, expect_failures=3)
        assert uow.record_capf(name, first) is True
        # a second judge that also read 3 does not overwrite the 4
        stale = CapfRecord("Failure: other", failures=4, expect_failures=3)
        assert uow.record_capf(name, stale) is False
        lock = CapfRecord("Failure: locked", failures=5, locked_at=at(9), expect_failures=4)
        assert uow.record_capf(name, lock) is True
    with repo.unit_of_work() as uow:
        device = uow.get_device(name)
        assert device is not None
        assert (device.capf_auth_failures, device.capf_locked_at) == (5, at(9))
        assert device.capf_status == "Failure: locked"
        assert device.capf_auth_hash == DIGEST
        # an administrator scheduling again: the whole row, unlocked
        uow.put_device(replace(device, capf_auth_failures=0, capf_locked_at=None))
    with repo.unit_of_work() as uow:
        device = uow.get_device(name)
        assert device is not None
        assert (device.capf_auth_failures, device.capf_locked_at) == (0, None)


# -- parameters, audit, alerts, tokens --------------------------------------------------------


def test_params(repo: SqlRepository) -> None:
    with repo.unit_of_work() as uow:
        assert uow.get_params() == {}
        uow.set_param("ClusterSecurityMode", "0")
        uow.set_param("RollbackToPreCUCM8", "False")
        uow.set_param("ClusterSecurityMode", "1")
        uow.set_param("Beschreibung", "Grüße ☎")
    with repo.unit_of_work() as uow:
        assert uow.get_params() == {
            "ClusterSecurityMode": "1",
            "RollbackToPreCUCM8": "False",
            "Beschreibung": "Grüße ☎",
        }


def test_audit_is_newest_first_with_a_limit(repo: SqlRepository) -> None:
    entries = [AuditEntry(at(i // 2), "admin", f"action {i}", f"détail {i}") for i in range(7)]
    with repo.unit_of_work() as uow:
        for entry in entries:
            uow.append_audit(entry)
    with repo.unit_of_work() as uow:
        assert uow.list_audit() == entries[::-1]  # equal times: insertion order decides
        assert uow.list_audit(limit=3) == entries[::-1][:3]
        assert uow.list_audit(limit=0) == []


def test_alerts_open_refresh_clear(repo: SqlRepository) -> None:
    with repo.unit_of_work() as uow:
        uow.raise_alert("backup", "take a backup", at(0))
        uow.raise_alert("ctl", "CTL is old", at(1))
        uow.raise_alert("backup", "take a backup now", at(2))  # refreshes the open one
    with repo.unit_of_work() as uow:
        alerts = uow.list_alerts()
        assert [(a.kind, a.message, a.raised_at) for a in alerts] == [
            ("backup", "take a backup now", at(2)),
            ("ctl", "CTL is old", at(1)),
        ]
        assert all(a.cleared_at is None for a in alerts)
        assert uow.clear_alert("backup", at(3)) is True
        assert uow.clear_alert("backup", at(4)) is False
        assert uow.clear_alert("never", at(4)) is False
        assert [a.kind for a in uow.list_alerts()] == ["ctl"]
        uow.raise_alert("backup", "again", at(5))  # a new one; the cleared one is history
    with repo.unit_of_work() as uow:
        history = uow.list_alerts(open_only=False)
        assert [(a.kind, a.message, a.cleared_at) for a in history] == [
            ("backup", "again", None),
            ("backup", "take a backup now", at(3)),
            ("ctl", "CTL is old", None),
        ]
        assert len(uow.list_alerts()) == 2


def test_token_counters(repo: SqlRepository) -> None:
    with repo.unit_of_work() as uow:
        assert uow.get_token_counter("12345678") == TokenCounter("12345678", 0, False)
        uow.put_token_counter(TokenCounter("12345678", 2))
        uow.put_token_counter(TokenCounter("12345678", 15, locked=True))
        uow.put_token_counter(TokenCounter("99", 1))
    with repo.unit_of_work() as uow:
        assert uow.get_token_counter("12345678") == TokenCounter("12345678", 15, True)
        assert uow.get_token_counter("99") == TokenCounter("99", 1, False)


# -- the published file plan -------------------------------------------------------------------


def test_publish_versions_and_reading_old_ones(repo: SqlRepository) -> None:
    big = bytes(range(256)) * 400
    with repo.unit_of_work() as uow:
        assert uow.current_version() == 0
        assert uow.published_file("a", "ITLFile.tlv") is None
        assert uow.published_names("a") == {}
        v1 = uow.publish(
            {
                ("a", "ITLFile.tlv"): b"itl-1",
                ("a", "SEP001122AABBCC.cnf.xml.sgn"): big,
                ("b", "ITLFile.tlv"): b"",
            }
        )
    with repo.unit_of_work() as uow:
        v2 = uow.publish({("a", "ITLFile.tlv"): b"itl-2", ("a", "CTLFile.tlv"): b"ctl"})
    assert (v1, v2) == (1, 2)
    with repo.unit_of_work() as uow:
        assert uow.current_version() == 2
        assert uow.published_file("a", "ITLFile.tlv") == b"itl-2"
        assert uow.published_file("a", "ITLFile.tlv", 1) == b"itl-1"
        assert uow.published_file("a", "SEP001122AABBCC.cnf.xml.sgn", 1) == big
        assert uow.published_file("a", "SEP001122AABBCC.cnf.xml.sgn") is None
        assert uow.published_file("b", "ITLFile.tlv", 1) == b""
        assert uow.published_file("a", "ITLFile.tlv", 3) is None
        assert uow.published_names("a") == {"CTLFile.tlv": 3, "ITLFile.tlv": 5}
        assert uow.published_names("a", 1) == {
            "ITLFile.tlv": 5,
            "SEP001122AABBCC.cnf.xml.sgn": len(big),
        }
        assert uow.published_names("b") == {}
        assert uow.published_names("b", 1) == {"ITLFile.tlv": 0}
        assert uow.publish({}) == 3  # an empty plan is a version too
        assert uow.published_names("a") == {}


def test_concurrent_publishers_get_consecutive_versions(repo: SqlRepository) -> None:
    """Two repositories (two engines, as two processes would have) publish at once."""
    other = SqlRepository(repo.url)
    errors: list[BaseException] = []
    got: list[int] = []

    def publish_many(repository: SqlRepository, node_name: str) -> None:
        try:
            for i in range(8):
                with repository.unit_of_work() as uow:
                    got.append(uow.publish({(node_name, "f"): str(i).encode()}))
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread
            errors.append(exc)

    threads = [
        threading.Thread(target=publish_many, args=(repo, "a")),
        threading.Thread(target=publish_many, args=(other, "b")),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    other.close()
    assert errors == []
    assert sorted(got) == list(range(1, 17))
    with repo.unit_of_work() as uow:
        assert uow.current_version() == 16


def test_a_node_keeps_its_uid_across_updates_and_renames(repo: SqlRepository) -> None:
    with repo.unit_of_work() as uow:
        uow.put_node(node("pub", "10.0.0.1", publisher=True))
        uow.put_node(node("sub", "10.0.0.2"))
        uid = uow.node_uid("pub")
        assert uid is not None
        assert uid != uow.node_uid("sub")
        uow.put_node(node("pub", "10.0.0.9", publisher=True))
        assert uow.node_uid("pub") == uid
    with repo.unit_of_work() as uow:
        uow.rename_node("pub", node("pub2", "10.0.0.9", publisher=True))
    with repo.unit_of_work() as uow:
        assert uow.node_uid("pub") is None
        assert uow.node_uid("pub2") == uid
        found = uow.node_by_uid(uid)
        assert found is not None
        assert found.host == "pub2"
        assert uow.node_by_uid("no-such-uid") is None


def test_key_vault_and_sealed_keys_round_trip(repo: SqlRepository) -> None:
    at = datetime(2026, 12, 3, tzinfo=UTC)
    with repo.unit_of_work() as uow:
        assert uow.get_key_vault() is None
        uow.put_key_vault(KeyVault(b"salt", b"wrapped", b"p12", at))
        uow.put_sealed_key("bb", b"sealed-b", at)
        uow.put_sealed_key("aa", b"sealed-a", at)
    with repo.unit_of_work() as uow:
        assert uow.get_key_vault() == KeyVault(b"salt", b"wrapped", b"p12", at)
        uow.put_key_vault(KeyVault(b"salt2", b"wrapped2", b"p122", at))
        assert uow.get_sealed_key("aa") == b"sealed-a"
        assert uow.get_sealed_key("cc") is None
        assert list(uow.list_sealed_keys()) == ["aa", "bb"]
        assert uow.delete_sealed_key("aa")
        assert not uow.delete_sealed_key("aa")
    with repo.unit_of_work() as uow:
        vault = uow.get_key_vault()
        assert vault is not None
        assert vault.salt == b"salt2"
        assert uow.list_sealed_keys() == {"bb": b"sealed-b"}


def test_tftp_extra_files(repo: SqlRepository) -> None:
    at = datetime(2026, 12, 3, tzinfo=UTC)
    with repo.unit_of_work() as uow:
        uow.put_tftp_extra("ring.raw", b"one", at)
        uow.put_tftp_extra("fw.bin", b"two", at)
        uow.put_tftp_extra("ring.raw", b"three", at)
    with repo.unit_of_work() as uow:
        assert uow.list_tftp_extra() == {"fw.bin": b"two", "ring.raw": b"three"}
        assert uow.delete_tftp_extra("fw.bin")
        assert not uow.delete_tftp_extra("fw.bin")

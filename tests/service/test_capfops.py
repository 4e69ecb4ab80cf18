"""CAPF's use cases on a real two-node cluster: decisions (F1, H6), issuance, records.

The service is driven directly here, as the CAPF server drives it; the
protocol has its own tests and tests/net/test_capf_server.py runs both
together over TLS.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

from phonetrust.errors import LocalError
from phonetrust.pki.lsc import common_name
from phonetrust.policy import capfauth
from phonetrust.policy.capfauth import AUTH_FAILED, MAX_FAILURES, lock_alert
from phonetrust.policy.domain import (
    CapfAuthMode,
    CapfOperation,
    CertName,
    Device,
    TrustStore,
)
from phonetrust.protocols.capf.client import PrivateKey
from phonetrust.protocols.capf.messages import (
    CertificateBlob,
    CertificateType,
    Curve,
    KeySpec,
    Reason,
)
from phonetrust.protocols.capf.server import (
    AuthInput,
    Decision,
    Operation,
    Outcome,
    Proceed,
    Refuse,
)
from phonetrust.service import inventory, nodes, truststores
from phonetrust.service.capfops import (
    CapfService,
    CapfStoreError,
    capf_identity,
    load_capf_service,
    status_text,
)
from phonetrust.service.context import Context
from phonetrust.store.keys import KeyStore
from phonetrust.store.repository import UnitOfWork
from phonetrust.testing.pki import Identity, make_identity, plain_name, rsa_key
from tests.service.conftest import Lab

NAME = "SEP001122334455"
OTHER = "SEP0011223344AA"
ENCRYPTED = "Encrypted Phone Profile with TFTP Encryption"
PHONE_KEY = ec.generate_private_key(ec.SECP256R1())
MANUFACTURING = make_identity(
    x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "Cisco Manufacturing CA SHA2")]),
    slot=11,
)
ROGUE_CA = make_identity(
    x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "Cisco Manufacturing CA SHA2")]),
    slot=12,
)


def mic(device: str = NAME, issuer: Identity = MANUFACTURING) -> bytes:
    return make_identity(
        plain_name(f"CP-8845-{device}"), issuer=issuer, slot=13
    ).certificate.public_bytes(serialization.Encoding.DER)


@pytest.fixture
def service(lab: Lab) -> Iterator[CapfService]:
    found = load_capf_service(lab.ctx, "cucm-pub", republish_delay=None)
    yield found
    found.close()


def add(lab: Lab, name: str = NAME, profile: str | None = None) -> None:
    device = Device(name, "8845") if profile is None else Device(name, "8845", profile=profile)
    inventory.add_devices(lab.ctx, [device])


def schedule(
    lab: Lab,
    name: str = NAME,
    *,
    operation: CapfOperation = CapfOperation.INSTALL,
    mode: CapfAuthMode = CapfAuthMode.NULL_STRING,
    auth_string: str = "",
    key: str = "EC-P256",
) -> None:
    inventory.schedule_capf(
        lab.ctx, name, operation=operation, auth_mode=mode, auth_string=auth_string, key=key
    )


def pending(name: str) -> Device:
    """A new device with an install by null string pending (added without a schedule)."""
    return Device(
        name,
        "8845",
        capf_operation=CapfOperation.INSTALL,
        capf_auth_mode=CapfAuthMode.NULL_STRING,
        capf_key="EC-P256",
    )


def device(lab: Lab, name: str = NAME) -> Device:
    with lab.ctx.repo.unit_of_work() as uow:
        found = uow.get_device(name)
    assert found is not None
    return found


def decide(
    service: CapfService, name: str, auth: AuthInput, now: datetime, source: str | None = None
) -> Decision:
    """What the CAPF server asks first, as it asks it."""
    return service.submit_decide(name, auth, now, source).result()


def record(service: CapfService, outcome: Outcome) -> None:
    service.submit_record(outcome).result()


def fail(service: CapfService, name: str, info: str) -> None:
    record(service, Outcome(name, Operation.INSTALL, False, Reason.INVALID_ELEMENT, info))


def fetched(service: CapfService, name: str, blob: CertificateBlob) -> None:
    record(service, Outcome(name, Operation.FETCH, True, Reason.NO_ACTION, "", blob, True))


def enrol(
    service: CapfService,
    name: str = NAME,
    auth: AuthInput | None = None,
    key: PrivateKey = PHONE_KEY,
) -> x509.Certificate:
    """Decide, issue and record an install, as the server would."""
    decision = decide(service, name, auth or AuthInput(name), service.now())
    spec = KeySpec.of_key(key.public_key())
    assert decision == Proceed(Operation.INSTALL, spec), decision
    lsc = service.issue(name, key.public_key())
    blob = CertificateBlob(CertificateType.LSC, lsc.public_bytes(serialization.Encoding.DER))
    record(
        service, Outcome(name, Operation.INSTALL, True, Reason.UPDATE_CERTIFICATE, "", blob, True)
    )
    return lsc


def presenting(kind: CertificateType, der: bytes, name: str = NAME) -> AuthInput:
    return AuthInput(name, certificate=CertificateBlob(kind, der))


def refused(decision: object, *fragments: str) -> None:
    assert isinstance(decision, Refuse), decision
    for fragment in fragments:
        assert fragment in decision.info, (fragment, decision.info)


# -- identity, unknown devices, nothing pending ------------------------------------------------


class CountingKeys(KeyStore):
    gets = 0

    def get(self, cert_der: bytes, uow: UnitOfWork | None = None) -> PrivateKeyTypes:
        CountingKeys.gets += 1
        return super().get(cert_der, uow)


def test_the_capf_key_is_loaded_once_for_all_enrolments(lab: Lab) -> None:
    keys = CountingKeys(lab.ctx.repo, lab.where.cluster_key(lab.ctx.repo, lab.ctx.now()))
    ctx = Context(lab.ctx.repo, keys, lab.clock)
    inventory.add_devices(lab.ctx, [pending(n) for n in (NAME, OTHER, "SEP0011223344BB")])
    CountingKeys.gets = 0
    service = load_capf_service(ctx, "cucm-pub", republish_delay=None)
    try:
        for name in (NAME, OTHER, "SEP0011223344BB"):
            enrol(service, name)
        assert CountingKeys.gets == 1  # (closing republishes the plan: that signs with others)
    finally:
        service.close()
    cert, key = capf_identity(lab.ctx, "cucm-pub")
    assert cert == service.certificate
    assert key.public_key() == cert.public_key()
    assert common_name(cert).startswith("CAPF-")


def test_unknown_devices_are_told_what_a_wrong_string_is_and_nothing_pending_ends_at_once(
    lab: Lab, service: CapfService
) -> None:
    add(lab)
    now = service.now()
    refused(decide(service, "SEP0000000000FF", AuthInput("SEP0000000000FF"), now), "unknown")
    assert decide(service, "CSFUSER01", AuthInput("CSFUSER01"), now) == Refuse(
        Reason.INVALID_ELEMENT, "unknown device CSFUSER01", told=AUTH_FAILED
    )
    decision = decide(service, "sep001122334455", AuthInput("x"), now)
    assert isinstance(decision, Refuse)
    assert (decision.reason, decision.told) == (Reason.INVALID_ELEMENT, AUTH_FAILED)
    assert decide(service, NAME, AuthInput(NAME), now) == Proceed(Operation.NONE)
    assert status_text(device(lab)) == "None"


def test_every_refusal_before_authentication_looks_the_same(
    lab: Lab, service: CapfService, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Unknown, wrong string, locked, expired: one reason, one text, one verification each."""
    hashed: list[str] = []
    real = capfauth._scrypt

    def counting(text: str, salt: bytes, n: int, r: int, p: int) -> bytes:
        hashed.append(text)
        return real(text, salt, n, r, p)

    add(lab)
    inventory.add_devices(lab.ctx, [Device(OTHER, "8845")])
    schedule(lab, mode=CapfAuthMode.AUTH_STRING, auth_string="2468")
    schedule(lab, OTHER, mode=CapfAuthMode.AUTH_STRING, auth_string="1357")
    for _ in range(MAX_FAILURES):
        decide(service, OTHER, typed("0000", OTHER), service.now())
    monkeypatch.setattr(capfauth, "_scrypt", counting)
    answers = {
        "unknown": decide(
            service, "SEP0000000000FF", typed("2468", "SEP0000000000FF"), service.now()
        ),
        "wrong": decide(service, NAME, typed("1111", NAME), service.now()),
        "locked": decide(service, OTHER, typed("1357", OTHER), service.now()),
    }
    assert len(hashed) == 3
    lab.later(timedelta(days=11).total_seconds())
    answers["expired"] = decide(service, NAME, typed("2468", NAME), service.now())
    assert len(hashed) == 4
    for why, decision in answers.items():
        assert isinstance(decision, Refuse), why
        assert (decision.reason, decision.told) == (Reason.INVALID_ELEMENT, AUTH_FAILED), why
    refused(answers["unknown"], "unknown device")  # the log still says why
    refused(answers["wrong"], "mismatch")
    refused(answers["locked"], "locked")


# -- the lock after wrong strings ---------------------------------------------------------------


def typed(text: str, name: str = NAME) -> AuthInput:
    """What a phone sends after the user typed ``text`` as the authentication string."""
    return AuthInput(name, password=text)


def audit_of(lab: Lab, action: str) -> list[str]:
    with lab.ctx.repo.unit_of_work() as uow:
        return [e.detail for e in uow.list_audit(1000) if e.action == action]


def open_alerts(lab: Lab) -> dict[str, str]:
    with lab.ctx.repo.unit_of_work() as uow:
        return {a.kind: a.message for a in uow.list_alerts(open_only=True)}


def test_five_wrong_strings_lock_until_the_operation_is_scheduled_again(
    lab: Lab, service: CapfService
) -> None:
    add(lab)
    schedule(lab, mode=CapfAuthMode.AUTH_STRING, auth_string="2468")
    for n in range(1, MAX_FAILURES):
        refused(decide(service, NAME, AuthInput(NAME, password=f"{n:04}"), service.now()))
        assert device(lab).capf_auth_failures == n
        assert device(lab).capf_locked_at is None
    last = decide(service, NAME, typed("9999", NAME), service.now(), "192.0.2.7")
    refused(last, "mismatch")
    locked = device(lab)
    assert locked.capf_auth_failures == MAX_FAILURES
    assert locked.capf_locked_at == service.now()
    assert locked.capf_status.startswith("Failure: locked after 5 wrong authentication strings")
    assert audit_of(lab, "capf install")[0] == (
        f"{NAME}: authentication string mismatch (5 of 5) (from 192.0.2.7)"
    )
    (entry,) = audit_of(lab, "capf lock")
    assert NAME in entry
    assert "192.0.2.7" in entry
    assert lock_alert(NAME) in open_alerts(lab)
    audited = len(audit_of(lab, "capf install"))
    # the right string, and more guesses: refused unchecked, nothing written
    for guess in ("2468", "0000", "2468"):
        refused(decide(service, NAME, AuthInput(NAME, password=guess), service.now()), "locked")
    assert device(lab) == locked
    assert len(audit_of(lab, "capf install")) == audited
    assert len(audit_of(lab, "capf lock")) == 1
    # a restart (a new service, as serve builds) keeps the lock: it is in the database
    again = load_capf_service(lab.ctx, "cucm-pub", republish_delay=None)
    try:
        refused(decide(again, NAME, typed("2468", NAME), again.now()), "locked")
    finally:
        again.close()
    # only scheduling again unlocks: a new string, the count from zero, the alert cleared
    schedule(lab, mode=CapfAuthMode.AUTH_STRING, auth_string="97531")
    fresh = device(lab)
    assert (fresh.capf_auth_failures, fresh.capf_locked_at) == (0, None)
    assert lock_alert(NAME) not in open_alerts(lab)
    refused(decide(service, NAME, typed("2468", NAME), service.now()), "mismatch")
    enrol(service, auth=typed("97531", NAME))
    assert device(lab).capf_operation is CapfOperation.NONE


def test_two_nodes_judging_at_once_share_one_count_and_one_lock(lab: Lab) -> None:
    """Two services on one database (two nodes' serve) race wrong strings: no count is lost."""
    add(lab)
    schedule(lab, mode=CapfAuthMode.AUTH_STRING, auth_string="2468")
    services = [load_capf_service(lab.ctx, "cucm-pub", republish_delay=None) for _ in range(2)]
    try:
        futures = [
            services[i % 2].submit_decide(NAME, AuthInput(NAME, password=f"{i:04}"), lab.ctx.now())
            for i in range(12)
        ]
        decisions = [f.result() for f in futures]
        right = decide(services[0], NAME, typed("2468", NAME), lab.ctx.now())
    finally:
        for s in services:
            s.close()
    assert all(isinstance(d, Refuse) for d in [*decisions, right])
    locked = device(lab)
    assert locked.capf_auth_failures == MAX_FAILURES
    assert locked.capf_locked_at is not None
    assert len(audit_of(lab, "capf lock")) == 1
    assert locked.lsc is None


def test_a_right_string_after_wrong_ones_resets_the_count(lab: Lab, service: CapfService) -> None:
    add(lab)
    schedule(lab, mode=CapfAuthMode.AUTH_STRING, auth_string="2468")
    for guess in ("1111", "2222", "3333"):
        decide(service, NAME, AuthInput(NAME, password=guess), service.now())
    assert isinstance(decide(service, NAME, typed("2468", NAME), service.now()), Proceed)
    assert device(lab).capf_auth_failures == 0
    fail(service, NAME, "the phone went away")


def test_scheduling_stores_only_a_hash(lab: Lab) -> None:
    add(lab)
    schedule(lab, mode=CapfAuthMode.AUTH_STRING, auth_string="24681357")
    stored = device(lab).capf_auth_hash
    assert capfauth.is_hash(stored)
    assert "24681357" not in stored
    assert capfauth.verify_auth_string(stored, "24681357")
    with pytest.raises(LocalError, match="4 to 10 digits"):
        schedule(lab, mode=CapfAuthMode.AUTH_STRING, auth_string="12")
    schedule(lab, mode=CapfAuthMode.NULL_STRING)
    assert device(lab).capf_auth_hash == ""


# -- F1: install by null string, the LSC on the record -----------------------------------------


def test_a_null_string_install_stores_the_lsc_and_clears_the_operation(
    lab: Lab, service: CapfService
) -> None:
    add(lab)
    schedule(lab)
    assert status_text(device(lab)) == "Operation Pending"
    lsc = enrol(service)
    after = device(lab)
    assert after.lsc == lsc.public_bytes(serialization.Encoding.DER)
    assert after.capf_operation is CapfOperation.NONE
    assert after.capf_expires is None
    assert after.capf_status == "Upgrade Success"
    assert status_text(after) == "Upgrade Success"
    assert lsc.issuer == service.certificate.subject
    with lab.ctx.repo.unit_of_work() as uow:
        entries = uow.list_audit(5)
    assert any(e.who == "CAPF" and e.action == "capf install" and NAME in e.detail for e in entries)


def test_the_authentication_string_must_match_and_is_used_once(
    lab: Lab, service: CapfService
) -> None:
    add(lab)
    right, wrong = "2468", "1357"
    schedule(lab, mode=CapfAuthMode.AUTH_STRING, auth_string=right)
    now = service.now()
    refused(decide(service, NAME, AuthInput(NAME, password=wrong), now), "mismatch")
    refused(decide(service, NAME, AuthInput(NAME), now), "mismatch")
    after = device(lab)
    assert after.lsc is None
    assert after.capf_status == "Failure: authentication string mismatch"
    assert status_text(after) == (
        "Operation Pending (last attempt: Failure: authentication string mismatch)"
    )
    assert device(lab).capf_auth_failures == 2
    enrol(service, auth=AuthInput(NAME, password=right))
    assert (device(lab).capf_auth_hash, device(lab).capf_auth_failures) == ("", 0)
    inventory.update_device(
        lab.ctx, NAME, capf_operation=CapfOperation.INSTALL
    )  # string not renewed
    refused(decide(service, NAME, AuthInput(NAME, password=right), now), "already used")


def test_an_expired_operation_is_refused_and_says_so(lab: Lab, service: CapfService) -> None:
    add(lab)
    schedule(lab)  # the CAPF expiry parameter: 10 days
    lab.later(timedelta(days=10, minutes=1).total_seconds())
    decision = decide(service, NAME, AuthInput(NAME), service.now())
    refused(decision, "operation expired")
    assert isinstance(decision, Refuse)
    assert decision.reason is Reason.INVALID_ELEMENT
    assert device(lab).capf_status == "Failure: operation expired"


def test_an_unusable_key_setting_fails_the_operation(lab: Lab, service: CapfService) -> None:
    add(lab)
    schedule(lab, key="DSA-1024")
    refused(decide(service, NAME, AuthInput(NAME), service.now()), "Unknown key")


@pytest.mark.parametrize(
    ("key", "spec"),
    [("RSA-2048", KeySpec.rsa(2048)), ("EC-P384", KeySpec.ec(Curve.P384))],
)
def test_the_device_key_setting_is_what_the_phone_is_asked_for(
    lab: Lab, service: CapfService, key: str, spec: KeySpec
) -> None:
    add(lab)
    schedule(lab, key=key)
    assert decide(service, NAME, AuthInput(NAME), service.now()) == Proceed(Operation.INSTALL, spec)


# -- H6: by existing certificate ---------------------------------------------------------------


def test_lsc_first_accepts_an_lsc_of_this_cluster_current_or_earlier(
    lab: Lab, service: CapfService
) -> None:
    add(lab)
    schedule(lab)
    old_lsc = enrol(service).public_bytes(serialization.Encoding.DER)
    lab.later(600)
    nodes.regenerate(lab.ctx, "cucm-pub", CertName.CAPF)
    renewed = load_capf_service(lab.ctx, "cucm-pub", republish_delay=None)
    try:
        assert renewed.certificate != service.certificate
        schedule(lab, mode=CapfAuthMode.EXISTING_LSC_FIRST)
        now = renewed.now()
        auth = presenting(CertificateType.LSC, old_lsc)
        assert decide(renewed, NAME, auth, now) == Proceed(
            Operation.INSTALL, KeySpec.ec(Curve.P256)
        )
        renewed.release(NAME)
        forged = make_identity(service.certificate.subject, slot=14)  # same name, another key
        fake = make_identity(plain_name(NAME), issuer=forged, slot=15).certificate
        refused(
            decide(
                renewed,
                NAME,
                presenting(CertificateType.LSC, fake.public_bytes(serialization.Encoding.DER)),
                now,
            ),
            "not issued by a CAPF certificate of this cluster",
        )
        not_ours = renewed.issue(OTHER, PHONE_KEY.public_key())  # an LSC of another device
        refused(
            decide(
                renewed,
                NAME,
                presenting(CertificateType.LSC, not_ours.public_bytes(serialization.Encoding.DER)),
                now,
            ),
            "belongs to",
        )
        # precedence to LSC: the device has one, so its MIC will not do
        truststores.upload(lab.ctx, TrustStore.CAPF, MANUFACTURING.certificate)
        reloaded = load_capf_service(lab.ctx, "cucm-pub", republish_delay=None)
        try:
            refused(
                decide(reloaded, NAME, presenting(CertificateType.MIC, mic()), now),
                "precedence to LSC",
            )
            refused(decide(reloaded, NAME, AuthInput(NAME), now), "no LSC or MIC")
            problem = AuthInput(NAME, certificate_problem="SIGNED DATA does not verify")
            refused(decide(reloaded, NAME, problem, now), "SIGNED DATA does not verify")
        finally:
            reloaded.close()
    finally:
        renewed.close()


def test_mic_first_trusts_mics_through_capf_trust(lab: Lab) -> None:
    add(lab)
    schedule(lab, mode=CapfAuthMode.EXISTING_MIC_FIRST)
    before = load_capf_service(lab.ctx, "cucm-pub", republish_delay=None)
    try:
        refused(
            decide(before, NAME, presenting(CertificateType.MIC, mic()), before.now()),
            "not issued by a certificate in CAPF-trust",
        )
    finally:
        before.close()
    truststores.upload(lab.ctx, TrustStore.CAPF, MANUFACTURING.certificate)
    service = load_capf_service(lab.ctx, "cucm-pub", republish_delay=None)
    try:
        now = service.now()
        refused(
            decide(service, NAME, presenting(CertificateType.MIC, mic(issuer=ROGUE_CA)), now),
            "CAPF-trust",
        )
        refused(
            decide(service, NAME, presenting(CertificateType.MIC, mic(OTHER)), now), "belongs to"
        )
        enrol(service, auth=presenting(CertificateType.MIC, mic()))
        assert device(lab).capf_status == "Upgrade Success"
        # MIC first, but the phone has no MIC on record: its LSC will do
        schedule(lab, mode=CapfAuthMode.EXISTING_MIC_FIRST)
        lsc = device(lab).lsc
        assert lsc is not None
        auth = presenting(CertificateType.LSC, lsc)
        assert isinstance(decide(service, NAME, auth, now), Proceed)
        service.release(NAME)
        # ... unless the MIC is on record: then precedence to MIC
        inventory.update_device(lab.ctx, NAME, mic=mic())
        refused(decide(service, NAME, auth, now), "precedence to MIC")
        lab.later(timedelta(days=6 * 365).total_seconds())
        schedule(lab, mode=CapfAuthMode.EXISTING_MIC_FIRST)
        refused(
            decide(service, NAME, presenting(CertificateType.MIC, mic()), service.now()), "expired"
        )
    finally:
        service.close()


# -- sessions, outcomes ------------------------------------------------------------------------


def test_a_second_session_for_a_device_waits_for_the_first(lab: Lab, service: CapfService) -> None:
    add(lab)
    schedule(lab)
    now = service.now()
    assert isinstance(decide(service, NAME, AuthInput(NAME), now), Proceed)
    assert service.active() == [NAME]
    refused(decide(service, NAME, AuthInput(NAME), now), "under way")
    service.release(NAME)
    assert isinstance(decide(service, NAME, AuthInput(NAME), now), Proceed)
    fail(service, NAME, "the phone went away")
    assert service.active() == []


def test_a_failure_keeps_the_operation_pending_with_its_reason(
    lab: Lab, service: CapfService
) -> None:
    add(lab)
    schedule(lab)
    decide(service, NAME, AuthInput(NAME), service.now())
    failed = Outcome(NAME, Operation.INSTALL, False, Reason.INVALID_ELEMENT, "no answer in 30 s")
    service.submit_record(failed).result()
    after = device(lab)
    assert after.capf_operation is CapfOperation.INSTALL
    assert after.capf_status == "Failure: no answer in 30 s"
    assert status_text(after) == "Operation Pending (last attempt: Failure: no answer in 30 s)"
    fail(service, "SEP0000000000FF", "unknown")  # nothing to record, and no error


def test_delete_and_fetch_record_their_outcomes(lab: Lab, service: CapfService) -> None:
    add(lab)
    schedule(lab)
    enrol(service)
    schedule(lab, operation=CapfOperation.FETCH)
    assert decide(service, NAME, AuthInput(NAME), service.now()) == Proceed(Operation.FETCH)
    lsc = device(lab).lsc
    assert lsc is not None
    fetched(service, NAME, CertificateBlob(CertificateType.LSC, lsc))
    assert device(lab).lsc == lsc
    assert device(lab).capf_status == "Troubleshoot Success"
    # an untrusted MIC is reported, never kept for encryption
    schedule(lab, operation=CapfOperation.FETCH)
    decide(service, NAME, AuthInput(NAME), service.now())
    fetched(service, NAME, CertificateBlob(CertificateType.MIC, mic()))
    assert device(lab).mic is None
    schedule(lab, operation=CapfOperation.DELETE)
    assert decide(service, NAME, AuthInput(NAME), service.now()) == Proceed(Operation.DELETE)
    deleted = Outcome(NAME, Operation.DELETE, True, Reason.UPDATE_CERTIFICATE, "Delete Success")
    service.submit_record(deleted).result()
    after = device(lab)
    assert after.lsc is None
    assert after.capf_operation is CapfOperation.NONE
    assert status_text(after) == "Delete Success"


# -- the file plan -----------------------------------------------------------------------------


def test_an_encrypted_profile_gets_its_enc_sgn_with_the_lsc(lab: Lab, service: CapfService) -> None:
    add(lab, profile=ENCRYPTED)
    schedule(lab)  # EC-P256: encrypted configuration is wrapped with RSA
    refused(decide(service, NAME, AuthInput(NAME), service.now()), "needs an RSA key")
    schedule(lab, key="RSA-1024")
    assert lab.file("cucm-pub", f"{NAME}.cnf.xml.enc.sgn") is None
    enrol(service, key=rsa_key(1024, slot=3))
    assert lab.file("cucm-pub", f"{NAME}.cnf.xml.enc.sgn") is not None
    assert lab.file("cucm-sub1", f"{NAME}.cnf.xml.enc.sgn") is not None


def test_other_configurations_are_republished_once_capf_is_idle(lab: Lab) -> None:
    add(lab)
    schedule(lab)
    pending = lab.file("cucm-pub", f"{NAME}.cnf.xml")
    assert pending is not None
    assert b"<capfAuthMode>2</capfAuthMode>" in pending
    service = load_capf_service(lab.ctx, "cucm-pub", republish_delay=0.05)
    try:
        with lab.ctx.repo.unit_of_work() as uow:
            version = uow.current_version()
        enrol(service)
        deadline = time.monotonic() + 10
        while lab.file("cucm-pub", f"{NAME}.cnf.xml") == pending and time.monotonic() < deadline:
            time.sleep(0.02)
        done = lab.file("cucm-pub", f"{NAME}.cnf.xml")
        assert done is not None
        assert b"<capfAuthMode>0</capfAuthMode>" in done
        with lab.ctx.repo.unit_of_work() as uow:
            assert uow.current_version() == version + 1  # one publish, not one per result
    finally:
        service.close()


def test_results_queued_together_commit_together(lab: Lab, service: CapfService) -> None:
    names = [f"SEP00112233{i:04X}" for i in range(12)]
    inventory.add_devices(lab.ctx, [pending(n) for n in names])
    for name in names:
        assert isinstance(decide(service, name, AuthInput(name), service.now()), Proceed)
    gate, inside = threading.Event(), threading.Event()

    def wait(_txn: Any) -> None:
        inside.set()
        gate.wait(10)

    blocker = service.writer.submit(wait)  # holds the database thread for the test
    assert inside.wait(10)
    futures = [
        service.submit_record(
            Outcome(
                n,
                Operation.INSTALL,
                True,
                Reason.UPDATE_CERTIFICATE,
                "Upgrade Success",
                CertificateBlob(
                    CertificateType.LSC,
                    service.issue(n, PHONE_KEY.public_key()).public_bytes(
                        serialization.Encoding.DER
                    ),
                ),
                recordable=True,
            )
        )
        for n in names
    ]
    gate.set()
    blocker.result()
    for future in futures:
        future.result()
    with lab.ctx.repo.unit_of_work() as uow:
        installs = [e for e in uow.list_audit(20) if e.action == "capf install"]
        assert all(uow.get_device(n).capf_status == "Upgrade Success" for n in names)  # type: ignore[union-attr]
    assert len(installs) == 1
    assert installs[0].detail.startswith("12 devices: ")
    assert all(name in installs[0].detail for name in names)
    assert service.active() == []


def test_a_closed_service_refuses_work(lab: Lab) -> None:
    service = load_capf_service(lab.ctx, "cucm-pub")
    service.close()
    with pytest.raises(CapfStoreError, match="the CAPF service is closed"):
        decide(service, NAME, AuthInput(NAME), service.now())

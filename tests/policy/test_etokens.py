"""The CTL client's eToken rules: password counter (D3), two tokens (D3), D5 refusal."""

from __future__ import annotations

import ipaddress

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from phonetrust.errors import LocalError
from phonetrust.formats.record import ETOKEN_DNS_NAME
from phonetrust.formats.tags import Role
from phonetrust.formats.trustlist import TrustList, build_trust_list
from phonetrust.policy import etokens
from phonetrust.policy.domain import Node
from phonetrust.policy.trustlists import NodeCerts, ctl_records
from phonetrust.testing.pki import Identity, make_identity, plain_name

D5_TEXT = (
    "The Security Token you have inserted does not exist in the CTL File Please remove any "
    "Security Tokens already inserted and insert another Security Token. Click Ok when done."
)


def token(slot: int) -> Identity:
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, f"SAST-ADN{slot:08x} "),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "IPCBU"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Cisco Systems, Inc."),
        ]
    )
    return make_identity(subject, bits=1024, slot=slot)


PUB = Node("cucm-pub", ipaddress.IPv4Address("10.0.0.10"), publisher=True)
CALLMANAGER = make_identity(plain_name("cucm-pub"), slot=1)
CAPF = make_identity(plain_name("CAPF-1234abcd"), slot=2)
NODES = [NodeCerts(PUB, CALLMANAGER.certificate, None, CAPF.certificate)]
T1, T2, T3 = token(11), token(12), token(13)


def der(identity: Identity) -> bytes:
    return identity.certificate.public_bytes(Encoding.DER)


def tokenless_ctl() -> TrustList:
    records = ctl_records(NODES, CALLMANAGER.certificate, PUB)
    return build_trust_list(CALLMANAGER.signer, records, filename="CTLFile.tlv", timestamp=0)


def hardware_ctl(signer: Identity, *others: Identity) -> TrustList:
    records = etokens.hardware_ctl_records(
        NODES, PUB, signer.certificate, [o.certificate for o in others]
    )
    return build_trust_list(signer.signer, records, filename="CTLFile.tlv", timestamp=0)


# -- password counter -----------------------------------------------------------------


def test_a_wrong_password_warns_how_many_tries_remain() -> None:
    outcome = etokens.password_attempt(0, False, correct=False)
    assert (outcome.failures, outcome.locked, outcome.accepted) == (1, False, False)
    assert outcome.tries_left == 14
    assert outcome.message == (
        "The password is incorrect. You have 14 attempts left before the eToken is locked."
    )


def test_the_last_try_is_singular() -> None:
    outcome = etokens.password_attempt(13, False, correct=False)
    assert outcome.message == (
        "The password is incorrect. You have 1 attempt left before the eToken is locked."
    )


def test_fifteen_wrong_passwords_lock_the_token_for_good() -> None:
    failures, locked = 0, False
    for _ in range(14):
        outcome = etokens.password_attempt(failures, locked, correct=False)
        failures, locked = outcome.failures, outcome.locked
        assert not locked
    outcome = etokens.password_attempt(failures, locked, correct=False)
    assert (outcome.failures, outcome.locked) == (15, True)
    assert outcome.message == etokens.LOCKED_TEXT
    assert outcome.message.startswith("The eToken is locked")
    after = etokens.password_attempt(outcome.failures, outcome.locked, correct=True)
    assert after.locked
    assert not after.accepted
    assert after.message == etokens.LOCKED_TEXT
    assert after.tries_left == 0


def test_a_right_password_resets_the_counter() -> None:
    outcome = etokens.password_attempt(9, False, correct=True)
    assert outcome.accepted
    assert outcome.message is None
    assert (outcome.failures, outcome.locked, outcome.tries_left) == (0, False, 15)


# -- two tokens -----------------------------------------------------------------------


def test_mixed_mode_needs_two_distinct_tokens() -> None:
    with pytest.raises(etokens.TooFewTokens, match="Add Tokens") as caught:
        etokens.require_enough_tokens([T1.certificate])
    assert isinstance(caught.value, LocalError)
    with pytest.raises(etokens.TooFewTokens):
        etokens.require_enough_tokens([T1.certificate, T1.certificate])  # the same token twice
    etokens.require_enough_tokens([T1.certificate, T2.certificate])


# -- D5 -------------------------------------------------------------------------------


def test_d5_refusal_text_is_the_clients() -> None:
    assert D5_TEXT == etokens.NOT_IN_CTL_TEXT
    with pytest.raises(etokens.TokenNotInCtl) as caught:
        etokens.require_token_in_ctl(tokenless_ctl(), T1.certificate)
    assert str(caught.value) == D5_TEXT


def test_a_token_listed_in_the_ctl_may_sign_and_without_ctl_any_may() -> None:
    ctl = hardware_ctl(T1, T2)
    etokens.require_token_in_ctl(ctl, T1.certificate)
    etokens.require_token_in_ctl(ctl, T2.certificate)  # the backup token may sign the update
    with pytest.raises(etokens.TokenNotInCtl):
        etokens.require_token_in_ctl(ctl, T3.certificate)
    etokens.require_token_in_ctl(None, T3.certificate)  # CTLFile.tlv deleted


def test_tokens_are_compared_by_certificate_not_by_name() -> None:
    same_name = make_identity(T1.certificate.subject, bits=1024, slot=99)
    with pytest.raises(etokens.TokenNotInCtl):
        etokens.require_token_in_ctl(hardware_ctl(T1, T2), same_name.certificate)


# -- records --------------------------------------------------------------------------


def test_hardware_ctl_lists_the_signer_token_first_then_backups_then_servers() -> None:
    ctl = hardware_ctl(T2, T1, T2)
    assert [r.role for r in ctl.records] == [Role.SAST, Role.SAST, Role.CCM_TFTP, Role.CAPF]
    assert ctl.records[0].matches_certificate(der(T2))
    assert ctl.records[1].matches_certificate(der(T1))
    for record in ctl.records[:2]:
        assert record.dns_name == ""
        assert record.value(2) == ETOKEN_DNS_NAME
        assert record.ip_address == ipaddress.IPv4Address(0)
    assert ctl.verify().verified
    assert ctl.verify().signer_record == 0
    assert [c.public_bytes(Encoding.DER) for c in etokens.ctl_tokens(ctl)] == [der(T2), der(T1)]


def test_a_tokenless_ctl_lists_no_etokens() -> None:
    assert etokens.ctl_tokens(tokenless_ctl()) == []
    assert etokens.ctl_tokens(None) == []
    assert not etokens.is_etoken(tokenless_ctl().records[0])

"""The hardware-eToken CTL client on a real cluster with SoftHSM tokens: D3, D4, D5."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from phonetrust.formats.tags import Role
from phonetrust.pki.etoken import TokenInfo, TokenLocked, WrongTokenPassword
from phonetrust.policy import etokens
from phonetrust.policy.domain import CertName, SecurityMode, TrustStore
from phonetrust.service import ctlclient, security, truststores
from phonetrust.service.changes import reading
from phonetrust.testing.softhsm import SoftHsm, softhsm_available, softhsm_tokens
from tests.service.conftest import Lab
from tests.service.helpers import current, roles, signed_by, trust_list

pytestmark = pytest.mark.skipif(not softhsm_available(), reason="SoftHSM is not installed")

NODES = ("cucm-pub", "cucm-sub1")


@pytest.fixture(scope="module")
def hsm() -> Iterator[SoftHsm]:
    with softhsm_tokens(3) as made:
        yield made


@pytest.fixture
def tokens(hsm: SoftHsm) -> list[TokenInfo]:
    return hsm.token_infos()


def der(token: TokenInfo) -> bytes:
    assert token.certificate is not None
    return token.certificate


def ctl_of(lab: Lab, node: str = "cucm-pub") -> bytes | None:
    return lab.file(node, "CTLFile.tlv")


def test_mixed_mode_with_two_tokens_puts_both_in_the_ctl_signed_by_the_first(
    lab: Lab, hsm: SoftHsm, tokens: list[TokenInfo]
) -> None:
    out = ctlclient.tokens_set_mixed_mode(lab.ctx, tokens[:2], hsm.tokens[0].pin)
    assert out == [
        "10.0.0.10\t/usr/local/cm/tftp/CTLFile.tlv\tPassed",
        "10.0.0.11\t/usr/local/cm/tftp/CTLFile.tlv\tPassed",
        ctlclient.RESTART_ALL,
    ]
    data = ctl_of(lab)
    assert data is not None
    assert all(ctl_of(lab, n) == data for n in NODES)
    ctl = trust_list(data)
    assert roles(ctl) == [Role.SAST, Role.SAST, Role.CCM_TFTP, Role.CCM_TFTP, Role.CAPF]
    assert signed_by(ctl, tokens[0].x509_certificate())
    assert ctl.records[0].matches_certificate(der(tokens[0]))
    assert ctl.records[1].matches_certificate(der(tokens[1]))
    assert [r.dns_name for r in ctl.records[:2]] == ["", ""]
    # As the hardware CTL client writes them (reference 004): no per-record SIGNATURE.
    assert all(r.certificate_signature is None for r in ctl.records)
    with reading(lab.ctx) as uow:
        state = uow.get_cluster()
        assert state is not None
        assert state.security_mode is SecurityMode.MIXED
    listing = lab.admin("show ctl", node="cucm-sub1")
    assert "SAST-ADN" in listing
    assert listing.count("This etoken was used to sign the CTL file.") == 1
    assert listing.rstrip().endswith("The CTL file was verified successfully.")


def test_one_token_is_not_enough(lab: Lab, hsm: SoftHsm, tokens: list[TokenInfo]) -> None:
    with pytest.raises(etokens.TooFewTokens, match="Add Tokens"):
        ctlclient.tokens_set_mixed_mode(lab.ctx, tokens[:1], hsm.tokens[0].pin)
    with pytest.raises(etokens.TooFewTokens):
        ctlclient.tokens_set_mixed_mode(lab.ctx, [tokens[0], tokens[0]], hsm.tokens[0].pin)
    assert ctl_of(lab) is None


def test_wrong_passwords_count_per_token_and_lock_it_at_fifteen(
    lab: Lab, hsm: SoftHsm, tokens: list[TokenInfo]
) -> None:
    signing, pin = tokens[0], hsm.tokens[0].pin
    with pytest.raises(WrongTokenPassword) as caught:
        ctlclient.tokens_set_mixed_mode(lab.ctx, tokens[:2], "wrong")
    assert str(caught.value) == (
        "The password is incorrect. You have 14 attempts left before the eToken is locked."
    )
    ctlclient.tokens_set_mixed_mode(lab.ctx, tokens[:2], pin)  # a right one resets
    with lab.ctx.repo.unit_of_work() as uow:
        assert uow.get_token_counter(signing.serial).failures == 0
    for left in range(14, 0, -1):
        with pytest.raises(WrongTokenPassword, match=f"You have {left} attempt"):
            ctlclient.tokens_update_ctl(lab.ctx, signing, "wrong")
    published = ctl_of(lab)
    with pytest.raises(TokenLocked, match="The eToken is locked"):
        ctlclient.tokens_update_ctl(lab.ctx, signing, "wrong")
    with pytest.raises(TokenLocked):
        ctlclient.tokens_update_ctl(lab.ctx, signing, pin)  # locked for good
    with lab.ctx.repo.unit_of_work() as uow:
        counter = uow.get_token_counter(signing.serial)
        assert (counter.failures, counter.locked) == (15, True)
        assert uow.get_token_counter(tokens[1].serial).failures == 0
    assert ctl_of(lab) == published
    # The backup token still signs (D3: any token of the CTL).
    ctlclient.tokens_update_ctl(lab.ctx, tokens[1], hsm.tokens[1].pin)
    assert signed_by(trust_list(ctl_of(lab)), tokens[1].x509_certificate())


def test_backup_token_updates_and_add_tokens_adds_a_third(
    lab: Lab, hsm: SoftHsm, tokens: list[TokenInfo]
) -> None:
    ctlclient.tokens_set_mixed_mode(lab.ctx, tokens[:2], hsm.tokens[0].pin)
    with pytest.raises(etokens.TokenNotInCtl):
        ctlclient.tokens_update_ctl(lab.ctx, tokens[2], hsm.tokens[2].pin)
    ctlclient.tokens_update_ctl(lab.ctx, tokens[1], hsm.tokens[1].pin, extra=[tokens[2]])
    ctl = trust_list(ctl_of(lab))
    assert signed_by(ctl, tokens[1].x509_certificate())
    sast = [r for r in ctl.records if r.role is Role.SAST]
    assert [r.certificate_der for r in sast] == [der(tokens[1]), der(tokens[0]), der(tokens[2])]


def test_d5_a_token_absent_from_the_tokenless_ctl_is_refused(
    lab: Lab, hsm: SoftHsm, tokens: list[TokenInfo]
) -> None:
    lab.admin("utils ctl set-cluster mixed-mode", "y")
    before = ctl_of(lab)
    with pytest.raises(etokens.TokenNotInCtl) as caught:
        ctlclient.tokens_update_ctl(lab.ctx, tokens[0], hsm.tokens[0].pin, extra=[tokens[1]])
    assert str(caught.value) == (
        "The Security Token you have inserted does not exist in the CTL File Please remove any "
        "Security Tokens already inserted and insert another Security Token. Click Ok when done."
    )
    assert ctl_of(lab) == before


def test_d5_procedure_then_d4_back_to_tokenless(
    lab: Lab, hsm: SoftHsm, tokens: list[TokenInfo]
) -> None:
    lab.admin("utils ctl set-cluster mixed-mode", "y")
    for node in NODES:
        lab.admin("file delete tftp CTLFile.tlv", "y", node=node)
    for n, token in enumerate(tokens[:2], 1):
        truststores.upload(lab.ctx, TrustStore.PHONE_SAST, token.x509_certificate(), f"eToken {n}")
    out = ctlclient.tokens_update_ctl(lab.ctx, tokens[1], hsm.tokens[1].pin, extra=[tokens[0]])
    assert out[0] == etokens.NO_CTL_ON_SERVER
    data = ctl_of(lab)
    assert data is not None
    assert ctl_of(lab, "cucm-sub1") == data
    ctl = trust_list(data)
    assert signed_by(ctl, tokens[1].x509_certificate())
    assert [r.certificate_der for r in ctl.records if r.role is Role.SAST] == [
        der(tokens[1]),
        der(tokens[0]),
    ]
    with lab.ctx.repo.unit_of_work() as uow:
        sast_trust = {c.der for c in uow.list_trusted(TrustStore.PHONE_SAST)}
    assert {der(t) for t in tokens[:2]} <= sast_trust

    # D4: `utils ctl update CTLFile` re-signs with the publisher key and drops every eToken.
    security.update_ctl(lab.ctx, "cucm-pub")
    tokenless = trust_list(ctl_of(lab))
    callmanager = current(lab.ctx, "cucm-pub", CertName.CALLMANAGER)
    assert signed_by(tokenless, callmanager)
    assert roles(tokenless) == [Role.SAST, Role.CCM_TFTP, Role.CCM_TFTP, Role.CAPF]
    assert tokenless.records[0].matches_certificate(callmanager.public_bytes(Encoding.DER))
    assert etokens.ctl_tokens(tokenless) == []

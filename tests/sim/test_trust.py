"""The simulated phone's trust decisions, scenario by scenario (spec/scenarios.md A-H)."""

from __future__ import annotations

import pytest

from phonetrust.errors import LocalError
from phonetrust.formats.algorithms import Digest
from phonetrust.formats.tags import Role
from phonetrust.formats.trustlist import TrustList
from phonetrust.policy import phone_configs as configs
from phonetrust.policy import phone_trust as trust
from phonetrust.policy.phone_console import secd
from phonetrust.policy.phone_decisions import (
    CTL_AND_ITL_INSTALLED,
    CTL_INSTALLED,
    CTL_UPDATE_FAILED,
    ERASING,
    HOST_NOT_FOUND,
    ITL_INSTALLED,
    NO_TRUST_LIST,
    TRUST_LIST_UPDATE_FAILED,
    TRUST_LIST_UPDATED,
    TRUST_LIST_VERIFICATION_FAILED,
    Purpose,
    Reason,
    TrustState,
    TvsReply,
    Verdict,
    Via,
)
from phonetrust.policy.phone_trust import Decision, PhoneTrust
from phonetrust.sim import console
from phonetrust.sim.console import PhoneLog
from tests.sim import (
    ENC_NAME,
    PUBLISHER_IP,
    SGN_NAME,
    T0,
    config_xml,
    ctl,
    der,
    enc,
    itl,
    phone,
    sgn,
    world,
)

VOUCH_CM = TvsReply(True, (Role.SAST, Role.CCM_TFTP))
REFUSE = TvsReply(False, (), 0)
LATER = T0 + 3600


def texts(decision: Decision) -> list[str]:
    return [f"{line.process}: {line.text}" for line in decision.console]


def booted(model_name: str = "8845") -> PhoneTrust:
    """A phone that took the cluster's ITL on first use, then its signed configuration."""
    w = world()
    first = trust.on_itl(phone(model_name, tvs_servers=()), itl(w.cm, recovery=w.recovery), T0)
    assert first.accepted
    assert first.via is Via.TOFU
    configured = configs.on_signed_config(first.state, sgn(w.cm), T0)
    assert configured.accepted
    return configured.state


def ask_tvs(decision: Decision, tvs_cert: bytes, answer: TvsReply | None) -> Decision:
    """What the I/O layer does with a pending decision: check the server, then resume."""
    assert decision.pending
    assert decision.need_tvs is not None
    server = trust.check_tvs_server(decision.state, tvs_cert, address=PUBLISHER_IP)
    return decision.resume_with_tvs(answer if server.accepted else None, LATER)


# -- A2 A3 A4 ------------------------------------------------------------------


def test_a2_no_lists_trusts_the_first_ctl_then_the_itl_through_it() -> None:
    w = world()
    fresh = phone()
    assert trust.status_summary(fresh) == NO_TRUST_LIST
    got_ctl = trust.on_ctl(fresh, ctl(w.cm), T0)
    assert got_ctl.accepted
    assert got_ctl.via is Via.TOFU
    assert got_ctl.status == (CTL_INSTALLED,)
    assert got_ctl.state.trust_state is TrustState.CTL_ONLY
    got_itl = trust.on_itl(got_ctl.state, itl(w.cm), T0)
    assert got_itl.via is Via.TRUST_LIST  # A3: the CTL's CCM+TFTP record signs it
    assert got_itl.status == (CTL_AND_ITL_INSTALLED,)
    assert trust.status_summary(got_itl.state) == CTL_AND_ITL_INSTALLED


def test_a2_no_lists_trusts_the_first_itl_whoever_signed_it() -> None:
    got = trust.on_itl(phone(), itl(world().cm2), T0)
    assert (got.via, got.status) == (Via.TOFU, (ITL_INSTALLED,))
    assert (
        "SECD: tlVerify: no trust list in force, trusting ITLSEP001122334455.tlv on first use"
        in texts(got)
    )


def test_a3_with_a_ctl_only_an_itl_signed_by_its_tftp_record_is_taken() -> None:
    w = world()
    state = phone(ctl_bytes=ctl(w.token1, cm=w.cm, tokens=(w.token1, w.token2)))
    assert trust.on_itl(state, itl(w.cm), T0).via is Via.TRUST_LIST
    by_token = trust.on_itl(state, itl(w.token2, cm=w.cm), T0)  # a SAST of the CTL, not TFTP
    assert by_token.reason is Reason.SIGNER_UNKNOWN
    by_stranger = trust.on_itl(state, itl(w.cm2), T0)
    assert by_stranger.verdict is Verdict.REJECTED
    assert by_stranger.need_tvs is None  # no ITL yet: no TVS to ask
    assert by_stranger.status == (TRUST_LIST_UPDATE_FAILED,)
    assert by_stranger.state == state


def test_a4_signer_in_the_ctl_or_in_the_itl() -> None:
    w = world()
    state = phone(ctl_bytes=ctl(w.cm), itl_bytes=itl(w.cm, recovery=w.recovery))
    new_ctl = trust.on_ctl(state, ctl(w.cm, timestamp=T0 + 1), T0)
    assert (new_ctl.via, new_ctl.status) == (Via.TRUST_LIST, (TRUST_LIST_UPDATED,))
    assert "SECD: findByIssuerAndSerialAndRoleInTL: found in CTL file, role SAST" in texts(new_ctl)
    itl_only = phone(itl_bytes=itl(w.cm))
    via_itl = trust.on_ctl(itl_only, ctl(w.cm), T0)
    assert via_itl.via is Via.TRUST_LIST
    assert "SECD: findByIssuerAndSerialAndRoleInTL: found in ITL file, role SAST" in texts(via_itl)
    assert via_itl.status == (CTL_AND_ITL_INSTALLED,)


def test_a4_unknown_signer_goes_to_tvs_which_vouches_and_the_cache_is_flushed() -> None:
    w = world()
    state = booted()
    seeded = trust.check_https_server(state, der(w.tomcat), T0)
    state = ask_tvs(seeded, der(w.tvs), TvsReply(True, (Role.APP_SERVER,))).state
    assert len(state.tvs_cache) == 1
    pending = trust.on_itl(state, itl(w.cm2, recovery=w.recovery), LATER)
    assert pending.verdict is Verdict.PENDING
    assert pending.need_tvs is not None
    assert pending.need_tvs.purpose is Purpose.ITL_SIGNER
    assert pending.need_tvs.certificate == der(w.cm2)
    assert pending.state == state  # nothing changes while TVS is asked
    assert "SECD: setupSocketToTvsProxy: Connected to TVS proxy server" in texts(pending)
    done = ask_tvs(pending, der(w.tvs), VOUCH_CM)
    assert (done.via, done.status) == (Via.TVS, (TRUST_LIST_UPDATED,))
    assert done.state.itl == TrustList.from_wire(itl(w.cm2, recovery=w.recovery))
    assert dict(done.state.tvs_cache) == {}  # H2
    assert "SECD: tvsFlushCertCache: Completed TVS Certificate cache flush request" in texts(done)


def test_a4_tvs_refusal_keeps_the_old_lists() -> None:
    w = world()
    state = booted()
    refused = ask_tvs(trust.on_itl(state, itl(w.cm2), LATER), der(w.tvs), REFUSE)
    assert (refused.reason, refused.status) == (Reason.TVS_REFUSED, (TRUST_LIST_UPDATE_FAILED,))
    assert refused.state == state
    wrong_role = ask_tvs(
        trust.on_itl(state, itl(w.cm2), LATER), der(w.tvs), TvsReply(True, (Role.APP_SERVER,))
    )
    assert wrong_role.reason is Reason.TVS_REFUSED
    assert "TVS vouches for roles: APP-SERVER" in wrong_role.detail


def test_unchanged_and_corrupt_lists() -> None:
    w = world()
    state = phone(itl_bytes=itl(w.cm))
    same = trust.on_itl(state, itl(w.cm), T0)
    assert (same.via, same.status, same.state) == (Via.UNCHANGED, (), state)
    garbage = trust.on_itl(state, b"\x01\x02junk", T0)
    assert garbage.reason is Reason.MALFORMED
    assert garbage.status == (TRUST_LIST_VERIFICATION_FAILED,)
    tampered = bytearray(itl(w.cm, timestamp=T0 + 5))
    tampered[-1] ^= 1
    bad = trust.on_itl(state, bytes(tampered), T0)
    assert bad.reason is Reason.BAD_SIGNATURE
    assert any("File sign verify FAILED" in text for text in texts(bad))
    wrong_kind = trust.on_ctl(state, itl(w.cm), T0)
    assert wrong_kind.reason is Reason.MALFORMED


# -- B: certificate changes -------------------------------------------------------


def test_b1_new_callmanager_key_vouched_by_tvs_then_configs_verify() -> None:
    w = world()
    state = booted()
    assert state.tvs_servers == ((PUBLISHER_IP, 2445),)
    assert configs.on_signed_config(state, sgn(w.cm2), LATER).reason is Reason.SIGNER_UNKNOWN
    accepted = ask_tvs(
        trust.on_itl(state, itl(w.cm2, recovery=w.recovery), LATER), der(w.tvs), VOUCH_CM
    )
    assert accepted.accepted
    config = configs.on_signed_config(accepted.state, sgn(w.cm2), LATER)
    assert (config.via, config.content) == (Via.TRUST_LIST, config_xml())
    assert "SECD: verifyFile: verify SUCCESS </usr/ram/SEP001122334455.cnf.xml>" in texts(config)
    old = configs.on_signed_config(accepted.state, sgn(w.cm), LATER)
    assert old.reason is Reason.SIGNER_UNKNOWN
    assert old.status == (f"invalid file {SGN_NAME}, authenticated fail.",)


def test_b2_callmanager_and_tvs_both_new_lock_the_phone() -> None:
    w = world()
    state = booted()
    new_itl = itl(w.cm2, tvs=w.tvs2, recovery=w.recovery)
    pending = trust.on_itl(state, new_itl, LATER)
    server = trust.check_tvs_server(state, der(w.tvs2), address=PUBLISHER_IP)
    assert server.reason is Reason.TVS_SERVER_UNTRUSTED
    assert "SECD: EROR:verifyCertWithHashFromTL: cert hash and hash in TL MISMATCH" in texts(server)
    locked = ask_tvs(pending, der(w.tvs2), VOUCH_CM)
    assert (locked.reason, locked.status) == (Reason.TVS_UNAVAILABLE, (TRUST_LIST_UPDATE_FAILED,))
    assert locked.state == state
    config = configs.on_signed_config(locked.state, sgn(w.cm2, config_xml("10.9.9.9")), LATER)
    assert config.verdict is Verdict.REJECTED
    assert locked.state.tvs_servers == ((PUBLISHER_IP, 2445),)  # settings do not reach the phone
    https = ask_tvs(trust.check_https_server(state, der(w.tomcat), LATER), der(w.tvs2), VOUCH_CM)
    assert (https.reason, https.display) == (Reason.TVS_UNAVAILABLE, HOST_NOT_FOUND)


def test_tvs_server_matching_the_itl_is_used() -> None:
    w = world()
    ok = trust.check_tvs_server(booted(), der(w.tvs), address=PUBLISHER_IP)
    assert ok.accepted
    assert texts(ok)[-2:] == [
        "SECD: verifyCertWithHashFromTL: cert hash and hash in TL MATCH",
        f"SECD: tvs_cert_vfy: TVS cert verified with hash from TL, <{PUBLISHER_IP}>",
    ]


# -- C: ITL recovery ------------------------------------------------------------------


def test_c1_reset_itl_signed_by_itlrecovery_unlocks_a_locked_phone() -> None:
    w = world()
    locked = booted()  # its ITL holds the ITLRecovery SAST record
    reset = itl(w.recovery, cm=w.cm2, tvs=w.tvs2, recovery=w.recovery, timestamp=T0 + 60)
    got = trust.on_itl(locked, reset, LATER)
    assert (got.via, got.status) == (Via.TRUST_LIST, (TRUST_LIST_UPDATED,))
    normal = itl(w.cm2, tvs=w.tvs2, recovery=w.recovery, timestamp=T0 + 120)
    again = trust.on_itl(got.state, normal, LATER)  # the next normally signed ITL
    assert again.via is Via.TRUST_LIST
    assert configs.on_signed_config(again.state, sgn(w.cm2), LATER).accepted
    assert trust.check_tvs_server(again.state, der(w.tvs2)).accepted


def test_c6_reset_does_not_help_a_phone_whose_itl_lacks_itlrecovery() -> None:
    w = world()
    state = phone(itl_bytes=itl(w.cm))  # an ITL from before ITLRecovery
    reset = itl(w.recovery, cm=w.cm2, tvs=w.tvs2, recovery=w.recovery)
    pending = trust.on_itl(state, reset, LATER)
    got = ask_tvs(pending, der(w.tvs2), VOUCH_CM)
    assert got.reason is Reason.TVS_UNAVAILABLE
    assert got.state == state


# -- D: mixed mode ----------------------------------------------------------------------


def test_d3_ctl_signed_by_the_other_etoken_is_accepted() -> None:
    w = world()
    state = phone("7975", ctl_bytes=ctl(w.token1, cm=w.cm, tokens=(w.token1, w.token2)))
    got = trust.on_ctl(state, ctl(w.token2, cm=w.cm, tokens=(w.token1, w.token2)), T0)
    assert (got.via, got.status) == (Via.TRUST_LIST, (TRUST_LIST_UPDATED,))
    d4 = trust.on_ctl(state, ctl(w.cm), T0)  # tokenless: signed by the CCM+TFTP key
    assert d4.via is Via.TRUST_LIST


def test_d7_no_security_by_default_means_no_tvs() -> None:
    w = world()
    state = phone("7960", ctl_bytes=ctl(w.cm))
    got = trust.on_ctl(state, ctl(w.cm2), T0)
    assert (got.reason, got.status) == (Reason.SIGNER_UNKNOWN, (CTL_UPDATE_FAILED,))
    assert got.need_tvs is None
    assert trust.on_itl(state, itl(w.cm), T0).reason is Reason.NOT_SUPPORTED
    assert trust.check_tvs_server(state, der(w.tvs)).reason is Reason.NOT_SUPPORTED
    assert trust.on_ctl(state, ctl(w.cm, timestamp=T0 + 1), T0).accepted


def test_d8_old_models_refuse_a_tftp_server_missing_from_the_ctl() -> None:
    w = world()
    old = phone("7960", ctl_bytes=ctl(w.cm))
    newer = ctl(w.cm, timestamp=T0 + 1)
    refused = trust.on_ctl(old, newer, T0, tftp_server_address="10.0.0.9")
    assert (refused.reason, refused.status) == (Reason.TFTP_NOT_IN_CTL, (CTL_UPDATE_FAILED,))
    assert "tftpClient: 10.0.0.9 is not a secure server" in texts(refused)
    assert trust.on_ctl(old, newer, T0, tftp_server_address="::ffff:10.0.0.1").accepted
    assert trust.on_ctl(old, newer, T0, tftp_server_address="CUCM-PUB").accepted  # DNS name
    config = configs.on_signed_config(old, sgn(w.cm), T0, tftp_server_address="10.0.0.9")
    assert config.reason is Reason.TFTP_NOT_IN_CTL
    current = phone("8845", ctl_bytes=ctl(w.cm))
    assert trust.on_ctl(current, newer, T0, tftp_server_address="10.0.0.9").accepted


# -- E1: rollback ------------------------------------------------------------------------


def test_e1_rollback_itl_then_anything_goes() -> None:
    w = world()
    rolled = trust.on_itl(booted(), itl(w.cm, rollback=True, timestamp=T0 + 1), LATER)
    assert rolled.via is Via.TRUST_LIST
    assert rolled.state.trust_state is TrustState.ROLLBACK_ITL
    assert trust.status_summary(rolled.state) == ITL_INSTALLED
    state = rolled.state
    stranger_config = configs.on_signed_config(state, sgn(w.cm2), LATER)
    assert (stranger_config.via, stranger_config.content) == (Via.UNCHECKED, config_xml())
    assert configs.on_plain_config(state, config_xml()).accepted
    assert trust.on_itl(state, itl(w.cm2), LATER).via is Via.TOFU
    assert trust.on_ctl(state, ctl(w.cm2), LATER).via is Via.TOFU
    assert not trust.can_use_tvs(state)


# -- H7: SHA-512 --------------------------------------------------------------------------


@pytest.mark.parametrize(("model_name", "accepted"), [("7975", False), ("8845", True)])
def test_h7_sha512_signed_config(model_name: str, accepted: bool) -> None:
    w = world()
    state = phone(model_name, itl_bytes=itl(w.cm))
    got = configs.on_signed_config(state, sgn(w.cm, digest=Digest.SHA512), T0)
    assert got.accepted is accepted
    if not accepted:
        assert got.reason is Reason.DIGEST_UNSUPPORTED
        assert "SECD: EROR:verifyFile: digest algorithm SHA-512 not supported by 7975" in texts(got)
    sha512_list = trust.on_itl(phone(model_name), itl(w.cm, digest=Digest.SHA512), T0)
    assert sha512_list.accepted is accepted


# -- A5 A6: configuration --------------------------------------------------------------------


def test_a5_config_updates_the_tvs_list_and_security_mode() -> None:
    w = world()
    state = phone(itl_bytes=itl(w.cm), tvs_servers=())
    got = configs.on_signed_config(state, sgn(w.cm, config_xml("10.0.0.2", security_mode=3)), T0)
    assert got.state.tvs_servers == (("10.0.0.2", 2445),)
    assert got.state.security_mode == 3
    assert got.config is not None
    assert got.config.device_security_mode == 3
    unreadable = configs.on_signed_config(state, sgn(w.cm, b"<html/>"), T0)
    assert unreadable.reason is Reason.CONFIG_UNREADABLE
    assert configs.on_plain_config(state, config_xml()).reason is Reason.UNSIGNED
    assert configs.on_signed_config(state, b"nonsense", T0).reason is Reason.MALFORMED


def test_a5_signer_known_only_as_sast_needs_tvs_for_a_tftp_role() -> None:
    w = world()
    state = booted()  # ITLRecovery is in the ITL, but as SAST only
    pending = configs.on_signed_config(state, sgn(w.recovery), LATER)
    assert pending.need_tvs is not None
    assert pending.need_tvs.purpose is Purpose.CONFIG_SIGNER
    sast_only = ask_tvs(pending, der(w.tvs), TvsReply(True, (Role.SAST,)))
    assert sast_only.reason is Reason.TVS_REFUSED
    as_tftp = ask_tvs(pending, der(w.tvs), TvsReply(True, (Role.TFTP,)))
    assert (as_tftp.via, as_tftp.content) == (Via.TVS, config_xml())
    cached = configs.on_signed_config(as_tftp.state, sgn(w.recovery), LATER + 1)
    assert cached.via is Via.TVS_CACHE


def test_a6_encrypted_config_needs_the_phones_own_key() -> None:
    w = world()
    state = booted()
    right = configs.on_encrypted_config(state, enc(w.cm, w.mic), w.mic.key, LATER)
    assert (right.via, right.content) == (Via.TRUST_LIST, config_xml())
    assert "SECD: decryptFile: decrypt SUCCESS </usr/ram/SEP001122334455.cnf.xml>" in texts(right)
    wrong = configs.on_encrypted_config(state, enc(w.cm, w.other_phone), w.mic.key, LATER)
    assert (wrong.reason, wrong.status) == (
        Reason.CANNOT_DECRYPT,
        (f"invalid file {ENC_NAME}, decryption fail.",),
    )
    no_key = configs.on_encrypted_config(state, enc(w.cm, w.mic), None, LATER)
    assert no_key.reason is Reason.CANNOT_DECRYPT
    unsigned = configs.on_encrypted_config(state, enc(w.cm2, w.mic), w.mic.key, LATER)
    assert unsigned.reason is Reason.SIGNER_UNKNOWN  # signature fails first, distinctly
    jabber = configs.on_encrypted_config(phone("Jabber"), enc(w.cm, w.mic), w.mic.key, LATER)
    assert jabber.reason is Reason.NOT_SUPPORTED


# -- A7: HTTPS and the TVS cache ----------------------------------------------------------------


def test_a7_tvs_answers_are_cached_for_their_ttl() -> None:
    w = world()
    state = booted()
    first = trust.check_https_server(state, der(w.tomcat), LATER, address=PUBLISHER_IP)
    assert first.pending
    assert texts(first)[:4] == [
        "SECD: srvr_cert_vfy: Server Certificate Validation needs to be done",
        "SECD: findByCertAndRoleInTL: Searching TL from ITL file",
        f"SECD: EROR:https_cert_vfy: HTTPS cert not in CTL, <{PUBLISHER_IP}>",
        "SECD: processTvsClntReq: TVS Certificate Authentication request",
    ]
    answered = ask_tvs(first, der(w.tvs), TvsReply(True, (Role.APP_SERVER,), ttl=100))
    assert answered.via is Via.TVS
    assert "SECD: Authenticated the HTTPS conn via TVS" in texts(answered)
    assert (
        "SECD: saveCertToTvsCache: Saving certificate in TVS cache with time-to-live value: "
        "100 seconds" in texts(answered)
    )
    within = trust.check_https_server(answered.state, der(w.tomcat), LATER + 99)
    assert (within.via, within.need_tvs) == (Via.TVS_CACHE, None)
    expired = trust.check_https_server(answered.state, der(w.tomcat), LATER + 100)
    assert expired.pending
    default = ask_tvs(first, der(w.tvs), TvsReply(True, (Role.APP_SERVER,)))
    assert (
        "SECD: saveCertToTvsCache: Saving certificate in TVS cache with default time-to-live "
        "value: 86400 seconds"
    ) in texts(default)
    listed = trust.check_https_server(state, der(w.cm), LATER)
    assert listed.via is Via.TRUST_LIST
    assert trust.check_https_server(phone(), der(w.tomcat), LATER).display == HOST_NOT_FOUND


def test_a7_a_negative_answer_is_not_cached() -> None:
    w = world()
    state = booted()
    refused = ask_tvs(trust.check_https_server(state, der(w.tomcat), LATER), der(w.tvs), REFUSE)
    assert (refused.reason, refused.display) == (Reason.TVS_REFUSED, HOST_NOT_FOUND)
    assert dict(refused.state.tvs_cache) == {}


# -- G2, H1: erase and messages -------------------------------------------------------------------


def test_erase_and_file_not_found() -> None:
    w = world()
    state = phone(ctl_bytes=ctl(w.cm), itl_bytes=itl(w.cm))
    erased = trust.erase(state)
    assert (erased.status, erased.state.trust_state) == ((ERASING,), TrustState.NO_LISTS)
    assert trust.status_summary(erased.state) == NO_TRUST_LIST
    missing = trust.on_file_not_found(erased.state, "CTLFile.tlv")
    assert missing.status == ("File Not Found <CTLFile.tlv>",)


def test_resume_needs_a_pending_decision() -> None:
    with pytest.raises(LocalError):
        trust.erase(phone()).resume_with_tvs(VOUCH_CM, T0)


def test_console_and_status_read_like_a_phone() -> None:
    w = world()
    log = PhoneLog(next_number=1244)
    decision = trust.check_tvs_server(booted(), der(w.tvs), address="14.48.44.80")
    now = 1_700_000_000 + 0.529938  # 22:13:20.529938 UTC
    log = log.record(now, decision.console[:1], (TRUST_LIST_UPDATED,))
    assert log.console_text() == (
        "1244: NOT 22:13:20.529938 SECD: srvr_cert_vfy: "
        "Server Certificate Validation needs to be done\n"
    )
    assert log.status_text() == "22:13:20 Trust List Updated\n"
    assert secd("x").format(now).startswith("NOT 22:13:20.529938 SECD: x")
    capped = PhoneLog()
    for i in range(40):
        capped = capped.record(now + i, (), (str(i),))
    assert len(capped.status) == 30
    assert capped.status[0].text == "10"


def test_console_helpers_for_the_io_layer() -> None:
    now = 1_700_000_000.5
    assert console.tl_request_file("CTLSEP0011215A1AE3.tlv").format(now) == (
        "NOT 22:13:20.500000 SECD: tlRequestFile: Request CTLSEP0011215A1AE3.tlv"
    )
    assert (
        console.tftp_requesting(27, "CTLFile.tlv", "14.48.44.80")
        .format(now)
        .endswith("TFTP: [27]:Requesting CTLFile.tlv from 14.48.44.80")
    )
    assert console.tftp_finished(27, 4762).text == "[27]:Finished --> rcvd 4762 bytes"
    assert "port:2445 (default); Waiting" in console.tvs_connecting("14.48.44.80", 2445).text

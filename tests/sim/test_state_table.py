"""Every cell of the phone's trust table (trust state x input) against the decisions.

Each trust state is a concrete phone whose lists were signed by the known
CallManager key; each input is a real file or certificate. A pending
decision is finished the way the I/O layer will: check the TVS server's
certificate, then resume with the input's TVS answer.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from phonetrust.formats.tags import Role
from phonetrust.policy import phone_configs as configs
from phonetrust.policy import phone_trust as trust
from phonetrust.policy.phone_decisions import Reason, TrustState, TvsReply, Via
from phonetrust.policy.phone_trust import Decision, PhoneTrust
from tests.sim import (
    ENC_NAME,
    PLAIN_NAME,
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
    table,
    world,
)
from tests.sim.table import TABLE, Input

NOW = T0 + 60
W = world()
_CTL = ctl(W.cm)
_ITL = itl(W.cm, recovery=W.recovery)
_ROLLBACK = itl(W.cm, rollback=True)

STATES: dict[TrustState, PhoneTrust] = {
    TrustState.NO_LISTS: phone(),
    TrustState.CTL_ONLY: phone(ctl_bytes=_CTL),
    TrustState.ITL_ONLY: phone(itl_bytes=_ITL),
    TrustState.CTL_AND_ITL: phone(ctl_bytes=_CTL, itl_bytes=_ITL),
    TrustState.ROLLBACK_ITL: phone(itl_bytes=_ROLLBACK),
    TrustState.CTL_AND_ROLLBACK_ITL: phone(ctl_bytes=_CTL, itl_bytes=_ROLLBACK),
}

YES = TvsReply(True, (Role.SAST, Role.CCM_TFTP, Role.APP_SERVER))
NO = TvsReply(False, (), 0)
LATER = T0 + 1  # a list that differs from the installed one

Step = Callable[[PhoneTrust], Decision]

STEPS: dict[Input, tuple[Step, TvsReply | None, str]] = {
    Input.CTL_KNOWN: (lambda s: trust.on_ctl(s, ctl(W.cm, timestamp=LATER), NOW), None, ""),
    Input.CTL_UNKNOWN_TVS_YES: (lambda s: trust.on_ctl(s, ctl(W.cm2), NOW), YES, ""),
    Input.CTL_UNKNOWN_TVS_NO: (lambda s: trust.on_ctl(s, ctl(W.cm2), NOW), NO, ""),
    Input.ITL_KNOWN: (
        lambda s: trust.on_itl(s, itl(W.cm, recovery=W.recovery, timestamp=LATER), NOW),
        None,
        "",
    ),
    Input.ITL_UNKNOWN_TVS_YES: (lambda s: trust.on_itl(s, itl(W.cm2), NOW), YES, ""),
    Input.ITL_UNKNOWN_TVS_NO: (lambda s: trust.on_itl(s, itl(W.cm2), NOW), NO, ""),
    Input.ITL_ROLLBACK: (
        lambda s: trust.on_itl(s, itl(W.cm, rollback=True, timestamp=LATER), NOW),
        None,
        "",
    ),
    Input.CONFIG_KNOWN: (lambda s: configs.on_signed_config(s, sgn(W.cm), NOW), None, SGN_NAME),
    Input.CONFIG_UNKNOWN: (lambda s: configs.on_signed_config(s, sgn(W.cm2), NOW), None, SGN_NAME),
    Input.CONFIG_PLAIN: (
        lambda s: configs.on_plain_config(s, config_xml(), filename=PLAIN_NAME),
        None,
        PLAIN_NAME,
    ),
    Input.ENC_CONFIG: (
        lambda s: configs.on_encrypted_config(s, enc(W.cm, W.mic), W.mic.key, NOW),
        None,
        ENC_NAME,
    ),
    Input.ENC_CONFIG_WRONG_KEY: (
        lambda s: configs.on_encrypted_config(s, enc(W.cm, W.other_phone), W.mic.key, NOW),
        None,
        ENC_NAME,
    ),
    Input.HTTPS_LISTED: (lambda s: trust.check_https_server(s, der(W.cm), NOW), None, ""),
    Input.HTTPS_TVS_YES: (lambda s: trust.check_https_server(s, der(W.tomcat), NOW), YES, ""),
    Input.HTTPS_TVS_NO: (lambda s: trust.check_https_server(s, der(W.tomcat), NOW), NO, ""),
    Input.ERASE: (trust.erase, None, ""),
}

CELLS = [(state, entry) for entry in Input for state in TrustState]


def run(state: TrustState, entry: Input) -> tuple[PhoneTrust, Decision, bool]:
    """The decision for one cell, and whether TVS was asked."""
    before = STATES[state]
    assert before.trust_state is state
    step, answer, _ = STEPS[entry]
    decision = step(before)
    if not decision.pending:
        return before, decision, False
    assert answer is not None, f"{entry.name} in {state.name} asked TVS unexpectedly"
    server = trust.check_tvs_server(decision.state, der(W.tvs), address=PUBLISHER_IP)
    assert server.accepted
    return before, decision.resume_with_tvs(answer, NOW), True


def check(state: TrustState, entry: Input) -> None:
    expect = TABLE[entry][state]
    before, decision, asked = run(state, entry)
    label = f"{entry.name} in {state.name}: {decision}"
    assert decision.accepted is expect.accepted, label
    assert decision.via is expect.via, label
    assert decision.reason is expect.reason, label
    assert decision.state.trust_state is (expect.next or state), label
    status = () if expect.status is None else (expect.status.format(file=STEPS[entry][2]),)
    assert decision.status == status, label
    assert asked is (expect.via is Via.TVS or expect.reason is Reason.TVS_REFUSED), label
    if not decision.accepted:
        assert decision.state == before, label  # a rejection changes nothing
    if decision.accepted and expect.next not in (None, TrustState.NO_LISTS):
        assert not decision.state.tvs_cache, label  # H2


def test_the_table_has_every_cell() -> None:
    assert set(TABLE) == set(Input)
    for row in TABLE.values():
        assert set(row) == set(TrustState)
    assert table.table_text().count("\n") == len(Input) * (len(TrustState) + 1)


@pytest.mark.parametrize(("state", "entry"), CELLS, ids=[f"{s.name}-{i.name}" for s, i in CELLS])
def test_cell(state: TrustState, entry: Input) -> None:
    check(state, entry)


@settings(max_examples=40, deadline=None)
@given(state=st.sampled_from(TrustState), entry=st.sampled_from(Input))
def test_sampled_cells_agree_with_the_table(state: TrustState, entry: Input) -> None:
    check(state, entry)


def test_a_config_never_changes_the_lists() -> None:
    for state in TrustState:
        _, decision, _ = run(state, Input.CONFIG_KNOWN)
        assert decision.state.ctl_file == STATES[state].ctl_file
        assert decision.state.itl_file == STATES[state].itl_file
        assert decision.content == config_xml()

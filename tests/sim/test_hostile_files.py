"""A phone fed hostile bytes: every decision comes back as a verdict, never an exception.

Whatever a TFTP server (or someone on the path) sends - random bytes, a
real list cut short or with bytes flipped - the phone rejects it with a
reason and keeps its lists, or (for a flip outside the signed bytes) takes a
list that still verifies. Random bytes are never accepted.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from phonetrust.formats.sgn import SignedFile
from phonetrust.formats.trustlist import TrustList
from phonetrust.policy import phone_configs as configs
from phonetrust.policy import phone_trust as trust
from phonetrust.policy.phone_decisions import Verdict, Via
from phonetrust.policy.phone_trust import PhoneTrust
from tests.sim import config_xml, ctl, itl, phone, sgn, world

W = world()
ITL = itl(W.cm)
CTL = ctl(W.cm)
SGN = sgn(W.cm)
STATES = {
    "factory": phone(),
    "itl": phone(itl_bytes=ITL),
    "ctl and itl": phone(ctl_bytes=CTL, itl_bytes=ITL),
    "ctl": phone(ctl_bytes=CTL),
}
NOW = 1_800_000_000.0
ORIGINAL_DOCUMENT = config_xml()
ORIGINAL_SGN_SIGNED = SignedFile.from_wire(SGN).signed_bytes()


def _all_decisions(state: PhoneTrust, data: bytes) -> list[trust.Decision]:
    return [
        trust.on_ctl(state, data, NOW),
        trust.on_itl(state, data, NOW),
        configs.on_signed_config(state, data, NOW),
        configs.on_encrypted_config(state, data, W.mic.key, NOW),
        configs.on_plain_config(state, data, filename="SEP001122334455.cnf.xml"),
    ]


@settings(max_examples=150, deadline=None)
@given(name=st.sampled_from(sorted(STATES)), data=st.binary(max_size=3000))
def test_random_bytes_are_never_accepted(name: str, data: bytes) -> None:
    state = STATES[name]
    for decision in _all_decisions(state, data):
        assert decision.verdict is Verdict.REJECTED, decision
        assert decision.reason is not None
        assert decision.state == state


def _mutated(data: bytes, cut: int | None, flips: list[tuple[int, int]]) -> bytes:
    """``data`` cut short (unless ``cut`` is None) and with bytes flipped.

    Whole files are drawn as often as cut ones: a cut file rarely parses, and
    the decisions worth testing are those on files that parse but were changed.
    """
    out = bytearray(data if cut is None else data[: max(1, cut % (len(data) + 1))])
    for at, xor in flips:
        if out:
            out[at % len(out)] ^= xor or 1
    return bytes(out)


@settings(max_examples=150, deadline=None)
@given(
    name=st.sampled_from(sorted(STATES)),
    which=st.sampled_from(["itl", "ctl", "sgn"]),
    cut=st.none() | st.integers(min_value=0, max_value=20_000),
    flips=st.lists(st.tuples(st.integers(0, 20_000), st.integers(0, 255)), min_size=0, max_size=4),
)
def test_cut_or_flipped_files_get_a_verdict(
    name: str, which: str, cut: int | None, flips: list[tuple[int, int]]
) -> None:
    original = {"itl": ITL, "ctl": CTL, "sgn": SGN}[which]
    data = _mutated(original, cut, flips)
    state = STATES[name]
    decisions = dict(
        zip(("ctl", "itl", "sgn", "enc", "plain"), _all_decisions(state, data), strict=True)
    )
    for kind, decision in decisions.items():
        if decision.verdict is not Verdict.ACCEPTED:
            assert decision.reason is not None, (kind, decision)
            assert decision.state == state, "a refused file leaves the phone as it was"
            continue
        assert kind == which, f"{which} bytes accepted as {kind}"
        if decision.via is Via.UNCHECKED:
            assert not state.has_anchors, "only a phone with no trust list skips verification"
        elif kind == "sgn":
            assert decision.content == ORIGINAL_DOCUMENT, "an accepted config is the signed one"
            assert SignedFile.from_wire(data).signed_bytes() == ORIGINAL_SGN_SIGNED, (
                "an accepted config carries exactly the signed bytes of the original"
            )
        else:
            installed = decision.state.ctl if kind == "ctl" else decision.state.itl
            assert installed is not None
            assert installed.signed_bytes() == TrustList.from_wire(original).signed_bytes(), (
                "an accepted list carries exactly the signed bytes of the original"
            )

"""A phone fed hostile bytes: every decision comes back as a verdict, never an exception.

Whatever a TFTP server (or someone on the path) sends - random bytes, a
real list cut short or with bytes flipped - the phone rejects it with a
reason and keeps its lists, or (for a flip outside the signed bytes) takes a
list that still verifies. Random bytes are never accepted.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from phonetrust.sim import configs, trust
from phonetrust.sim.decisions import Verdict
from phonetrust.sim.trust import PhoneTrust
from tests.sim import ctl, itl, phone, sgn, world

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


def _mutated(data: bytes, cut: int, flips: list[tuple[int, int]]) -> bytes:
    out = bytearray(data[: max(1, cut % (len(data) + 1))])
    for at, xor in flips:
        if out:
            out[at % len(out)] ^= xor or 1
    return bytes(out)


@settings(max_examples=150, deadline=None)
@given(
    name=st.sampled_from(sorted(STATES)),
    which=st.sampled_from(["itl", "ctl", "sgn"]),
    cut=st.integers(min_value=0, max_value=20_000),
    flips=st.lists(st.tuples(st.integers(0, 20_000), st.integers(0, 255)), min_size=0, max_size=4),
)
def test_cut_or_flipped_files_get_a_verdict(
    name: str, which: str, cut: int, flips: list[tuple[int, int]]
) -> None:
    original = {"itl": ITL, "ctl": CTL, "sgn": SGN}[which]
    data = _mutated(original, cut, flips)
    state = STATES[name]
    for decision in _all_decisions(state, data):
        assert decision.verdict in (Verdict.ACCEPTED, Verdict.REJECTED, Verdict.PENDING)
        if decision.verdict is Verdict.REJECTED:
            assert decision.state == state, "a refused file leaves the phone as it was"

"""Phones alike boot once: the shortcut must give every phone the verdict its own boot gives.

A varied cluster (two groups, one of them a single server; three models; an
encrypted configuration; phones on both TFTP nodes) meets a change that
moves them differently (B2 on the publisher: some lock, some take the new
ITL through TVS, old models keep what they have). The prediction by class
and the plain one, every phone booted, must agree phone by phone.
"""

from __future__ import annotations

from cryptography.hazmat.primitives.serialization import Encoding

from phonetrust.planner.lastknown import last_known
from phonetrust.planner.offline import Servers
from phonetrust.planner.predict import PhoneVerdict, predict
from phonetrust.policy.domain import Device
from phonetrust.service import inventory
from phonetrust.testing.pki import make_identity, plain_name
from tests.planner.booted import ONE_NODE, add_phones, record_boots
from tests.scenarios.test_a_boot import ENCRYPTED_PROFILE
from tests.service.conftest import Lab

PUB = [("SEP00AA00000001", "8845"), ("SEP00AA00000002", "7960"), ("SEP00AA00000003", "7975")]
MOVED = "SEP00AA00000004"
"""An 8845 like the publisher's first, moved to the one-server group by the change: its
phone holds what its neighbour holds, but will take another configuration."""
LONE = [("SEP00BB00000001", "8845"), ("SEP00BB00000002", "8845"), ("SEP00BB00000003", "7960")]
SUB = [("SEP00CC00000001", "8845"), ("SEP00CC00000002", "7975")]
ENCRYPTED = "SEP00DD00000001"


Facts = tuple[str, str, str, str | None, object]


def _verdicts(lab: Lab, *, alike: bool) -> list[Facts]:
    with lab.ctx.repo.unit_of_work() as uow:
        known = last_known(uow)
        prediction = predict(known, Servers.read(uow), lab.ctx.clock, alike=alike)
    return [_facts(v) for v in prediction.verdicts]


def _facts(v: PhoneVerdict) -> Facts:
    servers = None if v.after is None else v.after.tvs_servers
    return (v.device, v.outcome.key, v.reason, v.itl_md5, servers)


def test_phones_alike_get_the_verdicts_of_their_own_boots(lab: Lab) -> None:
    add_phones(lab, *PUB, (MOVED, "8845"))
    add_phones(lab, *LONE, group=ONE_NODE)
    add_phones(lab, *SUB)
    own = make_identity(plain_name(f"CP-8845-{ENCRYPTED}"), slot=21)
    lsc = own.certificate.public_bytes(Encoding.DER)
    inventory.add_devices(lab.ctx, [Device(ENCRYPTED, "8845", profile=ENCRYPTED_PROFILE, lsc=lsc)])
    record_boots(lab, *(n for n, _ in PUB + LONE), MOVED, ENCRYPTED)
    record_boots(lab, *(n for n, _ in SUB), node="cucm-sub1")
    inventory.update_device(lab.ctx, MOVED, group=ONE_NODE)
    lab.admin("set cert regen CallManager", "yes")
    lab.later(301)
    lab.admin("set cert regen TVS", "yes")

    by_class = _verdicts(lab, alike=True)
    one_by_one = _verdicts(lab, alike=False)
    assert by_class == one_by_one
    outcomes = {facts[1] for facts in one_by_one}
    assert {"locks", "tvs", "keeps"} <= outcomes  # the change moves phones differently

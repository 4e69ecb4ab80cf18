"""Safe procedures: each rule fires on its warned operation, never on a harmless step, and
every procedure is a steps file the planner can read back."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from phonetrust.planner.procedures import (
    RULES,
    ClusterFacts,
    GroupFacts,
    Procedure,
    cluster_facts,
    procedures_for,
    render,
)
from phonetrust.planner.steps import Step, parse_steps
from phonetrust.policy.domain import Device
from phonetrust.policy.params import ROLLBACK
from phonetrust.service import inventory, security
from tests.service.conftest import Lab

ITL_ONLY = ClusterFacts(
    mixed=False,
    publisher="cucm-pub",
    default_node="cucm-pub",
    nodes=("cucm-pub", "cucm-sub1"),
    tftp_nodes=("cucm-pub", "cucm-sub1"),
    tvs_nodes=("cucm-pub", "cucm-sub1"),
    groups=(
        GroupFacts("Default", ("cucm-pub", "cucm-sub1"), 10),
        GroupFacts("Solo", ("cucm-sub1",), 3),
    ),
    rollback=False,
    recovery_exported=True,
    ctl_etokens=0,
    ctl_present=False,
)
MIXED = replace(ITL_ONLY, mixed=True, ctl_present=True)
HARDWARE = replace(MIXED, ctl_etokens=2)
SINGLE = replace(
    ITL_ONLY,
    nodes=("cucm-pub",),
    tftp_nodes=("cucm-pub",),
    tvs_nodes=("cucm-pub",),
    groups=(GroupFacts("Default", ("cucm-pub",), 4),),
)

HARMLESS = [
    "param list",
    "device set SEP001122330001 --setting webAccess=1",
    "cluster show",
    'admin -c "show itl"',
]
REGEN_CM = 'admin -c "set cert regen CallManager"'
REGEN_TVS = 'admin -c "set cert regen TVS"'


def steps(text: str) -> list[Step]:
    return parse_steps(text, "steps.txt")


def titles(found: list[Procedure]) -> list[str]:
    return [p.title for p in found]


def texts(procedure: Procedure) -> list[str]:
    return [s.text for s in procedure.steps]


def reparsed(procedure: Procedure) -> list[tuple[str, ...]]:
    """The procedure's steps written out with Step.text and read back by parse_steps."""
    again = parse_steps("\n".join(s.text for s in procedure.steps), "again")
    assert [s.reboot for s in again] == [s.reboot for s in procedure.steps]
    return [s.argv for s in again]


MOVE = Step(("plan", "--to-cluster", "/srv/other"), "command line", 1)
"""How the planner spells a move (whatif.moved): not a steps-file line."""

CASES: list[tuple[str, str, ClusterFacts, str]] = [
    ("together", f"{REGEN_CM}\n{REGEN_TVS}", ITL_ONLY, "one at a time"),
    ("ctl after regen", REGEN_CM, MIXED, "Update the CTL"),
    ("ctl after CAPF regen", 'admin -c "set cert regen CAPF"', MIXED, "Update the CTL"),
    ("rename lone TVS", "cluster rename-node cucm-sub1 cucm-sub2", ITL_ONLY, "rollback"),
    ("rename single node", "cluster rename-node cucm-pub cucm-pub2", SINGLE, "rollback"),
    ("rename mixed", "cluster rename-node cucm-pub cucm-pub2", MIXED, "update the CTL"),
    ("recovery", 'admin -c "set cert regen ITLRecovery"', ITL_ONLY, "ITLRecovery"),
    ("restore", "backup restore /tmp/cluster.tar", ITL_ONLY, "CallManager.pem"),
    ("tokens back", "ctl-client update --token t1 --add-token t2", MIXED, "back to eTokens"),
    ("tokenless", 'admin -c "utils ctl update CTLFile"', HARDWARE, "tokenless"),
    (
        "mixed mode",
        f'admin -c "utils ctl set-cluster mixed-mode"\n{REGEN_CM}',
        ITL_ONLY,
        "mixed mode",
    ),
    ("non-secure", 'admin -c "utils ctl set-cluster non-secure-mode"', MIXED, "mixed mode"),
]


@pytest.mark.parametrize(
    ("text", "facts", "title"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_each_rule_fires_on_its_operation(text: str, facts: ClusterFacts, title: str) -> None:
    user = steps(text)
    found = procedures_for(user, facts)
    assert any(title in t for t in titles(found)), titles(found)
    for procedure in found:
        assert re.search(r"references? 00\d", procedure.why)
        assert set(procedure.replaces) <= set(user)
        assert reparsed(procedure) == [s.argv for s in procedure.steps]


def test_moving_phones_sets_the_rollback_parameter_first() -> None:
    (procedure,) = procedures_for([MOVE], ITL_ONLY)
    assert texts(procedure) == [f"phonetrust param set '{ROLLBACK}' True", "reboot"]
    assert procedure.replaces == (MOVE,)
    assert any("phone-sast-trust" in a for a in procedure.advice)  # bulk certificates
    assert procedures_for([MOVE], replace(ITL_ONLY, rollback=True)) == []


@pytest.mark.parametrize("facts", [ITL_ONLY, MIXED, HARDWARE, SINGLE])
@pytest.mark.parametrize("line", HARMLESS)
def test_no_rule_fires_on_a_harmless_step(line: str, facts: ClusterFacts) -> None:
    assert procedures_for(steps(line), facts) == []


@pytest.mark.parametrize(
    "text",
    [
        f"{REGEN_CM}\nreboot\n{REGEN_TVS}",  # the safe sequence itself
        REGEN_CM,  # B1: CallManager alone, ITL only
        'admin --node cucm-pub -c "set cert regen CallManager"\n'
        'admin --node cucm-sub1 -c "set cert regen TVS"',  # two nodes
        "cluster rename-node cucm-pub cucm-pub2",  # another TVS in every group with phones
    ],
)
def test_the_safe_sequences_themselves_fire_nothing(text: str) -> None:
    assert procedures_for(steps(text), ITL_ONLY) == []


def test_mixed_regeneration_followed_by_a_ctl_update_is_safe() -> None:
    text = f"{REGEN_CM}\nadmin -c 'utils ctl update CTLFile'\nreboot"
    assert procedures_for(steps(text), MIXED) == []


def test_regenerating_together_puts_a_reboot_between() -> None:
    user = steps(f"{REGEN_TVS}\n{REGEN_CM}")
    (procedure,) = procedures_for(user, ITL_ONLY)
    assert (procedure.steps[1].reboot, procedure.steps[-1].reboot) == (True, True)
    assert [s.argv for s in procedure.steps if not s.reboot] == [s.argv for s in user]
    assert procedure.replaces == tuple(user)


def test_regenerating_together_in_mixed_mode_also_updates_the_ctl() -> None:
    (together, *_) = procedures_for(steps(f"{REGEN_CM}\n{REGEN_TVS}"), MIXED)
    assert "phonetrust admin --node cucm-pub -c 'utils ctl update CTLFile'" in texts(together)


def test_a_hardware_ctl_is_renewed_by_the_ctl_client_advice() -> None:
    (procedure,) = procedures_for(steps(REGEN_CM), HARDWARE)
    assert not any("utils ctl update" in t for t in texts(procedure))
    assert any("ctl-client update --token" in a for a in procedure.advice)


def test_renaming_a_lone_tvs_node_offers_the_rollback_and_a_second_tvs() -> None:
    user = steps("cluster rename-node cucm-sub1 cucm-sub2")
    rollback, second = procedures_for(user, ITL_ONLY)
    assert texts(rollback) == [
        f"phonetrust param set '{ROLLBACK}' True",
        "reboot",
        "phonetrust cluster rename-node cucm-sub1 cucm-sub2",
        "reboot",
        f"phonetrust param set '{ROLLBACK}' False",
        "reboot",
    ]
    assert texts(second) == [
        "phonetrust group set Solo cucm-sub1 cucm-pub",
        "reboot",
        "phonetrust cluster rename-node cucm-sub1 cucm-sub2",
        "reboot",
    ]


def test_renaming_every_node_before_a_reboot_is_split() -> None:
    user = steps("cluster rename-node cucm-pub a\ncluster rename-node cucm-sub1 b")
    facts = replace(ITL_ONLY, groups=ITL_ONLY.groups[:1])
    (procedure,) = procedures_for(user, facts)
    assert texts(procedure) == ["phonetrust cluster rename-node cucm-pub a", "reboot"]


def test_itlrecovery_restarts_tftp_on_every_tftp_node() -> None:
    (procedure,) = procedures_for(steps('admin -c "set cert regen ITLRecovery"'), ITL_ONLY)
    assert texts(procedure)[1:] == [
        "phonetrust admin --node cucm-pub -c 'utils service restart Cisco Tftp'",
        "phonetrust admin --node cucm-sub1 -c 'utils service restart Cisco Tftp'",
        "reboot",
    ]


def test_tokens_back_keeps_the_users_uploads_and_deletes_the_ctl_first() -> None:
    user = steps(
        "truststore upload phone-sast-trust t1.pem\n"
        "truststore upload phone-sast-trust t2.pem\n"
        "ctl-client update --token t1 --add-token t2"
    )
    (procedure,) = procedures_for(user, MIXED)
    assert texts(procedure) == [
        "phonetrust truststore upload phone-sast-trust t1.pem",
        "phonetrust truststore upload phone-sast-trust t2.pem",
        "phonetrust admin --node cucm-pub -c 'file delete tftp CTLFile.tlv'",
        "phonetrust ctl-client update --token t1 --add-token t2",
        "reboot",
    ]
    assert not any("SafeNet" in a for a in procedure.advice)
    assert procedures_for(user, HARDWARE) == []  # a token change keeps the CTL's tokens


def test_leaving_mixed_mode_deletes_the_ctl_on_each_node() -> None:
    (procedure,) = procedures_for(steps('admin -c "utils ctl set-cluster non-secure-mode"'), MIXED)
    assert texts(procedure)[1:] == [
        "phonetrust admin --node cucm-pub -c 'file delete tftp CTLFile.tlv'",
        "phonetrust admin --node cucm-sub1 -c 'file delete tftp CTLFile.tlv'",
        "reboot",
    ]


def test_unexported_itlrecovery_is_advised_before_every_procedure() -> None:
    facts = replace(ITL_ONLY, recovery_exported=False)
    for procedure in procedures_for(steps(f"{REGEN_CM}\n{REGEN_TVS}"), facts):
        assert "file get tftp ITLRecovery.p12" in procedure.advice[0]


def test_render_is_a_steps_file() -> None:
    (procedure,) = procedures_for(steps(f"{REGEN_CM}\n{REGEN_TVS}"), ITL_ONLY)
    again = parse_steps(render(procedure), "rendered")
    assert [s.argv for s in again] == [s.argv for s in procedure.steps]


def test_every_rule_is_named() -> None:
    assert len({name for name, _ in RULES}) == len(RULES)


# -- facts from a real cluster -------------------------------------------------------------


def test_facts_of_the_lab_cluster(lab: Lab) -> None:
    with lab.ctx.repo.unit_of_work() as uow:
        facts = cluster_facts(uow)
    assert facts.publisher == facts.default_node == "cucm-pub"
    assert facts.nodes == ("cucm-pub", "cucm-sub1")
    assert facts.tftp_nodes == facts.tvs_nodes == ("cucm-pub", "cucm-sub1")
    assert (facts.mixed, facts.rollback, facts.recovery_exported) == (False, False, False)
    assert (facts.ctl_present, facts.ctl_etokens) == (False, 0)


def test_facts_follow_the_cluster(lab: Lab) -> None:
    inventory.put_group(lab.ctx, "Solo", ["cucm-sub1"])
    inventory.add_devices(lab.ctx, [Device("SEP001122334455", "7975", group="Solo")])
    inventory.set_param(lab.ctx, ROLLBACK, "True")
    security.recovery_exported(lab.ctx, "cucm-pub", "sftp://backup")
    lab.admin("utils ctl set-cluster mixed-mode", "y")
    with lab.ctx.repo.unit_of_work() as uow:
        facts = cluster_facts(uow, default_node="cucm-sub1")
    assert facts.default_node == "cucm-sub1"
    assert (facts.mixed, facts.rollback, facts.recovery_exported, facts.ctl_present) == (
        True,
        True,
        True,
        True,
    )
    assert GroupFacts("Solo", ("cucm-sub1",), 1) in facts.groups
    assert [g.name for g in facts.lone_tvs_groups("cucm-sub1")] == ["Solo"]
    assert titles(procedures_for(steps(REGEN_CM), facts)) == [
        "Update the CTL after regenerating CallManager of cucm-sub1"
    ]


def test_a_lone_tvs_group_from_the_lab_makes_renaming_need_the_rollback(lab: Lab) -> None:
    inventory.put_group(lab.ctx, "Solo", ["cucm-sub1"])
    inventory.add_devices(lab.ctx, [Device("SEP001122334455", "7975", group="Solo")])
    with lab.ctx.repo.unit_of_work() as uow:
        facts = cluster_facts(uow)
    found = procedures_for(steps("cluster rename-node cucm-sub1 cucm-sub2"), facts)
    assert ["rollback" in p.title for p in found] == [True, False]


# -- never raises --------------------------------------------------------------------------

LINES = [
    *HARMLESS,
    REGEN_CM,
    REGEN_TVS,
    'admin -c "set cert regen CAPF"',
    'admin -c "set cert regen ITLRecovery"',
    'admin --node cucm-sub1 -c "SET CERT REGEN tvs"',
    'admin -c "set cert regen"',
    'admin -c ""',
    'admin --node -c -c "utils ctl update CTLFile"',
    'admin -c "utils ctl set-cluster mixed-mode"',
    'admin -c "utils ctl set-cluster non-secure-mode"',
    'admin -c "utils service restart Cisco Tftp"',
    'admin -c "file delete tftp CTLFile.tlv"',
    "cluster rename-node cucm-pub",
    "cluster rename-node cucm-sub1 x --domain y.example",
    "cluster rename-node --domain",
    "ctl-client update --token a",
    "ctl-client set-mixed-mode --token a --token b",
    "ctl-client tokens",
    "truststore upload phone-sast-trust t.pem",
    "backup restore a.tar",
    "group set G cucm-pub",
    "reboot",
]
FACTS = [ITL_ONLY, MIXED, HARDWARE, SINGLE, replace(ITL_ONLY, groups=(), tvs_nodes=())]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.sampled_from([*LINES, MOVE]), max_size=8),
    st.sampled_from(FACTS),
    st.booleans(),
)
def test_procedures_for_never_raises(
    chosen: list[str | Step], facts: ClusterFacts, exported: bool
) -> None:
    user = [c if isinstance(c, Step) else steps(c)[0] for c in chosen]
    found = procedures_for(user, replace(facts, recovery_exported=exported))
    for procedure in found:
        assert reparsed(procedure) == [s.argv for s in procedure.steps]
        assert set(procedure.replaces) <= set(user)

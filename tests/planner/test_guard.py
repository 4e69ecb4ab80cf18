"""The lock-out guard: a change the planner predicts will lock phones asks before it commits.

B2's change (CallManager, then TVS, on the only server of a phone's group,
with no reboot between) is the guard's case: the first regeneration locks
nobody and asks nothing; the second locks the 8845 and asks. No: the
change is rolled back (the TVS certificate stays). Yes, or ``--yes``: it
goes through, after the prediction was shown.
"""

from __future__ import annotations

import subprocess
from dataclasses import replace

import pytest

from phonetrust.planner.guard import Declined, LockoutGuard
from phonetrust.planner.predict import Outcome, reboot_all
from phonetrust.policy.domain import CertName
from phonetrust.service import nodes
from tests.planner.booted import ONE_NODE, add_phones, record_boots
from tests.service.conftest import Lab
from tests.service.helpers import current

HOLD = 301
MODERN, OLD = "SEP00AA00000001", "SEP00AA00000002"
CLI = "from phonetrust.cli.main import main; main()"


class Asked:
    """The guard's terminal: what it said, what it asked, and the answers it gets."""

    def __init__(self, *answers: bool) -> None:
        self.said: list[str] = []
        self.questions: list[str] = []
        self._answers = list(answers)

    def say(self, line: str) -> None:
        self.said.append(line)

    def confirm(self, question: str) -> bool:
        self.questions.append(question)
        return self._answers.pop(0)

    def last_said_nothing(self) -> bool:
        return not self.said


def guarded(lab: Lab, asked: Asked, *, assume_yes: bool = False) -> None:
    guard = LockoutGuard(asked.say, asked.confirm, assume_yes=assume_yes)
    lab.ctx = replace(lab.ctx, guard=guard)


def booted_on_one_node(lab: Lab) -> None:
    add_phones(lab, (MODERN, "8845"), (OLD, "7960"), group=ONE_NODE)
    record_boots(lab, MODERN, OLD)


def test_a_change_that_locks_nobody_asks_nothing(lab: Lab) -> None:
    booted_on_one_node(lab)
    asked = Asked()
    guarded(lab, asked)
    lab.admin("set cert regen CallManager", "yes")  # TVS still vouches: no lock
    assert asked.questions == []
    assert asked.said == []


def test_declining_rolls_the_change_back(lab: Lab) -> None:
    booted_on_one_node(lab)
    lab.admin("set cert regen CallManager", "yes")
    lab.later(HOLD)
    tvs = current(lab.ctx, "cucm-pub", CertName.TVS)
    with lab.ctx.repo.unit_of_work() as uow:
        version = uow.current_version()
    asked = Asked(False)
    guarded(lab, asked)
    with pytest.raises(Declined, match="Nothing was changed"):
        lab.admin("set cert regen TVS", "yes")
    assert len(asked.questions) == 1
    warning = "\n".join(asked.said)
    assert "locks out 1 of 2 phones" in warning
    assert f"LOCKS {MODERN} (8845, group {ONE_NODE})" in warning
    assert "1  keeps its lists" in warning  # the 7960 has no ITL to refuse
    assert current(lab.ctx, "cucm-pub", CertName.TVS) == tvs
    with lab.ctx.repo.unit_of_work() as uow:
        assert uow.current_version() == version


def test_saying_yes_or_assuming_it_goes_through(lab: Lab) -> None:
    booted_on_one_node(lab)
    lab.admin("set cert regen CallManager", "yes")
    lab.later(HOLD)
    tvs = current(lab.ctx, "cucm-pub", CertName.TVS)
    asked = Asked()
    guarded(lab, asked, assume_yes=True)
    lab.admin("set cert regen TVS", "yes")
    assert asked.questions == []  # --yes: shown, not asked
    assert asked.said[-1] == "--yes: going ahead."
    assert current(lab.ctx, "cucm-pub", CertName.TVS) != tvs


def test_phones_never_seen_cannot_be_predicted_so_nothing_is_asked(lab: Lab) -> None:
    add_phones(lab, (MODERN, "8845"), group=ONE_NODE)  # no download recorded
    lab.admin("set cert regen CallManager", "yes")
    lab.later(HOLD)
    asked = Asked()
    guarded(lab, asked)
    lab.admin("set cert regen TVS", "yes")
    assert asked.questions == []


def _admin(lab: Lab, line: str, stdin: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return lab.cli("admin", "-c", line, *extra, stdin=stdin)


def test_the_admin_cli_asks_after_cucm_s_own_question(lab: Lab) -> None:
    booted_on_one_node(lab)
    lab.admin("set cert regen CallManager", "yes")
    tvs = current(lab.ctx, "cucm-pub", CertName.TVS)
    # The CLI runs on the wall clock, far past the lab's regeneration: no hold.
    refused = _admin(lab, "set cert regen TVS", "yes\nno\n")
    assert refused.returncode == 1, refused.stdout + refused.stderr
    out = refused.stdout
    assert out.index("Proceed with regeneration") < out.index("WARNING: the planner predicts")
    assert "Go ahead and lock these phones out (yes/no)?" in out
    assert "Nothing was changed" in refused.stdout + refused.stderr
    assert current(lab.ctx, "cucm-pub", CertName.TVS) == tvs

    went = _admin(lab, "set cert regen TVS", "", "--yes")
    assert went.returncode == 0, went.stdout + went.stderr
    assert "WARNING: the planner predicts this change locks out 1 of 2 phones" in went.stdout
    assert current(lab.ctx, "cucm-pub", CertName.TVS) != tvs


def test_a_guarded_cli_command_takes_yes_and_is_refused_without_an_answer(lab: Lab) -> None:
    booted_on_one_node(lab)

    def rename(*extra: str) -> subprocess.CompletedProcess[str]:
        return lab.cli("cluster", "rename-node", *extra, "cucm-pub", "cucm-pub2")

    refused = rename()
    assert refused.returncode != 0, refused.stdout
    assert "WARNING: the planner predicts" in refused.stdout
    assert "Nothing was changed" in refused.stderr
    with lab.ctx.repo.unit_of_work() as uow:
        assert uow.get_node("cucm-pub") is not None
    went = rename("--yes")
    assert went.returncode == 0, went.stdout + went.stderr
    with lab.ctx.repo.unit_of_work() as uow:
        assert uow.get_node("cucm-pub2") is not None


def test_phones_locked_already_do_not_make_every_change_ask(lab: Lab) -> None:
    """B2 went through (--yes): the 8845 will lock at its next reboot whatever comes next.
    A later change that locks nobody else asks nothing; one that does still asks."""
    booted_on_one_node(lab)
    lab.admin("set cert regen CallManager", "yes")
    lab.later(HOLD)
    lab.admin("set cert regen TVS", "yes")  # no guard: the 8845 is now locked-to-be
    asked = Asked()
    guarded(lab, asked)
    add_phones(lab, ("SEP00AA00000003", "8845"))
    assert asked.questions == []
    assert asked.last_said_nothing()


def test_a_renamed_node_keeps_its_phones_known(lab: Lab) -> None:
    """Downloads follow a rename as published files do: after cucm-pub became cucm-pub2
    (every certificate of it regenerated, B4), its phones are still predicted - locked -
    instead of unknown."""
    booted_on_one_node(lab)
    nodes.rename_node(lab.ctx, "cucm-pub", "cucm-pub2")
    with lab.ctx.repo.unit_of_work() as uow:
        known, prediction = reboot_all(uow, lab.ctx.clock)
    assert known[MODERN].node == "cucm-pub2"
    verdict = prediction.verdict(MODERN)
    assert verdict is not None
    assert verdict.outcome is Outcome.LOCKS

"""The fleet's kept prediction: fast when only phones' downloads moved, exact after a change.

Predicting every phone costs seconds on a large cluster; the Fleet page
shows the kept prediction while a new one is made in the background when
only downloads moved (phones booting), for at most fleet.STALE_FOR seconds,
and makes it again before answering when the cluster itself changed.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from phonetrust.planner.predict import Outcome, reboot_all
from phonetrust.service.changes import reading
from phonetrust.web.pages import fleet as fleet_page
from phonetrust.web.pages.devices_find import PhoneIndex
from tests.planner.booted import ONE_NODE, add_phones, record_boots
from tests.service.conftest import Lab

MODERN, OTHER = "SEP00AA00000011", "SEP00AA00000012"


def _until(check: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "the prediction was not made again in time"
        time.sleep(0.02)


def test_a_boot_is_shown_after_a_background_remake_and_a_change_at_once(lab: Lab) -> None:
    add_phones(lab, (MODERN, "8845"), (OTHER, "8845"), group=ONE_NODE)
    record_boots(lab, MODERN)
    index = PhoneIndex()
    first = fleet_page.fleet(lab.ctx, index)
    assert (first.seen, len(first.unknown)) == (1, 1)
    record_boots(lab, OTHER)  # only downloads moved: the kept prediction answers at once
    stale = fleet_page.fleet(lab.ctx, index)
    assert stale.unknown == first.unknown
    _until(lambda: not fleet_page.fleet(lab.ctx, index).unknown)
    # A change to the cluster (a regeneration) is predicted before the answer.
    lab.admin("set cert regen CallManager", "yes")
    lab.later(301)
    lab.admin("set cert regen TVS", "yes")
    assert [v.device for v in fleet_page.fleet(lab.ctx, index).locked] == [MODERN, OTHER]


def test_the_kept_answers_equal_a_plain_prediction(lab: Lab) -> None:
    """The Fleet page's and the Phones page's kept predictions answer what predicting every
    phone afresh (planner.predict.reboot_all) answers, after boots and after a change."""
    add_phones(lab, (MODERN, "8845"), (OTHER, "7960"), ("SEP00AA00000013", "8845"), group=ONE_NODE)
    record_boots(lab, MODERN, OTHER)
    index = PhoneIndex()
    for change in (None, "CallManager", "TVS"):
        if change is not None:
            lab.later(301)
            lab.admin(f"set cert regen {change}", "yes")
        with reading(lab.ctx) as uow:
            _, plain = reboot_all(uow, lab.clock)
        found = fleet_page.fleet(lab.ctx, index)
        assert [v.device for v in found.locked] == [v.device for v in plain.locked]
        assert [v.device for v in found.unknown] == [v.device for v in plain.of(Outcome.UNKNOWN)]
        kept = index.trust(lab.ctx, index.snapshot(lab.ctx)).verdicts
        assert {d: v.outcome for d, v in kept.items()} == {
            v.device: v.outcome for v in plain.verdicts
        }
    assert found.locked, "the last change locked no phone: the comparison proved little"

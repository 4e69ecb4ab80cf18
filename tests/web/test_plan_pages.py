"""Plan and Diagnose, over HTTPS and in chromium: plan a rename and see the locked phones.

The lab cluster gets two phones in a CallManager group whose only server is
the publisher, recorded as booted (tests/planner/booted.py): renaming the
publisher regenerates its CallManager and TVS certificates together, so the
8845 (which needs TVS to take a new signer) locks and the 7960 keeps its
lists. Three plans in all (each costs seconds): one in the browser with the
safe procedures, one by the plain form and one by the API, without them.
"""

from __future__ import annotations

import re

import pytest

from phonetrust.web.pages.plan import MAX_STEPS, one_plan
from tests.planner.booted import ONE_NODE, add_phones, record_boots
from tests.web.conftest import ADMIN, VIEWER, Site, browse, shot

MODERN, OLD = "SEP00AA00000001", "SEP00AA00000002"
RENAME = "cluster rename-node cucm-pub cucm-pub2"
TOGETHER = 'admin -c "set cert regen CallManager"\nwait 6m\nadmin -c "set cert regen TVS"\n'


@pytest.fixture(scope="module")
def booted(site: Site) -> Site:
    add_phones(site.lab, (MODERN, "8845"), (OLD, "7960"), group=ONE_NODE)
    record_boots(site.lab, MODERN, OLD)
    return site


def publisher_exists(site: Site) -> bool:
    with site.lab.ctx.repo.unit_of_work() as uow:
        return uow.get_node("cucm-pub") is not None and uow.get_node("cucm-pub2") is None


def test_plan_a_rename_in_the_browser_and_see_the_locked_phone(
    booted: Site, browser: object
) -> None:
    page = browse(browser, booted, ADMIN)
    page.goto(booted.url + "/plan")
    shot(page, "plan-form")
    page.select_option("#pick", label="Rename cucm-pub to cucm-pub-new")
    page.uncheck("#procedures")
    page.click("#plan-button")
    page.wait_for_selector("#verdict", timeout=120_000)
    assert "1 phone(s) would be locked out" in page.inner_text("#verdict")
    assert "verdict-locks" in (page.get_attribute("#verdict", "class") or "")
    locked = page.inner_text("#locked")
    assert MODERN in locked
    assert OLD not in locked
    assert "Trust List Update Failed" in locked
    assert page.locator(f"#locked a[href='/ccmadmin/phones/{MODERN}']").count() == 1
    assert re.search(r"/plan\?result=", page.url)  # htmx pushed the result's address
    shot(page, "plan-result")
    # The API, asked the same as a read-only user, counts as the page shows.
    viewer = booted.client(VIEWER)
    api = viewer.post(
        "/api/v1/plan",
        json={"steps": "cluster rename-node cucm-pub cucm-pub-new", "procedures": False},
        headers={"X-CSRF-Token": booted.csrf(viewer)},
    )
    assert api.status_code == 200, api.text
    planned = api.json()
    (step,) = planned["steps"]
    assert (planned["locks"], step["newly_locked"]) == (True, 1)
    counts = step["prediction"]["counts"]
    shown = page.inner_text("#plan-verdict")
    assert re.search(rf"locks\s+0\s+{counts['locks']}\b", shown), shown
    assert re.search(rf"keeps its lists\s+2\s+{counts['keeps']}\b", shown), shown
    assert publisher_exists(booted)  # planned on a copy: the cluster is as it was


def test_a_read_only_user_plans_without_javascript_with_the_safe_procedure(
    booted: Site,
) -> None:
    client = booted.client(VIEWER)
    form = client.get("/plan").text
    assert 'class="danger"' not in form
    assert re.findall(r'<form method="post" action="([^"]+)"', form) == ["/logout", "/plan"]
    token = booted.csrf(client, "/plan")
    answer = client.post("/plan", data={"csrf_token": token, "steps": TOGETHER, "procedures": "1"})
    assert answer.status_code == 303, answer.text[:300]
    shown = client.get(answer.headers["location"]).text
    assert "Verdict: 1 phone(s) would be locked out." in shown
    assert "Safe procedure: Regenerate CallManager and TVS of cucm-pub one at a time" in shown
    assert "Verdict: no phone would be locked out." in shown  # the procedure's own
    assert publisher_exists(booted)


def test_a_second_plan_of_the_same_user_is_answered_429(booted: Site) -> None:
    client = booted.client(VIEWER)
    with one_plan(VIEWER[0]):
        answer = client.post(
            "/api/v1/plan", json={"steps": RENAME}, headers={"X-CSRF-Token": booted.csrf(client)}
        )
    assert answer.status_code == 429
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert "still running" in answer.json()["detail"]


def test_an_unknown_or_refused_command_is_the_planners_error(booted: Site) -> None:
    client = booted.client(ADMIN)
    token = booted.csrf(client, "/plan")
    answer = client.post("/plan", data={"csrf_token": token, "steps": "<b>frobnicate</b> now"})
    assert answer.status_code == 400
    assert "is not a command a plan can run" in answer.text
    assert "<b>frobnicate" not in answer.text
    assert "&lt;b&gt;frobnicate" in answer.text
    served = client.post("/plan", data={"csrf_token": token, "steps": "serve"})
    assert "serves the cluster to phones" in served.text
    many = "\n".join(["reboot"] * MAX_STEPS + ['admin -c "show itl"'])
    header = {"X-CSRF-Token": token}
    assert (
        f"at most {MAX_STEPS}"
        in client.post("/api/v1/plan", json={"steps": many}, headers=header).text
    )
    huge = client.post("/api/v1/plan", json={"steps": "x" * 5000}, headers=header)
    assert huge.status_code == 422
    assert client.post("/plan", data={"steps": RENAME}).status_code == 403  # no CSRF token
    anonymous = booted.client().post("/api/v1/plan", json={"steps": RENAME})
    assert anonymous.status_code == 401


def test_diagnose_checklist_and_one_phone(booted: Site, browser: object) -> None:
    page = browse(browser, booted, VIEWER)
    page.goto(booted.url + "/diagnose")
    assert page.inner_text("#overall") in ("OK", "WARN", "FAIL")
    assert "ITLRecovery" in page.inner_text("#check-recovery-backup")
    assert "2 devices seen" in page.inner_text("#check-locked")
    assert page.locator("#check-services").count() == 0  # the probe waits for the button
    shot(page, "diagnose")
    page.fill("input[name=name]", MODERN)
    page.click("form[action='/diagnose/phone'] button")
    page.wait_for_selector("#phone-verdict")
    assert page.inner_text("#phone-verdict") == "healthy, nothing to do"
    assert "reference 002" in page.inner_text("#decision").lower()
    shot(page, "diagnose-phone")


def test_the_diagnose_api_without_the_probe_and_one_phone(booted: Site) -> None:
    client = booted.client(VIEWER)
    found = client.get("/api/v1/diagnose").json()
    names = [c["name"] for c in found["checks"]]
    assert "locked" in names
    assert "services" not in names
    assert found["status"] in ("OK", "WARN", "FAIL")
    phone = client.get(f"/api/v1/diagnose/phones/{MODERN}").json()
    assert (phone["device"], phone["verdict"]) == (MODERN, "healthy")
    assert client.get("/api/v1/diagnose/phones/SEP0000000000FF").status_code == 404
    assert client.get("/api/v1/diagnose/phones/not-a-mac").status_code == 400
    page = client.get("/diagnose/phone", params={"name": "<script>x</script>"})
    assert page.status_code == 400
    assert "<script>x" not in page.text

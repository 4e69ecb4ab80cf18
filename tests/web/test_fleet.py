"""Home (first run, then the dashboard), Fleet and Alerts, over HTTPS and in chromium.

In file order on one served lab cluster: the new cluster's first-run page;
then phones booted (tests/planner/booted.py) and one never seen; then B2 -
CallManager and TVS of the publisher regenerated six minutes apart with no
reboot - which leaves the 8845 of the publisher-only group locked.
"""

from __future__ import annotations

import re
import time

from tests.planner.booted import ONE_NODE, add_phones, record_boots
from tests.web.conftest import ADMIN, VIEWER, Site, browse, shot

MODERN, OLD, NEVER = "SEP00AA00000001", "SEP00AA00000002", "SEP00AA00000003"
HOLD = 301


def test_a_new_cluster_opens_on_what_to_do_first(site: Site, browser: object) -> None:
    page = browse(browser, site, ADMIN)
    first = page.inner_text("#first-run")
    assert "This cluster has no phones yet" in first
    assert "file get tftp ITLRecovery.p12" in first
    for href in ("/backup", "/ccmadmin/phones/import", "/ccmadmin/phones/new", "/plan"):
        assert page.locator(f"#first-run a[href='{href}']").count() == 1
    shot(page, "home-first-run")


def test_the_fleet_counts_lists_held_and_unknown_phones(site: Site, browser: object) -> None:
    add_phones(site.lab, (MODERN, "8845"), (OLD, "7960"), (NEVER, "8845"), group=ONE_NODE)
    record_boots(site.lab, MODERN, OLD)
    client = site.client(VIEWER)
    counts = client.get("/api/v1/fleet").json()
    assert (counts["devices"], counts["seen"], counts["locked"], counts["unknown"]) == (3, 2, 0, 1)
    itl = [h for h in counts["lists"] if h["file"] == "ITLFile.tlv"]
    assert [(h["phones"], h["current_on"]) for h in itl] == [(1, ["cucm-pub"])]
    html = client.get("/fleet").text
    assert "style=" not in html
    assert "<script" not in html.replace('<script src="/static/htmx.min.js" defer></script>', "")
    assert re.search(r'<svg class="chart"', html)
    assert html.count('<rect class="bar"') == len(counts["lists"])
    assert f'href="/ccmadmin/phones/{NEVER}"' in html  # unknown, linked


def test_a_lock_shows_on_the_fleet_home_and_alerts(site: Site, browser: object) -> None:
    site.lab.admin("set cert regen CallManager", "yes")
    site.lab.later(HOLD)
    site.lab.admin("set cert regen TVS", "yes")
    client = site.client(VIEWER)
    counts = client.get("/api/v1/fleet").json()
    assert counts["locked"] == 1
    page = browse(browser, site, VIEWER)
    page.goto(site.url + "/fleet")
    assert page.inner_text("#locked-count") == "1 locked"
    assert page.locator(f"#locked a[href='/ccmadmin/phones/{MODERN}']").count() == 1
    assert "ITLRecoveryBackup" in page.inner_text("#alerts")
    page.wait_for_selector("#health table")  # fetched by htmx after the page
    assert "TVS" in page.inner_text("#health")
    shot(page, "fleet")
    page.goto(site.url + "/")
    board = page.inner_text("#dashboard")
    assert "Non-secure mode" in board
    assert re.search(r"Locked phones\s+1", board)
    assert re.search(r"Phones\s+3 \(2 seen\)", board)
    shot(page, "home")


def test_alerts_say_what_to_do_and_a_get_raises_nothing(site: Site) -> None:
    client = site.client(VIEWER)
    with site.lab.ctx.repo.unit_of_work() as uow:
        before = uow.list_alerts(open_only=False)
    found = client.get("/api/v1/alerts").json()
    (recovery,) = [a for a in found["items"] if a["kind"] == "ITLRecoveryBackup"]
    assert "file get tftp ITLRecovery.p12" in recovery["action"]
    assert found["total"] == len(found["items"])
    with site.lab.ctx.repo.unit_of_work() as uow:
        assert uow.list_alerts(open_only=False) == before  # a GET raises nothing again


def test_service_health_degrades_fast_when_nothing_answers(site: Site) -> None:
    client = site.client(VIEWER)
    started = time.monotonic()
    answer = client.get("/fleet/health")
    assert time.monotonic() - started < 3
    # nothing is served: no port answers as the node (a sandbox may accept any connection)
    assert answer.text.count("<tr><td>") == 7
    assert 'class="verdict-keeps">answers' not in answer.text
    assert "cucm-sub1" in answer.text
    plain = client.get("/fleet", params={"health": "1"}).text  # without JavaScript
    assert 'id="health" hx-get' not in plain
    assert "verdict-locks" in plain.split('id="health"')[1]


def test_the_fleet_page_is_quick_once_computed(site: Site) -> None:
    client = site.client(VIEWER)
    client.get("/fleet")
    started = time.monotonic()
    assert client.get("/fleet").status_code == 200
    assert time.monotonic() - started < 0.5

"""The Audit Log and Backup pages and their API, over real HTTPS and in chromium."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from phonetrust.policy import params as P
from phonetrust.service import backup, inventory
from phonetrust.service.changes import reading
from tests.service.conftest import PASSWORD
from tests.web.conftest import ADMIN, VIEWER, Site, browse, csrf_of, shot

ARCHIVE_NAME = re.compile(r'^attachment; filename="phonetrust-backup-\d{8}-\d{6}\.backup"$')


@pytest.fixture(scope="module")
def admin(site: Site) -> httpx.Client:
    return site.client(ADMIN)


def newest_audit(site: Site) -> tuple[str, str]:
    with reading(site.lab.ctx) as uow:
        entry = uow.list_audit(1)[0]
    return entry.who, entry.action


def test_a_change_made_from_the_web_is_on_the_audit_page_with_user_and_address(
    site: Site, admin: httpx.Client
) -> None:
    token = csrf_of(admin.get("/ccmadmin/params").text)
    field = f"p_{list(P.PARAMS).index(P.TVS_TTL)}"
    admin.post("/ccmadmin/params", data={field: "7200", "csrf_token": token})
    shown = admin.get("/audit?action=param+set").text
    row = re.search(r"<tr><td>[^<]+</td><td>([^<]+)</td><td>param set</td><td>([^<]+)</td>", shown)
    assert row is not None
    assert row.groups() == ("admin (web 127.0.0.1)", f"{P.TVS_TTL} = 7200")
    # The filter keeps only what matches; the API says the same.
    assert "cluster init" not in shown
    api = admin.get("/api/v1/audit", params={"user": "web 127.0.0.1", "action": "param"}).json()
    assert api["items"][0]["who"] == "admin (web 127.0.0.1)"
    assert api["items"][0]["action"] == "param set"
    assert all("web 127.0.0.1" in e["who"] for e in api["items"])
    # The CLI's `audit` prints the same entry.
    assert f"admin (web 127.0.0.1): param set ({P.TVS_TTL} = 7200)" in site.lab.cli("audit").stdout


def test_the_audit_api_pages_newest_first(site: Site, admin: httpx.Client) -> None:
    everything = admin.get("/api/v1/audit", params={"limit": 1000}).json()
    assert everything["total"] >= 3
    times = [e["at"] for e in everything["items"]]
    assert times == sorted(times, reverse=True)
    second = admin.get("/api/v1/audit", params={"offset": 1, "limit": 1}).json()
    assert second["items"] == everything["items"][1:2]
    assert second["total"] == everything["total"]
    assert admin.get("/api/v1/audit", params={"limit": 0}).status_code == 422


def test_a_wrong_password_makes_no_backup(site: Site, admin: httpx.Client) -> None:
    token = csrf_of(admin.get("/backup").text)
    answer = admin.post("/backup", data={"password": "not-it", "csrf_token": token})
    assert answer.status_code == 303
    shown = admin.get(answer.headers["location"]).text
    assert re.search(r'class="status bad".*Backup refused: wrong security password', shown, re.S)
    assert newest_audit(site)[1] != "backup create"
    refused = admin.post(
        "/api/v1/backup", json={"password": "not-it"}, headers={"x-csrf-token": token}
    )
    assert refused.status_code == 400
    assert refused.json()["detail"] == "wrong security password"


def test_the_right_password_downloads_an_archive_backup_restore_opens(
    site: Site, admin: httpx.Client
) -> None:
    token = csrf_of(admin.get("/backup").text)
    answer = admin.post("/backup", data={"password": PASSWORD, "csrf_token": token})
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/octet-stream"
    assert ARCHIVE_NAME.match(answer.headers["content-disposition"])
    content = backup.open_archive(answer.content, PASSWORD)
    assert content["cluster"]["name"] == "lab"
    with pytest.raises(backup.BackupError):
        backup.open_archive(answer.content, "not-it")
    assert newest_audit(site) == ("admin (web 127.0.0.1)", "backup create")
    api = admin.post("/api/v1/backup", json={"password": PASSWORD}, headers={"x-csrf-token": token})
    assert api.status_code == 200
    assert ARCHIVE_NAME.match(api.headers["content-disposition"])
    assert backup.open_archive(api.content, PASSWORD)["cluster"]["name"] == "lab"


def test_a_read_only_user_cannot_make_a_backup(site: Site) -> None:
    viewer = site.client(VIEWER)
    shown = viewer.get("/backup").text
    assert 'id="backup-form"' not in shown
    assert "Only a Standard CCM Super User can make a backup" in shown
    assert "phonetrust backup restore" in shown  # restore is CLI-only, and the page says how
    token = csrf_of(shown)
    before = newest_audit(site)
    page = viewer.post("/backup", data={"password": PASSWORD, "csrf_token": token})
    api = viewer.post(
        "/api/v1/backup", json={"password": PASSWORD}, headers={"x-csrf-token": token}
    )
    assert (page.status_code, api.status_code) == (403, 403)
    assert b"PTBACKUP" not in page.content + api.content
    assert newest_audit(site) == before
    assert viewer.get("/audit").status_code == 200  # the log itself is for every role


def test_audit_and_backup_in_a_browser(site: Site, browser: Any) -> None:
    inventory.set_param(site.lab.ctx, P.CAPF_EXPIRY_DAYS, "12")  # an entry by the CLI's actor
    page = browse(browser, site, ADMIN)
    page.goto(site.url + "/backup")
    page.fill("#password", "wrong")
    page.click("#make-backup")
    page.wait_for_selector("section.status.bad")
    shot(page, "backup-refused")
    page.fill("#password", PASSWORD)
    with page.expect_download() as waiting:
        page.click("#make-backup")
    download = waiting.value
    assert re.fullmatch(r"phonetrust-backup-\d{8}-\d{6}\.backup", download.suggested_filename)
    with open(download.path(), "rb") as archive:
        assert backup.open_archive(archive.read(), PASSWORD)["cluster"]["name"] == "lab"
    page.goto(site.url + "/audit")
    assert page.locator("#audit tbody tr").first.inner_text().count("backup create") == 1
    shot(page, "audit")
    page.fill("#user", "web")
    page.fill("#action", "backup")
    page.click("button:text('Find')")
    page.wait_for_url(re.compile(r".*action=backup.*"))
    rows = page.locator("#audit tbody tr")
    assert rows.count() >= 1
    assert all("backup create" in rows.nth(i).inner_text() for i in range(rows.count()))
    shot(page, "audit-filtered")
    page.context.close()

"""Device > Phone and Bulk Administration, over HTTPS and in the browser, and their API.

One served lab cluster for the module (``site``); each test adds the phones
it needs under names of its own, so the tests do not depend on their order.
"""

from __future__ import annotations

import asyncio
import csv
import io
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from phonetrust.net import tls
from phonetrust.net.capf import CapfServer
from phonetrust.policy.domain import CapfOperation, Device
from phonetrust.service import inventory
from phonetrust.service.capfops import capf_identity, load_capf_service
from phonetrust.service.changes import reading
from tests.web.conftest import ADMIN, VIEWER, Site, browse, csrf_of, shot

LIST = "/ccmadmin/phones"


def device(site: Site, name: str) -> Device | None:
    with reading(site.lab.ctx) as uow:
        return uow.get_device(name)


def add(site: Site, *names: str, model: str = "8845", description: str = "") -> None:
    inventory.add_devices(site.lab.ctx, [Device(n, model, description=description) for n in names])


def names_on(html: str) -> list[str]:
    return re.findall(r'<a href="/ccmadmin/phones/(SEP[0-9A-F]{12})">', html)


def test_find_and_list_searches_sorts_and_pages(site: Site) -> None:
    add(site, *(f"SEP00AA000000{i:02X}" for i in range(30)), description="lobby")
    add(site, "SEP00BB00000001", model="7975", description="Front Desk")
    client = site.client(VIEWER)
    first = client.get(LIST, params={"name": "00aa", "per": 25})
    assert first.status_code == 200
    assert "Find and List Phones" in first.text
    shown = names_on(first.text)
    assert len(shown) == 25
    assert shown == sorted(shown)
    assert "30 records; page 1 of 2" in first.text
    second = client.get(LIST, params={"name": "00aa", "per": 25, "page": 2})
    assert names_on(second.text) == [f"SEP00AA000000{i:02X}" for i in range(25, 30)]
    desc = client.get(LIST, params={"name": "00aa", "sort": "name", "dir": "desc"})
    assert names_on(desc.text)[0] == "SEP00AA0000001D"
    # the description matches too, case-insensitively; the model is exact
    assert names_on(client.get(LIST, params={"name": "front desk"}).text) == ["SEP00BB00000001"]
    assert "SEP00BB00000001" in names_on(client.get(LIST, params={"model": "7975"}).text)
    assert "SEP00BB00000001" not in names_on(client.get(LIST, params={"model": "8845"}).text)


def test_htmx_search_answers_the_table_alone(site: Site) -> None:
    add(site, "SEP00CC00000001")
    client = site.client(ADMIN)
    headers = {"HX-Request": "true", "HX-Target": "phone-table"}
    answer = client.get(LIST, params={"name": "00CC"}, headers=headers)
    assert answer.status_code == 200
    assert answer.text.lstrip().startswith('<section id="phone-table"')
    assert "<html" not in answer.text
    assert names_on(answer.text) == ["SEP00CC00000001"]


def test_add_edit_and_delete_a_phone_as_the_cli_does(site: Site) -> None:
    client = site.client(ADMIN)
    token = csrf_of(client.get(f"{LIST}/new").text)
    form = {"csrf_token": token, "name": "00:dd:00:00:00:01", "model": "8845", "protocol": "SIP"}
    form |= {"group": "Default", "profile": inventory.DEFAULT_PROFILE, "description": "Lab"}
    answer = client.post(f"{LIST}/new", data=form)
    assert answer.status_code == 303
    assert answer.headers["location"].startswith(f"{LIST}/SEP00DD00000001?status=")
    assert device(site, "SEP00DD00000001") is not None
    again = client.post(f"{LIST}/new", data=form)
    assert again.status_code == 400
    assert "Device SEP00DD00000001 already exists" in again.text
    bad = client.post(f"{LIST}/new", data=form | {"name": "SEP00DD00000002", "group": "Nope"})
    assert "Unknown CallManager group &#39;Nope&#39;" in bad.text
    assert device(site, "SEP00DD00000002") is None

    page = client.get(f"{LIST}/SEP00DD00000001")
    assert page.status_code == 200
    assert "No download recorded" in page.text
    edit = {"csrf_token": token, "model": "7975", "protocol": "SCCP", "group": "Default"}
    edit |= {"profile": inventory.DEFAULT_PROFILE, "description": "Lab 2"}
    saved = client.post(
        f"{LIST}/SEP00DD00000001", data=edit | {"settings": "webAccess=1\nsshAccess=0"}
    )
    assert saved.status_code == 303
    assert "updated" in saved.headers["location"]
    changed = device(site, "SEP00DD00000001")
    assert changed is not None
    assert (changed.model, changed.protocol.value, changed.description) == ("7975", "SCCP", "Lab 2")
    assert changed.settings == {"webAccess": "1", "sshAccess": "0"}
    client.post(f"{LIST}/SEP00DD00000001", data=edit | {"settings": "webAccess=0"})
    changed = device(site, "SEP00DD00000001")
    assert changed is not None
    assert changed.settings == {"webAccess": "0"}
    refused = client.post(f"{LIST}/SEP00DD00000001", data=edit | {"settings": "oops"})
    assert "kind=error" in refused.headers["location"]

    confirm = client.get(f"{LIST}/SEP00DD00000001/delete")
    assert "permanently delete" in confirm.text
    gone = client.post(f"{LIST}/SEP00DD00000001/delete", data={"csrf_token": token})
    assert gone.status_code == 303
    assert device(site, "SEP00DD00000001") is None


def test_capf_scheduled_on_the_phone_page_shows_a_generated_string_once(site: Site) -> None:
    add(site, "SEP00EE00000001")
    client = site.client(ADMIN)
    page = client.get(f"{LIST}/SEP00EE00000001?generate=1")
    token = csrf_of(page.text)
    suggested = re.search(r'id="capf-string" value="(\d{8})"', page.text)
    assert suggested is not None
    form = {"csrf_token": token, "operation": "install", "auth": "auth-string", "key": "EC-P256"}
    answer = client.post(f"{LIST}/SEP00EE00000001/capf", data=form | {"auth_string": ""})
    assert answer.status_code == 200
    shown = re.search(r"Authentication string: (\d{8}) \(shown once", answer.text)
    assert shown is not None
    found = device(site, "SEP00EE00000001")
    assert found is not None
    assert found.capf_operation is CapfOperation.INSTALL
    assert found.capf_key == "EC-P256"
    assert shown.group(1) not in found.capf_auth_hash
    assert shown.group(1) not in client.get(f"{LIST}/SEP00EE00000001").text
    short = client.post(f"{LIST}/SEP00EE00000001/capf", data=form | {"auth_string": "12"})
    assert "4 to 10 digits" in httpx.QueryParams(short.headers["location"].split("?")[1])["status"]
    pending = client.get(LIST, params={"capf": "pending", "name": "00EE"})
    assert names_on(pending.text) == ["SEP00EE00000001"]


def test_export_then_import_round_trips(site: Site) -> None:
    add(site, "SEP00FF00000001", description='quoted, "comma"')
    client = site.client(ADMIN)
    exported = client.get(f"{LIST}/export.csv", params={"name": "00FF"})
    assert exported.headers["content-disposition"] == 'attachment; filename="phones.csv"'
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert rows[0]["description"] == 'quoted, "comma"'
    before = device(site, "SEP00FF00000001")
    inventory.remove_device(site.lab.ctx, "SEP00FF00000001")
    token = csrf_of(client.get(f"{LIST}/import").text)
    files = {"file": ("phones.csv", exported.content, "text/csv")}
    answer = client.post(f"{LIST}/import", data={"csrf_token": token}, files=files)
    assert answer.status_code == 200, answer.text[:2000]
    assert "1 devices added." in answer.text
    assert device(site, "SEP00FF00000001") == before


def api(site: Site, who: tuple[str, str] = ADMIN) -> httpx.Client:
    """A session client whose changes carry the X-CSRF-Token header, as a page script would."""
    client = site.client(who)
    client.headers["X-CSRF-Token"] = site.csrf(client)
    return client


def test_api_lists_adds_patches_schedules_and_deletes(site: Site) -> None:
    client = api(site)
    made = client.post("/api/v1/phones", json={"name": "0011AB000001", "model": "8845"})
    assert made.status_code == 201, made.text
    assert made.json()["name"] == "SEP0011AB000001"
    twice = client.post("/api/v1/phones", json={"name": "0011AB000001", "model": "8845"})
    assert twice.status_code == 400
    assert twice.json()["detail"] == "Device SEP0011AB000001 already exists"
    listed = client.get("/api/v1/phones", params={"name": "0011ab", "limit": 10}).json()
    assert listed["total"] == 1
    assert listed["items"][0]["capf_operation"] == "none"
    patched = client.patch(
        "/api/v1/phones/SEP0011AB000001",
        json={"description": "Desk", "settings": {"webAccess": "1"}},
    )
    assert patched.json()["settings"] == {"webAccess": "1"}
    one = client.get("/api/v1/phones/SEP0011AB000001").json()
    assert one["description"] == "Desk"
    assert one["downloads"] == []
    assert one["trust"]["verdict"] == "unknown"
    capf = client.post(
        "/api/v1/phones/SEP0011AB000001/capf", json={"operation": "install", "auth": "auth-string"}
    ).json()
    assert capf["auth_string"].isdigit()
    assert capf["items"][0]["capf_operation"] == "install"
    assert "capf_auth_hash" not in capf["items"][0]
    assert client.delete("/api/v1/phones/SEP0011AB000001").status_code == 204
    assert client.get("/api/v1/phones/SEP0011AB000001").status_code == 404
    assert device(site, "SEP0011AB000001") is None


def test_api_imports_csv_reports_rows_and_exports(site: Site) -> None:
    client = api(site)
    text = "name,model,group\nSEP0011AC000001,8845,\nSEP0011AC000002,,\nSEP0011AC000003,7975,Nope\n"
    refused = client.post(
        "/api/v1/phones/import", content=text, headers={"Content-Type": "text/csv"}
    )
    assert refused.status_code == 400
    assert [
        r["line"]
        for r in refused.json()["rows"]
        if r["result"] != "not imported (another row is bad)"
    ] == [3, 4]
    assert device(site, "SEP0011AC000001") is None
    skipped = client.post("/api/v1/phones/import", json={"csv": text, "skip_bad_rows": True})
    assert skipped.status_code == 200, skipped.text
    report = skipped.json()
    assert report["added"] == 1
    assert report["rows"][0] == {"line": 2, "device": "SEP0011AC000001", "result": "added"}
    assert "Unknown CallManager group 'Nope'" in report["rows"][2]["result"]
    exported = client.get("/api/v1/phones/export", params={"name": "0011AC"})
    assert exported.headers["content-type"].startswith("text/csv")
    assert exported.text.splitlines()[1].startswith("SEP0011AC000001,8845,SIP,Default,")
    many = client.post("/api/v1/phones/capf", json={"operation": "delete", "name": "0011AC"}).json()
    assert many["total"] == 1
    assert client.post("/api/v1/phones/capf", json={"operation": "delete"}).status_code == 400


def test_read_only_user_sees_no_controls_and_changes_nothing(site: Site) -> None:
    add(site, "SEP0011AD000001")
    viewer = site.client(VIEWER)
    for path in (LIST, f"{LIST}/SEP0011AD000001", f"{LIST}/import", f"{LIST}/capf", f"{LIST}/new"):
        html = viewer.get(path).text
        for control in ('id="add-new"', 'id="save"', 'id="delete"', 'id="capf-save"',
                        'id="import"', 'id="bulk-capf-save"', 'id="confirm-delete"'):  # fmt: skip
            assert control not in html, (path, control)
    token = site.csrf(viewer)
    posts = {
        f"{LIST}/new": {"name": "SEP0011AD000002", "model": "8845"},
        f"{LIST}/SEP0011AD000001": {
            "model": "7975",
            "protocol": "SIP",
            "group": "Default",
            "profile": inventory.DEFAULT_PROFILE,
        },
        f"{LIST}/SEP0011AD000001/capf": {"operation": "install"},
        f"{LIST}/SEP0011AD000001/delete": {},
        f"{LIST}/capf": {"operation": "install", "names": "SEP0011AD000001"},
    }
    for path, form in posts.items():
        assert viewer.post(path, data=form | {"csrf_token": token}).status_code == 403, path
    files = {"file": ("p.csv", b"name,model\nSEP0011AD000003,8845\n", "text/csv")}
    assert viewer.post(f"{LIST}/import", data={"csrf_token": token}, files=files).status_code == 403
    client = api(site, VIEWER)
    assert client.get("/api/v1/phones/SEP0011AD000001").status_code == 200
    refused = [
        client.post("/api/v1/phones", json={"name": "SEP0011AD000002", "model": "8845"}),
        client.patch("/api/v1/phones/SEP0011AD000001", json={"model": "7975"}),
        client.delete("/api/v1/phones/SEP0011AD000001"),
        client.post("/api/v1/phones/SEP0011AD000001/capf", json={"operation": "install"}),
        client.post(
            "/api/v1/phones/capf", json={"operation": "install", "names": ["SEP0011AD000001"]}
        ),
        client.post("/api/v1/phones/import", content=b"name,model\nSEP0011AD000003,8845\n"),
    ]
    assert [r.status_code for r in refused] == [403] * len(refused)
    found = device(site, "SEP0011AD000001")
    assert found is not None
    assert (found.model, found.capf_operation) == ("8845", CapfOperation.NONE)
    assert device(site, "SEP0011AD000002") is None
    assert device(site, "SEP0011AD000003") is None


# -- in the browser ---------------------------------------------------------------------------


@pytest.fixture
def admin_page(browser: Any, site: Site) -> Iterator[Any]:
    """A logged-in browser page, its context closed after the test (no connection left)."""
    page = browse(browser, site)
    yield page
    page.context.close()


def test_browser_add_a_phone_then_find_it_live(admin_page: Any, site: Site) -> None:
    from playwright.sync_api import expect  # noqa: PLC0415 - only the browser tests need it

    page = admin_page
    page.goto(site.url + f"{LIST}/new")
    page.fill("input[name=name]", "00:11:BE:00:00:01")
    page.fill("input[name=model]", "8845")
    page.fill("input[name=description]", "Reception <b>desk</b>")
    page.click("#save")
    page.wait_for_url(re.compile(r".*/ccmadmin/phones/SEP0011BE000001\?status=.*"))
    assert "Device SEP0011BE000001 added." in page.inner_text("section.status")
    shot(page, "phone-added")
    found = device(site, "SEP0011BE000001")
    assert found is not None
    assert found.description == "Reception <b>desk</b>"
    page.goto(site.url + LIST)
    shot(page, "phones-list")
    page.fill("input[name=name]", "reception")  # htmx: the table follows the typing
    page.wait_for_url(re.compile(r".*name=reception.*"))  # hx-push-url
    expect(page.locator("#phones tbody tr")).to_have_count(1)
    assert page.inner_text("#phones tbody").startswith("SEP0011BE000001")
    shot(page, "phones-search")


def bad_csv(tmp: Path) -> Path:
    """100 phones: line 30 has no model, line 71 an unknown group; the rest are good."""
    lines = ["name,model,protocol,group,description"]
    for i in range(100):
        line = f"SEP0011BF{i:06X},8845,SIP,Default,Floor {i}"
        if i == 28:
            line = f"SEP0011BF{i:06X},,SIP,Default,no model"
        if i == 69:
            line = f"SEP0011BF{i:06X},7975,SIP,Nowhere,bad group"
        lines.append(line)
    path = tmp / "phones.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_browser_import_100_phones_with_two_bad_rows(
    admin_page: Any, site: Site, tmp_path: Path
) -> None:
    page = admin_page
    page.goto(site.url + f"{LIST}/import")
    page.set_input_files("input[name=file]", str(bad_csv(tmp_path)))
    page.check("#skip-bad-rows")
    page.click("#import")
    page.wait_for_selector("#import-report")
    assert "98 devices added, 2 bad rows skipped." in page.inner_text("section.status")
    bad = page.locator("#import-report td.error")
    assert bad.count() == 2
    report = page.inner_text("#import-report")
    assert re.search(r"30\s+SEP0011BF00001C\s+column model: a device needs a model", report)
    assert re.search(r"71\s+SEP0011BF000045\s+Unknown CallManager group 'Nowhere'", report)
    shot(page, "phones-import-report")
    with reading(site.lab.ctx) as uow:
        imported = [d for d in uow.list_devices() if d.name.startswith("SEP0011BF")]
    assert len(imported) == 98
    assert {"SEP0011BF00001C", "SEP0011BF000045"}.isdisjoint(d.name for d in imported)


@pytest.fixture(scope="module")
def capf_server(site: Site) -> Iterator[str]:
    """The publisher's CAPF service on a free port, from a thread: HOST:PORT."""
    started = threading.Event()
    holder: dict[str, Any] = {}

    async def main() -> None:
        service = load_capf_service(site.lab.ctx, "cucm-pub", republish_delay=None)
        cert, key = capf_identity(site.lab.ctx, "cucm-pub")
        server = await CapfServer.start(service, tls.server_context(cert, key), port=0)
        holder.update(port=server.port, loop=asyncio.get_running_loop(), stop=asyncio.Event())
        started.set()
        await holder["stop"].wait()
        await server.stop()

    thread = threading.Thread(target=asyncio.run, args=(main(),), daemon=True)
    thread.start()
    assert started.wait(30)
    yield f"127.0.0.1:{holder['port']}"
    holder["loop"].call_soon_threadsafe(holder["stop"].set)
    thread.join(30)


def test_browser_schedule_capf_and_see_the_enrolment(
    admin_page: Any, site: Site, capf_server: str
) -> None:
    add(site, "SEP0011C0000001")
    page = admin_page
    page.goto(site.url + f"{LIST}/SEP0011C0000001")
    page.select_option("#capf-operation", "install")
    page.select_option("#capf-auth", "auth-string")
    page.fill("#capf-string", "24681357")
    page.select_option("select[name=key]", "EC-P256")
    page.click("#capf-save")
    page.wait_for_selector("section.status")
    assert "CAPF Install/Upgrade pending until" in page.inner_text("section.status")
    assert "Install/Upgrade" in page.inner_text("#capf-now")
    shot(page, "phone-capf-scheduled")
    enrolled = site.lab.cli(
        "capf", "enroll", "SEP0011C0000001", "--server", capf_server, "--auth-string", "24681357"
    )
    assert enrolled.returncode == 0, enrolled.stderr
    assert "Upgrade Success" in enrolled.stdout
    page.goto(site.url + f"{LIST}/SEP0011C0000001")  # the page again, no Status
    assert page.inner_text("#capf-status") == "Upgrade Success"
    assert page.inner_text("#lsc") == "Installed"
    assert "No Pending Operation" in page.inner_text("#capf-now")
    shot(page, "phone-page")


def test_browser_bulk_capf_by_query(admin_page: Any, site: Site) -> None:
    add(site, *(f"SEP0011C1{i:06X}" for i in range(5)), model="7975")
    page = admin_page
    page.goto(site.url + f"{LIST}/capf")
    page.fill("#capf-query input[name=name]", "0011C1")
    page.click("#capf-query #find")
    assert page.inner_text("#matched").startswith("5 phones match the query")
    page.select_option("#bulk-capf #capf-operation", "fetch")
    shot(page, "phones-bulk-capf")
    page.click("#bulk-capf-save")
    page.wait_for_selector("#updated")
    assert "CAPF Troubleshoot scheduled for 5 phones" in page.inner_text("section.status")
    with reading(site.lab.ctx) as uow:
        ops = {uow.get_device(f"SEP0011C1{i:06X}").capf_operation for i in range(5)}  # type: ignore[union-attr]
    assert ops == {CapfOperation.FETCH}

"""CM Administration's System pages and their API, over real HTTPS and in chromium."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from phonetrust.errors import LocalError
from phonetrust.policy import params as P
from phonetrust.policy.domain import Device, DeviceSecurityMode, Protocol
from phonetrust.service import inventory
from phonetrust.service.changes import reading
from tests.web.conftest import ADMIN, VIEWER, Site, browse, csrf_of, shot

FIELDS = {name: f"p_{i}" for i, name in enumerate(P.PARAMS)}


def status_of(html: str) -> str:
    found = re.search(r'<section class="status (ok|bad)".*?<p>(.*?)</p>', html, re.S)
    assert found is not None, "no Status box"
    return f"{found.group(1)}: {found.group(2)}"


def post(client: httpx.Client, path: str, data: dict[str, str], page: str = "/account") -> Any:
    """A form posted as a browser does it, with the token of the page it came from."""
    return client.post(path, data={**data, "csrf_token": csrf_of(client.get(page).text)})


def profiles(site: Site) -> dict[str, Any]:
    with reading(site.lab.ctx) as uow:
        return {p.name: p for p in uow.list_profiles()}


def group(site: Site, name: str) -> tuple[str, ...] | None:
    with reading(site.lab.ctx) as uow:
        found = uow.get_group(name)
    return None if found is None else found.members


@pytest.fixture(scope="module")
def admin(site: Site) -> httpx.Client:
    return site.client(ADMIN)


# -- Enterprise Parameters -------------------------------------------------------------------


def test_rollback_and_sha512_set_from_the_page_are_what_param_list_prints(
    site: Site, admin: httpx.Client
) -> None:
    inventory.add_devices(site.lab.ctx, [Device("SEP00000000A940", "7940", Protocol.SCCP)])
    answer = post(
        admin,
        "/ccmadmin/params",
        {FIELDS[P.ROLLBACK]: "True", FIELDS[P.TFTP_DIGEST]: "SHA-512"},
        "/ccmadmin/params",
    )
    assert answer.status_code == 303
    shown = admin.get(answer.headers["location"]).text
    assert status_of(shown).startswith("ok: Update successful")
    assert "SEP00000000A940 (7940) does not support SHA-512 signatures" in shown  # the warning
    assert 'id="sha512-warnings"' in shown
    values = inventory.list_params(site.lab.ctx)
    assert values[P.ROLLBACK] == "True"
    assert values[P.TFTP_DIGEST] == "SHA-512"
    printed = site.lab.cli("param", "list").stdout
    assert f"{P.ROLLBACK} = True" in printed
    assert f"{P.TFTP_DIGEST} = SHA-512" in printed
    # The page shows the stored values as selected.
    assert re.search(r'<option value="SHA-512" selected>', shown)


def test_a_bad_value_is_refused_in_the_status_box_with_the_clis_words(
    site: Site, admin: httpx.Client
) -> None:
    before = inventory.list_params(site.lab.ctx)
    answer = post(
        admin,
        "/ccmadmin/params",
        {FIELDS[P.TVS_TTL]: "600", FIELDS[P.CAPF_EXPIRY_DAYS]: "999"},
        "/ccmadmin/params",
    )
    box = status_of(admin.get(answer.headers["location"]).text)
    assert box == f"bad: {P.CAPF_EXPIRY_DAYS}: 999 is outside 1..365"
    with pytest.raises(LocalError, match=r"^999 is outside 1\.\.365$"):  # what the CLI prints
        inventory.set_param(site.lab.ctx, P.CAPF_EXPIRY_DAYS, "999")
    assert inventory.list_params(site.lab.ctx) == before  # the good value was not stored either


def test_cluster_security_mode_is_shown_but_not_settable(site: Site, admin: httpx.Client) -> None:
    shown = admin.get("/ccmadmin/params").text
    assert f'name="{FIELDS[P.CLUSTER_SECURITY_MODE]}"' not in shown
    assert "Security Parameters" in shown
    assert P.CLUSTER_SECURITY_MODE in shown
    post(admin, "/ccmadmin/params", {FIELDS[P.CLUSTER_SECURITY_MODE]: "1"}, "/ccmadmin/params")
    assert inventory.list_params(site.lab.ctx)[P.CLUSTER_SECURITY_MODE] == "0"
    refused = admin.put(
        "/api/v1/params/ClusterSecurityMode",
        json={"value": "1"},
        headers={"x-csrf-token": site.csrf(admin)},
    )
    assert refused.status_code == 400
    assert "read-only here" in refused.json()["detail"]


def test_reset_asks_first_then_restarts_tftp_on_every_tftp_node(
    site: Site, admin: httpx.Client
) -> None:
    confirm = admin.get("/ccmadmin/params/reset").text
    assert "Cisco Tftp service will restart on host cucm-pub" in confirm
    assert "cucm-sub1" in confirm
    answer = post(admin, "/ccmadmin/params/reset", {"confirm": "yes"}, "/ccmadmin/params/reset")
    said = status_of(admin.get(answer.headers["location"]).text)
    assert said.startswith("ok: Reset: Cisco Tftp service restarted on host cucm-pub")
    with reading(site.lab.ctx) as uow:
        newest = uow.list_audit(1)[0]
    assert (newest.who, newest.action) == ("admin (web 127.0.0.1)", "restart Cisco Tftp")


def test_params_api_reads_and_sets_with_the_same_rules(site: Site, admin: httpx.Client) -> None:
    token = {"x-csrf-token": site.csrf(admin)}
    listed = admin.get("/api/v1/params").json()
    assert listed["total"] == len(P.PARAMS)
    assert {"name": P.AUTO_REGISTRATION, "value": "True"} in listed["items"]
    name = quote(P.AUTO_REGISTRATION)
    answer = admin.put(f"/api/v1/params/{name}", json={"value": "off"}, headers=token)
    assert answer.json() == {"name": P.AUTO_REGISTRATION, "value": "False", "warnings": []}
    bad = admin.put(f"/api/v1/params/{name}", json={"value": "maybe"}, headers=token)
    assert bad.status_code == 400
    assert bad.headers["content-type"] == "application/problem+json"
    assert bad.json()["detail"] == "'maybe' is not True or False"
    several = admin.put(
        "/api/v1/params",
        json={"items": [{"name": P.AUTO_REGISTRATION, "value": "True"}]},
        headers=token,
    )
    assert {"name": P.AUTO_REGISTRATION, "value": "True"} in several.json()["items"]
    assert inventory.list_params(site.lab.ctx)[P.AUTO_REGISTRATION] == "True"


# -- Phone Security Profiles ---------------------------------------------------------------------


def test_a_profile_is_added_edited_and_removed_from_the_pages(
    site: Site, admin: httpx.Client
) -> None:
    name = "Cisco 8845 - Encrypted <lab>"
    added = post(admin, "/ccmadmin/profiles", {"name": name, "mode": "authenticated"})
    assert status_of(admin.get(added.headers["location"]).text) == (
        f"ok: Profile {name!r} saved".replace("'", "&#39;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
    )
    assert profiles(site)[name].mode is DeviceSecurityMode.AUTHENTICATED
    listed = admin.get("/ccmadmin/profiles?name=8845").text
    assert "Cisco 8845 - Encrypted &lt;lab&gt;" in listed
    assert "<lab>" not in listed
    edited = post(
        admin, "/ccmadmin/profiles", {"name": name, "mode": "encrypted", "tftp_encrypted": "on"}
    )
    assert edited.status_code == 303
    saved = profiles(site)[name]
    assert (saved.mode, saved.tftp_encrypted) == (DeviceSecurityMode.ENCRYPTED, True)
    # The CLI's rule: encrypted configuration needs a secure mode.
    refused = post(
        admin, "/ccmadmin/profiles", {"name": name, "mode": "non-secure", "tftp_encrypted": "on"}
    )
    assert "needs an authenticated or encrypted profile" in status_of(
        admin.get(refused.headers["location"]).text
    )
    assert profiles(site)[name].mode is DeviceSecurityMode.ENCRYPTED
    removed = post(admin, "/ccmadmin/profiles/delete", {"name": name})
    assert "removed" in status_of(admin.get(removed.headers["location"]).text)
    assert name not in profiles(site)


def test_a_profile_in_use_is_not_removed(site: Site, admin: httpx.Client) -> None:
    # Its own phone: with xdist, the module's other tests may run on another worker.
    inventory.add_devices(site.lab.ctx, [Device("SEP0000CAFE0001", "7975")])
    used = next(
        d.profile for d in inventory.list_devices(site.lab.ctx) if d.name == "SEP0000CAFE0001"
    )
    answer = post(admin, "/ccmadmin/profiles/delete", {"name": used})
    assert "is used by" in status_of(admin.get(answer.headers["location"]).text)
    assert used in profiles(site)


def test_profiles_api(site: Site, admin: httpx.Client) -> None:
    token = {"x-csrf-token": site.csrf(admin)}
    path = "/api/v1/profiles/" + quote("API profile/one", safe="")
    put = admin.put(path, json={"mode": "encrypted", "tftp_encrypted": True}, headers=token)
    assert put.json() == {
        "name": "API profile/one",
        "mode": 3,
        "mode_name": "encrypted",
        "tftp_encrypted": True,
        "protocol": None,
    }
    assert any(
        p["name"] == "API profile/one" for p in admin.get("/api/v1/profiles").json()["items"]
    )
    assert admin.put(path, json={"mode": "sideways"}, headers=token).status_code == 422
    assert admin.delete(path, headers=token).status_code == 204
    assert admin.get(path).status_code == 404
    assert admin.delete(path, headers=token).status_code == 404


# -- CallManager Groups ---------------------------------------------------------------------------


def test_a_group_keeps_the_order_its_members_were_chosen_in(
    site: Site, admin: httpx.Client
) -> None:
    data = {"name": "Branch", "member1": "cucm-sub1", "member2": "", "member3": "cucm-pub"}
    answer = post(admin, "/ccmadmin/groups", data)
    assert status_of(admin.get(answer.headers["location"]).text).startswith("ok: Group")
    assert group(site, "Branch") == ("cucm-sub1", "cucm-pub")
    post(
        admin, "/ccmadmin/groups", {"name": "Branch", "member1": "cucm-pub", "member2": "cucm-sub1"}
    )
    assert group(site, "Branch") == ("cucm-pub", "cucm-sub1")
    page = admin.get("/ccmadmin/groups/edit?name=Branch").text
    first = re.search(r'name="member1".*?selected>([^<]+)<', page, re.S)
    assert first is not None
    assert first.group(1) == "cucm-pub"
    twice = post(
        admin, "/ccmadmin/groups", {"name": "Branch", "member1": "cucm-pub", "member2": "cucm-pub"}
    )
    assert "lists a node twice" in status_of(admin.get(twice.headers["location"]).text)
    assert group(site, "Branch") == ("cucm-pub", "cucm-sub1")
    listed = admin.get("/ccmadmin/groups").text
    assert "1. cucm-pub, 2. cucm-sub1" in listed


def test_groups_api(site: Site, admin: httpx.Client) -> None:
    token = {"x-csrf-token": site.csrf(admin)}
    answer = admin.put(
        "/api/v1/groups/West", json={"members": ["cucm-sub1", "cucm-pub"]}, headers=token
    )
    assert answer.json() == {"name": "West", "members": ["cucm-sub1", "cucm-pub"]}
    unknown = admin.put("/api/v1/groups/West", json={"members": ["nowhere"]}, headers=token)
    assert unknown.status_code == 400
    assert unknown.json()["detail"] == "Unknown node 'nowhere'"
    four = admin.put("/api/v1/groups/West", json={"members": ["a", "b", "c", "d"]}, headers=token)
    assert four.status_code == 422
    assert group(site, "West") == ("cucm-sub1", "cucm-pub")


# -- Servers and the cluster -------------------------------------------------------------------


def test_servers_page_lists_both_nodes_and_their_services(site: Site, admin: httpx.Client) -> None:
    shown = admin.get("/ccmadmin/servers").text
    for host, ip in (("cucm-pub", "10.0.0.10"), ("cucm-sub1", "10.0.0.11")):
        assert host in shown
        assert ip in shown
    assert "Publisher" in shown
    assert "Subscriber" in shown
    assert ">running<" not in shown  # no service of the lab runs in this test
    assert "phonetrust cluster add-node HOST --ip A.B.C.D" in shown
    servers = admin.get("/api/v1/servers").json()
    by_host = {s["host"]: s for s in servers["items"]}
    assert set(by_host) == {"cucm-pub", "cucm-sub1"}
    sub = by_host["cucm-sub1"]
    assert [s["service"] for s in sub["health"]["services"]] == ["CallManager", "TFTP", "TVS"]
    assert not any(s["answers"] for s in sub["health"]["services"])
    cluster = admin.get("/api/v1/cluster").json()
    assert cluster["name"] == "lab"
    assert [n["host"] for n in cluster["nodes"]] == [
        "cucm-pub",
        "cucm-sub1",
    ]


def test_renaming_a_node_onto_another_is_refused_in_the_clis_words(
    site: Site, admin: httpx.Client
) -> None:
    confirm = admin.get("/ccmadmin/servers/cucm-sub1/rename").text
    assert "regenerates every certificate" in confirm
    answer = post(
        admin,
        "/ccmadmin/servers/cucm-sub1/rename",
        {"new_host": "cucm-pub", "domain": "lab.example"},
    )
    said = status_of(admin.get(answer.headers["location"]).text)
    assert said == "bad: a node named cucm-pub already exists"


# -- the read-only role ----------------------------------------------------------------------------


def test_a_read_only_user_sees_no_change_controls_and_changes_nothing(site: Site) -> None:
    viewer = site.client(VIEWER)
    params_before = inventory.list_params(site.lab.ctx)
    profiles_before = profiles(site)
    default_before = group(site, "Default")
    for path in (
        "/ccmadmin/params",
        "/ccmadmin/params/reset",
        "/ccmadmin/profiles",
        "/ccmadmin/groups",
        "/ccmadmin/groups/edit?name=Default",
        "/ccmadmin/servers",
    ):
        shown = viewer.get(path)
        assert shown.status_code == 200, path
        forms = re.findall(r'<form method="post" action="([^"]+)"', shown.text)
        assert forms == ["/logout"], path  # the only changing form: one's own logout
        assert 'id="add-new"' not in shown.text, path
        assert "Rename..." not in shown.text, path
    token = csrf_of(viewer.get("/ccmadmin/params").text)
    forms = [
        ("/ccmadmin/params", {FIELDS[P.ROLLBACK]: "False"}),
        ("/ccmadmin/params/reset", {"confirm": "yes"}),
        ("/ccmadmin/profiles", {"name": "viewer's", "mode": "encrypted"}),
        ("/ccmadmin/profiles/delete", {"name": next(iter(profiles_before))}),
        ("/ccmadmin/groups", {"name": "Default", "member1": "cucm-sub1"}),
        ("/ccmadmin/servers/cucm-sub1/rename", {"new_host": "renamed"}),
    ]
    for path, data in forms:
        assert viewer.post(path, data={**data, "csrf_token": token}).status_code == 403, path
    headers = {"x-csrf-token": token}
    assert (
        viewer.put(
            "/api/v1/params/Auto-registration", json={"value": "False"}, headers=headers
        ).status_code
        == 403
    )
    assert viewer.put("/api/v1/params", json={"items": []}, headers=headers).status_code == 403
    assert (
        viewer.put("/api/v1/profiles/x", json={"mode": "encrypted"}, headers=headers).status_code
        == 403
    )
    assert (
        viewer.delete(
            "/api/v1/profiles/" + quote(next(iter(profiles_before))), headers=headers
        ).status_code
        == 403
    )
    assert (
        viewer.put(
            "/api/v1/groups/Default", json={"members": ["cucm-sub1"]}, headers=headers
        ).status_code
        == 403
    )
    assert inventory.list_params(site.lab.ctx) == params_before
    assert profiles(site) == profiles_before
    assert group(site, "Default") == default_before
    with reading(site.lab.ctx) as uow:
        assert uow.get_node("cucm-sub1") is not None


# -- in a browser ----------------------------------------------------------------------------------


def test_the_system_pages_in_a_browser(site: Site, browser: Any) -> None:
    page = browse(browser, site, ADMIN)
    page.goto(site.url + "/ccmadmin/params")
    page.select_option(f"#{FIELDS[P.TFTP_DIGEST]}", "SHA-1")
    page.fill(f"#{FIELDS[P.TVS_TTL]}", "3600")
    page.click("#save")
    page.wait_for_selector("section.status.ok")
    assert "TVS Certificate Cache TTL (seconds) = 3600" in page.inner_text("section.status")
    shot(page, "system-params")
    assert inventory.list_params(site.lab.ctx)[P.TVS_TTL] == "3600"
    page.click("#reset")
    page.wait_for_selector("#confirm-reset")
    shot(page, "system-params-reset")
    page.goto(site.url + "/ccmadmin/profiles/new")
    page.fill("#name", "Browser profile")
    page.select_option("#mode", "encrypted")
    page.check("#tftp_encrypted")
    page.click("#save")
    page.wait_for_selector("#profile-name")
    shot(page, "system-profile-edit")
    assert profiles(site)["Browser profile"].tftp_encrypted
    page.goto(site.url + "/ccmadmin/profiles")
    shot(page, "system-profiles")
    page.goto(site.url + "/ccmadmin/groups/edit?name=Default")
    page.select_option("#member1", "cucm-sub1")
    page.select_option("#member2", "cucm-pub")
    page.click("#save")
    page.wait_for_selector("section.status.ok")
    shot(page, "system-group-edit")
    assert group(site, "Default") == ("cucm-sub1", "cucm-pub")
    page.goto(site.url + "/ccmadmin/groups")
    shot(page, "system-groups")
    page.goto(site.url + "/ccmadmin/servers")
    assert page.locator("#servers tbody tr").count() == 2
    shot(page, "system-servers")
    page.goto(site.url + "/ccmadmin/servers/cucm-sub1/rename")
    shot(page, "system-server-rename")
    page.context.close()

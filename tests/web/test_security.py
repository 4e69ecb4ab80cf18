"""The Security pages over HTTPS and in chromium: the mode, the CTL and ITL listings as
``show ctl`` / ``show itl`` print them, the ``utils`` actions with their prompts, eTokens."""

from __future__ import annotations

from typing import Any

from phonetrust.policy.domain import SecurityMode
from phonetrust.service import security
from tests.service.conftest import PASSWORD
from tests.web.conftest import ADMIN, VIEWER, Site, browse, shot
from tests.web.test_certs import form, one_line, pre, status_of


def test_the_itl_listings_are_show_itl_s_and_the_files_download(site: Site) -> None:
    client = site.client(ADMIN)
    page = client.get("/security").text
    assert 'id="security-mode">0 (Non Secure)' in page
    for host in ("cucm-pub", "cucm-sub1"):
        shown = pre(page, f"itl-listing-{host}")
        assert shown.strip() == site.lab.admin("show itl", node=host).strip()
        assert "ITL Record #:1" in shown
        got = client.get(f"/security/{host}/ITLFile.tlv")
        assert got.headers["content-type"] == "application/octet-stream"
        assert got.content == site.lab.file(host, "ITLFile.tlv")
        api = client.get(f"/api/v1/security/{host}/itl")
        assert api.content == got.content
    # Non-secure: no CTL, said as show ctl says it, and nothing to download.
    assert pre(page, "ctl-listing-cucm-pub").strip() == site.lab.admin("show ctl").strip()
    assert 'id="ctl-cucm-pub"' not in page
    assert client.get("/security/cucm-pub/CTLFile.tlv").status_code == 404
    assert client.get("/security/cucm-pub/..%2Fkeys").status_code == 404


def test_the_api_gives_the_listings_and_their_records(site: Site) -> None:
    client = site.client(ADMIN)
    body = client.get("/api/v1/security").json()
    assert body["security_mode"] == 0
    assert [n["host"] for n in body["nodes"]] == ["cucm-pub", "cucm-sub1"]
    itl = body["nodes"][0]["itl"]
    assert itl["text"].strip() == site.lab.admin("show itl").strip()
    assert itl["size"] == len(site.lab.file("cucm-pub", "ITLFile.tlv") or b"")
    assert itl["records"]
    assert itl["records"][0]["role"]
    assert body["nodes"][0]["ctl"] == {
        "present": False,
        "text": site.lab.admin("show ctl"),
    }


def test_update_ctl_is_refused_before_mixed_mode_in_cucm_s_words(site: Site) -> None:
    client = site.client(ADMIN)
    answer = client.get("/security/update-ctl")
    assert answer.status_code == 303
    assert "The cluster is not in Mixed Mode" in status_of(
        client.get(answer.headers["location"]).text
    )


def test_a_read_only_user_sees_no_actions_and_cannot_act(site: Site) -> None:
    viewer = site.client(VIEWER)
    assert 'id="action-mixed-mode"' not in viewer.get("/security").text
    assert 'id="confirm"' not in viewer.get("/security/mixed-mode").text
    token = site.csrf(viewer)
    assert form(viewer, site, "/security/mixed-mode").status_code == 403
    api = viewer.post("/api/v1/security/mixed-mode", headers={"X-CSRF-Token": token})
    assert api.status_code == 403
    assert api.json()["status"] == 403
    assert security.security_mode(site.lab.ctx) is SecurityMode.NON_SECURE


def test_mixed_mode_then_itl_reset_from_the_pages(fresh_site: Site) -> None:
    site = fresh_site
    client = site.client(ADMIN)
    confirm = client.get("/security/mixed-mode").text
    assert "This operation sets the cluster to Mixed mode. Do you want to continue? (y/n):" in (
        pre(confirm, "prompt")
    )
    assert 'id="verdict"' in confirm
    done = form(client, site, "/security/mixed-mode")
    page = client.get(done.headers["location"]).text
    assert "Cluster set to Mixed Mode" in status_of(page)
    assert security.security_mode(site.lab.ctx) is SecurityMode.MIXED
    assert pre(page, "ctl-listing-cucm-pub").strip() == site.lab.admin("show ctl").strip()
    assert 'id="ctl-cucm-pub"' in page
    again = client.get("/security/mixed-mode").text
    assert "The cluster is already in Mixed Mode" in again
    # ITL reset asks the security password, as the CLI does.
    wrong = form(client, site, "/security/itl-reset", password="not-it")  # noqa: S106
    assert "wrong security password" in status_of(client.get(wrong.headers["location"]).text)
    right = form(client, site, "/security/itl-reset", password=PASSWORD)
    said = status_of(client.get(right.headers["location"]).text)
    assert "The reset ITL file was generated successfully" in said
    api = client.post(
        "/api/v1/security/update-ctl", json={}, headers={"X-CSRF-Token": site.csrf(client)}
    )
    assert api.status_code == 200
    assert api.json()["output"][1] == "CTL file Updated"


def test_the_etokens_page_says_what_the_ctl_lists_and_how_to_sign(site: Site) -> None:
    page = site.client(ADMIN).get("/ccmadmin/security/etokens").text
    assert "There is no CTL file" in page
    assert "phonetrust ctl-client set-mixed-mode" in page


def test_the_security_page_in_a_browser(browser: Any, site: Site) -> None:
    page = browse(browser, site, ADMIN)
    page.goto(site.url + "/security")
    assert "ITL Record #:1" in page.inner_text("#itl-listing-cucm-pub")
    shot(page, "security")
    page.click("#action-mixed-mode")
    assert "Do you want to continue?" in page.inner_text("#prompt")
    shot(page, "security-mixed-mode-confirm")
    page.goto(site.url + "/ccmadmin/security/etokens")
    shot(page, "security-etokens")
    assert one_line(page.inner_text("h1")) == "eTokens"
    page.context.close()

"""Logging in, sessions, CSRF, roles and throttling, against the real server over HTTPS."""

from __future__ import annotations

import ssl
from typing import Any

import httpx
import pytest

from phonetrust.service import users
from phonetrust.web.sessions import COOKIE
from tests.web.conftest import ADMIN, VIEWER, Site, browse, csrf_of, login, shot


def test_the_server_presents_the_nodes_tomcat_certificate(site: Site) -> None:
    # A client that trusts only cucm-pub's tomcat certificate completes the handshake...
    assert site.client().get("/login").status_code == 200
    # ...and one that trusts nothing in particular refuses it (it is not a public CA's).
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        httpx.get(site.url + "/login", verify=ssl.create_default_context())


def test_pages_need_a_login_and_answers_carry_secure_headers(site: Site) -> None:
    answer = site.client().get("/account")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/login?next=/account"
    assert answer.headers["strict-transport-security"].startswith("max-age=31536000")
    assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]
    assert answer.headers["x-content-type-options"] == "nosniff"


def test_login_sets_a_secure_httponly_strict_cookie_and_logout_ends_it(site: Site) -> None:
    client = site.client()
    answer = login(client, *ADMIN)
    assert answer.status_code == 303
    cookie = next(v for k, v in answer.headers.multi_items() if k == "set-cookie" and COOKIE in v)
    for flag in ("Secure", "HttpOnly", "SameSite=Strict", "Path=/"):
        assert flag in cookie
    stolen = client.cookies[COOKIE]
    elsewhere = site.client(ADMIN)  # the same user in another browser, or on another node
    home = client.get("/")
    assert home.status_code == 200
    assert "admin" in home.text
    answer = client.post("/logout", data={"csrf_token": csrf_of(home.text)})
    assert answer.headers["location"] == "/login?bye=1"
    # The cookie as it was before logout no longer opens a session.
    again = site.client()
    again.cookies.set(COOKIE, stolen)
    assert again.get("/").status_code == 303
    # Logout ends the user's every session, on every node (kept in the store, not in memory).
    assert elsewhere.get("/").status_code == 303


def test_a_forged_or_tampered_cookie_is_no_session(site: Site) -> None:
    client = site.client(ADMIN)
    value = client.cookies[COOKIE]
    body, _, mac = value.partition(".")
    tampered = site.client()
    tampered.cookies.set(COOKIE, body.replace(body[2], "A" if body[2] != "A" else "B") + "." + mac)
    assert tampered.get("/").status_code == 303


def test_a_form_posted_without_its_csrf_token_is_refused(site: Site) -> None:
    client = site.client(ADMIN)
    answer = client.post("/account/tokens", data={"label": "no token"})
    assert answer.status_code == 403
    assert "security token" in answer.text
    assert not [t for t in users.list_tokens(site.lab.ctx) if t.label == "no token"]


def test_login_form_without_its_token_is_refused(site: Site) -> None:
    client = site.client()
    client.get("/login")
    answer = client.post("/login", data={"username": ADMIN[0], "password": ADMIN[1]})
    assert answer.status_code == 403
    assert COOKIE not in client.cookies


def test_an_open_redirect_after_login_goes_home_instead(site: Site) -> None:
    client = site.client()
    token = csrf_of(client.get("/login?next=//evil.example/").text)
    answer = client.post(
        "/login",
        data={
            "username": ADMIN[0],
            "password": ADMIN[1],
            "csrf_token": token,
            "next": "//evil.example/x",
        },
    )
    assert answer.headers["location"] == "/"


def test_wrong_passwords_lock_the_user_and_the_lock_is_audited(fresh_site: Site) -> None:
    site = fresh_site
    client = site.client()
    for _ in range(users.MAX_FAILURES):
        assert login(client, ADMIN[0], "wrong-password").status_code == 401
    refused = login(client, *ADMIN)  # the right password, too late
    assert refused.status_code == 401
    assert "Invalid username or password" in refused.text  # locked, and not told apart
    with site.lab.ctx.repo.unit_of_work() as uow:
        entries = [e for e in uow.list_audit(50) if e.action == "user locked"]
    assert entries
    assert "127.0.0.1" in entries[0].who
    # Another user from another session is not locked by it.
    assert login(site.client(), *VIEWER).status_code == 303


def test_an_address_is_throttled_whatever_names_it_tries(fresh_site: Site) -> None:
    site = fresh_site
    client = site.client()
    limit = site.server  # the server of the site; the throttle is the app's
    del limit
    for i in range(10):
        assert login(client, f"nobody{i}", "wrong-password").status_code == 401
    answer = login(client, *ADMIN)
    assert answer.status_code == 429
    assert int(answer.headers["retry-after"]) > 0
    with site.lab.ctx.repo.unit_of_work() as uow:
        assert any(e.action == "login throttled" for e in uow.list_audit(50))


def test_a_password_change_ends_the_other_sessions(fresh_site: Site) -> None:
    site = fresh_site
    first, second = site.client(VIEWER), site.client(VIEWER)
    answer = first.post(
        "/account/password",
        data={
            "csrf_token": site.csrf(first),
            "current": VIEWER[1],
            "new": "New-Viewer-Pass-2",
            "again": "New-Viewer-Pass-2",
        },
    )
    assert answer.status_code == 303
    assert "Password+changed" in answer.headers["location"]
    assert first.get("/account").status_code == 200  # this session got a new cookie
    assert second.get("/account").status_code == 303  # the other one ended
    assert login(site.client(), VIEWER[0], "New-Viewer-Pass-2").status_code == 303


def test_api_tokens_are_shown_once_stored_hashed_and_revocable(fresh_site: Site) -> None:
    site = fresh_site
    client = site.client(ADMIN)
    page = client.post("/account/tokens", data={"csrf_token": site.csrf(client), "label": "ci"})
    token = page.text.split('id="new-token">')[1].split("<")[0]
    stored = users.list_tokens(site.lab.ctx, ADMIN[0])
    assert len(stored) == 1
    assert token.split("_")[2] not in stored[0].secret_hash
    api = site.client()
    assert (
        api.get("/api/v1/users/me", headers={"Authorization": f"Bearer {token}"}).json()["name"]
        == ADMIN[0]
    )
    client.post(
        f"/account/tokens/{stored[0].token_id}/revoke", data={"csrf_token": site.csrf(client)}
    )
    refused = api.get("/api/v1/users/me", headers={"Authorization": f"Bearer {token}"})
    assert refused.status_code == 401
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["status"] == 401


def test_log_in_and_out_in_a_real_browser(browser: Any, site: Site) -> None:
    page = browse(browser, site, None)
    page.goto(site.url + "/")
    assert "/login" in page.url
    shot(page, "login")
    page.fill("input[name=username]", ADMIN[0])
    page.fill("input[name=password]", "not-the-password")
    page.click("#login")
    assert "Invalid username or password" in page.inner_text("main")
    page.fill("input[name=username]", ADMIN[0])
    page.fill("input[name=password]", ADMIN[1])
    page.click("#login")
    page.wait_for_url(site.url + "/")
    assert "Standard CCM Super Users" in page.inner_text("header")
    shot(page, "home")
    page.click("#logout")
    page.wait_for_url("**/login?bye=1")
    assert "Logged out." in page.inner_text("main")
    page.context.close()


def test_the_openapi_schema_is_served_and_names_the_resources(site: Site) -> None:
    schema = site.client().get("/api/v1/openapi.json").json()
    paths = schema["paths"]
    for resource in (
        "/api/v1/phones",
        "/api/v1/certificates",
        "/api/v1/params",
        "/api/v1/plan",
        "/api/v1/fleet",
        "/api/v1/audit",
        "/api/v1/users/me",
    ):
        assert resource in paths, resource
    assert not [p for p in paths if not p.startswith("/api/v1/")]  # pages are not API

"""What the web must not hand out: server files through a plan, or guesses at the security
password (the key to every private key), or a session through a stale cookie."""

from __future__ import annotations

import base64
import json
import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from phonetrust.web.sessions import COOKIE, Session, Signer
from phonetrust.web.state import SESSION_PURPOSE
from phonetrust.web.throttle import Throttle
from tests.web.conftest import ADMIN, VIEWER, Site, csrf_of, fresh_site, site
from tests.web.routes import changing

__all__ = ["fresh_site", "site"]


@pytest.mark.parametrize(
    "steps",
    [
        "tftp upload /etc/hostname",
        "device import /etc/passwd",
        "truststore upload Phone-SAST-trust /etc/ssl/certs/ca-certificates.crt",
        "backup restore /etc/shadow",
        "device set SEP001122334455 --lsc /etc/passwd",
        "device set SEP001122334455 --lsc=/etc/passwd",
        'admin -c "utils itl reset remotekey 10.0.0.99 user /tmp/x"',
        "ctl-client update --module /usr/lib/softhsm/libsofthsm2.so",
    ],
)
def test_a_web_plan_never_reads_a_server_file(site: Site, steps: str) -> None:
    for who in (VIEWER, ADMIN):
        client = site.client(who)
        answer = client.post(
            "/api/v1/plan", json={"steps": steps}, headers={"X-CSRF-Token": site.csrf(client)}
        )
        assert answer.status_code == 400, answer.text[:300]
        assert "plan it with `phonetrust plan`" in answer.json()["detail"]
        assert "sha1" not in answer.text
        assert "bytes" not in answer.text


def test_a_plan_posted_with_a_session_needs_its_csrf_header(site: Site) -> None:
    client = site.client(VIEWER)
    answer = client.post("/api/v1/plan", json={"steps": "param list"})
    assert answer.status_code == 403


def test_security_password_guesses_are_throttled_and_audited(fresh_site: Site) -> None:
    site = fresh_site
    client = site.client(ADMIN)
    token = {"X-CSRF-Token": site.csrf(client)}
    statuses = [
        client.post("/api/v1/backup", json={"password": f"guess-{i}"}, headers=token).status_code
        for i in range(12)
    ]
    assert statuses[:10] == [400] * 10
    assert statuses[10:] == [429, 429]
    with site.lab.ctx.repo.unit_of_work() as uow:
        refused = [e for e in uow.list_audit(100) if e.action == "security password refused"]
    assert len(refused) == 10
    assert "127.0.0.1" in refused[0].who
    assert site.client(VIEWER).get("/account").status_code == 200  # logins are not blocked


def test_a_password_change_after_a_refresh_is_due_keeps_the_new_session(site: Site) -> None:
    client = site.client(VIEWER)
    token = site.csrf(client)  # before the cookie is aged: this GET would refresh it
    # The session was last seen two minutes ago: the next request refreshes its cookie.
    signer = Signer(site.lab.ctx.keys.derived_secret(SESSION_PURPOSE))
    body = client.cookies[COOKIE].partition(".")[0]
    data = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    old = signer.dump(Session(data["u"], data["s"], data["e"], data["i"] - 120, data["t"] - 120))
    jar = next(c for c in client.cookies.jar if c.name == COOKIE)
    client.cookies.clear()
    client.cookies.set(COOKIE, old, domain=jar.domain, path=jar.path)
    answer = client.post(
        "/account/password",
        data={
            "csrf_token": token,
            "current": VIEWER[1],
            "new": "Viewer-Password-2",
            "again": "Viewer-Password-2",
        },
    )
    cookies = [v for k, v in answer.headers.multi_items() if k == "set-cookie" and COOKIE in v]
    assert len(cookies) == 1, cookies  # the new session's, not also a refreshed old one
    assert client.get("/account").status_code == 200
    client.post(
        "/account/password",
        data={
            "csrf_token": site.csrf(client),
            "current": "Viewer-Password-2",
            "new": VIEWER[1],
            "again": VIEWER[1],
        },
    )


def test_every_personal_route_needs_a_session(site: Site) -> None:
    anonymous = site.client()
    for route in changing(site.lab.ctx, personal=True):
        if route.template == "/login" or route.api:
            continue
        answer = anonymous.request(route.method, route.path(), data={"csrf_token": "x"})
        assert answer.status_code == 303, route
        assert answer.headers["location"].startswith("/login")


def test_a_burst_of_concurrent_logins_gets_no_more_tries_than_the_window(
    fresh_site: Site,
) -> None:
    site = fresh_site
    clients = [site.client() for _ in range(24)]
    forms = [(c, csrf_of(c.get("/login").text)) for c in clients]
    gate = threading.Barrier(len(forms))

    def guess(pair: tuple[httpx.Client, str]) -> int:
        client, token = pair
        gate.wait()
        form = {"username": "nobody", "password": "guess", "csrf_token": token, "next": "/"}
        return client.post("/login", data=form).status_code

    with ThreadPoolExecutor(len(forms)) as pool:
        statuses = list(pool.map(guess, forms))
    assert statuses.count(401) == Throttle().max_failures, statuses
    assert statuses.count(429) == len(forms) - Throttle().max_failures

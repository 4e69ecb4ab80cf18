"""Hostile input on every form and endpoint: no server error, names escaped everywhere.

The routes are read off the application (tests/web/routes.py), so a page
added later is swept too. A super user sends the hostile values (a
read-only or anonymous client is refused before any value is looked at:
tests/attacks/test_web_roles.py), with a valid CSRF token or API token, so
the values reach the handlers and the service layer.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from phonetrust.service import users
from tests.web.conftest import ADMIN, Site
from tests.web.routes import Route, changing, routes

SLOW = {"/plan", "/api/v1/plan"}
"""Planning starts the CLI on a copy of the cluster (seconds): its input is bounded and
tested by its own tests."""
MARK = '<script>alert("pt")</script>'
HOSTILE = st.one_of(
    st.text(st.characters(codec="utf-8"), max_size=40),
    st.sampled_from(
        [
            MARK,
            '"><img src=x onerror=alert(1)>',
            "../../../../etc/passwd",
            "..%2F..%2Fetc%2Fpasswd",
            "/etc/shadow",
            "\x00",
            "SEP\u202e001122334455",
            "é" * 300,
            "A" * 70_000,
            "-1",
            "99999999999999999999999",
            "NaN",
            "{{7*7}}",
            "' OR 1=1 --",
        ]
    ),
)


JSON_VALUES = st.one_of(
    HOSTILE, st.booleans(), st.integers(), st.none(), st.lists(HOSTILE, max_size=3)
)
"""What a JSON body may carry where a handler expects something else."""


@pytest.fixture(scope="module")
def admin(site: Site) -> tuple[httpx.Client, str, str]:
    client = site.client(ADMIN)
    _, token = users.create_token(site.lab.ctx, ADMIN[0], "hostile")
    return client, site.csrf(client), token


def _send(
    site: Site, who: tuple[httpx.Client, str, str], route: Route, values: dict[str, Any], path: str
) -> httpx.Response:
    client, csrf, token = who
    if route.api:
        return client.request(
            route.method, path, json=values, headers={"Authorization": f"Bearer {token}"}
        )
    return client.request(route.method, path, data={**values, "csrf_token": csrf})


@settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_hostile_values_on_every_change_give_no_server_error(
    site: Site, admin: tuple[httpx.Client, str, str], data: st.DataObject
) -> None:
    candidates = [r for r in changing(site.lab.ctx) if r.template not in SLOW]
    route = data.draw(st.sampled_from(candidates), label="route")
    kinds = JSON_VALUES if route.api else HOSTILE
    values = {name: data.draw(kinds, label=name) for name in route.fields}
    path = (
        route.path(**{p: data.draw(HOSTILE, label=p) for p in route.params})
        if (data.draw(st.booleans(), label="hostile path"))
        else route.path()
    )
    try:
        answer = _send(site, admin, route, values, path)
    except httpx.InvalidURL:
        return  # the client would not even send it
    assert answer.status_code < 500, (route, answer.status_code, answer.text[:500])
    assert site.client().get("/login").status_code == 200  # and the server goes on


def test_odd_encodings_are_refused_cleanly(
    site: Site, admin: tuple[httpx.Client, str, str]
) -> None:
    client, csrf, token = admin
    latin1 = (
        f"csrf_token={csrf}&name=SEP00112233AABB&model=7975&description=".encode() + b"\xe9\xff"
    )
    answer = client.post(
        "/ccmadmin/phones/new",
        content=latin1,
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert answer.status_code < 500
    answer = client.post(
        "/api/v1/phones",
        content=b"\xff\xfe{not json",
        headers={"Authorization": f"Bearer {token}", "content-type": "application/json"},
    )
    assert answer.status_code in (400, 422)
    assert answer.headers["content-type"] == "application/problem+json"
    huge = client.post(
        "/api/v1/phones",
        content=b"x" * (11 * 1024 * 1024),
        headers={"Authorization": f"Bearer {token}"},
    )
    assert huge.status_code == 413


def test_names_with_html_are_escaped_on_every_page(
    site: Site, admin: tuple[httpx.Client, str, str]
) -> None:
    client, csrf, _ = admin
    client.post(
        "/ccmadmin/phones/new",
        data={"csrf_token": csrf, "name": "SEP00AA00BB00CC", "model": "7975", "description": MARK},
    )
    client.post(
        "/ccmadmin/profiles",
        data={"csrf_token": csrf, "name": MARK, "mode": "1", "tftp_encrypted": ""},
    )
    client.post("/account/tokens", data={"csrf_token": csrf, "label": MARK})
    shown = 0
    for route in routes(site.lab.ctx):
        if route.method != "GET" or route.params or route.api:
            continue
        page = client.get(route.template)
        assert MARK not in page.text, route
        shown += "&lt;script&gt;" in page.text
    assert shown >= 2, "the hostile names were not shown anywhere: the test saw nothing"


@pytest.mark.parametrize(
    "trick",
    [
        "../../../../etc/passwd",
        "..%2F..%2F..%2Fetc%2Fpasswd",
        "%00",
        "....//....//etc/passwd",
        "/etc/passwd",
        "C:\\Windows\\win.ini",
        "a" * 5000,
    ],
)
def test_path_tricks_in_downloads_reach_nothing(
    site: Site, admin: tuple[httpx.Client, str, str], trick: str
) -> None:
    client, _, token = admin
    for route in routes(site.lab.ctx):
        if route.method != "GET" or not route.params:
            continue
        path = route.path(**dict.fromkeys(route.params, trick))
        headers = {"Authorization": f"Bearer {token}"} if route.api else {}
        try:
            answer = client.get(path, headers=headers)
        except httpx.InvalidURL:
            continue
        assert answer.status_code < 500, (route, answer.status_code)
        assert b"root:" not in answer.content, route
        assert b"PRIVATE KEY" not in answer.content, route


def test_non_ascii_cookies_and_csrf_tokens_are_refused_not_crashed(site: Site) -> None:
    anonymous = site.client()
    answer = anonymous.get(
        "/account", headers={b"cookie": "__Host-phonetrust=.\xe9\xff".encode("latin-1")}
    )
    assert answer.status_code == 303  # no session, to the login page
    client = site.client(ADMIN)
    answer = client.post("/account/tokens", data={"csrf_token": "\u00e9t\u00e9", "label": "x"})
    assert answer.status_code == 403


def test_the_status_box_shows_only_what_this_server_wrote(
    site: Site, admin: tuple[httpx.Client, str, str]
) -> None:
    client, csrf, _ = admin
    forged = client.get("/account?status=Your+account+is+locked:+call+555-0100&kind=error")
    assert "555-0100" not in forged.text
    made = client.post("/account/tokens/0123456789abcdef/revoke", data={"csrf_token": csrf})
    assert "sig=" in made.headers["location"]
    assert "no API token" in client.get(made.headers["location"]).text
    tampered = made.headers["location"].replace("no+API+token", "call+555-0100")
    assert "555-0100" not in client.get(tampered).text

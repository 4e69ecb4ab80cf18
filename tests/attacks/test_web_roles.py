"""Nothing a read-only user or an anonymous client sends changes anything.

Every changing route of the application (read off the app, so a page added
later is covered without being named here) is asked, with a body its
handler would accept in shape, by an anonymous client (pages: sent to the
login page; API: 401), by the read-only user (403, with and without its
CSRF token) and by the read-only user's API token (403). The cluster is
compared before and after: no change, no audit entry but the logins.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import httpx
import pytest

from phonetrust.service import users
from tests.web.conftest import VIEWER, Site, site

__all__ = ["site"]
from tests.web.routes import READ_ONLY_MAY, Route, changing


def snapshot(site: Site) -> str:
    """A digest of everything a change could touch (logins' audit entries aside)."""
    with site.lab.ctx.repo.unit_of_work() as uow:
        parts = [
            uow.current_version(),
            uow.get_cluster(),
            uow.list_nodes(),
            [(c.node, c.name, c.der) for c in uow.list_own_certificates()],
            uow.list_trusted(),
            uow.list_devices(),
            uow.list_groups(),
            uow.list_profiles(),
            sorted(uow.get_params().items()),
            [(u.name, u.role, u.password_hash, u.session_epoch) for u in uow.list_users()],
            uow.list_api_tokens(),
            uow.list_tftp_extra(),
            [e for e in uow.list_audit(10_000) if e.action not in ("login", "api token add")],
        ]
    return hashlib.sha256(repr(parts).encode()).hexdigest()


def _send(
    client: httpx.Client, route: Route, headers: dict[str, str] | None = None
) -> httpx.Response:
    data = {name: "x" for name in route.fields if name != "csrf_token"}
    if route.api:
        return client.request(route.method, route.path(), json=data, headers=headers)
    return client.request(route.method, route.path(), data=data, headers=headers)


@pytest.fixture(scope="module")
def before(site: Site) -> Iterator[str]:
    state = snapshot(site)
    yield state
    assert snapshot(site) == state, "a refused request changed the cluster"


def test_there_are_changing_routes_to_sweep(site: Site) -> None:
    found = changing(site.lab.ctx)
    assert any(r.api for r in found)
    assert any(not r.api for r in found)


def test_anonymous_clients_change_nothing(site: Site, before: str) -> None:
    client = site.client()
    for route in changing(site.lab.ctx):
        answer = _send(client, route)
        if route.api:
            assert answer.status_code == 401, (route, answer.text[:300])
            assert answer.headers["content-type"] == "application/problem+json"
        else:
            assert answer.status_code == 303, (route, answer.text[:300])
            assert answer.headers["location"].startswith("/login")
    assert snapshot(site) == before


def test_the_read_only_role_is_refused_every_change(site: Site, before: str) -> None:
    client = site.client(VIEWER)
    token = site.csrf(client)
    _, api_token = users.create_token(site.lab.ctx, VIEWER[0], "sweep")
    bearer = site.client()
    for route in changing(site.lab.ctx):
        with_csrf = {"X-CSRF-Token": token}
        if route.template in READ_ONLY_MAY:  # allowed, and still changes nothing
            assert _send(client, route, with_csrf).status_code < 500
            continue
        for answer in (_send(client, route), _send(client, route, with_csrf)):
            assert answer.status_code == 403, (route, answer.status_code, answer.text[:300])
        if route.api:
            answer = _send(bearer, route, {"Authorization": f"Bearer {api_token}"})
            assert answer.status_code == 403, (route, answer.text[:300])
            assert answer.json()["status"] == 403
    with site.lab.ctx.repo.unit_of_work() as uow:  # the token is the test's own change
        uow.delete_api_token(api_token.split("_")[1])
        assert [e for e in uow.list_audit(5) if e.action == "api token add"]

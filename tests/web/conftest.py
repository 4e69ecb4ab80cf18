"""A real web administration on loopback: HTTPS with the node's tomcat certificate.

``site`` serves a private copy of the lab cluster (tests/service/conftest.py)
from a thread of the test process, through the same ``WebServer`` and
application ``phonetrust serve`` runs, so tests can look at the cluster
directly after a click. Clients verify the server's certificate against the
node's tomcat certificate (the chain is checked; the host name is not, the
node is called cucm-pub). ``browser`` is Debian's chromium driven by
Playwright (``executable_path``: nothing is downloaded).
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from phonetrust.net import tls
from phonetrust.net.webserver import WebServer
from phonetrust.policy.domain import CertName
from phonetrust.service import users
from phonetrust.service.identity import own_identity
from phonetrust.store.datadir import DataDir
from phonetrust.testing.clock import FakeClock
from phonetrust.web.app import create_app
from phonetrust.web.state import WebState
from tests.service.conftest import START, Lab, _context

ADMIN = ("admin", "Admin-Password-1")
VIEWER = ("viewer", "Viewer-Password-1")
CHROMIUM = "/usr/bin/chromium"
SCREENSHOTS = Path(
    os.environ.get("PHONETRUST_SCREENSHOTS", Path(__file__).parents[2] / "build" / "screenshots")
)
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass
class Site:
    lab: Lab
    url: str
    trust: ssl.SSLContext
    server: WebServer
    clients: list[httpx.Client] = field(default_factory=list)

    def client(self, who: tuple[str, str] | None = None) -> httpx.Client:
        """An HTTPS client of this site, logged in as ``who`` through the login form."""
        client = httpx.Client(base_url=self.url, verify=self.trust, timeout=60)
        self.clients.append(client)
        if who is not None:
            answer = login(client, *who)
            assert answer.status_code == 303, answer.text[:500]
        return client

    def csrf(self, client: httpx.Client, path: str = "/account") -> str:
        """The CSRF token of the client's session, read off a page as a browser would."""
        return csrf_of(client.get(path).text)


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found is not None, "no CSRF token on the page"
    return found.group(1)


def login(client: httpx.Client, name: str, password: str) -> httpx.Response:
    token = csrf_of(client.get("/login").text)
    return client.post(
        "/login", data={"username": name, "password": password, "csrf_token": token, "next": "/"}
    )


def trusting(lab: Lab, host: str = "cucm-pub") -> ssl.SSLContext:
    cert, _ = own_identity(lab.ctx, host, CertName.TOMCAT)
    context = ssl.create_default_context(cadata=cert.public_bytes(Encoding.PEM).decode())
    context.check_hostname = False  # the node is cucm-pub; the test reaches 127.0.0.1
    return context


def serve(lab: Lab, host: str = "cucm-pub") -> Iterator[Site]:
    """The web administration of ``lab`` on a free loopback port, until the iterator ends."""
    cert, key = own_identity(lab.ctx, host, CertName.TOMCAT)
    app = create_app(WebState(lab.ctx, host, lab.where.root))
    loop = asyncio.new_event_loop()
    started = threading.Event()
    holder: dict[str, Any] = {}

    async def main() -> None:
        holder["server"] = await WebServer.start(app, tls.server_context(cert, key), port=0)
        holder["stop"] = asyncio.Event()
        started.set()
        await holder["stop"].wait()
        await holder["server"].stop()

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    thread.start()
    assert started.wait(30), "the web server did not start"
    server: WebServer = holder["server"]
    site = Site(lab, f"https://127.0.0.1:{server.port}", trusting(lab, host), server)
    try:
        yield site
    finally:
        for client in site.clients:
            client.close()
        loop.call_soon_threadsafe(holder["stop"].set)
        thread.join(30)
        loop.close()


def new_lab(template: Path, root: Path) -> Lab:
    """A private copy of the lab cluster with the two web users."""
    shutil.copytree(template, root)
    where = DataDir.locate(root)
    clock = FakeClock(START + 3600)
    lab = Lab(where, _context(where, clock), clock)
    users.add_user(lab.ctx, *ADMIN, users.SUPER_USERS)
    users.add_user(lab.ctx, *VIEWER, users.READ_ONLY)
    return lab


@pytest.fixture(scope="module")
def site(template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """One served cluster per test module (cluster changes made by a test stay for the next)."""
    lab = new_lab(template, tmp_path_factory.mktemp("web") / "data")
    try:
        yield from serve(lab)
    finally:
        lab.ctx.repo.close()


@pytest.fixture
def fresh_site(template: Path, tmp_path: Path) -> Iterator[Site]:
    """A served cluster of this test alone."""
    lab = new_lab(template, tmp_path / "data")
    try:
        yield from serve(lab)
    finally:
        lab.ctx.repo.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's chromium, headless, driven by Playwright.

    Per module, not per session: while Playwright's synchronous API is open,
    its event loop counts as running in this thread, and every other test's
    ``asyncio.run`` on the same xdist worker would fail."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: the README's test command installs Debian's chromium")
    from playwright.sync_api import sync_playwright  # noqa: PLC0415

    with sync_playwright() as p:
        found = p.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-dev-shm-usage",
            ],
        )
        yield found
        found.close()


def browse(browser: Any, site: Site, who: tuple[str, str] | None = ADMIN) -> Any:
    """A new browser page (own cookies) on ``site``, logged in as ``who`` through the form.

    The browser trusts nothing it was not told: it is told to accept this
    site's self-signed tomcat certificate, as an administrator does once."""
    context = browser.new_context(ignore_https_errors=True, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(20_000)
    if who is not None:
        page.goto(site.url + "/login")
        page.fill("input[name=username]", who[0])
        page.fill("input[name=password]", who[1])
        page.click("#login")
        page.wait_for_url(re.compile(r".*/(\?.*)?$"))
    return page


def shot(page: Any, name: str) -> Path:
    """Save a screenshot of the whole page under build/screenshots (they are the product)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path

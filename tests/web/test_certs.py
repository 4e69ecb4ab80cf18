"""Certificate Management over HTTPS and in chromium: list, details, downloads, regenerate
(with the planner's verdict and CUCM's 5-minute refusal), upload and delete, the API."""

from __future__ import annotations

import hashlib
import html
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from phonetrust.formats.names import serial_bytes
from phonetrust.policy.domain import CertName, TrustStore
from phonetrust.service import truststores
from phonetrust.service.nodes import NODE_CERTS
from tests.planner.booted import ONE_NODE, add_phones, record_boots
from tests.service.helpers import current
from tests.web.conftest import ADMIN, VIEWER, Site, browse, shot

PUB = "cucm-pub"
DETAILS = "/cmplatform/certificates/cucm-pub/{}"
HOLD_SENTENCE = (
    "CallManager certificate was modified in the last 5 minutes. Please re-try "
    "regenerating TVS certificate at a later time"
)
MODERN, OLD = "SEP00AA00000001", "SEP00AA00000002"


def one_line(text: str) -> str:
    return " ".join(text.split())


def pre(page_html: str, element_id: str) -> str:
    found = re.search(rf'<pre class="listing[^"]*" id="{element_id}">(.*?)</pre>', page_html, re.S)
    assert found is not None, element_id
    return html.unescape(found.group(1))


def status_of(page_html: str) -> str:
    found = re.search(
        r'<section class="status[^"]*" role="status">\s*<h2>Status</h2>\s*<p>(.*?)</p>',
        page_html,
        re.S,
    )
    assert found is not None
    return one_line(html.unescape(found.group(1)))


def a_certificate(cn: str) -> x509.Certificate:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    now = datetime.now(UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + timedelta(days=30))
        .sign(key, hashes.SHA256())
    )


def form(client: httpx.Client, site: Site, path: str, **fields: str) -> httpx.Response:
    return client.post(path, data={"csrf_token": site.csrf(client), **fields})


def test_the_list_shows_every_own_certificate_of_the_node(site: Site) -> None:
    page = site.client(ADMIN).get("/cmplatform/certificates?node=cucm-pub")
    assert page.status_code == 200
    for name in (*NODE_CERTS, CertName.ITLRECOVERY):
        assert f'href="{DETAILS.format(name.value)}"' in page.text
    assert page.text.count("<td>certs</td>") == len(NODE_CERTS) + 1
    sub = site.client(ADMIN).get("/cmplatform/certificates?node=cucm-sub1&sort=expires&dir=desc")
    assert 'href="/cmplatform/certificates/cucm-sub1/TVS"' in sub.text
    assert site.client(ADMIN).get("/cmplatform/certificates?node=nowhere").status_code == 404


def test_details_show_the_certificates_own_facts_as_show_cert_own_prints_them(site: Site) -> None:
    cert = current(site.lab.ctx, PUB, CertName.CALLMANAGER)
    page = site.client(ADMIN).get(DETAILS.format("CallManager")).text
    assert "Certificate Details for cucm-pub, CallManager" in page
    assert status_of(page) == "Ready"
    for label, value in (
        ("File Name", "CallManager.pem"),
        ("Certificate Purpose", "CallManager"),
        ("Certificate Type", "certs"),
        ("Certificate Group", "product-cm"),
        ("Serial Number", serial_bytes(cert.serial_number).hex().upper()),
        ("SignatureAlgorithm", "SHA256withRSA (1.2.840.113549.1.1.11)"),
        ("Key", "RSA (1.2.840.113549.1.1.1)"),
    ):
        assert f'<th scope="row">{label}</th><td>{value}</td>' in page, label
    cn = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    assert f"Subject Name</th><td>CN={cn!s}, " in page
    # The File Data block is the admin CLI's `show cert own` line for line.
    assert pre(page, "cert-text").strip() == site.lab.admin("show cert own CallManager").strip()


def test_downloads_are_the_stored_certificate_and_never_a_private_key(site: Site) -> None:
    client = site.client(ADMIN)
    stored = current(site.lab.ctx, PUB, CertName.TOMCAT)
    got = client.get(DETAILS.format("tomcat") + "/download.pem")
    assert got.status_code == 200
    assert 'filename="tomcat.pem"' in got.headers["content-disposition"]
    assert x509.load_pem_x509_certificate(got.content) == stored
    der = client.get(DETAILS.format("tomcat") + "/download.der")
    assert der.content == stored.public_bytes(serialization.Encoding.DER)
    # Every download a page links to, and every API read of a certificate: no key anywhere.
    links: set[str] = set()
    for path in ("/cmplatform/certificates", "/security"):
        links.update(
            re.findall(r'href="([^"]+(?:download\.(?:pem|der)|\.tlv))"', client.get(path).text)
        )
    for name in (*NODE_CERTS, CertName.ITLRECOVERY):
        links.update(
            re.findall(
                r'href="([^"]+download\.(?:pem|der))"', client.get(DETAILS.format(name.value)).text
            )
        )
        links.add(f"/api/v1/certificates/{PUB}/{name.value}")
    links.update(("/api/v1/certificates", "/api/v1/truststores", "/api/v1/security"))
    assert len(links) >= 14
    for link in links:
        answer = client.get(html.unescape(link))
        assert answer.status_code == 200, link
        assert b"PRIVATE KEY" not in answer.content, link
    # A path trick is a 404, not a file.
    assert (
        client.get("/cmplatform/certificates/cucm-pub/..%2F..%2Fkeys/download.pem").status_code
        == 404
    )


def test_upload_a_certificate_then_delete_it(site: Site) -> None:
    client = site.client(ADMIN)
    cert = a_certificate("Upload <Test> & Co")
    der = cert.public_bytes(serialization.Encoding.DER)
    sha = hashlib.sha256(der).hexdigest()
    answer = client.post(
        "/cmplatform/trust/upload",
        data={"csrf_token": site.csrf(client), "purpose": "Phone-SAST-trust", "description": "lab"},
        files={"upload_file": ("sast.der", der, "application/pkix-cert")},
    )
    assert answer.status_code == 303
    assert answer.headers["location"].startswith(f"/cmplatform/trust/Phone-SAST-trust/{sha}?")
    stored = truststores.listing(site.lab.ctx, TrustStore.PHONE_SAST)
    assert [t.der for t in stored] == [der]
    view = client.get(answer.headers["location"]).text
    assert "Certificate uploaded to Phone-SAST-trust." in view
    assert "Upload &lt;Test&gt; &amp; Co" in view
    assert "<Test>" not in view
    listed = client.get("/cmplatform/certificates?store=Phone-SAST-trust").text
    assert f"/cmplatform/trust/Phone-SAST-trust/{sha}" in listed
    # Not confirmed: nothing deleted.
    base = f"/cmplatform/trust/Phone-SAST-trust/{sha}"
    assert "kind=error" in form(client, site, base + "/delete").headers["location"]
    assert truststores.listing(site.lab.ctx, TrustStore.PHONE_SAST)
    assert 'id="verdict"' in client.get(base + "/delete").text
    done = form(client, site, base + "/delete", confirm="yes")
    assert done.status_code == 303
    assert "Certificate deleted" in client.get(done.headers["location"]).text
    assert truststores.listing(site.lab.ctx, TrustStore.PHONE_SAST) == []


def test_an_upload_that_is_no_certificate_is_refused_clearly(site: Site) -> None:
    client = site.client(ADMIN)
    key = ec.generate_private_key(ec.SECP256R1())
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    cases = {
        b"hello, not a certificate": "no certificate found",
        key_pem: "the file holds a private key",
        b"x" * (65 * 1024): "larger than 64 KB",
    }
    before = truststores.listing(site.lab.ctx)
    for data, said in cases.items():
        answer = client.post(
            "/cmplatform/trust/upload",
            data={"csrf_token": site.csrf(client), "purpose": "CallManager-trust"},
            files={"upload_file": ("junk.pem", data, "application/octet-stream")},
        )
        assert answer.status_code == 303
        assert "kind=error" in answer.headers["location"]
        assert said in status_of(client.get(answer.headers["location"]).text)
    assert truststores.listing(site.lab.ctx) == before


def test_a_read_only_user_sees_no_change_buttons_and_its_posts_are_refused(site: Site) -> None:
    admin = site.client(ADMIN)
    der = a_certificate("kept").public_bytes(serialization.Encoding.DER)
    truststores.upload(site.lab.ctx, TrustStore.CALLMANAGER, x509.load_der_x509_certificate(der))
    sha = hashlib.sha256(der).hexdigest()
    viewer = site.client(VIEWER)
    details = viewer.get(DETAILS.format("CallManager")).text
    assert 'id="regenerate"' not in details
    assert 'id="download-pem"' in details
    assert 'id="upload"' not in viewer.get("/cmplatform/certificates").text
    assert 'id="delete"' not in viewer.get(f"/cmplatform/trust/CallManager-trust/{sha}").text
    assert 'id="confirm"' not in viewer.get(DETAILS.format("CallManager") + "/regenerate").text
    assert 'id="upload-form"' not in viewer.get("/cmplatform/trust/upload").text
    assert 'id="delete"' in admin.get(f"/cmplatform/trust/CallManager-trust/{sha}").text
    before = current(site.lab.ctx, PUB, CertName.CALLMANAGER)
    token = site.csrf(viewer)
    refused = [
        viewer.post(DETAILS.format("CallManager") + "/regenerate", data={"csrf_token": token}),
        viewer.post(
            "/cmplatform/trust/upload",
            data={"csrf_token": token, "purpose": "CallManager-trust"},
            files={
                "upload_file": (
                    "a.der",
                    a_certificate("x").public_bytes(serialization.Encoding.DER),
                )
            },
        ),
        viewer.post(
            f"/cmplatform/trust/CallManager-trust/{sha}/delete",
            data={"csrf_token": token, "confirm": "yes"},
        ),
    ]
    assert [r.status_code for r in refused] == [403, 403, 403]
    assert current(site.lab.ctx, PUB, CertName.CALLMANAGER) == before
    assert [t.der for t in truststores.listing(site.lab.ctx, TrustStore.CALLMANAGER)] == [der]
    api = [
        viewer.post(
            f"/api/v1/certificates/{PUB}/CallManager/regenerate",
            json={},
            headers={"X-CSRF-Token": token},
        ),
        viewer.delete(
            f"/api/v1/truststores/CallManager-trust/{sha}", headers={"X-CSRF-Token": token}
        ),
    ]
    assert [r.status_code for r in api] == [403, 403]
    assert api[0].headers["content-type"] == "application/problem+json"
    assert current(site.lab.ctx, PUB, CertName.CALLMANAGER) == before
    truststores.delete(site.lab.ctx, TrustStore.CALLMANAGER, der)


def test_the_api_lists_shows_uploads_and_deletes(site: Site) -> None:
    client = site.client(ADMIN)
    headers = {"X-CSRF-Token": site.csrf(client)}
    listed = client.get("/api/v1/certificates", params={"node": PUB}).json()
    assert listed["total"] == len(NODE_CERTS) + 1
    assert {i["name"] for i in listed["items"]} == {
        n.value for n in (*NODE_CERTS, CertName.ITLRECOVERY)
    }
    assert client.get("/api/v1/certificates", params={"node": PUB, "limit": 2}).json()["total"] == 6
    one = client.get(f"/api/v1/certificates/{PUB}/tvs").json()
    stored = current(site.lab.ctx, PUB, CertName.TVS)
    assert x509.load_pem_x509_certificate(one["pem"].encode()) == stored
    assert one["group"] == "product-cm"
    assert one["certificate"]["serial"] == format(stored.serial_number, "x")
    missing = client.get(f"/api/v1/certificates/{PUB}/nothing")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    cert = a_certificate("api upload")
    pem = cert.public_bytes(serialization.Encoding.PEM).decode()
    made = client.post(
        "/api/v1/truststores", json={"store": "Phone-SAST-trust", "pem": pem}, headers=headers
    )
    assert made.status_code == 201, made.text
    sha = made.json()["certificate"]["sha256"]
    assert made.headers["location"] == f"/api/v1/truststores/Phone-SAST-trust/{sha}"
    items = client.get("/api/v1/truststores", params={"store": "Phone-SAST-trust"}).json()["items"]
    assert [i["certificate"]["sha256"] for i in items] == [sha]
    bad = client.post(
        "/api/v1/truststores", json={"store": "Phone-SAST-trust", "pem": "junk"}, headers=headers
    )
    assert bad.status_code == 400
    assert "no certificate" in bad.json()["detail"]
    assert (
        client.post(
            "/api/v1/truststores", json={"store": "Nope", "pem": pem}, headers=headers
        ).status_code
        == 422
    )
    assert (
        client.delete(f"/api/v1/truststores/Phone-SAST-trust/{sha}", headers=headers).status_code
        == 204
    )
    assert (
        client.delete(f"/api/v1/truststores/Phone-SAST-trust/{sha}", headers=headers).status_code
        == 404
    )
    assert truststores.listing(site.lab.ctx, TrustStore.PHONE_SAST) == []


def booted(site: Site) -> None:
    """Two phones of a group whose only server is the publisher, seen booting (B2)."""
    add_phones(site.lab, (MODERN, "8845"), (OLD, "7960"), group=ONE_NODE)
    record_boots(site.lab, MODERN, OLD)


def test_a_regeneration_that_locks_phones_needs_the_box_ticked(fresh_site: Site) -> None:
    site = fresh_site
    booted(site)
    client = site.client(ADMIN)
    headers = {"X-CSRF-Token": site.csrf(client)}
    ok = client.post(f"/api/v1/certificates/{PUB}/CallManager/regenerate", json={}, headers=headers)
    assert ok.status_code == 200, ok.text
    assert ok.json()["verdict"]["counts"]["tvs"] == 1
    assert ok.json()["verdict"]["newly_locked"] == 0
    held = client.post(f"/api/v1/certificates/{PUB}/TVS/regenerate", json={}, headers=headers)
    assert held.status_code == 409
    assert one_line(held.json()["detail"]) == HOLD_SENTENCE
    site.lab.later(301)
    tvs = current(site.lab.ctx, PUB, CertName.TVS)
    confirm = client.get(DETAILS.format("TVS") + "/regenerate").text
    assert "This change locks out 1 of 2 phones" in confirm
    assert 'id="accept-lockout"' in confirm
    assert MODERN in confirm
    assert current(site.lab.ctx, PUB, CertName.TVS) == tvs  # the verdict changed nothing
    refused = form(client, site, DETAILS.format("TVS") + "/regenerate")
    assert refused.status_code == 409
    assert "locks out 1 of 2 phones" in status_of(refused.text)
    assert current(site.lab.ctx, PUB, CertName.TVS) == tvs
    api = client.post(
        f"/api/v1/certificates/{PUB}/TVS/regenerate",
        json={"accept_lockout": False},
        headers=headers,
    )
    assert api.status_code == 409
    assert [p["device"] for p in api.json()["verdict"]["locked"]] == [MODERN]
    accepted = form(client, site, DETAILS.format("TVS") + "/regenerate", accept_lockout="yes")
    assert accepted.status_code == 303
    assert "kind=error" not in accepted.headers["location"]
    assert current(site.lab.ctx, PUB, CertName.TVS) != tvs


def test_regenerate_callmanager_then_tvs_and_see_the_hold_refusal(
    browser: Any, fresh_site: Site
) -> None:
    site = fresh_site
    booted(site)
    page = browse(browser, site, ADMIN)
    page.goto(site.url + "/cmplatform/certificates")
    shot(page, "certs-list")
    page.click(f'a[href="{DETAILS.format("CallManager")}"]')
    assert "Certificate Details for cucm-pub, CallManager" in page.inner_text("h1")
    shot(page, "certs-details")
    page.click("#regenerate")
    assert "No phone is locked out by this change" in page.inner_text("#verdict")
    shot(page, "certs-regenerate-verdict")
    page.click("#confirm")
    page.wait_for_url(re.compile(r".*/CallManager\?status=.*"))
    assert "Successfully Regenerated Certificate for CallManager." in page.inner_text(".status")
    page.goto(site.url + DETAILS.format("TVS"))
    page.click("#regenerate")
    page.wait_for_url(re.compile(r".*/TVS\?status=.*"))
    assert one_line(page.inner_text(".status.bad")) == "Status " + HOLD_SENTENCE
    shot(page, "certs-regenerate-refused")
    page.context.close()

"""Certificate Management's trust stores: Upload Certificate, view, download, delete.

The trust stores (``Phone-SAST-trust``, ``CallManager-trust``, ...) are the
cluster's; a certificate in one is named in URLs by its store and the
SHA-256 of its DER, which is what the API names it by too. Uploads are
the CLI's ``truststore upload``: one certificate, PEM or DER, bounded in
size, never with a private key.
"""

from __future__ import annotations

import hashlib
from typing import Annotated

from cryptography.hazmat.primitives.serialization import Encoding
from fastapi import File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, Response

from phonetrust.errors import LocalError
from phonetrust.policy.domain import TrustStore
from phonetrust.service import truststores
from phonetrust.web import certfacts as facts
from phonetrust.web.auth import PageAdmin, PageChanger, PageReader
from phonetrust.web.pages.certs import BASE, _download, router
from phonetrust.web.render import done, page
from phonetrust.web.verdicts import WouldLock, apply_change, predict_change

UPLOAD = "/cmplatform/trust/upload"
Text = Annotated[str, Form(max_length=200)]
Flag = Annotated[str, Form(max_length=8)]


def trust_path(store: TrustStore, sha256: str) -> str:
    return f"/cmplatform/trust/{store.value}/{sha256}"


@router.get(UPLOAD, response_class=HTMLResponse)
def upload_form(request: Request, caller: PageReader, store: str = "") -> Response:
    chosen = facts.trust_store(store).value if store else TrustStore.PHONE_SAST.value
    return page(
        request,
        caller,
        "certs_upload.html",
        title="Upload Certificate",
        stores=[s.value for s in TrustStore],
        chosen=chosen,
        limit=facts.MAX_UPLOAD // 1024,
    )


@router.post(UPLOAD, response_class=HTMLResponse)
def upload(
    caller: PageChanger,
    purpose: Text,
    upload_file: Annotated[UploadFile, File()],
    description: Text = "",
) -> Response:
    """Read at most one byte over the limit: a huge file is refused without being kept."""
    data = upload_file.file.read(facts.MAX_UPLOAD + 1)
    source = (upload_file.filename or "the file")[:80]
    try:
        store = TrustStore.parse(purpose)
        cert = facts.read_upload(data, source)
        added = truststores.upload(caller.ctx, store, cert, description)
    except LocalError as exc:
        return done(UPLOAD, str(exc), error=True)
    sha = hashlib.sha256(cert.public_bytes(Encoding.DER)).hexdigest()
    said = (
        f"Certificate uploaded to {store.value}."
        if added
        else f"{store.value} already holds that certificate."
    )
    return done(trust_path(store, sha), said)


@router.get("/cmplatform/trust/{store}/{sha256}", response_class=HTMLResponse)
def trusted_details(request: Request, caller: PageReader, store: str, sha256: str) -> Response:
    found = facts.find_trusted(caller.ctx, store, sha256)
    return page(
        request,
        caller,
        "certs_trust.html",
        title=f"Certificate Details for {found.store.value}",
        found=found,
        sha256=sha256,
        settings=facts.trusted_settings(found),
        data=facts.file_data(found.der),
        base=trust_path(found.store, sha256),
        status=request.query_params.get("status", "")[:300] or "Ready",
    )


@router.get("/cmplatform/trust/{store}/{sha256}/download.pem")
def trusted_pem(caller: PageReader, store: str, sha256: str) -> Response:
    found = facts.find_trusted(caller.ctx, store, sha256)
    name = f"{found.store.value}-{sha256[:16]}.pem"
    return _download(facts.pem_of(found.der), name, "application/x-pem-file")


@router.get("/cmplatform/trust/{store}/{sha256}/download.der")
def trusted_der(caller: PageReader, store: str, sha256: str) -> Response:
    found = facts.find_trusted(caller.ctx, store, sha256)
    return _download(found.der, f"{found.store.value}-{sha256[:16]}.der", "application/pkix-cert")


@router.get("/cmplatform/trust/{store}/{sha256}/delete", response_class=HTMLResponse)
def delete_confirm(request: Request, caller: PageAdmin, store: str, sha256: str) -> Response:
    found = facts.find_trusted(caller.ctx, store, sha256)
    verdict = predict_change(
        caller.ctx, lambda ctx: truststores.delete(ctx, found.store, found.der)
    )
    return page(
        request,
        caller,
        "certs_delete.html",
        title=f"Delete Certificate from {found.store.value}",
        found=found,
        settings=facts.trusted_settings(found),
        verdict=verdict,
        base=trust_path(found.store, sha256),
    )


@router.post("/cmplatform/trust/{store}/{sha256}/delete", response_class=HTMLResponse)
def delete(  # noqa: PLR0917 - FastAPI passes the path and form fields by name
    request: Request,
    caller: PageChanger,
    store: str,
    sha256: str,
    confirm: Flag = "",
    accept_lockout: Flag = "",
) -> Response:
    found = facts.find_trusted(caller.ctx, store, sha256)
    back = trust_path(found.store, sha256)
    if confirm != "yes":
        return done(back, "Tick the confirmation to delete the certificate", error=True)
    try:
        apply_change(
            caller.ctx,
            lambda ctx: truststores.delete(ctx, found.store, found.der),
            accept_lockout=bool(accept_lockout),
        )
    except WouldLock as exc:
        return page(
            request,
            caller,
            "certs_delete.html",
            409,
            title=f"Delete Certificate from {found.store.value}",
            found=found,
            settings=facts.trusted_settings(found),
            verdict=exc.verdict,
            base=back,
            status=str(exc),
            status_error=True,
        )
    except LocalError as exc:
        return done(back, str(exc), error=True)
    return done(
        f"{BASE}?store={found.store.value}", f"Certificate deleted from {found.store.value}."
    )

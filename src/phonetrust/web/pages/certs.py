"""OS Administration > Security > Certificate Management: a node's own certificates.

Find and List, Certificate Details (CUCM's Status box, Certificate
Settings, Certificate File Data), the .PEM and .DER downloads, and
Regenerate: the confirm page shows the planner's verdict, the POST makes
the same service call as the admin CLI's ``set cert regen NAME``. A
refusal (the 5-minute hold) is checked before anyone is asked to confirm,
as CUCM does, and again when the change is made; either way it lands in
the Status box in CUCM's words. Trust stores are in :mod:`.certs_trust`,
whose routes join this router.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from phonetrust.errors import LocalError
from phonetrust.policy.domain import CertName, TrustStore
from phonetrust.service import nodes
from phonetrust.web import certfacts as facts
from phonetrust.web.auth import PageAdmin, PageChanger, PageReader
from phonetrust.web.render import done, page, table
from phonetrust.web.verdicts import WouldLock, apply_change, predict_change

router = APIRouter(include_in_schema=False)
BASE = "/cmplatform/certificates"
Flag = Annotated[str, Form(max_length=8)]


def details_path(host: str, name: CertName) -> str:
    return f"{BASE}/{quote(host)}/{name.value}"


@router.get(BASE, response_class=HTMLResponse)
def find_and_list(
    request: Request, caller: PageReader, node: str = "", store: str = "", find: str = ""
) -> Response:
    """Both kinds, as CUCM lists them: the node's ``certs`` and the ``trust-certs``."""
    host = facts.known_node(caller.ctx, node) if node else request.app.state.web.node
    rows = facts.own_rows(caller.ctx, host)
    chosen = facts.trust_store(store) if store else None
    rows += facts.trust_rows(caller.ctx, chosen)
    if chosen is not None:
        rows = [r for r in rows if r.purpose == chosen.value]
    if find:
        needle = find[:100].lower()
        rows = [r for r in rows if needle in f"{r.purpose} {r.common_name}".lower()]
    found = table(
        request,
        rows,
        keys={
            "purpose": lambda r: r.purpose,
            "type": lambda r: r.type,
            "group": lambda r: r.group,
            "common_name": lambda r: r.common_name,
            "issuer": lambda r: r.issuer,
            "expires": lambda r: r.not_after.timestamp(),
            "key": lambda r: r.key,
        },
        default="type",
        keep=("node", "store", "find"),
    )
    return page(
        request,
        caller,
        "certs.html",
        title="Certificate List",
        table=found,
        host=host,
        nodes=facts.node_names(caller.ctx),
        stores=[s.value for s in TrustStore],
        store=chosen.value if chosen else "",
        find=find[:100],
    )


@router.get(BASE + "/{host}/{name}", response_class=HTMLResponse)
def details(request: Request, caller: PageReader, host: str, name: str) -> Response:
    own = facts.find_own(caller.ctx, host, name)
    return page(
        request,
        caller,
        "certs_detail.html",
        title=f"Certificate Details for {own.node}, {own.name.value}",
        own=own,
        settings=facts.settings(own),
        data=facts.file_data(own.der),
        facts_list=facts.file_facts(own.der),
        base=details_path(own.node, own.name),
        status=request.query_params.get("status", "")[:300] or "Ready",
    )


@router.get(BASE + "/{host}/{name}/download.pem")
def download_pem(caller: PageReader, host: str, name: str) -> Response:
    """The certificate only: the key stays sealed in the store, no route reads it."""
    own = facts.find_own(caller.ctx, host, name)
    return _download(facts.pem_of(own.der), f"{own.name.value}.pem", "application/x-pem-file")


@router.get(BASE + "/{host}/{name}/download.der")
def download_der(caller: PageReader, host: str, name: str) -> Response:
    own = facts.find_own(caller.ctx, host, name)
    return _download(own.der, f"{own.name.value}.der", "application/pkix-cert")


def _download(data: bytes, filename: str, media: str) -> Response:
    """``filename`` is made of validated parts only (a CertName, a store, hex)."""
    return Response(
        data,
        media_type=media,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@router.get(BASE + "/{host}/{name}/regenerate", response_class=HTMLResponse)
def regenerate_confirm(request: Request, caller: PageAdmin, host: str, name: str) -> Response:
    """The question, after the planner's verdict; a held certificate is refused at once."""
    own = facts.find_own(caller.ctx, host, name)
    try:
        verdict = predict_change(caller.ctx, facts.regeneration(own.node, own.name))
    except LocalError as exc:
        return done(details_path(own.node, own.name), str(exc), error=True)
    return page(
        request,
        caller,
        "certs_regen.html",
        title=f"Regenerate Certificate for {own.node}, {own.name.value}",
        own=own,
        verdict=verdict,
        base=details_path(own.node, own.name),
    )


@router.post(BASE + "/{host}/{name}/regenerate", response_class=HTMLResponse)
def regenerate(
    request: Request, caller: PageChanger, host: str, name: str, accept_lockout: Flag = ""
) -> Response:
    own = facts.find_own(caller.ctx, host, name)
    to = details_path(own.node, own.name)
    try:
        apply_change(
            caller.ctx,
            facts.regeneration(own.node, own.name),
            accept_lockout=bool(accept_lockout),
        )
    except WouldLock as exc:
        return page(
            request,
            caller,
            "certs_regen.html",
            409,
            title=f"Regenerate Certificate for {own.node}, {own.name.value}",
            own=own,
            verdict=exc.verdict,
            base=to,
            status=str(exc),
            status_error=True,
        )
    except LocalError as exc:
        return done(to, str(exc), error=True)
    return done(to, nodes.regenerated_message(own.name))


from phonetrust.web.pages import certs_trust  # noqa: E402 - its routes join this router

__all__ = ["certs_trust", "router"]

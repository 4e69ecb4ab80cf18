"""Monitoring > Audit Log: the log ``phonetrust audit`` prints, newest first, searchable.

Web and API changes are in it with their user and address (``admin (web
127.0.0.1)``), beside the CLI's and the services' own. The store lists the
newest entries only (no offset or filter of its own), so the search looks
at the newest :data:`SCAN` entries and says so when there are more.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from phonetrust.service.changes import reading
from phonetrust.service.context import Context
from phonetrust.store.repository import AuditEntry
from phonetrust.web.auth import PageReader
from phonetrust.web.render import page, table

router = APIRouter(include_in_schema=False)

SCAN = 20_000
"""How many of the newest entries a search looks at."""
FILTER_MAX = 100


@dataclass(frozen=True, slots=True)
class Found:
    entries: list[AuditEntry]
    capped: bool
    """More entries exist beyond the ones searched."""


def search(ctx: Context, user: str = "", action: str = "") -> Found:
    """The newest entries whose user and action contain the given texts (any case)."""
    with reading(ctx) as uow:
        entries = uow.list_audit(SCAN + 1)
    capped = len(entries) > SCAN
    who, what = user.strip().lower()[:FILTER_MAX], action.strip().lower()[:FILTER_MAX]
    kept = [
        e
        for e in entries[:SCAN]
        if who in e.who.lower() and (what in e.action.lower() or what in e.detail.lower())
    ]
    return Found(kept, capped)


@router.get("/audit", response_class=HTMLResponse)
def audit_page(request: Request, caller: PageReader, user: str = "", action: str = "") -> Response:
    found = search(caller.ctx, user, action)
    rows = table(
        request,
        found.entries,
        keys={
            "at": lambda e: -e.at.timestamp(),
            "who": lambda e: e.who,
            "action": lambda e: e.action,
        },
        default="at",
        keep=("user", "action"),
    )
    return page(
        request,
        caller,
        "audit.html",
        title="Audit Log",
        table=rows,
        user_filter=user[:FILTER_MAX],
        action_filter=action[:FILTER_MAX],
        capped=found.capped,
        scan=SCAN,
    )

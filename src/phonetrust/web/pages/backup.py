"""Backup: the whole cluster in one archive sealed with the security password (B5).

As ``phonetrust backup create`` does, the password is checked against the
cluster's before anything is sealed: a typo would make an archive nobody
can open. Only a super user may make one (it holds every private key,
sealed), and each one made is in the audit log: the CLI's needs a shell on
the node, this one only a login. Restoring stays with the CLI: it builds a
new data directory, which a running server cannot do to itself.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from phonetrust.errors import LocalError
from phonetrust.service import backup
from phonetrust.service.context import Context
from phonetrust.store.repository import AuditEntry
from phonetrust.web.auth import PageChanger, PageReader, check_security_password
from phonetrust.web.render import done, page

router = APIRouter(include_in_schema=False)

EXTENSION = "backup"
"""The README's ``phonetrust backup create lab.backup``."""
PASSWORD_MAX = 1024


def make_backup(ctx: Context, password: str) -> tuple[str, bytes]:
    """The archive and its file name; :class:`LocalError` for a wrong security password."""
    ctx.keys.check_password(password)
    archive = backup.create(ctx, password)
    name = f"phonetrust-backup-{ctx.now():%Y%m%d-%H%M%S}.{EXTENSION}"
    with ctx.repo.unit_of_work() as uow:
        uow.append_audit(AuditEntry(ctx.now(), ctx.actor, "backup create", f"{len(archive)} bytes"))
    return name, archive


def download(name: str, archive: bytes) -> Response:
    """``name`` is built by :func:`make_backup` from digits only, never from the request."""
    return Response(
        archive,
        media_type="application/octet-stream",
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": "no-store",
        },
    )


@router.get("/backup", response_class=HTMLResponse)
def backup_page(request: Request, caller: PageReader) -> Response:
    return page(request, caller, "backup.html", title="Backup")


@router.post("/backup")
def create_backup(
    request: Request,
    caller: PageChanger,
    password: Annotated[str, Form(max_length=PASSWORD_MAX)],
) -> Response:
    try:
        check_security_password(request, caller, password)
        name, archive = make_backup(caller.ctx, password)
    except LocalError as exc:
        return done("/backup", f"Backup refused: {exc}", error=True)
    return download(name, archive)

"""A backup made over the API: the archive ``backup create`` writes, sealed with the password."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field

from phonetrust.web.auth import ApiChanger, check_security_password
from phonetrust.web.pages.backup import PASSWORD_MAX, download, make_backup

router = APIRouter(tags=["backup"])


class BackupBody(BaseModel):
    password: str = Field(max_length=PASSWORD_MAX)


@router.post(
    "/backup",
    summary="Make a backup (super users)",
    response_class=Response,
    responses={200: {"content": {"application/octet-stream": {}}}},
)
def backup_create(request: Request, caller: ApiChanger, body: BackupBody) -> Response:
    """The whole cluster, every key included, sealed with the security password; a wrong
    password is a 400 problem ("wrong security password") and makes nothing."""
    check_security_password(request, caller, body.password)
    name, archive = make_backup(caller.ctx, body.password)
    return download(name, archive)

"""Cluster security: the mode, each TFTP node's CTL and ITL, and the ``utils`` commands.

A listing is the text ``show ctl`` / ``show itl`` print, with the records
parsed beside it; the files themselves are served byte for byte. Each
action is the Security page's (the same checks, the publisher, the
planner's rule): 409 with the phones when it would lock some and
``accept_lockout`` is false.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Request, Response
from pydantic import BaseModel, Field

from phonetrust.errors import ParseError
from phonetrust.formats import legacy
from phonetrust.formats.trustlist import Kind, TrustList
from phonetrust.service import shapes
from phonetrust.service.changes import reading
from phonetrust.service.context import cluster
from phonetrust.web import certfacts as facts
from phonetrust.web.auth import ApiChanger, ApiReader, check_security_password
from phonetrust.web.pages.security import ACTIONS, FILES, prepare, tftp_hosts
from phonetrust.web.problems import Problem
from phonetrust.web.verdicts import WouldLock, apply_change

router = APIRouter(tags=["security"])


class Act(BaseModel):
    accept_lockout: bool = Field(
        False, description="Go ahead even though the planner predicts phones will be locked"
    )


class ItlReset(Act):
    password: str = Field(max_length=256, description="The security (CCM Administrator) password")


def trust_list_shape(data: bytes | None, text: str) -> shapes.JsonObject:
    """The file's listing and, when it parses, its records (role, name, certificate)."""
    out: shapes.JsonObject = {"present": data is not None, "text": text}
    if data is None:
        return out
    out.update(size=len(data), md5=legacy.md5_hex(data), sha1=legacy.sha1(data).hex())
    try:
        records = TrustList.from_wire(data).records
    except ParseError:
        out["records"] = None
        return out
    out["records"] = [
        {
            "role": None if r.role is None else r.role.name,
            "dns_name": r.dns_name,
            "subject": r.subject,
            "issuer": r.issuer,
            "serial": None if r.serial is None else r.serial.hex().upper(),
            "ip": None if r.ip_address is None else str(r.ip_address),
        }
        for r in records
    ]
    return out


@router.get(
    "/security", summary="Security mode and each TFTP node's CTL and ITL", response_model=None
)
def overview(caller: ApiReader) -> shapes.JsonObject:
    with reading(caller.ctx) as uow:
        state = cluster(uow)
    listed: list[shapes.Json] = []
    for host in tftp_hosts(caller.ctx):
        node: shapes.JsonObject = {"host": host}
        for kind in (Kind.CTL, Kind.ITL):
            data = facts.trust_list_file(caller.ctx, host, kind)
            text = facts.trust_list_text(caller.ctx, host, kind)
            node[kind.value.lower()] = trust_list_shape(data, text)
        listed.append(node)
    return {
        "security_mode": int(state.security_mode),
        "security_mode_name": state.security_mode.name.lower(),
        "itl_reset_active": state.itl_reset_active,
        "ctl_deleted": state.ctl_deleted,
        "nodes": listed,
    }


@router.get(
    "/security/{node}/{kind}",
    summary="The CTLFile.tlv or ITLFile.tlv a node serves (kind: ctl or itl)",
    response_class=Response,
    responses={200: {"content": {"application/octet-stream": {}}}},
    response_model=None,
)
def trust_list_file(caller: ApiReader, node: str, kind: str) -> Response:
    names = {v.value.lower(): k for k, v in FILES.items()}
    filename = names.get(kind.lower())
    if filename is None:
        raise Problem(404, "ctl or itl")
    host = facts.known_node(caller.ctx, node)
    data = facts.trust_list_file(caller.ctx, host, FILES[filename])
    if data is None:
        raise Problem(404, f"{filename}: file not found on {host}")
    return Response(
        data,
        media_type="application/octet-stream",
        headers={"Content-Disposition": f'attachment; filename="{host}-{filename}"'},
    )


def _act(caller: ApiChanger, slug: str, accept: bool) -> shapes.JsonObject:
    action = ACTIONS[slug]
    run = prepare(caller.ctx, action)
    try:
        lines, verdict = apply_change(caller.ctx, run, accept_lockout=accept)
    except WouldLock as exc:
        raise Problem(409, str(exc), verdict=exc.verdict.shape()) from None
    return {"command": action.command, "output": list(lines), "verdict": verdict.shape()}


Optional = Annotated[Act | None, Body()]


@router.post(
    "/security/mixed-mode", summary="utils ctl set-cluster mixed-mode", response_model=None
)
def mixed_mode(caller: ApiChanger, body: Optional = None) -> shapes.JsonObject:
    return _act(caller, "mixed-mode", bool(body and body.accept_lockout))


@router.post(
    "/security/non-secure", summary="utils ctl set-cluster non-secure-mode", response_model=None
)
def non_secure(caller: ApiChanger, body: Optional = None) -> shapes.JsonObject:
    return _act(caller, "non-secure", bool(body and body.accept_lockout))


@router.post("/security/update-ctl", summary="utils ctl update CTLFile", response_model=None)
def update_ctl(caller: ApiChanger, body: Optional = None) -> shapes.JsonObject:
    return _act(caller, "update-ctl", bool(body and body.accept_lockout))


@router.post(
    "/security/itl-reset",
    summary="utils itl reset localkey (remotekey needs SFTP: admin CLI only)",
    response_model=None,
)
def itl_reset(request: Request, caller: ApiChanger, body: ItlReset) -> shapes.JsonObject:
    check_security_password(request, caller, body.password)
    return _act(caller, "itl-reset", body.accept_lockout)

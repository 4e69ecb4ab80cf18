"""Enterprise parameters, phone security profiles, CallManager groups, servers, the cluster.

The same calls as ``param``, ``profile``, ``group`` and ``cluster show``
(and their ``--json`` shapes, from :mod:`phonetrust.service.shapes`); a
refusal is the CLI's sentence as a 400 problem document.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, Field

from phonetrust.errors import LocalError
from phonetrust.policy import params as P
from phonetrust.service import inventory, shapes
from phonetrust.service.changes import reading
from phonetrust.service.context import cluster
from phonetrust.web.auth import ApiChanger, ApiReader
from phonetrust.web.pages.system import warnings_after
from phonetrust.web.pages.system_profiles import MODES, NAME_MAX, check_name
from phonetrust.web.pages.system_servers import NodeHealth, health, read_asks
from phonetrust.web.problems import Problem

Answer = dict[str, Any]
"""What a route answers (a shape); typed loosely so the schema does not chase the alias."""

router = APIRouter()
Offset = Query(0, ge=0, le=10**9)
Limit = Query(1000, ge=1, le=10_000)


def window(items: list[shapes.JsonObject], offset: int, limit: int) -> Answer:
    """A page of a list answer; ``total`` counts them all."""
    out: list[shapes.Json] = [*items[offset : offset + limit]]
    return {"items": out, "total": len(items)}


# -- enterprise parameters ------------------------------------------------------------------


class ParamValue(BaseModel):
    value: str = Field(max_length=1024)


class NamedParam(ParamValue):
    name: str = Field(max_length=200)


class ParamList(BaseModel):
    items: list[NamedParam] = Field(max_length=len(P.PARAMS) * 2)


@router.get("/params", tags=["enterprise parameters"], summary="Every enterprise parameter")
def params_list(caller: ApiReader, offset: int = Offset, limit: int = Limit) -> Answer:
    """As ``param list --json``: ``{"items": [{"name", "value"}], "total"}`` in CUCM's order."""
    return window(shapes.params(inventory.list_params(caller.ctx)), offset, limit)


@router.get("/params/{name}", tags=["enterprise parameters"], summary="One enterprise parameter")
def param_get(caller: ApiReader, name: str) -> Answer:
    values = inventory.list_params(caller.ctx)
    try:
        real = P.lookup(name).name
    except LocalError as exc:
        raise Problem(404, str(exc)) from None
    return {"name": real, "value": values[real]}


@router.put("/params/{name}", tags=["enterprise parameters"], summary="Set one parameter")
def param_set(caller: ApiChanger, name: str, body: ParamValue) -> Answer:
    """As ``param set NAME VALUE``; ``warnings`` lists what it warns about (SHA-512 phones)."""
    real, value = inventory.set_param(caller.ctx, name, body.value)
    said: list[shapes.Json] = [*warnings_after(caller.ctx, real, value)]
    return {"name": real, "value": value, "warnings": said}


@router.put("/params", tags=["enterprise parameters"], summary="Set several parameters")
def params_set(caller: ApiChanger, body: ParamList) -> Answer:
    """Every value is checked before any is stored (a refusal stores none); only those that
    differ from the current value are set, each audited as one ``param set``."""
    current = inventory.list_params(caller.ctx)
    wanted = []
    for item in body.items:
        param = P.lookup(item.name)
        value = param.normalise(item.value)
        if value != current.get(param.name):
            if param.read_only:
                raise LocalError(f"{param.name} is read-only here: use utils ctl set-cluster")
            wanted.append((param.name, item.value))
    said: list[shapes.Json] = []
    for name, raw in wanted:
        real, value = inventory.set_param(caller.ctx, name, raw)
        said += warnings_after(caller.ctx, real, value)
    answer = window(shapes.params(inventory.list_params(caller.ctx)), 0, len(P.PARAMS) + 100)
    answer["warnings"] = said
    return answer


# -- phone security profiles -------------------------------------------------------------------


class ProfileBody(BaseModel):
    mode: Literal["non-secure", "authenticated", "encrypted"]
    tftp_encrypted: bool = False


@router.get("/profiles", tags=["phone security profiles"], summary="Phone security profiles")
def profiles_list(caller: ApiReader, offset: int = Offset, limit: int = Limit) -> Answer:
    with reading(caller.ctx) as uow:
        items = [shapes.profile(p) for p in uow.list_profiles()]
    return window(items, offset, limit)


@router.get("/profiles/{name:path}", tags=["phone security profiles"], summary="One profile")
def profile_get(caller: ApiReader, name: str) -> Answer:
    with reading(caller.ctx) as uow:
        found = uow.get_profile(name)
    if found is None:
        raise Problem(404, f"Unknown phone security profile {name!r}")
    return shapes.profile(found)


@router.put("/profiles/{name:path}", tags=["phone security profiles"], summary="Create or change")
def profile_put(caller: ApiChanger, name: str, body: ProfileBody) -> Answer:
    """As ``profile set NAME --mode MODE [--tftp-encrypted]``."""
    if len(name) > NAME_MAX:
        raise Problem(422, f"a profile name is at most {NAME_MAX} characters")
    real = check_name(name, "A phone security profile")
    inventory.put_profile(caller.ctx, real, MODES[body.mode], body.tftp_encrypted)
    return profile_get(caller, real)


@router.delete(
    "/profiles/{name:path}",
    tags=["phone security profiles"],
    summary="Remove a profile no device uses",
    status_code=204,
)
def profile_delete(caller: ApiChanger, name: str) -> Response:
    with reading(caller.ctx) as uow:
        if uow.get_profile(name) is None:
            raise Problem(404, f"Unknown phone security profile {name!r}")
    inventory.remove_profile(caller.ctx, name)
    return Response(status_code=204)


# -- CallManager groups ----------------------------------------------------------------------------


class GroupBody(BaseModel):
    members: list[str] = Field(min_length=1, max_length=3)


@router.get("/groups", tags=["callmanager groups"], summary="CallManager groups")
def groups_list(caller: ApiReader, offset: int = Offset, limit: int = Limit) -> Answer:
    with reading(caller.ctx) as uow:
        items = [shapes.group(g) for g in uow.list_groups()]
    return window(items, offset, limit)


@router.get("/groups/{name:path}", tags=["callmanager groups"], summary="One group")
def group_get(caller: ApiReader, name: str) -> Answer:
    with reading(caller.ctx) as uow:
        found = uow.get_group(name)
    if found is None:
        raise Problem(404, f"Unknown CallManager group {name!r}")
    return shapes.group(found)


@router.put("/groups/{name:path}", tags=["callmanager groups"], summary="Create or change")
def group_put(caller: ApiChanger, name: str, body: GroupBody) -> Answer:
    """As ``group set NAME NODE...``: up to three CallManager nodes, in the order tried."""
    if len(name) > NAME_MAX or any(len(m) > 253 for m in body.members):
        raise Problem(422, "a group or node name is too long")
    real = check_name(name, "A CallManager group")
    inventory.put_group(caller.ctx, real, [m.strip() for m in body.members])
    return group_get(caller, real)


# -- servers and the cluster ---------------------------------------------------------------------


def server(row: NodeHealth) -> Answer:
    """A node's shape with whether each of its services answers (null: nothing to ask)."""
    shape = shapes.node(row.node)
    shape["health"] = {
        "summary": row.summary,
        "services": [
            {"service": s.service, "port": s.port, "answers": s.answers, "state": s.state.value}
            for s in row.services
        ],
    }
    return shape


@router.get("/servers", tags=["cluster"], summary="Nodes, their services and service health")
def servers_list(caller: ApiReader) -> Answer:
    """Each service of each node is asked at once: TVS and CAPF by a TLS handshake that must
    present the node's certificate, TFTP for the ITL. ``answers`` is null for CallManager."""
    return shapes.listing(server(row) for row in health(read_asks(caller.ctx)))


@router.get("/cluster", tags=["cluster"], summary="The cluster (`cluster show --json`)")
def cluster_show(caller: ApiReader) -> Answer:
    with reading(caller.ctx) as uow:
        return shapes.cluster(cluster(uow), uow.list_nodes(), uow.current_version())

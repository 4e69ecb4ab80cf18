"""Certificates and trust stores: the Certificate Management pages' API.

The same service calls as the pages and the admin CLI: a regeneration is
refused within the 5-minute hold with CUCM's sentence (409), and one the
planner predicts will lock phones is refused (409, with the phones) unless
``accept_lockout`` is true. An own certificate's ``pem`` is its public
certificate; no endpoint reads a private key.
"""

from __future__ import annotations

import hashlib
from typing import Annotated

from cryptography.hazmat.primitives.serialization import Encoding
from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, Field

from phonetrust.errors import LocalError
from phonetrust.policy.rules import HoldTimerError
from phonetrust.service import nodes, shapes, truststores
from phonetrust.web import certfacts as facts
from phonetrust.web.auth import ApiChanger, ApiReader
from phonetrust.web.problems import Problem
from phonetrust.web.verdicts import WouldLock, apply_change

router = APIRouter(tags=["certificates"])
Offset = Annotated[int, Query(ge=0)]
Limit = Annotated[int, Query(ge=1, le=1000)]


class Regenerate(BaseModel):
    accept_lockout: bool = Field(
        False, description="Go ahead even though the planner predicts phones will be locked"
    )


class Upload(BaseModel):
    store: str = Field(max_length=40, examples=["Phone-SAST-trust"])
    pem: str = Field(max_length=facts.MAX_UPLOAD, description="One certificate, PEM")
    description: str = Field("", max_length=200)


def paged(items: list[shapes.JsonObject], offset: int, limit: int | None) -> shapes.JsonObject:
    cut: list[shapes.Json] = [*items[offset : None if limit is None else offset + limit]]
    return {"items": cut, "total": len(items)}


@router.get(
    "/certificates",
    summary="A node's own certificates (every node's by default)",
    response_model=None,
)
def certificate_list(
    caller: ApiReader, node: str = "", offset: Offset = 0, limit: Limit | None = None
) -> shapes.JsonObject:
    hosts = [facts.known_node(caller.ctx, node)] if node else facts.node_names(caller.ctx)
    items = [
        facts.own_shape(own) for host in hosts for own in facts.own_certificates(caller.ctx, host)
    ]
    return paged(items, offset, limit)


@router.get(
    "/certificates/{node}/{name}",
    summary="One own certificate: facts, PEM, text",
    response_model=None,
)
def certificate_one(caller: ApiReader, node: str, name: str) -> shapes.JsonObject:
    return facts.own_shape(facts.find_own(caller.ctx, node, name), full=True)


@router.post(
    "/certificates/{node}/{name}/regenerate",
    summary="set cert regen NAME: a new key and certificate",
    responses={409: {"description": "The 5-minute hold, or phones would be locked"}},
    response_model=None,
)
def certificate_regenerate(
    caller: ApiChanger, node: str, name: str, body: Regenerate | None = None
) -> shapes.JsonObject:
    own = facts.find_own(caller.ctx, node, name)
    accept = body.accept_lockout if body is not None else False
    try:
        _, verdict = apply_change(
            caller.ctx,
            facts.regeneration(own.node, own.name),
            accept_lockout=accept,
        )
    except WouldLock as exc:
        raise Problem(409, str(exc), verdict=exc.verdict.shape()) from None
    except HoldTimerError as exc:
        raise Problem(409, str(exc)) from None
    fresh = facts.find_own(caller.ctx, own.node, own.name.value)
    return {
        "message": nodes.regenerated_message(own.name),
        "certificate": facts.own_shape(fresh),
        "verdict": verdict.shape(),
    }


@router.get(
    "/truststores", summary="Trust store certificates (one store with ?store=)", response_model=None
)
def trust_list(
    caller: ApiReader, store: str = "", offset: Offset = 0, limit: Limit | None = None
) -> shapes.JsonObject:
    chosen = facts.trust_store(store) if store else None
    items = [shapes.trusted(t) for t in truststores.listing(caller.ctx, chosen)]
    return paged(items, offset, limit)


@router.post(
    "/truststores",
    status_code=201,
    summary="Upload a certificate to a trust store",
    response_model=None,
)
def trust_upload(caller: ApiChanger, body: Upload, response: Response) -> shapes.JsonObject:
    try:
        store = facts.trust_store(body.store)
    except Problem as exc:
        raise Problem(422, exc.detail) from None
    cert = facts.read_upload(body.pem.encode("utf-8", "replace"), "pem")
    added = truststores.upload(caller.ctx, store, cert, body.description)
    der = cert.public_bytes(Encoding.DER)
    sha = hashlib.sha256(der).hexdigest()
    if not added:
        response.status_code = 200
    response.headers["Location"] = f"/api/v1/truststores/{store.value}/{sha}"
    return {**shapes.trusted(facts.find_trusted(caller.ctx, store.value, sha)), "added": added}


@router.delete(
    "/truststores/{store}/{sha256}",
    status_code=204,
    summary="Delete a trust store certificate",
    response_model=None,
)
def trust_delete(
    caller: ApiChanger, store: str, sha256: str, accept_lockout: bool = False
) -> Response:
    found = facts.find_trusted(caller.ctx, store, sha256)
    try:
        apply_change(
            caller.ctx,
            lambda ctx: truststores.delete(ctx, found.store, found.der),
            accept_lockout=accept_lockout,
        )
    except WouldLock as exc:
        raise Problem(409, str(exc), verdict=exc.verdict.shape()) from None
    except LocalError as exc:
        raise Problem(404, str(exc)) from None
    return Response(status_code=204)

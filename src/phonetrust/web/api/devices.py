"""/api/v1/phones: the phones, as ``phonetrust device ...`` and the Phones pages see them.

Items are ``service.shapes.device`` (the shape ``device list --json``
prints); searching, paging, import, export and CAPF scheduling share their
code with the pages (:mod:`phonetrust.web.pages.devices_find`,
:mod:`~phonetrust.web.pages.devices_bulk`), so the API and the pages
refuse alike, in the CLI's words.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from phonetrust.policy.domain import Device, device_name
from phonetrust.service import inventory, shapes
from phonetrust.service.changes import reading
from phonetrust.store.repository import Download
from phonetrust.web.auth import ApiChanger, ApiReader, Caller
from phonetrust.web.pages import devices_bulk as bulk
from phonetrust.web.pages import devices_find as find
from phonetrust.web.pages.devices import diagnosis, protocol_of
from phonetrust.web.problems import Problem

router = APIRouter(tags=["phones"])
Short = Annotated[str, Field(max_length=256)]
Operation = Literal["none", "install", "delete", "fetch"]
AuthMode = Literal["null-string", "auth-string", "lsc-first", "mic-first"]
MAX_LIMIT = 1000


def _filters(
    *,
    name: str = "",
    model: str = "",
    group: str = "",
    profile: str = "",
    capf: str = "",
    trust: str = "",
) -> find.Filters:
    return find.Filters.read(
        {
            "name": name,
            "model": model,
            "group": group,
            "profile": profile,
            "capf": capf,
            "trust": trust,
        }
    )


FilterQuery = Annotated[str, Query(max_length=256)]


def _item(device: Device, verdicts: Any = None) -> dict[str, Any]:
    shape = shapes.device(device)
    if verdicts is not None:
        v = verdicts.get(device.name)
        shape["trust_state"] = find.trust_key(v)
        shape["trust_verdict"] = v.outcome.key if v else "unknown"
        shape["trust_reason"] = v.reason if v else ""
    return shape


@router.get("/phones", summary="Find and list phones")
def list_phones(
    request: Request,
    caller: ApiReader,
    *,
    name: FilterQuery = "",
    model: FilterQuery = "",
    group: FilterQuery = "",
    profile: FilterQuery = "",
    capf: Annotated[str, Query(description="pending, locked, expired or none")] = "",
    trust: Annotated[
        str, Query(description="locks (or locked), keeps, moves, unknown; all: every phone")
    ] = "",
    sort: Annotated[str, Query(description=", ".join(find.SORTS))] = "name",
    desc: bool = False,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=0, le=MAX_LIMIT)] = 50,
) -> dict[str, Any]:
    """``name`` is a case-insensitive substring of the name or description; the others exact.
    ``trust`` adds each phone's trust state (the planner's verdict if it rebooted now)."""
    filters = _filters(name=name, model=model, group=group, profile=profile, capf=capf, trust=trust)
    found = find.search(
        find.index_of(request.app.state),
        caller.ctx,
        filters,
        sort=sort,
        desc=desc,
        offset=offset,
        limit=limit,
    )
    return {"items": [_item(d, found.trust) for d in found.rows], "total": found.total}


@router.get(
    "/phones/export",
    summary="Export phones as CSV (the columns the import reads)",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}}},
)
def export_phones(
    request: Request,
    caller: ApiReader,
    *,
    name: FilterQuery = "",
    model: FilterQuery = "",
    group: FilterQuery = "",
    profile: FilterQuery = "",
    capf: FilterQuery = "",
) -> Response:
    filters = _filters(name=name, model=model, group=group, profile=profile, capf=capf)
    found = find.search(
        find.index_of(request.app.state), caller.ctx, filters, limit=bulk.MAX_NAMES * 10
    )
    return bulk.csv_download(bulk.export_csv(found.rows))


class ImportIn(BaseModel):
    csv: str = Field(max_length=bulk.CSV_LIMIT, description="The CSV text (UTF-8)")
    skip_bad_rows: bool = False


@router.post(
    "/phones/import",
    summary="Import phones from CSV (text/csv body, or JSON {csv, skip_bad_rows})",
    openapi_extra={"requestBody": {"content": {"text/csv": {}, "application/json": {}}}},
)
async def import_phones(
    request: Request, caller: ApiChanger, skip_bad_rows: bool = False
) -> dict[str, Any]:
    """All rows or none, unless ``skip_bad_rows``; the report names each row (line 1 is the
    header). Refused imports are a 400 problem carrying the same report."""
    data = bytearray()
    async for chunk in request.stream():
        data += chunk
        if len(data) > bulk.CSV_LIMIT * 2:
            raise Problem(413, f"The body is larger than {bulk.CSV_LIMIT // (1024 * 1024)} MB")
    body = bytes(data)
    if request.headers.get("content-type", "").startswith("application/json"):
        try:
            given = ImportIn.model_validate(json.loads(body))
        except ValueError as exc:
            raise Problem(422, f"not a JSON import request: {str(exc)[:300]}") from None
        body, skip_bad_rows = given.csv.encode("utf-8", "surrogateescape"), given.skip_bad_rows
    return await run_in_threadpool(_import, request, caller, body, skip_bad_rows)


def _import(request: Request, caller: Caller, body: bytes, skip: bool) -> dict[str, Any]:
    try:
        report = bulk.import_report(caller, body, skip)
    finally:
        find.index_of(request.app.state).touch()
    if not report["ok"]:
        raise Problem(400, str(report["summary"]), added=0, rows=report["rows"])
    return {key: report[key] for key in ("added", "summary", "rows")}


class CapfIn(BaseModel):
    operation: Operation
    auth: AuthMode = "null-string"
    auth_string: str = Field("", max_length=10, description="4-10 digits; empty: generated")
    key: str = Field("RSA-2048", max_length=16, description=", ".join(find.KEYS))


class BulkCapfIn(CapfIn):
    names: list[Annotated[str, Field(max_length=32)]] = Field(
        default_factory=list, max_length=bulk.MAX_NAMES
    )
    name: Short = ""
    model: Short = ""
    group: Short = ""
    profile: Short = ""
    capf: Short = ""
    trust: Short = ""


def _scheduled(request: Request, caller: Caller, names: list[str], order: CapfIn) -> dict[str, Any]:
    try:
        devices, generated = find.schedule(
            caller.ctx,
            names,
            find.CapfOrder(order.operation, order.auth, order.auth_string, order.key),
        )
    finally:
        find.index_of(request.app.state).touch()
    return {
        "items": [shapes.device(d) for d in devices],
        "total": len(devices),
        "auth_string": generated or None,
    }


@router.post("/phones/capf", summary="Schedule one CAPF operation for many phones")
def capf_many(request: Request, caller: ApiChanger, body: BulkCapfIn) -> dict[str, Any]:
    """The phones named, else those the filters find (an empty query is refused). A generated
    authentication string is in this answer only: only its hash is stored."""
    filters = _filters(
        **body.model_dump(include={"name", "model", "group", "profile", "capf", "trust"})
    )
    names = bulk.pick(request, caller, " ".join(body.names), filters)
    return _scheduled(request, caller, names, body)


class PhoneIn(BaseModel):
    name: str = Field(max_length=32, description="SEP + 12 hex digits, or the MAC")
    model: Short
    protocol: Literal["SIP", "SCCP", "sip", "sccp"] = "SIP"
    group: Short = "Default"
    profile: Short = inventory.DEFAULT_PROFILE
    description: Short = ""


class PhonePatch(BaseModel):
    model: Short | None = None
    protocol: Literal["SIP", "SCCP", "sip", "sccp"] | None = None
    group: Short | None = None
    profile: Short | None = None
    description: Short | None = None
    settings: (
        dict[Annotated[str, Field(max_length=128)], Annotated[str, Field(max_length=4096)] | None]
        | None
    ) = Field(None, max_length=256, description="vendorConfig settings; null removes one")


@router.post("/phones", summary="Add a phone", status_code=201)
def add_phone(request: Request, caller: ApiChanger, body: PhoneIn) -> dict[str, Any]:
    device = Device(
        body.name, body.model.strip(), protocol_of(body.protocol), body.group, body.profile,
        description=body.description,
    )  # fmt: skip
    try:
        inventory.add_devices(caller.ctx, [device])
    finally:
        find.index_of(request.app.state).touch()
    return shapes.device(device)


def _one(caller: Caller, name: str) -> tuple[Device, list[Download]]:
    key = device_name(name)
    with reading(caller.ctx) as uow:
        device = uow.get_device(key)
        downloads = uow.list_downloads(key) if device is not None else []
    if device is None:
        raise Problem(404, f"Unknown device {key}")
    return device, downloads


@router.get("/phones/{name}", summary="One phone, its last downloads and its trust state")
def get_phone(caller: ApiReader, name: str) -> dict[str, Any]:
    """``trust`` is ``diagnose phone``'s decision, or ``{"verdict": "unknown", "reason"}``."""
    device, downloads = _one(caller, name)
    diag, why = diagnosis(caller, device)
    shape = shapes.device(device)
    shape["downloads"] = [
        {
            "filename": d.filename,
            "node": d.node,
            "sha1": d.sha1,
            "size": d.size,
            "at": shapes.timestamp(d.at),
            "previous_sha1": d.previous_sha1,
        }
        for d in sorted(downloads, key=lambda d: d.at, reverse=True)
    ]
    trust: Any = diag.as_json() if diag is not None else {"verdict": "unknown", "reason": why}
    shape["trust"] = trust
    return shape


@router.patch("/phones/{name}", summary="Change a phone (device set)")
def patch_phone(
    request: Request, caller: ApiChanger, name: str, body: PhonePatch
) -> dict[str, Any]:
    changes: dict[str, object] = {
        k: v for k, v in body.model_dump(exclude_none=True).items() if k != "protocol"
    }
    if body.protocol is not None:
        changes["protocol"] = protocol_of(body.protocol)
    if not changes:
        raise Problem(400, "nothing to change: give at least one field")
    _one(caller, name)
    try:
        device = inventory.update_device(caller.ctx, device_name(name), **changes)
    finally:
        find.index_of(request.app.state).touch()
    return shapes.device(device)


@router.delete("/phones/{name}", summary="Remove a phone (device remove)", status_code=204)
def delete_phone(request: Request, caller: ApiChanger, name: str) -> Response:
    _one(caller, name)
    try:
        inventory.remove_device(caller.ctx, device_name(name))
    finally:
        find.index_of(request.app.state).touch()
    return Response(status_code=204)


@router.post("/phones/{name}/capf", summary="Schedule a CAPF operation (device capf)")
def capf_one(request: Request, caller: ApiChanger, name: str, body: CapfIn) -> dict[str, Any]:
    _one(caller, name)
    return _scheduled(request, caller, [device_name(name)], body)

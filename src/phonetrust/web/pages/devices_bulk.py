"""Bulk Administration > Phones: import from CSV, export to CSV, one CAPF operation for many.

Import reads the file as ``phonetrust device import`` does
(``inventory.read_device_csv`` and ``import_devices``), with the same
choice: any bad row imports nothing, or the good rows are imported and each
bad one reported. The answer is the per-row report itself (line, device,
added or why not), not a redirect: it is too long for a Status box. Export
writes the columns the import reads, so an export imports back as it was.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from typing import Annotated

from fastapi import APIRouter, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, Response

from phonetrust.errors import LocalError
from phonetrust.policy.domain import Device
from phonetrust.service import inventory
from phonetrust.web.auth import Caller, PageChanger, PageReader
from phonetrust.web.pages import devices_find as find
from phonetrust.web.problems import Problem
from phonetrust.web.render import done, page

router = APIRouter(include_in_schema=False)
Text = Annotated[str, Form(max_length=256)]
Names = Annotated[str, Form(max_length=200_000)]
IMPORT = "/ccmadmin/phones/import"
BULK_CAPF = "/ccmadmin/phones/capf"
CSV_LIMIT = 8 * 1024 * 1024
"""Largest CSV accepted (bytes): ``device import``'s limit is of the same order."""
EXPORT_HEADER = inventory.DEVICE_FIELDS
MAX_NAMES = 10_000


def export_csv(devices: Iterable[Device]) -> str:
    """Every device as a row of the columns the import reads (name, model, ..., description)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(EXPORT_HEADER)
    for d in devices:
        writer.writerow([d.name, d.model, d.protocol.value, d.group, d.profile, d.description])
    return out.getvalue()


def csv_download(text: str) -> Response:
    return Response(
        text.encode("utf-8"),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="phones.csv"'},
    )


@router.get("/ccmadmin/phones/export.csv")
def export(request: Request, caller: PageReader) -> Response:
    """The phones Find and List would show for the same search (all of them without one)."""
    index = find.index_of(request.app.state)
    filters = find.Filters.read(request.query_params)
    found = find.search(index, caller.ctx, filters, limit=MAX_NAMES * 10)
    return csv_download(export_csv(found.rows))


@router.get(IMPORT, response_class=HTMLResponse)
def import_form(request: Request, caller: PageReader) -> Response:
    return page(request, caller, "phones_import.html", title="Import Phones", report=None)


@router.post(IMPORT, response_class=HTMLResponse)
async def import_upload(
    request: Request, caller: PageChanger, file: UploadFile, skip_bad_rows: Text = ""
) -> Response:
    """Read the upload (bounded), then import in the thread pool: the store is synchronous."""
    data = await file.read(CSV_LIMIT + 1)
    if len(data) > CSV_LIMIT:
        raise Problem(413, f"The file is larger than {CSV_LIMIT // (1024 * 1024)} MB")
    from starlette.concurrency import run_in_threadpool  # noqa: PLC0415

    return await run_in_threadpool(_import, request, caller, data, bool(skip_bad_rows))


def _import(request: Request, caller: Caller, data: bytes, skip: bool) -> Response:
    report = import_report(caller, data, skip)
    find.index_of(request.app.state).touch()
    return page(
        request,
        caller,
        "phones_import.html",
        200 if report["ok"] else 400,
        title="Import Phones",
        report=report,
        status=report["summary"],
        status_error=not report["ok"],
    )


def import_report(caller: Caller, data: bytes, skip: bool) -> dict[str, object]:
    """The per-row report of one import: {"ok", "summary", "added", "rows": [...]}.

    Each row: line (1 is the header), device (or "" when unreadable), "added" or the reason.
    """
    try:
        parsed = inventory.read_device_csv(data)
    except LocalError as exc:
        return {"ok": False, "summary": f"{exc}; nothing imported", "added": 0, "rows": []}
    try:
        added, bad = inventory.import_devices(caller.ctx, parsed, skip_bad_rows=skip)
    except inventory.BadRows as exc:
        added, bad = 0, exc.bad
        summary = (
            f"{len(bad)} bad row{'s' if len(bad) != 1 else ''}; nothing imported "
            "(choose to skip bad rows to import the good ones)"
        )
        ok = False
    else:
        more = f", {len(bad)} bad rows skipped" if bad else ""
        summary = f"{added} devices added{more}."
        ok = True
    names = {row.line: row.device.name for row in parsed.rows}
    failed = {b.line: b.reason for b in bad}
    rows: list[dict[str, object]] = []
    for line in sorted({*names, *failed}):
        if line in failed:
            outcome = failed[line]
        elif added:
            outcome = "added"
        else:
            outcome = "not imported (another row is bad)"
        rows.append(
            {"line": line, "device": names.get(line) or named(data, line), "result": outcome}
        )
    return {"ok": ok, "summary": summary, "added": added, "rows": rows}


def named(data: bytes, line: int) -> str:
    """The name column of a row that made no device, as written, when it can be read at all."""
    lines = data.split(b"\n")
    try:
        header = next(csv.reader([lines[0].decode("utf-8-sig")]))
        fields = next(csv.reader([lines[line - 1].decode("utf-8")]))
        return fields[[c.strip().lower() for c in header].index("name")][:64]
    except (UnicodeDecodeError, csv.Error, StopIteration, ValueError, IndexError):
        return ""


# -- Bulk Administration > Phones > Update Phones > Query: CAPF for many ------------------------


@router.get(BULK_CAPF, response_class=HTMLResponse)
def bulk_capf_form(request: Request, caller: PageReader) -> Response:
    """The query: the search filters of Find and List, or a list of names; then the operation."""
    filters = find.Filters.read(request.query_params)
    index = find.index_of(request.app.state)
    found = find.search(index, caller.ctx, filters, limit=10) if filters.any else None
    snap = index.snapshot(caller.ctx)
    return page(
        request,
        caller,
        "phones_capf.html",
        title="Update Phones: CAPF Operation",
        filters=filters,
        found=found,
        capf_states=find.CAPF_STATES,
        trust_states=find.TRUST_STATES,
        operations=find.OPERATIONS,
        auth_modes=find.AUTH_MODES,
        keys=find.KEYS,
        models=snap.models,
        groups=snap.groups,
        profiles=snap.profiles,
    )


@router.post(BULK_CAPF, response_class=HTMLResponse)
def bulk_capf(
    request: Request,
    caller: PageChanger,
    *,
    operation: Text,
    auth: Text = "null-string",
    auth_string: Text = "",
    key: Text = "RSA-2048",
    names: Names = "",
    name: Text = "",
    model: Text = "",
    group: Text = "",
    profile: Text = "",
    capf: Text = "",
    trust: Text = "",
) -> Response:
    """One CAPF operation for every phone the query finds (or every name listed)."""
    query = {"name": name, "model": model, "group": group, "profile": profile}
    filters = find.Filters.read({**query, "capf": capf, "trust": trust})
    try:
        order = find.CapfOrder(operation, auth, auth_string, key)
        targets = pick(request, caller, names, filters)
        devices, generated = find.schedule(caller.ctx, targets, order)
    except LocalError as exc:
        return done(BULK_CAPF, str(exc), error=True)
    finally:
        find.index_of(request.app.state).touch()
    said = (
        f"CAPF {find.OPERATIONS[order.operation]} scheduled for {len(devices)} "
        f"phone{'s' if len(devices) != 1 else ''}. Reset them to start the operation."
    )
    if generated:  # on this answer only, never in a URL: only its hash is stored
        said += f" Authentication string: {generated} (shown once: give it to the phones' users)"
    return page(
        request,
        caller,
        "phones_capf_done.html",
        title="Update Phones: CAPF Operation",
        status=said,
        devices=devices[:250],
        count=len(devices),
    )


def pick(request: Request, caller: Caller, names: str, filters: find.Filters) -> list[str]:
    """The phones to update: the names listed (any separator), else the query's matches."""
    listed = [n for n in names.replace(",", " ").split() if n]
    if listed:
        if len(listed) > MAX_NAMES:
            raise LocalError(f"at most {MAX_NAMES} names at once")
        return listed
    if not filters.any:
        raise LocalError(
            "Give a query or a list of device names: an empty query would update every phone"
        )
    index = find.index_of(request.app.state)
    found = find.search(index, caller.ctx, filters, limit=MAX_NAMES * 10)
    if not found.rows:
        raise LocalError("No phone matches the query")
    return [d.name for d in found.rows]

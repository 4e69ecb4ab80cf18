"""Device > Phone: Find and List Phones, Add a New Phone, Phone Configuration, delete.

The same service calls as ``phonetrust device add|set|remove|capf`` with the
same refusals, shown in the Status box. Find and List reads the device list
through :mod:`.devices_find` (kept per application, so ten thousand phones
are not read again on every page) and renders only the page asked for.
Bulk Administration (import, export, CAPF for many) is in :mod:`.devices_bulk`.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from phonetrust.errors import LocalError
from phonetrust.planner.phonediag import PhoneDiagnosis, diagnose_phone
from phonetrust.policy.capfauth import generate_auth_string
from phonetrust.policy.domain import Device, Protocol, device_name
from phonetrust.policy.models import MODELS
from phonetrust.service import inventory
from phonetrust.service.changes import reading
from phonetrust.store.repository import Download
from phonetrust.web.auth import Caller, PageChanger, PageReader
from phonetrust.web.pages import devices_bulk
from phonetrust.web.pages import devices_find as find
from phonetrust.web.render import PAGE_SIZES, Table, done, page

router = APIRouter(include_in_schema=False)
router.include_router(devices_bulk.router)  # first: /phones/import must not be a phone's name
Text = Annotated[str, Form(max_length=256)]
LongText = Annotated[str, Form(max_length=16_384)]
LIST = "/ccmadmin/phones"


def phone_url(name: str) -> str:
    return f"{LIST}/{quote(name, safe='')}"


@router.get(LIST, response_class=HTMLResponse)
def find_and_list(request: Request, caller: PageReader) -> Response:
    """Find and List Phones; an htmx search gets the results table alone."""
    q = request.query_params
    filters = find.Filters.read(q)
    sort = q.get("sort", "name") if q.get("sort") in find.SORTS else "name"
    desc = q.get("dir") == "desc"
    per = _int(q.get("per"), PAGE_SIZES[1])
    per = per if per in PAGE_SIZES else PAGE_SIZES[1]
    number = max(_int(q.get("page"), 1), 1)
    index = find.index_of(request.app.state)
    found = find.search(index, caller.ctx, filters, sort=sort, desc=desc, limit=0)
    pages = max(1, -(-found.total // per))
    number = min(number, pages)
    found = find.search(
        index, caller.ctx, filters, sort=sort, desc=desc, offset=(number - 1) * per, limit=per
    )
    table = Table(found.rows, found.total, number, pages, per, sort, desc, filters.as_query())
    snap = found.snapshot
    values: dict[str, Any] = {
        "table": table,
        "filters": filters,
        "trust": found.trust,
        "trust_as_of": found.trust_as_of,
        "now": caller.ctx.now(),
        "capf_state": find.capf_state,
        "trust_key": find.trust_key,
        "capf_states": find.CAPF_STATES,
        "trust_states": find.TRUST_STATES,
        "operations": find.OPERATIONS,
        "models": snap.models,
        "groups": snap.groups,
        "profiles": snap.profiles,
        "all_count": len(snap.devices),
        "query": "&".join(f"{k}={quote(v, safe='')}" for k, v in filters.as_query().items()),
    }
    if request.headers.get("hx-request") and request.headers.get("hx-target") == "phone-table":
        return page(request, caller, "phones_table.html", **values)
    return page(request, caller, "phones.html", title="Find and List Phones", **values)


def _int(text: str | None, default: int) -> int:
    try:
        return int(text or default)
    except ValueError:
        return default


def protocol_of(text: str) -> Protocol:
    """The CLI's --protocol choice (SIP or SCCP, any case), refused in its words."""
    if text.strip().upper() not in Protocol.__members__:
        raise LocalError(f"{text!r} is not SIP or SCCP")
    return Protocol(text.strip().upper())


def _choices(caller: Caller) -> dict[str, Any]:
    with reading(caller.ctx) as uow:
        groups = [g.name for g in uow.list_groups()]
        profiles = [p.name for p in uow.list_profiles()]
    return {
        "groups": groups,
        "profiles": profiles,
        "models": sorted(MODELS),
        "protocols": [p.value for p in Protocol],
        "default_profile": inventory.DEFAULT_PROFILE,
    }


@router.get(f"{LIST}/new", response_class=HTMLResponse)
def new_phone(request: Request, caller: PageReader) -> Response:
    return page(
        request, caller, "phones_new.html", title="Add a New Phone", **_choices(caller), form={}
    )


@router.post(f"{LIST}/new")
def add_phone(
    request: Request,
    caller: PageChanger,
    *,
    name: Text,
    model: Text,
    protocol: Text = "SIP",
    group: Text = "Default",
    profile: Text = "",
    description: Text = "",
) -> Response:
    """``device add``: the same Device, the same checks, CUCM's words when refused."""
    try:
        device = Device(
            name,
            model.strip(),
            protocol_of(protocol),
            group or "Default",
            profile or inventory.DEFAULT_PROFILE,
            description=description,
        )
        inventory.add_devices(caller.ctx, [device])
    except LocalError as exc:
        form = {
            "name": name,
            "model": model,
            "protocol": protocol,
            "group": group,
            "profile": profile,
            "description": description,
        }
        return page(
            request,
            caller,
            "phones_new.html",
            400,
            title="Add a New Phone",
            **_choices(caller),
            form=form,
            status=str(exc),
            status_error=True,
        )
    finally:
        find.index_of(request.app.state).touch()
    return done(phone_url(device.name), f"Device {device.name} added.")


def _device(caller: Caller, name: str) -> tuple[Device, list[Download]]:
    key = device_name(name)
    with reading(caller.ctx) as uow:
        device = uow.get_device(key)
        downloads = uow.list_downloads(key) if device is not None else []
    if device is None:
        raise LocalError(f"Unknown device {key}")
    return device, sorted(downloads, key=lambda d: d.at, reverse=True)


def diagnosis(caller: Caller, device: Device) -> tuple[PhoneDiagnosis | None, str]:
    """``diagnose phone``'s decision, or why there is none (never seen, say)."""
    try:
        return diagnose_phone(caller.ctx, device.name), ""
    except LocalError as exc:
        return None, str(exc).partition("; copy its lists")[0]


@router.get(f"{LIST}/{{name}}", response_class=HTMLResponse)
def phone_page(request: Request, caller: PageReader, name: str, generate: str = "") -> Response:
    """Phone Configuration: settings, CAPF Information, last downloads, trust state."""
    return _phone_page(request, caller, name, generate=bool(generate))


def _phone_page(
    request: Request,
    caller: Caller,
    name: str,
    *,
    generate: bool = False,
    code: int = 200,
    **extra: object,
) -> Response:
    device, downloads = _device(caller, name)
    diag, why = diagnosis(caller, device)
    string = generate_auth_string() if generate and caller.can_change else ""
    return page(
        request,
        caller,
        "phones_edit.html",
        code,
        title=f"Phone Configuration: {device.name}",
        device=device,
        downloads=downloads,
        diag=diag,
        why_unknown=why,
        settings_text="\n".join(f"{k}={v}" for k, v in sorted(device.settings.items())),
        capf_state=find.capf_state(device, caller.ctx.now()),
        capf_states=find.CAPF_STATES,
        operations=find.OPERATIONS,
        auth_modes=find.AUTH_MODES,
        auth_now=find.AUTH_OF_MODE.get(device.capf_auth_mode, "null-string"),
        keys=find.KEYS,
        generated=string,
        url=phone_url(device.name),
        **_choices(caller),
        **extra,
    )


@router.post(f"{LIST}/{{name}}")
def save_phone(
    request: Request,
    caller: PageChanger,
    name: str,
    *,
    model: Text,
    protocol: Text,
    group: Text,
    profile: Text,
    description: Text = "",
    settings: LongText = "",
) -> Response:
    """``device set``: fields, and vendorConfig settings one KEY=VALUE a line (a line
    removed removes the setting, as ``--setting KEY=`` does)."""
    url = phone_url(name)
    try:
        current, _ = _device(caller, name)
        url = phone_url(current.name)
        wanted = parse_settings(settings)
        changes: dict[str, object] = {}
        for field, value in (("model", model.strip()), ("group", group), ("profile", profile)):
            if value != getattr(current, field):
                changes[field] = value
        if protocol_of(protocol) is not current.protocol:
            changes["protocol"] = protocol_of(protocol)
        if description != current.description:
            changes["description"] = description
        delta: dict[str, str | None] = {k: None for k in current.settings if k not in wanted}
        delta.update({k: v for k, v in wanted.items() if current.settings.get(k) != v})
        if delta:
            changes["settings"] = delta
        if not changes:
            return done(url, "Nothing changed.")
        device = inventory.update_device(caller.ctx, current.name, **changes)
    except LocalError as exc:
        return done(url, str(exc), error=True)
    finally:
        find.index_of(request.app.state).touch()
    notes = inventory.plan_notes(caller.ctx)
    extra = f" Warning: {notes[0]}" if notes else ""
    return done(url, f"Device {device.name} updated.{extra}")


def parse_settings(text: str) -> dict[str, str]:
    """KEY=VALUE lines (``device set --setting``); a line ``KEY=`` removes the setting."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        item = line.strip()
        if not item:
            continue
        key, eq, value = item.partition("=")
        if not eq or not key.strip():
            raise LocalError(f"{item[:80]!r}: expected KEY=VALUE")
        if value.strip():
            out[key.strip()] = value.strip()
    return out


@router.post(f"{LIST}/{{name}}/capf", response_class=HTMLResponse)
def schedule_capf(
    request: Request,
    caller: PageChanger,
    name: str,
    *,
    operation: Text,
    auth: Text = "null-string",
    auth_string: Text = "",
    key: Text = "RSA-2048",
) -> Response:
    """``device capf``. A generated string is shown on this answer only (not in a URL)."""
    url = phone_url(name)
    try:
        order = find.CapfOrder(operation, auth, auth_string, key)
        devices, generated = find.schedule(caller.ctx, [name], order)
    except LocalError as exc:
        return done(url + "#capf", str(exc), error=True)
    finally:
        find.index_of(request.app.state).touch()
    device = devices[0]
    said = f"{device.name}: CAPF {find.OPERATIONS[order.operation]}"
    if device.capf_expires is not None:
        said += f" pending until {device.capf_expires:%Y-%m-%d %H:%M}"
    said += ". Reset the phone to start the operation."
    if generated:
        said += f" Authentication string: {generated} (shown once: give it to the phone's user)"
        return _phone_page(request, caller, device.name, status=said)
    return done(phone_url(device.name), said)


@router.get(f"{LIST}/{{name}}/delete", response_class=HTMLResponse)
def confirm_delete(request: Request, caller: PageReader, name: str) -> Response:
    device, _ = _device(caller, name)
    return page(
        request,
        caller,
        "phones_delete.html",
        title=f"Delete Phone {device.name}",
        device=device,
        url=phone_url(device.name),
    )


@router.post(f"{LIST}/{{name}}/delete")
def delete_phone(request: Request, caller: PageChanger, name: str) -> Response:
    """``device remove``: its files leave the TFTP plan."""
    try:
        key = device_name(name)
        inventory.remove_device(caller.ctx, key)
    except LocalError as exc:
        return done(phone_url(name), str(exc), error=True)
    finally:
        find.index_of(request.app.state).touch()
    return done(LIST, f"Device {key} removed.")

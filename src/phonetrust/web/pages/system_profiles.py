"""System > Security > Phone Security Profile, and System > Cisco Unified CM Group.

Both are saved by the calls ``profile set|remove`` and ``group set`` make,
so the refusals read the same. A profile is named in the query string
(``?name=``), not the path: CUCM's profile names have spaces and may have
slashes. A group has no delete here because the CLI has none (a phone's
group must exist, and nothing moves phones off a group yet).
"""

from __future__ import annotations

from collections import Counter
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from phonetrust.errors import LocalError
from phonetrust.policy.domain import DeviceSecurityMode, SecurityProfile, Service
from phonetrust.service import inventory
from phonetrust.service.changes import reading
from phonetrust.web.auth import PageChanger, PageReader
from phonetrust.web.problems import Problem
from phonetrust.web.render import done, page, table

router = APIRouter(include_in_schema=False)

PROFILES = "/ccmadmin/profiles"
GROUPS = "/ccmadmin/groups"
NAME_MAX = 128
MODES: dict[str, DeviceSecurityMode] = {
    "non-secure": DeviceSecurityMode.NON_SECURE,
    "authenticated": DeviceSecurityMode.AUTHENTICATED,
    "encrypted": DeviceSecurityMode.ENCRYPTED,
}
"""The CLI's ``--mode`` words; the page shows CUCM's labels beside them."""
MODE_LABELS = {
    DeviceSecurityMode.NON_SECURE: "Non Secure",
    DeviceSecurityMode.AUTHENTICATED: "Authenticated",
    DeviceSecurityMode.ENCRYPTED: "Encrypted",
}
MAX_MEMBERS = 3
Name = Annotated[str, Form(max_length=NAME_MAX)]
Short = Annotated[str, Form(max_length=64)]


def mode_word(mode: DeviceSecurityMode) -> str:
    return next(w for w, m in MODES.items() if m is mode)


def parse_mode(word: str) -> DeviceSecurityMode:
    try:
        return MODES[word.strip().lower()]
    except KeyError:
        raise LocalError(
            f"Device Security Mode {word!r} is not one of: {', '.join(MODES)}"
        ) from None


def check_name(name: str, what: str) -> str:
    """A name must be something: the store would keep an empty or blank one otherwise."""
    cleaned = name.strip()
    if not cleaned:
        raise LocalError(f"{what} needs a name")
    if len(cleaned) > NAME_MAX or any(ord(c) < 32 for c in cleaned):
        raise LocalError(f"{what} name must be 1 to {NAME_MAX} printable characters")
    return cleaned


def _back(base: str, name: str, known: bool) -> str:
    """Where a refused save returns: the thing's page if it exists, else an empty form."""
    return f"{base}/edit?name={quote(name.strip(), safe='')}" if known else f"{base}/new"


# -- Phone Security Profile ------------------------------------------------------------------


@router.get(PROFILES, response_class=HTMLResponse)
def profiles_page(request: Request, caller: PageReader, name: str = "") -> Response:
    """Find and List Phone Security Profiles."""
    with reading(caller.ctx) as uow:
        profiles = uow.list_profiles()
        used = Counter(d.profile for d in uow.list_devices())
    wanted = name.strip().lower()[:NAME_MAX]
    found = [p for p in profiles if wanted in p.name.lower()]
    rows = table(
        request,
        found,
        keys={
            "name": lambda p: p.name,
            "mode": lambda p: int(p.mode),
            "tftp": lambda p: p.tftp_encrypted,
            "devices": lambda p: used[p.name],
        },
        default="name",
        keep=("name",),
    )
    return page(
        request,
        caller,
        "profiles.html",
        title="Find and List Phone Security Profiles",
        table=rows,
        used=used,
        labels=MODE_LABELS,
        search=name[:NAME_MAX],
        edit=lambda n: f"{PROFILES}/edit?name={quote(n, safe='')}",
    )


@router.get(PROFILES + "/new", response_class=HTMLResponse)
def profile_new(request: Request, caller: PageReader) -> Response:
    return _profile_form(request, caller, None)


@router.get(PROFILES + "/edit", response_class=HTMLResponse)
def profile_edit(request: Request, caller: PageReader, name: str = "") -> Response:
    with reading(caller.ctx) as uow:
        profile = uow.get_profile(name)
        users = sum(1 for d in uow.list_devices() if d.profile == name)
    if profile is None:
        raise Problem(404, f"Unknown phone security profile {name!r}")
    return _profile_form(request, caller, profile, users)


def _profile_form(
    request: Request, caller: PageReader, profile: SecurityProfile | None, users: int = 0
) -> Response:
    title = "Phone Security Profile Configuration"
    return page(
        request,
        caller,
        "profiles_edit.html",
        title=title,
        profile=profile,
        users=users,
        modes=[(w, MODE_LABELS[m]) for w, m in MODES.items()],
        mode_word=mode_word,
    )


@router.post(PROFILES)
def profile_save(
    caller: PageChanger, name: Name, mode: Short, tftp_encrypted: Short = ""
) -> Response:
    try:
        real = check_name(name, "A phone security profile")
        inventory.put_profile(caller.ctx, real, parse_mode(mode), tftp_encrypted == "on")
    except LocalError as exc:
        with reading(caller.ctx) as uow:
            known = uow.get_profile(name.strip()) is not None
        return done(_back(PROFILES, name, known), str(exc), error=True)
    return done(f"{PROFILES}/edit?name={quote(real, safe='')}", f"Profile {real!r} saved")


@router.post(PROFILES + "/delete")
def profile_delete(caller: PageChanger, name: Name) -> Response:
    try:
        inventory.remove_profile(caller.ctx, name)
    except LocalError as exc:
        return done(f"{PROFILES}/edit?name={quote(name, safe='')}", str(exc), error=True)
    return done(PROFILES, f"Profile {name!r} removed")


# -- Cisco Unified CM Group ---------------------------------------------------------------------


@router.get(GROUPS, response_class=HTMLResponse)
def groups_page(request: Request, caller: PageReader) -> Response:
    """Find and List Cisco Unified CM Groups."""
    with reading(caller.ctx) as uow:
        groups = uow.list_groups()
        used = Counter(d.group for d in uow.list_devices())
    rows = table(
        request,
        groups,
        keys={"name": lambda g: g.name, "devices": lambda g: used[g.name]},
        default="name",
    )
    return page(
        request,
        caller,
        "groups.html",
        title="Find and List Cisco Unified CM Groups",
        table=rows,
        used=used,
        edit=lambda n: f"{GROUPS}/edit?name={quote(n, safe='')}",
    )


@router.get(GROUPS + "/new", response_class=HTMLResponse)
def group_new(request: Request, caller: PageReader) -> Response:
    return _group_form(request, caller, "", ())


@router.get(GROUPS + "/edit", response_class=HTMLResponse)
def group_edit(request: Request, caller: PageReader, name: str = "") -> Response:
    with reading(caller.ctx) as uow:
        group = uow.get_group(name)
    if group is None:
        raise Problem(404, f"Unknown CallManager group {name!r}")
    return _group_form(request, caller, group.name, group.members)


def _group_form(
    request: Request, caller: PageReader, name: str, members: tuple[str, ...]
) -> Response:
    with reading(caller.ctx) as uow:
        nodes = [n for n in uow.list_nodes() if n.runs(Service.CALLMANAGER)]
    slots = [*members, *([""] * (MAX_MEMBERS - len(members)))][:MAX_MEMBERS]
    return page(
        request,
        caller,
        "groups_edit.html",
        title="Cisco Unified CM Group Configuration",
        name=name,
        slots=slots,
        nodes=[n.host for n in nodes],
    )


@router.post(GROUPS)
def group_save(
    caller: PageChanger,
    name: Name,
    member1: Short = "",
    member2: Short = "",
    member3: Short = "",
) -> Response:
    """Members in the order chosen; an empty slot is skipped, not a gap phones would try."""
    members = [m.strip() for m in (member1, member2, member3) if m.strip()]
    try:
        real = check_name(name, "A CallManager group")
        inventory.put_group(caller.ctx, real, members)
    except LocalError as exc:
        with reading(caller.ctx) as uow:
            known = uow.get_group(name.strip()) is not None
        return done(_back(GROUPS, name, known), str(exc), error=True)
    return done(
        f"{GROUPS}/edit?name={quote(real, safe='')}", f"Group {real!r}: {', '.join(members)}"
    )

"""CM Administration's System menu: Enterprise Parameters here, the rest beside it.

Enterprise Parameters is one form of every parameter, as CUCM shows it,
saved with ``param set``'s rules (:func:`inventory.set_param`): every value
is checked before any is stored, so a refused value leaves the others as
they were. Its Reset button is what phonetrust has for CUCM's "reset all
devices": a TFTP restart on every TFTP node (the files are rebuilt, an ITL
reset ends), asked for on a confirm page first.

Phone Security Profiles, CallManager Groups and Servers live in
:mod:`.system_profiles` and :mod:`.system_servers`; their routes are
included on this module's router.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

from phonetrust.errors import LocalError
from phonetrust.policy import params as P
from phonetrust.service import inventory, security
from phonetrust.service.changes import reading
from phonetrust.service.context import Context, cluster
from phonetrust.web.auth import PageChanger, PageReader
from phonetrust.web.pages import system_profiles, system_servers
from phonetrust.web.render import done, page

router = APIRouter(include_in_schema=False)
router.include_router(system_profiles.router)
router.include_router(system_servers.router)

PARAMS_PATH = "/ccmadmin/params"
FIELD = "p_"
"""Form fields are ``p_0``, ``p_1``...: parameter names have spaces and brackets."""

SECTIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "Security Parameters",
        (P.CLUSTER_SECURITY_MODE, P.ROLLBACK, P.TFTP_DIGEST, P.CAPF_EXPIRY_DAYS, P.TVS_TTL),
    ),
    ("Cluster-wide Parameters (Device - General)", (P.AUTO_REGISTRATION,)),
    ("Cluster-wide Parameters (Centralized TFTP)", (P.ALTERNATE_FILE_SERVERS,)),
)
"""CUCM's section for each parameter it has; one phonetrust adds later lands in "Other"."""

CHOICES: dict[str, tuple[str, ...]] = {
    P.ROLLBACK: ("False", "True"),
    P.AUTO_REGISTRATION: ("True", "False"),
    P.TFTP_DIGEST: ("SHA-1", "SHA-512"),
}
SHOWN_WARNINGS = 50
MAX_VALUE = 1024


@dataclass(frozen=True, slots=True)
class ParamRow:
    field: str
    name: str
    value: str
    default: str
    help: str
    read_only: bool
    choices: tuple[str, ...]


def param_rows(values: dict[str, str]) -> list[tuple[str, list[ParamRow]]]:
    """The parameters by section, each with the form field that carries it."""
    fields = {name: f"{FIELD}{i}" for i, name in enumerate(P.PARAMS)}

    def row(name: str) -> ParamRow:
        p = P.PARAMS[name]
        return ParamRow(
            fields[name],
            name,
            values.get(name, p.default),
            p.default,
            p.help,
            p.read_only,
            CHOICES.get(name, ()),
        )

    placed = {n for _, names in SECTIONS for n in names}
    sections = [(title, [row(n) for n in names if n in P.PARAMS]) for title, names in SECTIONS]
    others = [row(n) for n in P.PARAMS if n not in placed]
    if others:
        sections.append(("Other Parameters", others))
    return sections


def warnings_after(ctx: Context, name: str, value: str) -> list[str]:
    """What ``param set`` warns about after storing ``name``: SHA-512 phones, left-out files."""
    said = list(inventory.plan_notes(ctx))
    if name == P.TFTP_DIGEST and value == "SHA-512":
        said = inventory.sha512_warnings(ctx) + said
    return said


@router.get(PARAMS_PATH, response_class=HTMLResponse)
def params_page(request: Request, caller: PageReader) -> Response:
    values = inventory.list_params(caller.ctx)
    sha512 = inventory.sha512_warnings(caller.ctx) if values.get(P.TFTP_DIGEST) == "SHA-512" else []
    return page(
        request,
        caller,
        "params.html",
        title="Enterprise Parameters Configuration",
        sections=param_rows(values),
        sha512=sha512[:SHOWN_WARNINGS],
        sha512_more=max(0, len(sha512) - SHOWN_WARNINGS),
        notes=inventory.plan_notes(caller.ctx),
    )


@router.post(PARAMS_PATH)
async def save_params(request: Request, caller: PageChanger) -> Response:
    """The form's fields are named by position, so they are read here, not declared."""
    form = await request.form()
    fields = {k: v for k, v in form.items() if k.startswith(FIELD) and isinstance(v, str)}
    return await run_in_threadpool(_save, caller.ctx, fields)


def _save(ctx: Context, fields: dict[str, str]) -> Response:
    """Every field checked first with ``param set``'s rules, then only the changed ones stored."""
    current = inventory.list_params(ctx)
    wanted: list[tuple[str, str]] = []
    for i, (name, param) in enumerate(P.PARAMS.items()):
        raw = fields.get(f"{FIELD}{i}")
        if raw is None or param.read_only:
            continue
        if len(raw) > MAX_VALUE:
            return done(PARAMS_PATH, f"{name}: the value is too long", error=True)
        try:
            value = param.normalise(raw)
        except LocalError as exc:
            return done(PARAMS_PATH, f"{name}: {exc}", error=True)
        if value != current.get(name):
            wanted.append((name, raw))
    if not wanted:
        return done(PARAMS_PATH, "No parameter changed")
    saved: list[str] = []
    warned: list[str] = []
    for name, raw in wanted:
        try:
            real, value = inventory.set_param(ctx, name, raw)
        except LocalError as exc:
            return done(PARAMS_PATH, f"{name}: {exc}", error=True)
        saved.append(f"{real} = {value}")
        warned += warnings_after(ctx, real, value)
    message = "Update successful: " + "; ".join(saved)
    if warned:
        more = f" (and {len(warned) - 1} more, listed below)" if len(warned) > 1 else ""
        message += f". Warning: {warned[0]}{more}"
    return done(PARAMS_PATH, message)


# -- Reset (all devices) --------------------------------------------------------------------


@router.get(PARAMS_PATH + "/reset", response_class=HTMLResponse)
def reset_confirm(request: Request, caller: PageReader) -> Response:
    with reading(caller.ctx) as uow:
        nodes = security.tftp_nodes(uow)
        itl_reset = cluster(uow).itl_reset_active
    return page(
        request,
        caller,
        "params_reset.html",
        title="Reset: Enterprise Parameters",
        nodes=nodes,
        itl_reset=itl_reset,
    )


@router.post(PARAMS_PATH + "/reset")
def reset(caller: PageChanger, confirm: Annotated[str, Form(max_length=10)] = "") -> Response:
    if confirm != "yes":
        return done(PARAMS_PATH, "Reset cancelled")
    try:
        said = security.restart_tftp(caller.ctx)
    except LocalError as exc:
        return done(PARAMS_PATH, str(exc), error=True)
    return done(PARAMS_PATH, "Reset: " + "; ".join(said) + ". Phones fetch the rebuilt files.")

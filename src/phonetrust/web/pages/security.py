"""Cluster security: the mode, each TFTP node's CTL and ITL, and the ``utils`` commands.

The listings are what ``show ctl`` / ``show itl`` print on that node, so an
administrator compares them line by line with a phone or a TAC note. Each
action has a confirm page with CUCM's own question and the planner's
verdict, and its POST makes the service call the admin CLI's command makes,
on the publisher (where CUCM runs them). What needs a file from elsewhere
(``utils itl reset remotekey``: SFTP) or a hardware token (the CTL client)
stays on the CLI, and the pages say so.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from phonetrust.errors import LocalError
from phonetrust.formats.trustlist import Kind
from phonetrust.policy import etokens
from phonetrust.policy.domain import SecurityMode
from phonetrust.service import ctlclient, security
from phonetrust.service.changes import reading
from phonetrust.service.context import Context, cluster
from phonetrust.web import certfacts as facts
from phonetrust.web.auth import PageAdmin, PageChanger, PageReader, check_security_password
from phonetrust.web.problems import Problem
from phonetrust.web.render import done, page
from phonetrust.web.verdicts import WouldLock, apply_change, predict_change

router = APIRouter(include_in_schema=False)
Flag = Annotated[str, Form(max_length=8)]
Secret = Annotated[str, Form(max_length=256)]
FILES = {"CTLFile.tlv": Kind.CTL, "ITLFile.tlv": Kind.ITL}


@dataclass(frozen=True, slots=True)
class Action:
    """One ``utils`` command: CUCM's words around it and the service call it makes."""

    slug: str
    title: str
    command: str
    question: str
    run: Callable[[Context, str], list[str]]
    check: Callable[[Context], None] | None = None
    already: SecurityMode | None = None
    password: bool = False


ACTIONS: dict[str, Action] = {
    a.slug: a
    for a in (
        Action(
            "mixed-mode",
            "Set the Cluster to Mixed Mode",
            "utils ctl set-cluster mixed-mode",
            security.set_cluster_question("Mixed"),
            security.set_mixed_mode,
            already=SecurityMode.MIXED,
        ),
        Action(
            "non-secure",
            "Set the Cluster to Non Secure Mode",
            "utils ctl set-cluster non-secure-mode",
            security.set_cluster_question("Non Secure"),
            security.set_non_secure_mode,
        ),
        Action(
            "update-ctl",
            "Update the CTL File",
            "utils ctl update CTLFile",
            security.CTL_UPDATE_QUESTION,
            security.update_ctl,
            check=security.check_update_ctl,
        ),
        Action(
            "itl-reset",
            "Reset the ITL File (local recovery key)",
            "utils itl reset localkey",
            security.ADMIN_PASSWORD_PROMPT,
            security.itl_reset,
            password=True,
        ),
    )
}
"""The prompts are the admin shell's (``service.security``), word for word."""


def tftp_hosts(ctx: Context) -> list[str]:
    with reading(ctx) as uow:
        return security.tftp_nodes(uow)


@router.get("/security", response_class=HTMLResponse)
def overview(request: Request, caller: PageReader) -> Response:
    with reading(caller.ctx) as uow:
        state = cluster(uow)
    listings = [
        (
            host,
            [
                (
                    kind.value,
                    f"{kind.value}File.tlv",
                    facts.trust_list_file(caller.ctx, host, kind) is not None,
                    facts.trust_list_text(caller.ctx, host, kind),
                )
                for kind in (Kind.CTL, Kind.ITL)
            ],
        )
        for host in tftp_hosts(caller.ctx)
    ]
    return page(
        request,
        caller,
        "security.html",
        title="Cluster Security (CTL / ITL)",
        state=state,
        mixed=state.security_mode is SecurityMode.MIXED,
        listings=listings,
        actions=ACTIONS.values(),
    )


@router.get("/security/{host}/{filename}")
def download(caller: PageReader, host: str, filename: str) -> Response:
    """The file the node serves, byte for byte (trust lists hold certificates, never keys)."""
    kind = FILES.get(filename)
    if kind is None:
        raise Problem(404, "Only CTLFile.tlv and ITLFile.tlv are offered here")
    host = facts.known_node(caller.ctx, host)
    data = facts.trust_list_file(caller.ctx, host, kind)
    if data is None:
        raise Problem(404, f"{filename}: file not found on {host}")
    return Response(
        data,
        media_type="application/octet-stream",
        headers={"Content-Disposition": f'attachment; filename="{host}-{filename}"'},
    )


def action_of(slug: str) -> Action:
    found = ACTIONS.get(slug)
    if found is None:
        raise Problem(404, f"No security action {slug[:40]!r}")
    return found


def notes_of(ctx: Context, action: Action) -> list[str]:
    """What CUCM says before its question (the mode the cluster is in already)."""
    if action.already is not None and security.security_mode(ctx) is action.already:
        return ["The cluster is already in Mixed Mode"]
    return []


def prepare(ctx: Context, action: Action) -> Callable[[Context], list[str]]:
    """The action's run on the publisher, after CUCM's checks (a refusal is raised here)."""
    if action.check is not None:
        action.check(ctx)
    host = facts.publisher_host(ctx)

    def run(c: Context) -> list[str]:
        return action.run(c, host)

    return run


@router.get("/security/{slug}", response_class=HTMLResponse)
def confirm_page(request: Request, caller: PageAdmin, slug: str) -> Response:
    action = action_of(slug)
    try:
        verdict = predict_change(caller.ctx, prepare(caller.ctx, action))
    except LocalError as exc:
        return done("/security", str(exc), error=True)
    return page(
        request,
        caller,
        "security_confirm.html",
        title=action.title,
        action=action,
        notes=notes_of(caller.ctx, action),
        verdict=verdict,
    )


@router.post("/security/{slug}", response_class=HTMLResponse)
def act(
    request: Request,
    caller: PageChanger,
    slug: str,
    accept_lockout: Flag = "",
    password: Secret = "",
) -> Response:
    action = action_of(slug)
    try:
        if action.password:
            check_security_password(request, caller, password)
        run = prepare(caller.ctx, action)
        lines, _ = apply_change(caller.ctx, run, accept_lockout=bool(accept_lockout))
    except WouldLock as exc:
        return page(
            request,
            caller,
            "security_confirm.html",
            409,
            title=action.title,
            action=action,
            notes=notes_of(caller.ctx, action),
            verdict=exc.verdict,
            status=str(exc),
            status_error=True,
        )
    except LocalError as exc:
        return done("/security", str(exc), error=True)
    return done("/security", summary(lines))


def summary(lines: list[str]) -> str:
    """CUCM's lines in the Status box's room: the long ITL reset transcript is cut to what
    it did (the restarts are listed by host)."""
    kept = [line for line in lines if line and not line.startswith(("Locating", "Following"))]
    kept = [line for line in kept if not line.startswith(("[", "Restarting", "Transferring"))]
    return " ".join(kept)


@router.get("/ccmadmin/security/etokens", response_class=HTMLResponse)
def etoken_page(request: Request, caller: PageReader) -> Response:
    """Read-only: the tokens the CTL lists. Signing needs the tokens in the CTL client."""
    with reading(caller.ctx) as uow:
        ctl = ctlclient.current_ctl(uow)
        mode = cluster(uow).security_mode
    tokens = [
        {
            "subject": facts.name_text(cert.subject),
            "issuer": facts.name_text(cert.issuer),
            "serial": f"{cert.serial_number:X}",
            "expires": cert.not_valid_after_utc,
        }
        for cert in etokens.ctl_tokens(ctl)
    ]
    return page(
        request,
        caller,
        "security_etokens.html",
        title="eTokens",
        tokens=tokens,
        has_ctl=ctl is not None,
        mixed=mode is SecurityMode.MIXED,
        max_tries=etokens.MAX_PASSWORD_TRIES,
    )

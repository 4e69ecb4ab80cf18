"""Who is asking, and may they: the dependencies every page and API endpoint declares.

Four of them, one per kind of endpoint, so no handler decides for itself:
:func:`page_reader` / :func:`page_changer` for pages (a browser without a
session goes to the login page; a change needs a super user and the form's
CSRF token), :func:`api_reader` / :func:`api_changer` for the API (an API
token, or the session with its CSRF token in ``X-CSRF-Token`` for a
change). A read-only user's change is answered 403 before anything runs.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from phonetrust.errors import KeyMaterialError
from phonetrust.service import users
from phonetrust.service.context import Context
from phonetrust.store.repository import AuditEntry, WebUser
from phonetrust.web.problems import LoginNeeded, Problem
from phonetrust.web.sessions import COOKIE, REFRESH, Session
from phonetrust.web.state import WebState

CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
READ_ONLY_REFUSAL = "Your role (Standard CCM Read Only) can see this cluster but not change it"


@dataclass(frozen=True, slots=True)
class Caller:
    """The user of one request and the context its changes are audited under."""

    user: WebUser
    ctx: Context
    address: str
    session: Session | None
    csrf: str = ""

    @property
    def can_change(self) -> bool:
        return users.can_change(self.user)


def state_of(request: Request) -> WebState:
    state: WebState = request.app.state.web
    return state


def address_of(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _session_caller(request: Request, via: str) -> Caller | None:
    state = state_of(request)
    raw = request.cookies.get(COOKIE)
    if not raw:
        return None
    now = time.time()
    session = state.signer.load(raw, now)
    if session is None:
        return None
    user = users.get_user(state.ctx, session.user)
    if user is None or user.session_epoch != session.epoch or users.locked(user, state.ctx.now()):
        return None
    if now - session.seen > REFRESH:  # keep an active session alive (idle timeout)
        request.state.set_cookie = state.signer.dump(
            Session(session.user, session.sid, session.epoch, session.issued, now)
        )
    address = address_of(request)
    request.state.user = user
    return Caller(
        user,
        state.acting(user.name, address, via),
        address,
        session,
        state.signer.csrf(session.sid),
    )


async def page_reader(request: Request) -> Caller:
    caller = _session_caller(request, "web")
    if caller is None:
        raise LoginNeeded
    return caller


async def page_admin(request: Request) -> Caller:
    """A page only a super user may open (a change's confirm page: it runs the planner on
    the change, which costs; a read-only user could not confirm it anyway)."""
    return _super(await page_reader(request))


async def page_changer(request: Request) -> Caller:
    return await _csrf_checked(request, await page_admin(request))


def _super(caller: Caller) -> Caller:
    if not caller.can_change:
        raise Problem(403, READ_ONLY_REFUSAL)
    return caller


async def page_own(request: Request) -> Caller:
    """A change to one's own account (password, tokens): any role, with the CSRF token."""
    return await _csrf_checked(request, await page_reader(request))


async def _csrf_checked(request: Request, caller: Caller) -> Caller:
    presented = request.headers.get(CSRF_HEADER)
    if presented is None:
        form = await request.form()
        value = form.get(CSRF_FIELD)
        presented = value if isinstance(value, str) else None
    assert caller.session is not None  # noqa: S101 - a page caller has a session
    if not state_of(request).signer.csrf_ok(caller.session.sid, presented):
        raise Problem(
            403, "The form's security token is missing or stale: reload the page and submit again"
        )
    return caller


async def api_reader(request: Request) -> Caller:
    state = state_of(request)
    header = request.headers.get("authorization", "")
    if header:
        scheme, _, token = header.partition(" ")
        user = users.token_user(state.ctx, token.strip()) if scheme.lower() == "bearer" else None
        if user is None:
            raise Problem(
                401,
                "The API token is not valid (malformed, unknown or revoked)",
                headers={"WWW-Authenticate": 'Bearer realm="phonetrust"'},
            )
        address = address_of(request)
        request.state.user = user
        return Caller(user, state.acting(user.name, address, "api"), address, None)
    caller = _session_caller(request, "api")
    if caller is None:
        raise Problem(
            401,
            "Log in, or send an API token as 'Authorization: Bearer pt_...'",
            headers={"WWW-Authenticate": 'Bearer realm="phonetrust"'},
        )
    return caller


async def api_own(request: Request) -> Caller:
    """A POST any role may send that changes nothing of the cluster (a plan): a session
    caller still needs its X-CSRF-Token header."""
    return _api_csrf(request, await api_reader(request), "A POST")


async def api_changer(request: Request) -> Caller:
    return _api_csrf(request, _super(await api_reader(request)), "A change")


def _api_csrf(request: Request, caller: Caller, what: str) -> Caller:
    """A session caller's X-CSRF-Token (an API token is not sent by a browser on its own)."""
    if caller.session is not None and not state_of(request).signer.csrf_ok(
        caller.session.sid, request.headers.get(CSRF_HEADER)
    ):
        raise Problem(403, f"{what} made with a session cookie needs its X-CSRF-Token header")
    return caller


def check_security_password(request: Request, caller: Caller, password: str) -> None:
    """The cluster's security password, asked by a page or the API before a backup or an ITL
    reset: throttled and audited like a login (the key to every private key is worth
    guessing). Raises :class:`~phonetrust.errors.KeyMaterialError` when wrong."""
    state = state_of(request)
    now = time.time()
    attempt = state.secret_throttle.attempt(caller.address, now)
    if attempt.wait:
        raise Problem(
            429,
            f"Too many wrong passwords from {caller.address}: try again in "
            f"{int(attempt.wait // 60) + 1} minutes",
            headers={"Retry-After": str(int(attempt.wait))},
        )
    try:
        caller.ctx.keys.check_password(password)
    except KeyMaterialError:
        with caller.ctx.repo.unit_of_work() as uow:
            uow.append_audit(
                AuditEntry(caller.ctx.now(), caller.ctx.actor, "security password refused", "")
            )
        raise
    state.secret_throttle.succeeded(attempt)


PageReader = Annotated[Caller, Depends(page_reader)]
PageChanger = Annotated[Caller, Depends(page_changer)]
PageOwn = Annotated[Caller, Depends(page_own)]
PageAdmin = Annotated[Caller, Depends(page_admin)]
ApiOwn = Annotated[Caller, Depends(api_own)]
ApiReader = Annotated[Caller, Depends(api_reader)]
ApiChanger = Annotated[Caller, Depends(api_changer)]

"""Logging in and out, one's own password, one's API tokens.

The login form carries a CSRF token bound to a nonce cookie (there is no
session yet to bind it to), so another site cannot log a browser in as
someone else. Wrong passwords count per user (the store locks the account
after users.MAX_FAILURES, audited) and per address (the throttle refuses
the address for a while, audited once when it starts).
"""

from __future__ import annotations

import secrets
import time
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from phonetrust.errors import LocalError
from phonetrust.service import users
from phonetrust.store.repository import AuditEntry
from phonetrust.web.auth import PageOwn, PageReader, address_of, state_of
from phonetrust.web.headers import session_cookie
from phonetrust.web.render import done, page
from phonetrust.web.sessions import LOGIN_COOKIE

router = APIRouter(include_in_schema=False)
Text = Annotated[str, Form(max_length=4096)]


def _safe_next(target: str | None) -> str:
    """Only a path of this site: ``//evil.example`` and ``https://...`` go home instead."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


@router.get("/login", response_class=HTMLResponse)
async def login_form(request: Request, next: str = "/", bye: str = "") -> Response:  # noqa: A002
    nonce = secrets.token_urlsafe(16)
    state = state_of(request)
    response = page(
        request,
        None,
        "login.html",
        next=_safe_next(next),
        csrf_login=state.signer.csrf(nonce),
        message=("Logged out." if bye else ""),
    )
    response.set_cookie(
        LOGIN_COOKIE, nonce, max_age=3600, path="/", secure=True, httponly=True, samesite="strict"
    )
    return response


@router.post("/login")
def login(
    request: Request,
    username: Text,
    password: Text,
    csrf_token: Text = "",
    next: Text = "/",  # noqa: A002 - the form field's name
) -> Response:
    state = state_of(request)
    address = address_of(request)
    now = time.time()
    nonce = request.cookies.get(LOGIN_COOKIE, "")
    if not nonce or not state.signer.csrf_ok(nonce, csrf_token):
        return _again(request, "The login form expired: try again", 403, next)
    attempt = state.throttle.attempt(address, now)
    if attempt.wait:
        wait = attempt.wait
        return _again(
            request,
            f"Too many failed logins from {address}: try again in {int(wait // 60) + 1} minutes",
            429,
            next,
            headers={"Retry-After": str(int(wait))},
        )
    ctx = state.acting(username[:64] or "-", address, "web")
    try:
        user = users.authenticate(ctx, username, password)
    except users.LoginRefused as exc:
        if attempt.last:
            with ctx.repo.unit_of_work() as uow:
                uow.append_audit(
                    AuditEntry(
                        ctx.now(),
                        f"- (web {address})",
                        "login throttled",
                        f"{address}: {state.throttle.max_failures} failed "
                        "logins; refused for 15 minutes",
                    )
                )
        return _again(request, str(exc), 401, next)
    state.throttle.succeeded(attempt)
    session = state.signer.new(user.name, user.session_epoch, now)
    response = RedirectResponse(_safe_next(next), 303)
    response.headers.append("set-cookie", session_cookie(state.signer.dump(session)))
    response.delete_cookie(LOGIN_COOKIE, path="/", secure=True, httponly=True, samesite="strict")
    with ctx.repo.unit_of_work() as uow:
        uow.append_audit(AuditEntry(ctx.now(), ctx.actor, "login", user.name))
    return response


def _again(
    request: Request, message: str, status: int, next_: str, headers: dict[str, str] | None = None
) -> Response:
    nonce = secrets.token_urlsafe(16)
    state = state_of(request)
    response = page(
        request,
        None,
        "login.html",
        status,
        next=_safe_next(next_),
        csrf_login=state.signer.csrf(nonce),
        error=message,
    )
    response.set_cookie(
        LOGIN_COOKIE, nonce, max_age=3600, path="/", secure=True, httponly=True, samesite="strict"
    )
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


@router.post("/logout")
async def logout(request: Request, caller: PageReader) -> Response:
    """Logout needs the CSRF token too (another site must not end a session), any role."""
    form = await request.form()
    state = state_of(request)
    assert caller.session is not None  # noqa: S101
    token = form.get("csrf_token")
    if not state.signer.csrf_ok(caller.session.sid, token if isinstance(token, str) else None):
        return RedirectResponse("/", 303)
    users.end_sessions(caller.ctx, caller.user.name)  # on every node, after a restart too
    response = RedirectResponse("/login?bye=1", 303)
    response.headers.append("set-cookie", session_cookie("", max_age=0))
    request.state.set_cookie = None
    return response


@router.get("/account", response_class=HTMLResponse)
def account(request: Request, caller: PageReader) -> Response:
    tokens = users.list_tokens(caller.ctx, caller.user.name)
    return page(request, caller, "account.html", tokens=tokens)


@router.post("/account/password")
def change_password(
    request: Request, caller: PageOwn, current: Text, new: Text, again: Text
) -> Response:
    if new != again:
        return done("/account", "The new passwords differ", error=True)
    try:
        user = users.change_password(caller.ctx, caller.user.name, current, new)
    except LocalError as exc:
        return done("/account", str(exc), error=True)
    state = state_of(request)
    session = state.signer.new(user.name, user.session_epoch, time.time())
    request.state.set_cookie = None  # the new session's cookie, not a refreshed old one
    response = done("/account", "Password changed; your other sessions have ended")
    response.headers.append("set-cookie", session_cookie(state.signer.dump(session)))
    return response


@router.post("/account/tokens", response_class=HTMLResponse)
def create_token(request: Request, caller: PageOwn, label: Text = "") -> Response:
    """The token is on this answer only: it is stored hashed and cannot be shown again."""
    _, text = users.create_token(caller.ctx, caller.user.name, label)
    tokens = users.list_tokens(caller.ctx, caller.user.name)
    return page(
        request,
        caller,
        "account.html",
        tokens=tokens,
        new_token=text,
        status="API token made: copy it now, it will not be shown again",
    )


@router.post("/account/tokens/{token_id}/revoke")
def revoke_token(caller: PageOwn, token_id: str) -> Response:
    try:
        users.revoke_token(caller.ctx, token_id, owner=caller.user.name)
    except LocalError as exc:
        return done("/account", str(exc), error=True)
    return done("/account", f"API token {token_id} revoked")

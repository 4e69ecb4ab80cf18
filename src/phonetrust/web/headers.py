"""What every answer carries, and what every request may not exceed.

A pure ASGI layer (no per-request task or body copy): HSTS, a strict
Content-Security-Policy (scripts and styles from this site only: htmx is
served from /static, no inline script anywhere), no framing, no sniffing,
no referrer, no caching of pages that show the cluster; and a body limit
(MAX_BODY) enforced on the declared length and on what actually arrives.
It also writes the refreshed session cookie a handler asked for.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from phonetrust.web.sessions import COOKIE, MAX_AGE

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

MAX_BODY = 10 * 1024 * 1024
"""A CSV of 10,000 phones is about 600 KB (the import page takes up to 8 MiB); a
certificate a few KB."""
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
SECURE = [
    (b"strict-transport-security", b"max-age=31536000; includeSubDomains"),
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
]


def session_cookie(value: str, *, max_age: int = MAX_AGE) -> str:
    return f"{COOKIE}={value}; Path=/; Max-Age={max_age}; Secure; HttpOnly; SameSite=Strict"


class SecureHeaders:
    def __init__(self, app: App) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _declared_length(scope)
        if declared is not None and declared > MAX_BODY:
            await _too_large(send)
            return
        static = str(scope.get("path", "")).startswith("/static/")
        received = 0

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > MAX_BODY:
                    raise BodyTooLarge
            return message

        async def decorate(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += SECURE
                if not static:
                    headers.append((b"cache-control", b"no-store"))
                refreshed = scope.get("state", {}).get("set_cookie")
                sets_own = any(
                    name == b"set-cookie" and value.startswith(COOKIE.encode() + b"=")
                    for name, value in headers
                )
                if refreshed and not sets_own:  # a login, logout or password change wins
                    headers.append((b"set-cookie", session_cookie(refreshed).encode()))
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, limited, decorate)
        except BodyTooLarge:
            await _too_large(send)


class BodyTooLarge(Exception):
    pass


def _declared_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return MAX_BODY + 1
    return None


async def _too_large(send: Send) -> None:
    body = b'{"title":"Content Too Large","status":413,"detail":"the request body is over 10 MiB"}'
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/problem+json"),
                (b"content-length", str(len(body)).encode()),
                *SECURE,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})

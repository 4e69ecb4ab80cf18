"""Signed session cookies: what a browser holds instead of a server-side session table.

The cookie is ``__Host-phonetrust``: the ``__Host-`` prefix makes browsers
accept it only when ``Secure``, for the whole site and this host alone; it
is ``HttpOnly`` and ``SameSite=Strict``. Its value is a small JSON payload
and its HMAC-SHA256 under a key derived from the cluster key (every node
accepts every node's sessions, a restart ends none). A session ends when
idle for ``idle`` seconds, after MAX_AGE in any case, and when its user's
epoch moves on (a password change, or logout, which ends the user's every
session on every node: the epoch is in the store).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass

COOKIE = "__Host-phonetrust"
LOGIN_COOKIE = "__Host-phonetrust-login"
"""Holds a nonce the login form's CSRF token is bound to, before any session exists."""
MAX_AGE = 12 * 3600
IDLE = 30 * 60
REFRESH = 60
"""A session's last-seen time is rewritten at most this often (one Set-Cookie a minute)."""


@dataclass(frozen=True, slots=True)
class Session:
    user: str
    sid: str
    epoch: int
    issued: float
    seen: float


class Signer:
    """Signs and checks cookies and CSRF tokens with one key."""

    def __init__(self, key: bytes, *, idle: float = IDLE) -> None:
        self._key = key
        self.idle = idle

    def new(self, user: str, epoch: int, now: float) -> Session:
        return Session(user, secrets.token_urlsafe(16), epoch, now, now)

    def dump(self, session: Session) -> str:
        payload = json.dumps(
            {
                "u": session.user,
                "s": session.sid,
                "e": session.epoch,
                "i": int(session.issued),
                "t": int(session.seen),
            },
            separators=(",", ":"),
        ).encode()
        body = base64.urlsafe_b64encode(payload).decode().rstrip("=")
        return f"{body}.{self._mac(body)}"

    def load(self, value: str, now: float) -> Session | None:
        """The session a cookie holds, or None: forged, malformed, expired or idle (the
        caller checks the user's epoch)."""
        body, dot, mac = value.partition(".")
        if not dot or len(value) > 1024 or not _same(mac, self._mac(body)):
            return None
        try:
            data = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
            session = Session(
                str(data["u"]), str(data["s"]), int(data["e"]), float(data["i"]), float(data["t"])
            )
        except (ValueError, KeyError, TypeError):
            return None
        if now - session.issued > MAX_AGE or now - session.seen > self.idle:
            return None
        if session.seen > now + 60:
            return None
        return session

    def csrf(self, bound_to: str) -> str:
        """The CSRF token of a session (its id) or of a login form (its nonce)."""
        return self._mac("csrf:" + bound_to)

    def csrf_ok(self, bound_to: str, presented: str | None) -> bool:
        return bool(presented) and _same(self.csrf(bound_to), str(presented))

    def _mac(self, text: str) -> str:
        digest = hmac.new(self._key, text.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def _same(expected: str, presented: str) -> bool:
    """Constant-time equality of two strings, whatever characters a client sent
    (``hmac.compare_digest`` refuses non-ASCII ``str`` with a TypeError)."""
    return hmac.compare_digest(expected.encode(), presented.encode("utf-8", "surrogatepass"))

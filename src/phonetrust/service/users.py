"""Application users of the web administration and the HTTP API, and their API tokens.

Passwords are kept as argon2id hashes only. A user's wrong passwords are
counted in the database (every node sees them, a restart forgets nothing):
MAX_FAILURES in a row lock the account for LOCK_SECONDS, and the lock is
audited. An unknown name costs the same hashing work as a known one, so
timing does not tell which names exist. Roles carry CUCM's names.

API tokens are ``pt_<id>_<secret>``: the id finds the row, the secret is
256 random bits kept as its SHA-256 (a fast hash is enough for a secret
nobody chose), compared in constant time.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import re
import secrets
from dataclasses import replace
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from phonetrust.errors import LocalError
from phonetrust.service.changes import reading
from phonetrust.service.context import Context
from phonetrust.store.repository import ApiToken, AuditEntry, UnitOfWork, WebUser

SUPER_USERS = "Standard CCM Super Users"
READ_ONLY = "Standard CCM Read Only"
ROLES = (SUPER_USERS, READ_ONLY)
MAX_FAILURES = 5
LOCK_SECONDS = 15 * 60
MIN_PASSWORD = 8
MAX_PASSWORD = 256
"""Longer passwords are refused before hashing: a megabyte password is not a password."""
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")
TOKEN = re.compile(r"pt_([0-9a-f]{16})_([A-Za-z0-9_-]{43})")
ADMIN_ENV = "PHONETRUST_ADMIN_PASSWORD"

_hasher = PasswordHasher()


@functools.cache
def _dummy() -> str:
    """Verified against when the name is unknown: the answer takes as long as for a real user.
    Made on first use: hashing costs ~0.15 s, which every CLI start would otherwise pay."""
    return _hasher.hash("not a password of anyone's")


REFUSED = (
    f"Invalid username or password (after {MAX_FAILURES} wrong passwords an account is locked "
    f"for {LOCK_SECONDS // 60} minutes)"
)
"""One answer for every refused login: which names exist, or are locked, is not told."""


class LoginRefused(LocalError):
    """Wrong name or password, or a locked account: the caller shows ``str(self)``."""


class UserError(LocalError):
    """A user operation the rules refuse (a bad name, a short password, the last admin)."""


def role_of(text: str) -> str:
    """CUCM's role name from what an administrator typed ("super", "read-only", the name)."""
    wanted = text.strip().lower()
    for role in ROLES:
        if wanted == role.lower():
            return role
    if wanted in ("super", "admin", "superuser", "super-users"):
        return SUPER_USERS
    if wanted in ("read-only", "readonly", "ro", "read"):
        return READ_ONLY
    raise UserError(f"unknown role {text!r}: choose {ROLES[0]!r} or {ROLES[1]!r}")


def can_change(user: WebUser) -> bool:
    return user.role == SUPER_USERS


def check_password_rules(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise UserError(f"a password needs at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        raise UserError(f"a password has at most {MAX_PASSWORD} characters")
    if any(ord(ch) < 32 for ch in password):
        raise UserError("a password cannot hold control characters")


def _check_name(name: str) -> None:
    if not NAME.fullmatch(name):
        raise UserError(
            f"{name[:70]!r} is not a user name: 1 to 64 letters, digits, '.', '_', '@' or '-', "
            "starting with a letter or digit"
        )


def _audit(ctx: Context, uow: UnitOfWork, action: str, detail: str) -> None:
    uow.append_audit(AuditEntry(ctx.now(), ctx.actor, action, detail))


def list_users(ctx: Context) -> list[WebUser]:
    with reading(ctx) as uow:
        return uow.list_users()


def get_user(ctx: Context, name: str) -> WebUser | None:
    with reading(ctx) as uow:
        return uow.get_user(name)


def add_user(ctx: Context, name: str, password: str, role: str) -> WebUser:
    _check_name(name)
    check_password_rules(password)
    role = role_of(role)
    now = ctx.now()
    # A random first epoch: a cookie of a removed user of the same name opens nothing.
    user = WebUser(
        name, _hasher.hash(password), role, now, now, session_epoch=secrets.randbelow(2**31)
    )
    with ctx.repo.unit_of_work() as uow:
        if uow.get_user(name) is not None:
            raise UserError(f"user {name!r} already exists")
        uow.put_user(user)
        _audit(ctx, uow, "user add", f"{name}, role {role}")
    return user


def set_user(
    ctx: Context,
    name: str,
    *,
    password: str | None = None,
    role: str | None = None,
    unlock: bool = False,
) -> WebUser:
    """Change a user's password or role, or end its lock-out (an administrator's act)."""
    if password is not None:
        check_password_rules(password)
    with ctx.repo.unit_of_work() as uow:
        user = _existing(uow, name)
        said: list[str] = []
        if password is not None:
            user = _new_password(user, password, ctx.now())
            said.append("password set")
        if role is not None:
            new_role = role_of(role)
            if user.role == SUPER_USERS and new_role != SUPER_USERS:
                _keep_one_admin(uow, name)
            user = replace(user, role=new_role)
            said.append(f"role {new_role}")
        if unlock:
            user = replace(user, failures=0, locked_until=None)
            said.append("unlocked")
        if not said:
            raise UserError("nothing to change: give a password, a role or unlock")
        uow.put_user(user)
        _audit(ctx, uow, "user set", f"{name}: {', '.join(said)}")
        return user


def remove_user(ctx: Context, name: str) -> None:
    with ctx.repo.unit_of_work() as uow:
        user = _existing(uow, name)
        if user.role == SUPER_USERS:
            _keep_one_admin(uow, name)
        uow.delete_user(name)
        _audit(ctx, uow, "user remove", name)


def _existing(uow: UnitOfWork, name: str) -> WebUser:
    user = uow.get_user(name)
    if user is None:
        raise UserError(f"no user {name!r}")
    return user


def _keep_one_admin(uow: UnitOfWork, leaving: str) -> None:
    others = [u for u in uow.list_users() if u.role == SUPER_USERS and u.name != leaving]
    if not others:
        raise UserError(
            f"{leaving!r} is the last {SUPER_USERS!r} user: the cluster would have no "
            "administrator left"
        )


def _new_password(user: WebUser, password: str, now: datetime) -> WebUser:
    return replace(
        user,
        password_hash=_hasher.hash(password),
        password_changed_at=now,
        failures=0,
        locked_until=None,
        session_epoch=user.session_epoch + 1,
    )


def locked(user: WebUser, now: datetime) -> bool:
    return user.locked_until is not None and user.locked_until > now


def authenticate(ctx: Context, name: str, password: str) -> WebUser:
    """The user ``name`` if ``password`` is its password; else :class:`LoginRefused`.

    A wrong password counts; the MAX_FAILURES-th locks the account (audited,
    with ``ctx.actor`` naming the address). A locked account refuses even
    the right password until the lock ends.
    """
    now = ctx.now()
    if len(password) > MAX_PASSWORD or not NAME.fullmatch(name):
        _verify(_dummy(), password[:MAX_PASSWORD])
        raise LoginRefused(REFUSED)
    with ctx.repo.unit_of_work() as uow:
        user = uow.get_user(name)
        if user is None:
            _verify(_dummy(), password)
            raise LoginRefused(REFUSED)
        if locked(user, now):  # the same answer and work as a wrong password: no name leaks
            _verify(_dummy(), password)
            raise LoginRefused(REFUSED)
        if _verify(user.password_hash, password):
            if user.failures or user.locked_until:
                user = replace(user, failures=0, locked_until=None)
                uow.put_user(user)
            return user
        failures = user.failures + 1
        if failures >= MAX_FAILURES:
            until = now + timedelta(seconds=LOCK_SECONDS)
            uow.put_user(replace(user, failures=0, locked_until=until))
            _audit(
                ctx,
                uow,
                "user locked",
                f"{name}: {failures} wrong passwords in a row; locked until {until:%H:%M:%S} UTC",
            )
        else:
            uow.put_user(replace(user, failures=failures))
    raise LoginRefused(REFUSED)


def _verify(encoded: str, password: str) -> bool:
    try:
        return _hasher.verify(encoded, password)
    except (VerificationError, InvalidHashError):
        return False


def change_password(ctx: Context, name: str, old: str, new: str) -> WebUser:
    """A user's own change: the old password first (a stolen session cannot take the account)."""
    check_password_rules(new)
    with ctx.repo.unit_of_work() as uow:
        user = _existing(uow, name)
        if not _verify(user.password_hash, old):
            raise LoginRefused("The current password is wrong")
        user = _new_password(user, new, ctx.now())
        uow.put_user(user)
        _audit(ctx, uow, "password change", name)
        return user


def shape(user: WebUser, now: datetime) -> dict[str, object]:
    """A user as the API and ``user list --json`` show it (never the hash)."""
    return {
        "name": user.name,
        "role": user.role,
        "read_only": user.role != SUPER_USERS,
        "locked": locked(user, now),
        "locked_until": user.locked_until.isoformat()
        if locked(user, now) and user.locked_until
        else None,
        "created_at": user.created_at.isoformat(),
        "password_changed_at": user.password_changed_at.isoformat(),
    }


def token_shape(token: ApiToken) -> dict[str, object]:
    """A token as listed: its id and label, never its secret or hash."""
    return {
        "id": token.token_id,
        "user": token.user,
        "label": token.label,
        "created_at": token.created_at.isoformat(),
        "last_used_at": token.last_used_at.isoformat() if token.last_used_at else None,
    }


def end_sessions(ctx: Context, name: str) -> None:
    """Logout: every session of ``name`` ends, on every node (its epoch moves on)."""
    with ctx.repo.unit_of_work() as uow:
        user = uow.get_user(name)
        if user is None:
            return
        uow.put_user(replace(user, session_epoch=user.session_epoch + 1))
        _audit(ctx, uow, "logout", name)


# -- API tokens ---------------------------------------------------------------------------


def create_token(ctx: Context, user: str, label: str) -> tuple[ApiToken, str]:
    """A new token for ``user`` and its text, which is shown once and never stored."""
    label = label.strip()[:100] or "API token"
    if any(ord(ch) < 32 for ch in label):
        raise UserError("a token label cannot hold control characters")
    token_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    token = ApiToken(token_id, user, label, _digest(secret), ctx.now())
    with ctx.repo.unit_of_work() as uow:
        _existing(uow, user)
        uow.put_api_token(token)
        _audit(ctx, uow, "api token add", f"{user}: {label} ({token_id})")
    return token, f"pt_{token_id}_{secret}"


def list_tokens(ctx: Context, user: str | None = None) -> list[ApiToken]:
    with reading(ctx) as uow:
        return uow.list_api_tokens(user)


def revoke_token(ctx: Context, token_id: str, *, owner: str | None = None) -> None:
    """Revoke a token (only ``owner``'s, when given)."""
    with ctx.repo.unit_of_work() as uow:
        token = uow.get_api_token(token_id)
        if token is None or (owner is not None and token.user != owner):
            raise UserError(f"no API token {token_id!r}")
        uow.delete_api_token(token_id)
        _audit(ctx, uow, "api token revoke", f"{token.user}: {token.label} ({token_id})")


def token_user(ctx: Context, presented: str) -> WebUser | None:
    """The user a presented token acts for, or None (malformed, unknown, revoked, wrong)."""
    match = TOKEN.fullmatch(presented)
    if match is None:
        return None
    token_id, secret = match.groups()
    with reading(ctx) as uow:  # no write lock per API request
        token = uow.get_api_token(token_id)
        if token is None or not hmac.compare_digest(token.secret_hash, _digest(secret)):
            return None
        user = uow.get_user(token.user)
    now = ctx.now()
    if user is None or locked(user, now):
        return None
    last = token.last_used_at
    if last is None or now - last > timedelta(minutes=1):  # a write a minute at most
        with ctx.repo.unit_of_work() as uow:
            if uow.get_api_token(token_id) is not None:  # not revoked meanwhile
                uow.put_api_token(replace(token, last_used_at=now))
    return user


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()

"""The caller's own account, users (read by anyone logged in, changed by super users)."""

from __future__ import annotations

from fastapi import APIRouter

from phonetrust.service import users
from phonetrust.web.auth import ApiReader

router = APIRouter(tags=["users"])


@router.get("/users/me")
def me(caller: ApiReader) -> dict[str, object]:
    """Who this token or session acts as, and whether it may change anything."""
    return users.shape(caller.user, caller.ctx.now())


@router.get("/users")
def user_list(caller: ApiReader) -> dict[str, object]:
    now = caller.ctx.now()
    items = [users.shape(u, now) for u in users.list_users(caller.ctx)]
    return {"items": items, "total": len(items)}

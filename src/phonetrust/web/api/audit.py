"""The audit log, as ``phonetrust audit --json`` shapes it, newest first and paged."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query

from phonetrust.service import shapes
from phonetrust.web.auth import ApiReader
from phonetrust.web.pages.audit import FILTER_MAX, search

Answer = dict[str, Any]
"""What a route answers (a shape); typed loosely so the schema does not chase the alias."""

router = APIRouter(tags=["audit"])


@router.get("/audit", summary="The audit log, newest first")
def audit_list(
    caller: ApiReader,
    offset: int = Query(0, ge=0, le=10**9),
    limit: int = Query(50, ge=1, le=1000),
    user: str = Query("", max_length=FILTER_MAX, description="the user (and address) contains"),
    action: str = Query("", max_length=FILTER_MAX, description="the action or detail contains"),
) -> Answer:
    """``total`` counts the matching entries among the newest ones searched; ``capped`` says
    older entries exist that were not searched."""
    found = search(caller.ctx, user, action)
    items: list[shapes.Json] = [shapes.audit(e) for e in found.entries[offset : offset + limit]]
    return {"items": items, "total": len(found.entries), "capped": found.capped}

"""Pages: a template with what every page shows (user, CSRF token, Status box), and tables.

CUCM's "Find and List" pages sort by a column and page through results;
:func:`table` does both for any list of rows, with the sort key and page
read from the query string, so every table behaves alike and a page
without JavaScript is still complete.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse

from phonetrust.web.auth import Caller, state_of

T = TypeVar("T")
PAGE_SIZES = (25, 50, 100, 250)


def page(
    request: Request, caller: Caller | None, template: str, code: int = 200, **values: Any
) -> HTMLResponse:
    """Render ``template`` with what base.html needs (user, role, CSRF token, Status box)."""
    state = state_of(request)
    status, error = _status(request)
    values.setdefault("status", status)
    values.setdefault("status_error", error)
    html = state.env.get_template(template).render(
        request_path=request.url.path,
        user=caller.user if caller else None,
        can_change=caller.can_change if caller else False,
        csrf=caller.csrf if caller else "",
        node=state.node,
        **values,
    )
    return HTMLResponse(html, code)


def done(to: str, message: str, *, error: bool = False) -> RedirectResponse:
    """After a change: back to a page whose Status box says what happened (POST-redirect-GET).

    ``to`` must be a path of this site (handlers pass constants or quoted names)."""
    sep = "&" if "?" in to else "?"
    message = message[:300]
    query = {"status": message, **({"kind": "error"} if error else {})}
    query["sig"] = _signature(message, error)
    return RedirectResponse(f"{to}{sep}{urlencode(query)}", 303)


_STATUS_KEY = secrets.token_bytes(32)
"""Signs the Status box's message in the redirect after a change (this process's; a status
lost to a restart is only not shown)."""


def _signature(message: str, error: bool) -> str:
    mac = hmac.new(_STATUS_KEY, f"{int(error)}:{message}".encode(), hashlib.sha256)
    return mac.hexdigest()[:32]


def _status(request: Request) -> tuple[str, bool]:
    """The Status box's message, only when this server wrote it: a link from elsewhere with
    ``?status=Call 555-0100 to restore your account`` shows nothing."""
    q = request.query_params
    message, error = q.get("status", "")[:300], q.get("kind") == "error"
    presented = q.get("sig", "")
    if not message or not hmac.compare_digest(
        _signature(message, error).encode(), presented.encode("utf-8", "surrogatepass")
    ):
        return "", False
    return message, error


@dataclass(frozen=True, slots=True)
class Table(Generic[T]):
    """One page of sorted rows and what the header links and the pager need."""

    rows: Sequence[T]
    total: int
    page: int
    pages: int
    per: int
    sort: str
    desc: bool
    query: dict[str, str]

    def link(self, **changes: object) -> str:
        """The query string of this table with some parameters changed."""
        params = {
            **self.query,
            "sort": self.sort,
            "dir": "desc" if self.desc else "asc",
            "page": str(self.page),
            "per": str(self.per),
        }
        params.update({k: str(v) for k, v in changes.items()})
        return "?" + urlencode(params)

    def sort_link(self, column: str) -> str:
        desc = column == self.sort and not self.desc
        return self.link(sort=column, dir="desc" if desc else "asc", page=1)


def table(
    request: Request,
    rows: Sequence[T],
    keys: dict[str, Callable[[T], Any]],
    default: str,
    *,
    keep: Sequence[str] = (),
) -> Table[T]:
    """Sort ``rows`` by the ``sort`` parameter (one of ``keys``) and cut the ``page`` asked for."""
    q = request.query_params
    sort = q.get("sort", default)
    if sort not in keys:
        sort = default
    desc = q.get("dir") == "desc"
    per = _int(q.get("per"), PAGE_SIZES[1])
    per = per if per in PAGE_SIZES else PAGE_SIZES[1]
    ordered = sorted(rows, key=lambda r: _sortable(keys[sort](r)), reverse=desc)
    pages = max(1, -(-len(ordered) // per))
    number = min(max(_int(q.get("page"), 1), 1), pages)
    cut = ordered[(number - 1) * per : number * per]
    kept = {k: q[k] for k in keep if q.get(k)}
    return Table(cut, len(ordered), number, pages, per, sort, desc, kept)


def _int(text: str | None, default: int) -> int:
    try:
        return int(text or default)
    except ValueError:
        return default


def _sortable(value: Any) -> tuple[int, Any]:
    """None last, numbers and text each in their own order (never a TypeError)."""
    if value is None:
        return (2, "")
    if isinstance(value, (int, float)):
        return (0, value)
    return (1, str(value).lower())

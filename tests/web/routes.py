"""Every route of the web application, read off the application itself.

The sweeps over it (read-only refusal, anonymous refusal, hostile input)
cover each page and endpoint added later without being told about it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import get_args

from fastapi import APIRouter
from fastapi.routing import APIRoute
from pydantic import BaseModel

from phonetrust.service.context import Context
from phonetrust.web import api, pages
from phonetrust.web.app import create_app
from phonetrust.web.state import WebState

CHANGING = {"POST", "PUT", "PATCH", "DELETE"}
PERSONAL = {
    "/login",
    "/logout",
    "/account/password",
    "/account/tokens",
    "/account/tokens/{token_id}/revoke",
}
"""Changes every user may make to their own session or account."""
READ_ONLY_MAY = {"/plan", "/api/v1/plan"}
"""POSTs that change nothing (the planner works on a copy): the read-only role may send them."""
FILL = {
    "node": "cucm-pub",
    "host": "cucm-sub1",
    "name": "CallManager",
    "store": "CallManager-trust",
    "token_id": "0123456789abcdef",
}


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    template: str
    fields: tuple[str, ...]
    """The form or body fields the handler declares (hostile input goes there)."""

    @property
    def api(self) -> bool:
        return self.template.startswith("/api/")

    def path(self, **values: str) -> str:
        out = self.template
        for name in self.params:
            out = out.replace("{" + name + "}", values.get(name, FILL.get(name, "x")))
        return out

    @property
    def params(self) -> list[str]:
        parts = self.template.replace("}", "{").split("{")[1::2]
        return [p.split(":")[0] for p in parts]


def routes(ctx: Context) -> list[Route]:
    """Each method of each route the application serves (``ctx`` builds it as served)."""
    create_app(WebState(ctx, "cucm-pub"))  # registers every router, as served
    found: list[Route] = []
    for prefix, routers in (("", pages.ROUTERS), ("/api/v1", api.ROUTERS)):
        for router in routers:
            found += _walk(router, prefix)
    return found


def _fields(route: APIRoute) -> tuple[str, ...]:
    """The form fields, or a JSON body model's fields (the keys an API call sends)."""
    params = route.dependant.body_params
    if len(params) == 1:
        annotation = params[0].field_info.annotation
        for kind in (annotation, *get_args(annotation)):  # a model, or a model | None
            if isinstance(kind, type) and issubclass(kind, BaseModel):
                return tuple(kind.model_fields)
    return tuple(p.alias for p in params)


def _walk(router: APIRouter, prefix: str) -> list[Route]:
    found: list[Route] = []
    for route in router.routes:
        if isinstance(route, APIRoute):
            fields = _fields(route)
            template = prefix + route.path_format
            found += [Route(m, template, fields) for m in sorted(route.methods or ())]
        elif hasattr(route, "original_router"):  # a router included into this one
            inner = route.include_context.prefix  # type: ignore[attr-defined]
            found += _walk(route.original_router, prefix + inner)
    return found


def changing(ctx: Context, *, personal: bool = False) -> list[Route]:
    """Every changing route; ``personal``: those every user may send for their own account."""
    return [r for r in routes(ctx) if r.method in CHANGING and (r.template in PERSONAL) == personal]

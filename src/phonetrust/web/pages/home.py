"""The home page: what to do first on a new cluster, else where things stand."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from phonetrust.web.auth import PageReader
from phonetrust.web.render import page

router = APIRouter(include_in_schema=False)


@router.get("/", response_class=HTMLResponse)
def home(request: Request, caller: PageReader) -> Response:
    return page(request, caller, "home.html", title="Home")

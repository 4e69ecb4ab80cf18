"""The home page: what to do first on a new cluster, else where things stand.

A cluster is new while no phone has ever downloaded anything from it: until
then nothing can lock, and the first things to do (export the ITLRecovery
key, a backup, phones, a read-only user) are the ones that matter later.
Once phones have booted, the page is a summary linking to each page.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from phonetrust.service import users
from phonetrust.service.changes import reading
from phonetrust.web.auth import PageReader
from phonetrust.web.pages.devices_find import index_of
from phonetrust.web.pages.fleet import fleet
from phonetrust.web.render import page

router = APIRouter(include_in_schema=False)


@router.get("/", response_class=HTMLResponse)
def home(request: Request, caller: PageReader) -> Response:
    devices = len(index_of(request.app.state).snapshot(caller.ctx).devices)  # the kept list
    with reading(caller.ctx) as uow:
        downloads = uow.downloads_mark()[0] > 0
        state = uow.get_cluster()
        nodes = uow.list_nodes()
        accounts = uow.list_users()
    publisher = next((n.host for n in nodes if n.publisher), "the publisher")
    if not devices or not downloads:
        exported = state is not None and state.p12_exported_at is not None
        readers = any(not users.can_change(u) for u in accounts)
        return page(
            request,
            caller,
            "home.html",
            title="First Steps",
            first_run=True,
            devices=devices,
            exported=exported,
            readers=readers,
            publisher=publisher,
            cluster_name=state.name if state else "",
        )
    return page(
        request,
        caller,
        "home.html",
        title="Home",
        first_run=False,
        fleet=fleet(caller.ctx, index_of(request.app.state)),
        cluster_name=state.name if state else "",
    )

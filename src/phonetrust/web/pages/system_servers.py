"""System > Server: the cluster's nodes, their services, and whether those answer.

Whether a service answers is asked the way ``phonetrust diagnose`` (check
10) asks, only lighter, since it runs on every page view: every service of
every node at once, with a short timeout. TVS and CAPF by a TLS handshake
that must present the node's current certificate (a bare connect proves
nothing: a proxy on the path may accept any), TFTP by asking for the ITL
(a "File not found" is an answer too). Nothing answering is the normal
case when this process does not run the services, so it reads "not
running here" rather than an alarm.

Adding a node stays in the CLI (its keys are generated, it takes long);
renaming one can be done here after a confirm page, as ``cluster
rename-node`` does it (every certificate of the node is regenerated).
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from phonetrust.errors import LocalError, PhonetrustError
from phonetrust.net.ports import STANDARD_PORTS
from phonetrust.net.tftp_remote import fetch
from phonetrust.net.tls import client_context
from phonetrust.policy.domain import CertName, Node, Service
from phonetrust.protocols.tftp.packets import PeerError
from phonetrust.service import nodes as node_service
from phonetrust.service.changes import reading
from phonetrust.service.context import Context
from phonetrust.service.fileplan import ITL_NAME
from phonetrust.web.auth import PageChanger, PageReader
from phonetrust.web.problems import Problem
from phonetrust.web.render import done, page

router = APIRouter(include_in_schema=False)

SERVERS = "/ccmadmin/servers"
HEALTH_TIMEOUT = 0.6
"""Seconds each service may take to answer (all are asked at once)."""
PROBED = {Service.TFTP: "tftp", Service.TVS: "tvs", Service.CAPF: "capf"}
"""CallManager has no port here: phonetrust serves no call control."""


class State(StrEnum):
    RUNNING = "running"
    FOREIGN = "answers with another certificate"
    """A TLS server answers, but not with this node's certificate for the service (a stale
    certificate after a regeneration, or something else on the path: a proxy, a port clash)."""
    DOWN = "not running here"
    CONFIGURED = "configured"
    """Nothing to ask (CallManager)."""


@dataclass(frozen=True, slots=True)
class ServiceHealth:
    service: str
    port: int | None
    state: State

    @property
    def answers(self) -> bool | None:
        return None if self.state is State.CONFIGURED else self.state is State.RUNNING


@dataclass(frozen=True, slots=True)
class NodeHealth:
    node: Node
    services: tuple[ServiceHealth, ...]

    @property
    def summary(self) -> str:
        asked = [s for s in self.services if s.answers is not None]
        up = [s for s in asked if s.answers]
        if not asked:
            return "no service to ask"
        if not up:
            return "not running here: no service of this node answers from this machine"
        if len(up) == len(asked):
            return "all services answer"
        return f"{len(up)} of {len(asked)} services answer"


@dataclass(frozen=True, slots=True)
class Ask:
    node: Node
    service: Service
    expect: bytes | None
    """TVS and CAPF: the node's current certificate, which a real server presents."""


def read_asks(ctx: Context) -> list[Ask]:
    """Every node and each of its services, with the certificate it should present."""
    certs = {Service.TVS: CertName.TVS, Service.CAPF: CertName.CAPF}
    with reading(ctx) as uow:
        asks = []
        for n in uow.list_nodes():
            for s in Service:
                if s in n.services:
                    own = uow.current_certificate(n.host, certs[s]) if s in certs else None
                    asks.append(Ask(n, s, None if own is None else own.der))
        return asks


def health(asks: list[Ask], timeout: float = HEALTH_TIMEOUT) -> list[NodeHealth]:
    """Every node's services asked at once (called from a worker thread: runs its own loop)."""
    return asyncio.run(_health(asks, timeout))


async def _health(asks: list[Ask], timeout: float) -> list[NodeHealth]:
    states = await asyncio.gather(*(_state(a, timeout) for a in asks))
    rows: dict[str, list[ServiceHealth]] = {}
    nodes: dict[str, Node] = {}
    for ask, state in zip(asks, states, strict=True):
        nodes[ask.node.host] = ask.node
        port = STANDARD_PORTS[PROBED[ask.service]] if ask.service in PROBED else None
        rows.setdefault(ask.node.host, []).append(ServiceHealth(ask.service.value, port, state))
    return [NodeHealth(nodes[h], tuple(r)) for h, r in rows.items()]


async def _state(ask: Ask, timeout: float) -> State:
    if ask.service not in PROBED:
        return State.CONFIGURED
    address, port = str(ask.node.ip), STANDARD_PORTS[PROBED[ask.service]]
    try:
        if ask.service is Service.TFTP:
            with contextlib.suppress(PeerError):  # "File not found" is an answer too
                await fetch((address, port), ITL_NAME, timeout=timeout, rto=timeout / 2, retries=1)
            return State.RUNNING
        async with asyncio.timeout(timeout):
            _, writer = await asyncio.open_connection(address, port, ssl=client_context())
        presented = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
        writer.close()
    except (OSError, TimeoutError, ValueError, PhonetrustError):
        return State.DOWN
    return State.RUNNING if ask.expect is None or presented == ask.expect else State.FOREIGN


@router.get(SERVERS, response_class=HTMLResponse)
def servers_page(request: Request, caller: PageReader) -> Response:
    """Find and List Servers, with each one's services and whether they answer."""
    rows = health(read_asks(caller.ctx))
    return page(
        request,
        caller,
        "servers.html",
        title="Find and List Servers",
        rows=rows,
        timeout=HEALTH_TIMEOUT,
        rename=lambda host: f"{SERVERS}/{quote(host, safe='')}/rename",
    )


@router.get(SERVERS + "/{host}/rename", response_class=HTMLResponse)
def rename_confirm(request: Request, caller: PageReader, host: str) -> Response:
    with reading(caller.ctx) as uow:
        found = uow.get_node(host)
    if found is None:
        raise Problem(404, f"Unknown node {host!r}")
    return page(
        request,
        caller,
        "servers_rename.html",
        title=f"Rename Server {found.host}",
        server=found,
    )


@router.post(SERVERS + "/{host}/rename")
def rename(
    caller: PageChanger,
    host: str,
    new_host: Annotated[str, Form(max_length=63)],
    domain: Annotated[str, Form(max_length=253)] = "",
) -> Response:
    back = f"{SERVERS}/{quote(host, safe='')}/rename"
    try:
        regenerated = node_service.rename_node(caller.ctx, host, new_host.strip(), domain.strip())
    except LocalError as exc:
        return done(back, str(exc), error=True)
    return done(
        SERVERS,
        f"{host} is now {new_host.strip()}; regenerated: {', '.join(regenerated)}. "
        "Phones must be reset to fetch the new trust lists.",
    )

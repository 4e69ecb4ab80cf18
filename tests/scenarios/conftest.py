"""The scenario suite's stage: a real cluster, its services on loopback, simulated phones.

A :class:`Site` runs ``phonetrust serve`` for the nodes a scenario needs (in
this process, on free ports) and gives phones a :class:`Routes` table so
that the addresses the cluster's files name (``10.0.0.10:2445``,
``https://cucm-pub:8443/...``) reach those ports. Administration goes
through :meth:`Lab.admin` exactly as in tests/service; :meth:`Site.synced`
waits until every running node serves what the store now says.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Coroutine
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

from phonetrust.net.serve import Running, ServeOptions, serving
from phonetrust.policy.domain import Device
from phonetrust.policy.models import model as phone_model
from phonetrust.service import inventory
from phonetrust.sim.network import Routes, route_services
from phonetrust.sim.phone import Phone
from phonetrust.sim.storage import DeviceKeys
from tests.scenarios.far import far, far_template
from tests.service.conftest import Lab
from tests.waiting import reloaded

__all__ = ["Site", "far", "far_template", "run_async", "site_of"]

T = TypeVar("T")


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """Run one scenario's coroutine (the suite does not depend on an asyncio plugin)."""
    return asyncio.run(coro)


@dataclass
class Site:
    lab: Lab
    nodes: dict[str, Running] = field(default_factory=dict)
    _serving: dict[str, AsyncExitStack] = field(default_factory=dict)
    routes: Routes = field(default_factory=Routes)

    async def start(self, host: str) -> Running:
        """Serve node ``host`` (TFTP, TVS, CAPF, HTTPS as it runs them) on free ports."""
        options = ServeOptions(
            node=host, tftp_port=0, tvs_port=0, capf_port=0, https_port=0, poll=0.05
        )
        stack = AsyncExitStack()
        running = await stack.enter_async_context(serving(self.lab.ctx, options))
        self.nodes[host], self._serving[host] = running, stack
        names = (running.node.host, str(running.node.ip))
        self.routes = route_services(self.routes, names, running.ports)
        return running

    async def stop(self, host: str) -> None:
        """Stop a node's services (its routes stay: a phone then finds nobody there)."""
        del self.nodes[host]
        await self._serving.pop(host).aclose()

    async def restart(self, host: str) -> Running:
        await self.stop(host)
        return await self.start(host)

    async def synced(self, timeout: float = 20) -> None:
        """Wait until every running node has reloaded the store's current file plan."""

        await reloaded(self.lab.ctx, *self.nodes.values(), timeout=timeout)

    async def admin(self, line: str, *answers: str, node: str = "cucm-pub") -> str:
        """An administrator's command, then wait for the services to serve its outcome."""
        out = await asyncio.to_thread(self.lab.admin, line, *answers, node=node)
        await self.synced()
        return out

    async def phone(
        self,
        mac: str,
        model: str = "8845",
        *,
        tftp: str = "cucm-pub",
        keys: DeviceKeys | None = None,
        register: bool = True,
        auth_string: str | None = None,
    ) -> Phone:
        """A phone of the cluster (added to its devices, and served, unless ``register`` is False).

        ``tftp`` names the node whose TFTP the phone uses (DHCP option 150), or an address.
        """
        if register:
            await asyncio.to_thread(
                inventory.add_devices, self.lab.ctx, [Device(f"SEP{mac}", model)]
            )
            await self.synced()
        address = str(self.nodes[tftp].node.ip) if tftp in self.nodes else tftp
        return Phone(
            mac,
            phone_model(model),
            address,
            routes=self.routes,
            keys=keys,
            clock=self.lab.clock,
            auth_string=auth_string,
            timeout=5.0,
            rto=0.3,
        )


def _refused_port() -> int:
    """A loopback port nobody listens on: a node not started refuses at once, no timeout."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@asynccontextmanager
async def site_of(cluster: Lab, *hosts: str) -> AsyncIterator[Site]:
    """The cluster's services on loopback (the publisher's by default) for one scenario.

    Every node of the cluster is routed to a refusing loopback port until it is
    started, so a phone that asks a stopped node fails fast instead of trying
    the real 10.0.0.x addresses.
    """
    site = Site(cluster)
    dead = ("127.0.0.1", _refused_port())
    with cluster.ctx.repo.unit_of_work() as uow:
        for node in uow.list_nodes():
            for name in (node.host, str(node.ip)):
                site.routes = site.routes.with_route(name, 0, dead)
    try:
        for host in hosts or ("cucm-pub",):
            await site.start(host)
        yield site
    finally:
        for host in list(site.nodes):
            await site.stop(host)

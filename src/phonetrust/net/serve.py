"""``phonetrust serve``: one node's TFTP, TVS, CAPF and HTTPS in one asyncio process.

HTTPS is a minimal Tomcat stand-in (:mod:`.https`): it presents the node's
``tomcat`` certificate, so phones have a secure URL to check through TVS (A7).

Call order: open the cluster, load each enabled service's snapshot from the
store (in a thread: the store is synchronous), start the servers, then loop:
every ``poll`` seconds ask the store for the plan version and, when it
moved, reload the snapshots and swap them in (running transfers and
connections keep what they had). SIGTERM or SIGINT stops accepting, lets
work in flight finish, and returns.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.hazmat.primitives.serialization import Encoding

from phonetrust.errors import LocalError
from phonetrust.net import tls
from phonetrust.net.capf import CapfServer
from phonetrust.net.https import HttpsServer
from phonetrust.net.ports import FALLBACK_PORTS, STANDARD_PORTS
from phonetrust.net.tftp import TftpServer
from phonetrust.net.tvs import TvsServer
from phonetrust.policy.domain import CertName, Node, Service
from phonetrust.service import alerts
from phonetrust.service.capfops import capf_identity, load_capf_service
from phonetrust.service.changes import reading
from phonetrust.service.context import Context, publisher
from phonetrust.service.context import node as node_of
from phonetrust.service.identity import own_identity
from phonetrust.service.tftpfiles import DownloadLog, load_source
from phonetrust.service.tvsdirectory import load_directory, tvs_identity
from phonetrust.store.repository import Alert

log = logging.getLogger("phonetrust.serve")


@dataclass(frozen=True, slots=True)
class ServeOptions:
    node: str | None = None
    bind: str = "127.0.0.1"
    tftp_port: int | None = None
    tvs_port: int | None = None
    capf_port: int | None = None
    https_port: int | None = None
    https: bool = True
    """Run the Tomcat stand-in (every CUCM node runs Tomcat)."""
    poll: float = 1.0
    legacy_tls: bool = False
    tftp_dir: Path | None = None
    """Extra files TFTP serves (firmware, ring lists): DATA/tftp."""


class Stoppable(Protocol):
    async def stop(self) -> None: ...


@dataclass
class Running:
    """The servers of one node and the snapshots they serve."""

    node: Node
    version: int
    servers: dict[str, Stoppable] = field(default_factory=dict)
    ports: dict[str, int] = field(default_factory=dict)
    identities: dict[str, bytes] = field(default_factory=dict)
    """The certificate (DER) each TLS service presents, to notice a regeneration."""


async def _bind(
    name: str, wanted: int | None, start: Callable[[int], Awaitable[Stoppable]]
) -> tuple[Stoppable, int]:
    """Start on the wanted port, or the standard one, or the fallback if not allowed."""
    if wanted is not None:
        server = await start(wanted)
        return server, int(getattr(server, "port", wanted))
    try:
        server = await start(STANDARD_PORTS[name])
    except PermissionError:
        log.warning(
            "%s: not allowed to bind port %d, using %d",
            name,
            STANDARD_PORTS[name],
            FALLBACK_PORTS[name],
        )
        server = await start(FALLBACK_PORTS[name])
    return server, int(getattr(server, "port", 0))


async def start_node(ctx: Context, options: ServeOptions) -> Running:
    """Start every service the node runs; returns what is running."""

    def which() -> tuple[Node, int]:
        with reading(ctx) as uow:
            chosen = node_of(uow, options.node) if options.node else publisher(uow)
            return chosen, uow.current_version()

    node, version = await asyncio.to_thread(which)
    running = Running(node, version)
    if node.runs(Service.TFTP):
        source = await asyncio.to_thread(load_source, ctx, node.host, tftp_dir=options.tftp_dir)
        downloads = DownloadLog(ctx)
        server, port = await _bind(
            "tftp",
            options.tftp_port,
            lambda p: TftpServer.start(source, host=options.bind, port=p, downloads=downloads),
        )
        running.servers["tftp"], running.ports["tftp"] = server, port
    if node.runs(Service.TVS):
        directory = await asyncio.to_thread(load_directory, ctx)
        cert, key = await asyncio.to_thread(tvs_identity, ctx, node.host)
        context = tls.server_context(cert, key, legacy=options.legacy_tls)
        server, port = await _bind(
            "tvs",
            options.tvs_port,
            lambda p: TvsServer.start(directory, context, host=options.bind, port=p),
        )
        running.servers["tvs"], running.ports["tvs"] = server, port
        running.identities["tvs"] = cert.public_bytes(Encoding.DER)
    if node.runs(Service.CAPF):
        service = await asyncio.to_thread(load_capf_service, ctx, node.host)
        cert, key = await asyncio.to_thread(capf_identity, ctx, node.host)
        context = tls.server_context(cert, key, legacy=options.legacy_tls)
        server, port = await _bind(
            "capf",
            options.capf_port,
            lambda p: CapfServer.start(service, context, host=options.bind, port=p),
        )
        running.servers["capf"], running.ports["capf"] = server, port
        running.identities["capf"] = cert.public_bytes(Encoding.DER)
    if options.https:
        cert, key = await asyncio.to_thread(_tomcat_identity, ctx, node.host)
        context = tls.server_context(cert, key, legacy=options.legacy_tls)
        server, port = await _bind(
            "https",
            options.https_port,
            lambda p: HttpsServer.start(context, host=options.bind, port=p),
        )
        running.servers["https"], running.ports["https"] = server, port
        running.identities["https"] = cert.public_bytes(Encoding.DER)
    return running


def _tomcat_identity(ctx: Context, host: str) -> tuple[x509.Certificate, PrivateKeyTypes]:
    return own_identity(ctx, host, CertName.TOMCAT)


async def reload(ctx: Context, running: Running, options: ServeOptions) -> None:
    """Swap in what the store says now: files, TVS answers, certificates, CAPF state."""
    host = running.node.host
    tftp = running.servers.get("tftp")
    if isinstance(tftp, TftpServer):
        tftp.swap_source(await asyncio.to_thread(load_source, ctx, host, tftp_dir=options.tftp_dir))
    tvs = running.servers.get("tvs")
    if isinstance(tvs, TvsServer):
        tvs.swap_directory(await asyncio.to_thread(load_directory, ctx))
        await _swap_identity(running, "tvs", tvs, identity=tvs_identity, ctx=ctx, options=options)
    capf = running.servers.get("capf")
    if isinstance(capf, CapfServer):
        capf.swap_service(await asyncio.to_thread(load_capf_service, ctx, host))
        await _swap_identity(
            running, "capf", capf, identity=capf_identity, ctx=ctx, options=options
        )
    https = running.servers.get("https")
    if isinstance(https, HttpsServer):
        await _swap_identity(
            running, "https", https, identity=_tomcat_identity, ctx=ctx, options=options
        )


class _TlsServer(Protocol):
    def swap_tls(self, tls: ssl.SSLContext) -> None: ...


async def _swap_identity(
    running: Running,
    name: str,
    server: _TlsServer,
    *,
    identity: Callable[[Context, str], tuple[x509.Certificate, PrivateKeyTypes]],
    ctx: Context,
    options: ServeOptions,
) -> None:
    """Present a regenerated certificate to new connections (running ones keep theirs)."""
    cert, key = await asyncio.to_thread(identity, ctx, running.node.host)
    der = cert.public_bytes(Encoding.DER)
    if der != running.identities.get(name):
        server.swap_tls(tls.server_context(cert, key, legacy=options.legacy_tls))
        running.identities[name] = der
        log.info("%s now presents its regenerated certificate", name.upper())


async def run(
    ctx: Context,
    options: ServeOptions,
    *,
    ready: Callable[[Running], None] | None = None,
    stop: asyncio.Event | None = None,
) -> None:
    """Serve until SIGTERM/SIGINT (or ``stop`` is set), reloading on every plan change."""
    running = await start_node(ctx, options)
    stopping = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, stopping.set)
    if ready is not None:
        ready(running)
    try:
        last_alert_check = 0.0
        while not stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), timeout=options.poll)
            if stopping.is_set():
                break
            version = await asyncio.to_thread(_version, ctx)
            if version != running.version:
                log.info("file plan version %d -> %d: reloading", running.version, version)
                await reload(ctx, running, options)
                running.version = version
            if loop.time() - last_alert_check > 3600:
                last_alert_check = loop.time()
                for alert in await asyncio.to_thread(_alerts, ctx):
                    log.warning("alert %s: %s", alert.kind, alert.message)
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.remove_signal_handler(sig)
        await asyncio.gather(*(s.stop() for s in running.servers.values()))


@contextlib.asynccontextmanager
async def serving(
    ctx: Context, options: ServeOptions, *, start_timeout: float = 60.0
) -> AsyncIterator[Running]:
    """A node's services running in this event loop for the length of the block.

    For callers that serve beside other work (the phone fleet, tests): a
    failure to start is raised here, and leaving the block stops the services.
    """
    loop = asyncio.get_running_loop()
    started: asyncio.Future[Running] = loop.create_future()
    stop = asyncio.Event()
    task = asyncio.create_task(run(ctx, options, ready=started.set_result, stop=stop))
    try:
        waiting: set[asyncio.Future[Any]] = {started, task}
        done, _ = await asyncio.wait(
            waiting, timeout=start_timeout, return_when=asyncio.FIRST_COMPLETED
        )
        if started not in done:
            if task in done:
                task.result()  # raises why the services could not start
            who = options.node or "the publisher"
            raise LocalError(f"{who}: the services did not start in {start_timeout:.0f} s")
        yield started.result()
    finally:
        stop.set()
        await asyncio.wait_for(asyncio.gather(task, return_exceptions=True), 30)


def _version(ctx: Context) -> int:
    with reading(ctx) as uow:
        return uow.current_version()


def _alerts(ctx: Context) -> list[Alert]:
    with ctx.repo.unit_of_work() as uow:
        return alerts.check_daily(uow, ctx.now())

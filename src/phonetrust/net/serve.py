"""``phonetrust serve``: one node's TFTP, TVS, CAPF and HTTPS in one asyncio process.

HTTPS (:mod:`.webserver`) presents the node's ``tomcat`` certificate, as
Tomcat does: phones have a secure URL to check through TVS (A7), and the
web administration (``options.web``) is served there.

Call order: raise the open-file limit and budget descriptors per service
(:mod:`.limits`), open the cluster, load each enabled service's snapshot
from the store (in a thread: the store is synchronous), start the servers,
then loop: every ``poll`` seconds ask the store, without a write lock, for
the plan version and the served node (by its uid, which a rename keeps)
and, when either moved, reload the snapshots and swap them in (running
transfers and connections keep what they had). SIGTERM or SIGINT stops
accepting, lets work in flight finish, and returns.

Once started, nothing the store does stops the services: a lock held for
long, a database restart, a dropped connection, a half-failed reload or the
served node removed all leave the last good snapshots in service. The
first failure of a run of them is logged (as a warning) and raised as an
alert when the store takes writes; the poll then backs off (doubling, up to
MAX_BACKOFF) and, once the store answers, catches up and says so.

TFTP, TVS and CAPF write CUCM's trace files under the data directory's
active log (``DATA/activelog/cm/trace/...``, :mod:`phonetrust.store.tracefiles`),
rotated by size, unless ``ServeOptions.traces`` is off; a trace that cannot
be written costs its lines, never the service.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import signal
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Protocol, TypedDict

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.hazmat.primitives.serialization import Encoding

from phonetrust.errors import LocalError
from phonetrust.net import limits, tls
from phonetrust.net.capf import CapfServer
from phonetrust.net.ports import FALLBACK_PORTS, STANDARD_PORTS
from phonetrust.net.tftp import MIN_TRANSFER_SOCKETS, RESERVED_DESCRIPTORS, TftpServer
from phonetrust.net.trace import Tracers, open_tracers
from phonetrust.net.tvs import TvsServer
from phonetrust.net.webserver import WebServer, phone_urls
from phonetrust.policy.domain import CertName, Node, Service
from phonetrust.service import alerts
from phonetrust.service.capfops import capf_identity, load_capf_service
from phonetrust.service.changes import reading
from phonetrust.service.context import Context, publisher
from phonetrust.service.context import node as node_of
from phonetrust.service.identity import own_identity
from phonetrust.service.tftpfiles import DownloadLog, load_source
from phonetrust.service.tvsdirectory import load_directory, tvs_identity
from phonetrust.store.datadir import activelog_of
from phonetrust.store.repository import Alert, UnitOfWork
from phonetrust.store.tracefiles import KEEP, MAX_BYTES

log = logging.getLogger("phonetrust.serve")

TFTP_FLOOR = RESERVED_DESCRIPTORS + MIN_TRANSFER_SOCKETS
"""The fewest descriptors TFTP starts with."""
STOP_WRITE = 2.0
"""Seconds ``serve`` waits at stop for an alert being written."""
MAX_BACKOFF = 10.0
"""Longest wait, in seconds, between polls while the store keeps failing."""
STALE_ALERT = "ServeStale"
"""Alert kind raised while a node serves its last good state (the store fails, or the node
is gone); the message names the node."""


class PortInUse(LocalError):
    """Another process (often another ``serve``) holds a service's port."""

    def __init__(self, service: str, host: str, port: int) -> None:
        super().__init__(
            f"{service.upper()}: port {port} on {host} is already in use "
            "(another phonetrust serve?)"
        )
        self.service = service
        self.host = host
        self.port = port


@dataclass(frozen=True, slots=True)
class ServeOptions:
    node: str | None = None
    bind: str = "127.0.0.1"
    tftp_port: int | None = None
    tvs_port: int | None = None
    capf_port: int | None = None
    https_port: int | None = None
    https: bool = True
    """Run HTTPS (every CUCM node runs Tomcat)."""
    web: Callable[[Context, str], Any] | None = None
    """Makes the ASGI application served on HTTPS from the context and the node's host (the
    web administration); None: only the phones' URLs."""
    poll: float = 1.0
    legacy_tls: bool = False
    tftp_dir: Path | None = None
    """Extra files TFTP serves (firmware, ring lists): DATA/tftp."""
    traces: bool = True
    """Write the services' trace files (CUCM always does)."""
    activelog: Path | None = None
    """Where the traces go; None: DATA/activelog of the data directory the keys live in."""
    trace_max_bytes: int = MAX_BYTES
    """Size at which a trace file is left for the next."""
    trace_keep: int = KEEP
    """Trace files kept per service, the oldest deleted first."""


class Stoppable(Protocol):
    async def stop(self) -> None: ...


@dataclass
class Running:
    """The servers of one node and the snapshots they serve."""

    node: Node
    version: int
    uid: str | None = None
    """The node's identity in the store, which a rename keeps."""
    servers: dict[str, Stoppable] = field(default_factory=dict)
    ports: dict[str, int] = field(default_factory=dict)
    identities: dict[str, bytes] = field(default_factory=dict)
    """The certificate (DER) each TLS service presents, to notice a regeneration."""
    budgets: dict[str, int] = field(default_factory=dict)
    """File descriptors each service may hold (:mod:`.limits`)."""
    tracers: Tracers | None = None
    """The services' trace files, if traced."""

    def close_traces(self) -> None:
        if self.tracers is not None:
            self.tracers.close()


async def _bind(
    name: str, wanted: int | None, start: Callable[[int], Awaitable[Stoppable]], host: str
) -> tuple[Stoppable, int]:
    """Start on the wanted port, or the standard one, or the fallback if not allowed."""

    async def on(port: int) -> Stoppable:
        try:
            return await start(port)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise PortInUse(name, host, port) from exc
            raise

    if wanted is not None:
        server = await on(wanted)
        return server, int(getattr(server, "port", wanted))
    try:
        server = await on(STANDARD_PORTS[name])
    except PermissionError:
        log.warning(
            "%s: not allowed to bind port %d, using %d",
            name,
            STANDARD_PORTS[name],
            FALLBACK_PORTS[name],
        )
        server = await on(FALLBACK_PORTS[name])
    return server, int(getattr(server, "port", 0))


async def start_node(ctx: Context, options: ServeOptions) -> Running:
    """Start every service the node runs; returns what is running.

    If one cannot start (its port is in use, its key is missing), those already
    started are stopped before the error goes on."""
    running = await _which(ctx, options)
    running.tracers = _tracers(ctx, options)
    try:
        await _start_services(ctx, options, running)
    except BaseException:
        await asyncio.gather(*(s.stop() for s in running.servers.values()))
        running.close_traces()
        raise
    return running


async def _which(ctx: Context, options: ServeOptions) -> Running:
    def which() -> tuple[Node, str | None, int]:
        with reading(ctx) as uow:
            chosen = node_of(uow, options.node) if options.node else publisher(uow)
            return chosen, uow.node_uid(chosen.host), uow.current_version()

    node, uid, version = await asyncio.to_thread(which)
    return Running(node, version, uid)


def _tracers(ctx: Context, options: ServeOptions) -> Tracers | None:
    """The trace files ``options`` ask for; none when off or when no directory is known."""
    if not options.traces:
        return None
    root = options.activelog
    if root is None:
        if ctx.keys.home is None:
            return None
        root = activelog_of(ctx.keys.home)
    return open_tracers(root, max_bytes=options.trace_max_bytes, keep=options.trace_keep)


async def _start_services(ctx: Context, options: ServeOptions, running: Running) -> None:
    node = running.node
    traces = running.tracers
    services = [name for name, kind in _SERVICES.items() if node.runs(kind)]
    if options.https:
        services.append("https")
    fds = limits.raise_open_files()
    running.budgets = limits.budgets(services, limit=fds, in_use=limits.open_descriptors())
    log.info(
        "open-file limit %d; descriptors per service: %s",
        fds,
        ", ".join(f"{name.upper()} {n}" for name, n in running.budgets.items()),
    )
    budget = running.budgets.get
    if node.runs(Service.TFTP):
        source = await asyncio.to_thread(load_source, ctx, node.host, tftp_dir=options.tftp_dir)
        downloads = DownloadLog(ctx)
        server, port = await _bind(
            "tftp",
            options.tftp_port,
            lambda p: TftpServer.start(
                source,
                host=options.bind,
                port=p,
                downloads=downloads,
                clock=ctx.clock,  # downloads are dated by the cluster's clock, as changes are
                max_descriptors=max(budget("tftp", 0), TFTP_FLOOR),
                tracer=traces.tftp if traces is not None else None,
            ),
            options.bind,
        )
        running.servers["tftp"], running.ports["tftp"] = server, port
    if node.runs(Service.TVS):
        directory = await asyncio.to_thread(load_directory, ctx)
        cert, key = await asyncio.to_thread(tvs_identity, ctx, node.host)
        context = tls.server_context(cert, key, legacy=options.legacy_tls)
        server, port = await _bind(
            "tvs",
            options.tvs_port,
            lambda p: TvsServer.start(
                directory,
                context,
                host=options.bind,
                port=p,
                tracer=traces.tvs if traces is not None else None,
                **_tls_bounds(running.budgets, "tvs"),
            ),
            options.bind,
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
            lambda p: CapfServer.start(
                service,
                context,
                host=options.bind,
                port=p,
                max_connections=budget("capf", 1),
                tracer=traces.capf if traces is not None else None,
            ),
            options.bind,
        )
        if isinstance(server, CapfServer):
            server.max_per_address = limits.per_address(server.max_connections)
        running.servers["capf"], running.ports["capf"] = server, port
        running.identities["capf"] = cert.public_bytes(Encoding.DER)
    if options.https:
        cert, key = await asyncio.to_thread(_tomcat_identity, ctx, node.host)
        context = tls.server_context(cert, key, legacy=options.legacy_tls)
        server, port = await _bind(
            "https",
            options.https_port,
            lambda p: WebServer.start(
                options.web(ctx, node.host) if options.web else phone_urls,
                context,
                host=options.bind,
                port=p,
                **_tls_bounds(running.budgets, "https"),
            ),
            options.bind,
        )
        running.servers["https"], running.ports["https"] = server, port
        running.identities["https"] = cert.public_bytes(Encoding.DER)


_SERVICES = {"tftp": Service.TFTP, "tvs": Service.TVS, "capf": Service.CAPF}


class _TlsBounds(TypedDict):
    max_connections: int
    max_per_address: int


def _tls_bounds(budgets: dict[str, int], name: str) -> _TlsBounds:
    """A TLS service's connection bounds from its descriptor budget."""
    budget = budgets.get(name, 1)
    return _TlsBounds(max_connections=budget, max_per_address=limits.per_address(budget))


def _tomcat_identity(ctx: Context, host: str) -> tuple[x509.Certificate, PrivateKeyTypes]:
    return own_identity(ctx, host, CertName.TOMCAT)


async def reload(
    ctx: Context, running: Running, options: ServeOptions, *, node: Node | None = None
) -> None:
    """Swap in what the store says now: files, TVS answers, certificates, CAPF state.

    Everything is loaded first, then swapped in at once (no await between the
    swaps): new connections never meet a mix, such as HTTPS
    presenting a new tomcat certificate to a phone whose TVS does not know it
    yet (a rename regenerates both). If a load fails, nothing is swapped.
    ``node``: the served node as the store has it now (renamed), if it changed."""
    target = node or running.node
    host = target.host
    swaps: list[Callable[[], None]] = [partial(setattr, running, "node", target)]
    tftp = running.servers.get("tftp")
    if isinstance(tftp, TftpServer):
        source = await asyncio.to_thread(load_source, ctx, host, tftp_dir=options.tftp_dir)
        swaps.append(partial(tftp.swap_source, source))
    tvs = running.servers.get("tvs")
    if isinstance(tvs, TvsServer):
        swaps.append(partial(tvs.swap_directory, await asyncio.to_thread(load_directory, ctx)))
        swaps += await _identity_swap(
            running, "tvs", tvs, tvs_identity, host, ctx=ctx, options=options
        )
    https = running.servers.get("https")
    if isinstance(https, WebServer):
        swaps += await _identity_swap(
            running, "https", https, _tomcat_identity, host, ctx=ctx, options=options
        )
    capf = running.servers.get("capf")
    if isinstance(capf, CapfServer):
        swaps += await _identity_swap(
            running, "capf", capf, capf_identity, host, ctx=ctx, options=options
        )
        # Last: a CAPF service holds a database thread, closed only once swapped in.
        swaps.append(
            partial(capf.swap_service, await asyncio.to_thread(load_capf_service, ctx, host))
        )
    for swap in swaps:
        swap()


class _TlsServer(Protocol):
    def swap_tls(self, tls: ssl.SSLContext) -> None: ...


async def _identity_swap(
    running: Running,
    name: str,
    server: _TlsServer,
    identity: Callable[[Context, str], tuple[x509.Certificate, PrivateKeyTypes]],
    host: str,
    *,
    ctx: Context,
    options: ServeOptions,
) -> list[Callable[[], None]]:
    """What presents a regenerated certificate to new connections (running ones keep theirs);
    nothing when the certificate is the one presented."""
    cert, key = await asyncio.to_thread(identity, ctx, host)
    der = cert.public_bytes(Encoding.DER)
    if der == running.identities.get(name):
        return []
    context = tls.server_context(cert, key, legacy=options.legacy_tls)

    def swap() -> None:
        server.swap_tls(context)
        running.identities[name] = der
        log.info("%s now presents its regenerated certificate", name.upper())

    return [swap]


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
    watch = _Watch()
    try:
        while not stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), timeout=watch.delay(options.poll))
            if stopping.is_set():
                break
            try:
                await _catch_up(ctx, running, options, watch, loop.time())
            # The supervision boundary: whatever a reload raises (a database error, a lock,
            # a missing key, a bug in a loader) costs the reload only; the servers keep
            # serving their last good snapshots and the next poll tries again.
            except Exception as exc:  # noqa: BLE001
                await watch.failed(ctx, running, exc)
            else:
                await watch.recovered(ctx, running)
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.remove_signal_handler(sig)
        await asyncio.gather(*(s.stop() for s in running.servers.values()))
        running.close_traces()
        await watch.finish()


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


class NodeGone(LocalError):
    """The node being served is no longer in the cluster."""


async def _catch_up(
    ctx: Context, running: Running, options: ServeOptions, watch: _Watch, now: float
) -> None:
    """Follow the node (renamed?) and the plan version; reload when either moved."""
    version, node = await asyncio.to_thread(_look, ctx, running)
    if node is None:
        raise NodeGone(
            f"node {running.node.host} is no longer in the cluster; "
            f"serving what it had (file plan version {running.version})"
        )
    moved = node.host != running.node.host
    if moved:
        log.warning(
            "node %s was renamed %s: serving it under its new name", running.node.host, node.host
        )
    if moved or version != running.version or watch.reload_owed:
        log.info("file plan version %d -> %d: reloading", running.version, version)
        watch.reload_owed = True
        await reload(ctx, running, options, node=node)  # running.node follows with the rest
        running.version = version
        watch.reload_owed = False
    else:
        running.node = node
    if now - watch.last_alert_check > 3600:
        watch.last_alert_check = now
        watch.aside(_daily_alerts(ctx))


@dataclass
class _Watch:
    """The poll's memory of failures: how long to wait, what was logged and alerted."""

    failures: int = 0
    alerted: str | None = None
    """The kind of the alert raised for the current run of failures, once it could be."""
    reload_owed: bool = False
    """A reload failed half-way: do it again even if the version has not moved."""
    last_alert_check: float = float("-inf")
    writing: asyncio.Task[None] | None = None
    """The store write under way beside the poll (an alert), if any."""

    def aside(self, write: Coroutine[Any, Any, None]) -> None:
        """Write to the store beside the poll, one write at a time: a write may wait for the
        write lock (up to the busy timeout) and the poll must not."""
        if self.writing is not None and not self.writing.done():
            write.close()  # the one under way will do; the next failure or hour tries again
            return
        self.writing = asyncio.create_task(write)

    async def finish(self) -> None:
        """Give the write under way a moment at stop, then leave it."""
        if self.writing is not None and not self.writing.done():
            await asyncio.wait([self.writing], timeout=STOP_WRITE)
            self.writing.cancel()

    def delay(self, poll: float) -> float:
        if not self.failures:
            return poll
        return float(min(MAX_BACKOFF, poll * 2 ** min(self.failures, 16)))

    async def failed(self, ctx: Context, running: Running, exc: Exception) -> None:
        self.failures += 1
        why = _one_line(exc)
        if self.failures == 1:
            log.warning(
                "%s: cannot follow the cluster: %s; still serving file plan version %d, "
                "retrying (up to every %g s)",
                running.node.host,
                why,
                running.version,
                MAX_BACKOFF,
            )
        else:
            log.debug("%s: still cannot follow the cluster: %s", running.node.host, why)
        if self.alerted is None:
            kind = f"{STALE_ALERT} {running.uid or running.node.host}"
            message = (
                f"serve for node {running.node.host} cannot follow the cluster ({why}); "
                f"it serves file plan version {running.version} until it can"
            )
            self.aside(self._raise(ctx, kind, message))

    async def _raise(self, ctx: Context, kind: str, message: str) -> None:
        if await asyncio.to_thread(_alert, ctx, kind, message):
            self.alerted = kind

    async def recovered(self, ctx: Context, running: Running) -> None:
        if not self.failures:
            return
        log.warning(
            "%s: following the cluster again after %d failed attempts; file plan version %d",
            running.node.host,
            self.failures,
            running.version,
        )
        self.failures = 0
        if self.alerted is not None:
            self.aside(self._clear(ctx, self.alerted))

    async def _clear(self, ctx: Context, kind: str) -> None:
        if await asyncio.to_thread(_clear, ctx, kind):
            self.alerted = None


def _look(ctx: Context, running: Running) -> tuple[int, Node | None]:
    """The plan version and the served node as the store has them now (no write lock)."""
    with reading(ctx) as uow:
        version = uow.current_version()
        if running.uid is not None:
            return version, uow.node_by_uid(running.uid)
        return version, uow.get_node(running.node.host)


def _alert(ctx: Context, kind: str, message: str) -> bool:
    """Raise an alert if the store takes writes now; False when it does not."""
    return _best_effort(
        ctx, f"raise alert {kind}", lambda uow: uow.raise_alert(kind, message, ctx.now())
    )


def _clear(ctx: Context, kind: str) -> bool:
    """Clear an alert if the store takes writes now; False when it does not."""
    return _best_effort(ctx, f"clear alert {kind}", lambda uow: uow.clear_alert(kind, ctx.now()))


def _best_effort(ctx: Context, what: str, write: Callable[[UnitOfWork], object]) -> bool:
    """Run ``write`` in a unit of work; False (logged at debug) when the store does not take it:
    the failure is logged already, and the write is tried again at the next failure or recovery."""
    try:
        with ctx.repo.unit_of_work() as uow:
            write(uow)
    except Exception as exc:  # noqa: BLE001 - best effort, see above
        log.debug("could not %s: %s", what, exc)
        return False
    return True


def _one_line(exc: BaseException) -> str:
    """An error as one short line (database errors carry their SQL and a URL otherwise)."""
    orig = getattr(exc, "orig", None)
    text = str(orig if orig is not None else exc).strip().splitlines()
    first = text[0] if text else ""
    return f"{type(orig if orig is not None else exc).__name__}: {first}"[:300]


def _alerts(ctx: Context) -> list[Alert]:
    with ctx.repo.unit_of_work() as uow:
        return alerts.check_daily(uow, ctx.now())


async def _daily_alerts(ctx: Context) -> None:
    """Re-raise the daily alerts and log the open ones (best effort: retried in an hour)."""
    try:
        found = await asyncio.to_thread(_alerts, ctx)
    except Exception as exc:  # noqa: BLE001 - the poll reports the store's failures
        log.debug("could not check the daily alerts: %s", exc)
        return
    for alert in found:
        log.warning("alert %s: %s", alert.kind, alert.message)

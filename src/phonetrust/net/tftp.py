"""The TFTP server: UDP, a dumb pump around :class:`TftpServerCore`.

Sockets: one listening socket (the well-known port, with a large receive
buffer so a boot storm's requests wait in the kernel rather than being
dropped; when the OS grants less, a warning says so), and one fresh socket
per transfer, connected to its client: RFC 1350 wants a new transfer id
(port) per transfer, phones expect DATA from it, and the kernel then drops
datagrams from anyone else. Errors to requests (File not found, busy, write
refused) go out from the listening socket: that costs no socket under a
flood of bad requests, and a client takes its first answer from any port.

Call order (all on the event loop; ``now`` is the loop's monotonic clock)::

    listener readable -> recvfrom until the queue is empty (at most READ_BATCH),
                         core.receive_datagram(data, addr, now) for each
    transfer readable -> recv one, core.receive_datagram(..., tid); the transfer
                         sockets sit in one epoll the loop watches (Readiness),
                         so one loop callback serves all that are ready
                         (a refused send, i.e. ICMP unreachable: core.abort)
    timer             -> core.handle_timer(now); one loop timer follows
                         core.next_timer()
    actions, in order:
        OpenTransfer    -> new socket bound beside the listener, connect, watch it
                           (failure, e.g. out of descriptors: core.abort)
        Send            -> send from the tid's socket (or the listener); a full
                           buffer drops the datagram: retransmission repairs it
        RequestReceived -> source.lookup(name): bytes -> core.accept; missing ->
                           core.refuse(File not found), or, for a name the plan
                           may lack (E2), a task asks the alternate servers and
                           then calls core.accept or core.refuse
        TransferEnded   -> close the socket; record a device's download; log
        Refused         -> log

Every request ends in one log line on ``phonetrust.tftp`` (INFO): who, which
name, what it got (file, device, bytes, hash) or why not. Downloads are
written to the store by a task every second (in a thread) and at stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import logging
import random
import socket
from datetime import UTC, datetime

from phonetrust.clock import Clock, SystemClock
from phonetrust.net.tftp_remote import Readiness, RemoteFiles
from phonetrust.policy.tftpnames import NameKind
from phonetrust.protocols.tftp.packets import ErrorCode, ReadRequest
from phonetrust.protocols.tftp.server import (
    LISTENER,
    Action,
    Dropped,
    OpenTransfer,
    Queued,
    Refused,
    RequestReceived,
    Send,
    Stats,
    TftpServerCore,
    TransferEnded,
)
from phonetrust.protocols.tftp.transfer import Address, ServerConfig
from phonetrust.service.tftpfiles import DownloadLog, Missing, Resolved, TftpSource

log = logging.getLogger("phonetrust.tftp")

READ_BATCH = 1024
"""Datagrams read from one socket per wake-up before other sockets get their turn."""
RECV_SIZE = 65536
FLUSH_INTERVAL = 1.0
STOP_GRACE = 3.0
NOT_FOUND = "File not found"
_HAS_NONBLOCK = hasattr(socket, "SOCK_NONBLOCK")
_DGRAM_NONBLOCK = socket.SOCK_DGRAM | getattr(socket, "SOCK_NONBLOCK", 0)
"""Transfer sockets are made non-blocking by ``socket()`` itself where the OS can: one call less."""


class TftpServer:
    """A running TFTP server; make one with :meth:`start`."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        listener: socket.socket,
        source: TftpSource,
        core: TftpServerCore,
        *,
        downloads: DownloadLog | None,
        alternates: list[tuple[str, int]],
        clock: Clock,
    ) -> None:
        self._loop = loop
        self._listener = listener
        self._host = str(listener.getsockname()[0])
        self.port = int(listener.getsockname()[1])
        self._source = source
        self._core = core
        self._downloads = downloads
        self._fixed_alternates = list(alternates)
        self._remote = self._remote_for(source)
        self._clock = clock
        self._socks: dict[int, tuple[socket.socket, Address]] = {}
        self._readiness = Readiness(loop)
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = 0.0
        self._relays: set[asyncio.Task[None]] = set()
        self._flusher: asyncio.Task[None] | None = None
        self._stopped = False
        self.recv_buffer = 0
        """The listener's receive buffer as the kernel reports it."""

    # -- life cycle ----------------------------------------------------------------------

    @classmethod
    async def start(
        cls,
        source: TftpSource,
        *,
        host: str = "127.0.0.1",
        port: int = 6969,
        downloads: DownloadLog | None = None,
        alternates: list[tuple[str, int]] | None = None,
        max_transfers: int = 2000,
        recv_buffer: int = 8 * 1024 * 1024,
        config: ServerConfig | None = None,
        rng: random.Random | None = None,
        clock: Clock | None = None,
    ) -> TftpServer:
        """Bind ``host:port`` (0: any free port) and serve ``source``.

        ``alternates`` (host, port) overrides the source's "Alternate Cisco
        File Servers"; ``config`` overrides ``max_transfers``.
        """
        loop = asyncio.get_running_loop()
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        listener = socket.socket(family, socket.SOCK_DGRAM)
        try:
            listener.setblocking(False)
            granted = _grow_receive_buffer(listener, recv_buffer)
            listener.bind((host, port))
        except BaseException:
            listener.close()
            raise
        core = TftpServerCore(
            config or ServerConfig(max_transfers=max_transfers, max_queue=max_transfers),
            rng or random.Random(),  # noqa: S311 - retransmission jitter, not secrets
        )
        server = cls(
            loop,
            listener,
            source,
            core,
            downloads=downloads,
            alternates=alternates or [],
            clock=clock or SystemClock(),
        )
        server.recv_buffer = granted
        loop.add_reader(listener.fileno(), server._on_listener)
        if downloads is not None:
            server._flusher = loop.create_task(server._flush_every(FLUSH_INTERVAL))
        log.info(
            "TFTP serving %s (plan version %d, %d plan files, %d directory files) on %s:%d",
            source.node,
            source.version,
            len(source.plan),
            len(source.directory),
            server._host,
            server.port,
        )
        return server

    def swap_source(self, source: TftpSource) -> None:
        """Serve ``source`` to new requests; running transfers keep the bytes they have."""
        old = self._source
        self._source = source
        if source.alternates != old.alternates:
            self._remote = self._remote_for(source)
        log.info("TFTP now serves plan version %d (was %d)", source.version, old.version)

    @property
    def source(self) -> TftpSource:
        return self._source

    @property
    def stats(self) -> Stats:
        return self._core.stats

    @property
    def active(self) -> int:
        return self._core.active

    async def stop(self, grace: float = STOP_GRACE) -> None:
        """Stop reading requests, let transfers finish for ``grace`` s, flush the downloads."""
        if self._stopped:
            return
        self._stopped = True
        self._core.accepting = False
        self._loop.remove_reader(self._listener.fileno())
        for task in list(self._relays):
            task.cancel()
        if self._relays:
            await asyncio.gather(*self._relays, return_exceptions=True)
        deadline = self._loop.time() + grace
        while self._core.active and self._loop.time() < deadline:
            await asyncio.sleep(0.02)
        self._run(self._core.abort_all(self._loop.time(), "server stopped"))
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._listener.close()
        self._readiness.close()
        if self._flusher is not None:
            self._flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flusher
        await self._flush()

    # -- the pump ------------------------------------------------------------------------

    def _on_listener(self) -> None:
        recv, core, loop = self._listener.recvfrom, self._core, self._loop
        for _ in range(READ_BATCH):
            try:
                data, addr = recv(RECV_SIZE)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                continue  # an ICMP error for an earlier answer; nothing to do
            self._run(core.receive_datagram(data, addr[:2], loop.time()))
        self._arm()

    def _on_transfer(self, tid: int) -> None:
        """One datagram per call: a transfer socket that holds more stays readable."""
        entry = self._socks.get(tid)
        if entry is None:
            return
        sock = entry[0]
        try:
            data = sock.recv(RECV_SIZE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:  # ICMP port unreachable: the client is gone
            self._run(self._core.abort(tid, self._loop.time(), f"client unreachable ({exc})"))
            self._arm()
            return
        # connected socket: the datagram is from the transfer's peer
        out, actions = self._core.receive_from_peer(tid, data, self._loop.time())
        try:
            for datagram in out:
                sock.send(datagram)
        except OSError:
            pass  # full buffer or an unreachable peer: lost like any datagram
        if actions:
            self._run(actions)
            self._arm()

    def _on_timer(self) -> None:
        self._timer = None
        self._run(self._core.handle_timer(self._loop.time()))
        self._arm()

    def _arm(self) -> None:
        when = self._core.next_timer()
        if when is None:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            return
        if self._timer is None or when < self._timer_at:
            if self._timer is not None:
                self._timer.cancel()
            self._timer_at = when
            self._timer = self._loop.call_at(when, self._on_timer)

    def _run(self, actions: list[Action]) -> None:
        socks = self._socks
        i = 0
        while i < len(actions):  # actions may append more actions
            action = actions[i]
            i += 1
            if type(action) is Send:
                try:
                    if action.tid == LISTENER:
                        self._listener.sendto(action.datagram, action.addr)
                        continue
                    entry = socks.get(action.tid)
                    if entry is None:
                        continue
                    if entry[1] == action.addr:
                        entry[0].send(action.datagram)
                    else:
                        entry[0].sendto(action.datagram, action.addr)
                except OSError:
                    pass  # full buffer or an unreachable peer: lost like any datagram
            elif isinstance(action, OpenTransfer):
                actions.extend(self._open(action))
            elif isinstance(action, TransferEnded):
                self._ended(action)
            elif isinstance(action, RequestReceived):
                actions.extend(self._answer(action.request, action.addr))
            elif isinstance(action, Refused):
                log.info(
                    "RRQ %s from %s:%d: error %d %s",
                    action.filename,
                    *action.addr,
                    action.code,
                    action.reason,
                )
            elif isinstance(action, Queued | Dropped) and log.isEnabledFor(logging.DEBUG):
                log.debug("TFTP %s:%d: %s", *action.addr, action)

    def _open(self, action: OpenTransfer) -> list[Action]:
        sock: socket.socket | None = None
        try:
            sock = socket.socket(self._listener.family, _DGRAM_NONBLOCK)
            if not _HAS_NONBLOCK:
                sock.setblocking(False)
            sock.bind((self._host, 0))
            sock.connect(action.addr)
            self._readiness.watch(sock.fileno(), functools.partial(self._on_transfer, action.tid))
        except OSError as exc:  # out of descriptors or ports
            if sock is not None:
                sock.close()
            log.warning("TFTP: no socket for a transfer to %s:%d: %s", *action.addr, exc)
            return self._core.abort(action.tid, self._loop.time(), f"no socket: {exc}")
        self._socks[action.tid] = (sock, action.addr)
        return []

    def _ended(self, action: TransferEnded) -> None:
        entry = self._socks.pop(action.tid, None)
        if entry is not None:
            self._readiness.unwatch(entry[0].fileno())
            entry[0].close()
        resolved = action.tag if isinstance(action.tag, Resolved) else None
        if action.ok and resolved is not None and resolved.record and self._downloads is not None:
            at = datetime.fromtimestamp(self._clock.now(), UTC)
            self._downloads.add(resolved, self._source.node, at)
        if log.isEnabledFor(logging.INFO):
            what = "?"
            if resolved is not None:
                device = f"device {resolved.device}, " if resolved.device else ""
                what = f"{resolved.file} ({device}{resolved.origin}, sha1 {resolved.sha1})"
            verdict = "sent" if action.ok else f"failed ({action.reason}) sending"
            log.info(
                "RRQ %s from %s:%d: %s %s, %d bytes, blksize %d, %.3f s, %d retransmissions",
                action.filename,
                *action.addr,
                verdict,
                what,
                action.size,
                action.blksize,
                action.ended - action.started,
                action.retransmissions,
            )

    def _answer(self, request: ReadRequest, addr: Address) -> list[Action]:
        found = self._source.lookup(request.filename)
        if isinstance(found, Resolved):
            return self._core.accept(addr, found.data, self._loop.time(), found)
        if found.remote and self._remote is not None and not self._stopped:
            task = self._loop.create_task(self._relay(request, addr, found))
            self._relays.add(task)
            task.add_done_callback(self._relays.discard)
            return []
        return self._core.refuse(addr, ErrorCode.FILE_NOT_FOUND, NOT_FOUND, found.reason)

    async def _relay(self, request: ReadRequest, addr: Address, missing: Missing) -> None:
        """E2: ask the remote clusters for a file this node lacks, then answer the request."""
        data: bytes | None = None
        why = "cancelled"
        try:
            assert self._remote is not None  # noqa: S101 - _answer checked it
            data, why = await self._remote.get(request.filename)
        finally:
            now = self._loop.time()
            if data is not None:
                kind = missing.name.kind if missing.name is not None else NameKind.OTHER
                resolved = Resolved(
                    request.filename,
                    request.filename,
                    data,
                    hashlib.sha1(data).hexdigest(),
                    kind,
                    None,
                    f"remote {why}",
                )
                self._run(self._core.accept(addr, data, now, resolved))
            else:
                reason = f"{missing.reason}; remote: {why}"
                self._run(self._core.refuse(addr, ErrorCode.FILE_NOT_FOUND, NOT_FOUND, reason))
            self._arm()

    def _remote_for(self, source: TftpSource) -> RemoteFiles | None:
        servers = self._fixed_alternates or list(source.alternates)
        return RemoteFiles(servers) if servers else None

    # -- downloads -----------------------------------------------------------------------

    async def _flush_every(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            await self._flush()

    async def _flush(self) -> None:
        if self._downloads is None or not self._downloads.pending:
            return
        try:
            await asyncio.to_thread(self._downloads.flush)
        except Exception as exc:  # noqa: BLE001 - a store failure loses these records, not the server
            log.warning("TFTP: downloads not recorded: %s", exc)


def _grow_receive_buffer(sock: socket.socket, wanted: int) -> int:
    """Ask for ``wanted`` bytes of receive buffer; warn when the OS grants less."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, wanted)
    granted = sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
    force = getattr(socket, "SO_RCVBUFFORCE", None)
    if granted < wanted and force is not None:
        with contextlib.suppress(OSError):  # allowed with CAP_NET_ADMIN only
            sock.setsockopt(socket.SOL_SOCKET, force, wanted)
        granted = sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
    if granted < wanted:
        log.warning(
            "TFTP: the OS caps the receive buffer at %d bytes (asked for %d); "
            "raise net.core.rmem_max so that boot storms are not dropped",
            granted,
            wanted,
        )
    return granted

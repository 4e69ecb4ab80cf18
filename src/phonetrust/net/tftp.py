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
    transfer readable -> the transfer sockets sit in one epoll of our own that
                         the loop watches, so one loop callback serves every
                         socket that is ready (``now`` read once per wake-up):
                         recv one datagram, core.receive_from_peer(tid, data,
                         now), send what it returns from that socket (a refused
                         recv, i.e. ICMP unreachable: core.abort)
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
name, what it got (file, device, bytes, hash) or why not; with a tracer
(:mod:`.trace`), CUCM's trace lines too: the request, then the transfer or
the refusal (never a line per datagram). Downloads are
written to the store by a task every second (in a thread) and at stop.

Descriptors. The server keeps within ``max_descriptors`` (the share of the
process's open-file limit that ``serve`` gives TFTP; by default half the
soft RLIMIT_NOFILE): the listener, the epoll and the E2 relay's sockets
are reserved (:data:`RESERVED_DESCRIPTORS`), and the rest is for transfer
sockets, running and idle together. ``max_transfers`` is lowered to that
rest; the idle pool holds at most what the running transfers leave (and
never more than :data:`IDLE_SOCKETS`), and gives up its oldest socket when
a transfer needs one. So a flood takes slots - which fresh requests win
back from stale ones, see :mod:`phonetrust.protocols.tftp.server` - and
never the descriptors TVS and CAPF need to accept. The first time every
slot is taken, one warning says so.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import logging
import random
import resource
import select
import socket
import sys
from collections import deque
from collections.abc import Sequence
from datetime import UTC, datetime

from phonetrust.clock import Clock, SystemClock
from phonetrust.errors import LocalError
from phonetrust.net.tftp_remote import MAX_FETCHES, RemoteFiles
from phonetrust.net.trace import TftpTrace
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
    SlotsFull,
    Stats,
    TftpServerCore,
    TransferEnded,
)
from phonetrust.protocols.tftp.transfer import Address, ServerConfig
from phonetrust.service.tftpfiles import DownloadLog, Missing, Resolved, TftpSource

log = logging.getLogger("phonetrust.tftp")

READ_BATCH = 1024
"""Datagrams read from one socket per wake-up before other sockets get their turn."""
POLL_BATCH = 1024
"""Transfer sockets served per wake-up (the others stay ready for the next one)."""
LOOKUP_CACHE = 65536
"""File names whose lookup is kept per source (emptied when full, and when the source changes)."""
IDLE_SOCKETS = 1024
"""Transfer sockets kept open after their transfer, for later transfers to other clients
(at most: the descriptor budget may allow fewer)."""
IDLE_REST = 1.0
"""Seconds a kept socket rests before it serves again: a port (TID) is not reused at once."""
RESERVED_DESCRIPTORS = 2 + MAX_FETCHES + 1
"""The listener, the transfers' epoll, and the E2 relay's sockets and their epoll."""
MIN_TRANSFER_SOCKETS = 4
RECV_SIZE = 65536
FLUSH_INTERVAL = 1.0
STOP_GRACE = 3.0
NOT_FOUND = "File not found"
_HAS_NONBLOCK = hasattr(socket, "SOCK_NONBLOCK")
_DGRAM_NONBLOCK = socket.SOCK_DGRAM | getattr(socket, "SOCK_NONBLOCK", 0)
"""Transfer sockets are made non-blocking by ``socket()`` itself where the OS can: one call less."""


def default_max_descriptors() -> int:
    """Half the process's soft open-file limit: TFTP's share when no one names it.

    ``serve`` names the share it gives TFTP; a server started alone (tests,
    benchmarks, ``phone boot`` against a local server) leaves the other
    half to whatever else the process opens.
    """
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft <= 0:
        soft = 65536
    return max(RESERVED_DESCRIPTORS + MIN_TRANSFER_SOCKETS, soft // 2)


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
        tracer: TftpTrace | None = None,
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
        self._trace = tracer
        self._socks: dict[int, tuple[socket.socket, Address]] = {}
        self._family = int(listener.family)
        self._found: dict[str, Resolved] = {}
        """``source.lookup`` of names found: a source never changes, so neither do they."""
        self._idle: deque[tuple[float, socket.socket]] = deque()
        self._idle_fds: dict[int, socket.socket] = {}
        self._links: dict[int, tuple[socket.socket, int]] = {}
        """By socket fd: the transfer socket and its tid (the hot path's lookup)."""
        self._epoll = select.epoll() if hasattr(select, "epoll") else None
        if self._epoll is not None:
            loop.add_reader(self._epoll.fileno(), self._on_transfers)
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = 0.0
        self._relays: set[asyncio.Task[None]] = set()
        self._flusher: asyncio.Task[None] | None = None
        self._stopped = False
        self.recv_buffer = 0
        """The listener's receive buffer as the kernel reports it."""
        self.max_descriptors = RESERVED_DESCRIPTORS + core.config.max_transfers
        """The budget this server keeps within (set by :meth:`start`)."""
        self._sockets = core.config.max_transfers
        """Transfer sockets, running and idle, the budget allows."""
        self._told_full = False
        self._told_no_socket = False

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
        max_descriptors: int | None = None,
        tracer: TftpTrace | None = None,
    ) -> TftpServer:
        """Bind ``host:port`` (0: any free port) and serve ``source``.

        ``alternates`` (host, port) overrides the source's "Alternate Cisco
        File Servers"; ``config`` overrides ``max_transfers``.
        ``max_descriptors`` is the most file descriptors the server may hold
        (default: :func:`default_max_descriptors`); ``max_transfers`` is
        lowered to what it leaves after :data:`RESERVED_DESCRIPTORS`.
        ``tracer`` writes CUCM's TFTP trace lines (None: none).
        """
        budget = default_max_descriptors() if max_descriptors is None else max_descriptors
        sockets = budget - RESERVED_DESCRIPTORS
        if sockets < MIN_TRANSFER_SOCKETS:
            raise LocalError(
                f"TFTP needs at least {RESERVED_DESCRIPTORS + MIN_TRANSFER_SOCKETS} file "
                f"descriptors; its budget is {budget}"
            )
        config = config or ServerConfig(max_transfers=max_transfers, max_queue=max_transfers)
        if config.max_transfers > sockets:
            config = dataclasses.replace(config, max_transfers=sockets)
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
            config,
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
            tracer=tracer,
        )
        server.recv_buffer = granted
        server.max_descriptors = budget
        server._sockets = sockets
        loop.add_reader(listener.fileno(), server._on_listener)
        if downloads is not None:
            server._flusher = loop.create_task(server._flush_every(FLUSH_INTERVAL))
        log.info(
            "TFTP serving %s (plan version %d, %d plan files, %d directory files, "
            "%d extra files) on %s:%d",
            source.node,
            source.version,
            len(source.plan),
            len(source.directory),
            len(source.extra),
            server._host,
            server.port,
        )
        return server

    def swap_source(self, source: TftpSource) -> None:
        """Serve ``source`` to new requests; running transfers keep the bytes they have."""
        old = self._source
        self._source = source
        self._found = {}
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
        while self._idle:
            self._close(self._idle.popleft()[1])
        self._idle_fds.clear()
        if self._epoll is not None:
            self._loop.remove_reader(self._epoll.fileno())
            self._epoll.close()
        if self._flusher is not None:
            self._flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flusher
        await self._flush()

    # -- the pump ------------------------------------------------------------------------

    def _on_listener(self) -> None:
        recv, core = self._listener.recvfrom, self._core
        now = self._loop.time()
        try:
            for _ in range(READ_BATCH):
                try:
                    data, addr = recv(RECV_SIZE)
                except (BlockingIOError, InterruptedError):
                    break
                except OSError:
                    continue  # an ICMP error for an earlier answer; nothing to do
                self._run(core.receive_datagram(data, addr[:2], now))
        finally:  # even a bug in one request must not stop every transfer's clock
            self._arm()

    def _on_transfers(self) -> None:
        assert self._epoll is not None  # noqa: S101 - the loop watches it only when there is one
        self._serve(self._epoll.poll(0, POLL_BATCH))

    def _on_transfer_fd(self, fd: int) -> None:
        """Without epoll: the loop watches each transfer socket itself."""
        self._serve(((fd, 0),))

    def _serve(self, ready: Sequence[tuple[int, int]]) -> None:
        """One datagram from each ready transfer socket (one that holds more stays ready).

        The boot storm's hot path: its sockets are connected, so every
        datagram is from the transfer's peer, and the core answers the usual
        ACK with one DATA and no action objects.
        """
        links, core = self._links, self._core
        now = self._loop.time()
        changed = False
        for fd, _ in ready:
            link = links.get(fd)
            if link is None:
                idle = self._idle_fds.get(fd)
                if idle is not None:
                    _drain(idle)  # a late datagram for its last transfer
                continue
            sock, tid = link
            try:
                data = sock.recv(RECV_SIZE)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError as exc:  # ICMP port unreachable: the client is gone
                self._run(core.abort(tid, now, f"client unreachable ({exc})"))
                changed = True
                continue
            out, actions = core.receive_from_peer(tid, data, now)
            try:
                for datagram in out:
                    sock.send(datagram)
            except OSError:
                pass  # full buffer or an unreachable peer: lost like any datagram
            if actions:
                self._run(actions)
                changed = True
        if changed:
            self._arm()

    def _on_timer(self) -> None:
        self._timer = None
        try:
            self._run(self._core.handle_timer(self._loop.time()))
        finally:
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
            else:
                self._note(action)

    def _note(self, action: Action) -> None:
        """The actions that are only events: log them."""
        if isinstance(action, Refused):
            if self._trace is not None:
                self._trace.refused(action.addr, action.filename, action.code, action.reason)
            log.info(
                "RRQ %s from %s:%d: error %d %s",
                action.filename,
                *action.addr,
                action.code,
                action.reason,
            )
        elif isinstance(action, SlotsFull):
            self._full(action)
        elif isinstance(action, Queued | Dropped) and log.isEnabledFor(logging.DEBUG):
            log.debug("TFTP %s:%d: %s", *action.addr, action)

    def _full(self, action: SlotsFull) -> None:
        if self._told_full:
            return
        self._told_full = True
        log.warning(
            "TFTP: all %d transfer slots are taken (descriptor budget %d): requests now "
            "evict transfers whose client never answered, wait, or are told busy "
            "(said once; see the TFTP stats for counts)",
            action.max_transfers,
            self.max_descriptors,
        )

    def _open(self, action: OpenTransfer) -> list[Action]:
        if self._core.transfer(action.tid) is None:  # ended before its socket was made
            return []
        sock: socket.socket | None = None
        try:
            sock = self._rested(action.addr)
            if sock is None:
                if len(self._socks) + len(self._idle) >= self._sockets and self._idle:
                    self._close(self._idle_fds.pop(self._idle.popleft()[1].fileno()))
                sock = socket.socket(self._family, _DGRAM_NONBLOCK)
                if not _HAS_NONBLOCK:
                    sock.setblocking(False)
                sock.bind((self._host, 0))
                sock.connect(action.addr)
                self._watch(sock.fileno())
            fd = sock.fileno()
        except OSError as exc:  # out of descriptors or ports
            if sock is not None:
                sock.close()
            if not self._told_no_socket:
                self._told_no_socket = True
                log.warning(
                    "TFTP: no socket for a transfer to %s:%d: %s (said once; such requests fail)",
                    *action.addr,
                    exc,
                )
            return self._core.abort(action.tid, self._loop.time(), f"no socket: {exc}")
        self._links[fd] = (sock, action.tid)
        self._socks[action.tid] = (sock, action.addr)
        return []

    # -- transfer sockets: a socket per transfer, kept a while for later ones ----------------

    def _watch(self, fd: int) -> None:
        if self._epoll is not None:
            self._epoll.register(fd, select.EPOLLIN)
        else:
            self._loop.add_reader(fd, self._on_transfer_fd, fd)

    def _close(self, sock: socket.socket) -> None:
        fd = sock.fileno()
        if self._epoll is not None:
            self._epoll.unregister(fd)
        else:
            self._loop.remove_reader(fd)
        sock.close()

    def _retire(self, sock: socket.socket) -> None:
        """Keep a finished transfer's socket for a later transfer, or close it.

        A new socket per transfer (socket, bind, connect, epoll add, epoll
        delete, close) costs about five times what reconnecting a kept one
        does, and a boot storm makes three transfers per phone. A kept socket
        stays in the epoll; datagrams still reaching it (its old peer's late
        ACKs) are read and dropped.
        """
        idle = len(self._idle)
        if self._stopped or idle >= IDLE_SOCKETS or idle + len(self._socks) >= self._sockets:
            self._close(sock)
            return
        self._idle.append((self._loop.time() + IDLE_REST, sock))
        self._idle_fds[sock.fileno()] = sock

    def _rested(self, addr: Address) -> socket.socket | None:
        """A kept socket that has rested IDLE_REST s, connected to ``addr`` and emptied; or None.

        The rest keeps a port from serving two transfers in immediate
        succession (RFC 1350 wants TIDs not reused at once). Once connected
        to the new peer the kernel drops anyone else's datagrams; those it
        queued before are read and dropped here.
        """
        if not self._idle or self._idle[0][0] > self._loop.time():
            return None
        _, sock = self._idle.popleft()
        del self._idle_fds[sock.fileno()]
        try:
            sock.connect(addr)
        except OSError:
            self._close(sock)
            raise
        _drain(sock)
        return sock

    def _ended(self, action: TransferEnded) -> None:
        entry = self._socks.pop(action.tid, None)
        fd = -1
        if entry is not None:
            fd = entry[0].fileno()
            del self._links[fd]
            self._retire(entry[0])
        resolved = action.tag if isinstance(action.tag, Resolved) else None
        if self._trace is not None:
            file = resolved.file if resolved is not None else action.filename
            if action.ok:
                self._trace.transferred(action.addr, file, action.tid, fd)
            else:
                self._trace.failed(action.addr, file, action.tid, action.reason)
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
        if self._trace is not None:
            self._trace.request(addr, request.filename, request.mode, len(self._socks))
        found: Resolved | Missing | None = self._found.get(request.filename)
        if found is None:
            found = self._source.lookup(request.filename)
            if isinstance(found, Resolved):
                if len(self._found) >= LOOKUP_CACHE:
                    self._found.clear()
                self._found[request.filename] = found
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


def _drain(sock: socket.socket) -> None:
    """Read and drop what the socket holds (datagrams, a pending ICMP error)."""
    for _ in range(READ_BATCH):
        try:
            sock.recv(RECV_SIZE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            continue


_LINUX_SO_RCVBUFFORCE = 33
"""asm-generic/socket.h; Python's socket module does not export it."""


def _grow_receive_buffer(sock: socket.socket, wanted: int) -> int:
    """Ask for ``wanted`` bytes of receive buffer; warn when the OS grants less.

    Linux doubles the figure it grants (half goes to bookkeeping) and reports
    the doubled one, so a request capped at ``net.core.rmem_max`` can still
    read back as ``wanted``; the comparison is with the doubled request there.
    """
    full = 2 * wanted if sys.platform.startswith("linux") else wanted
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, wanted)
    granted = sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
    force = getattr(socket, "SO_RCVBUFFORCE", _LINUX_SO_RCVBUFFORCE if full > wanted else None)
    if granted < full and force is not None:
        with contextlib.suppress(OSError):  # allowed with CAP_NET_ADMIN only
            sock.setsockopt(socket.SOL_SOCKET, force, wanted)
        granted = sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
    if granted < full:
        log.warning(
            "TFTP: the OS caps the receive buffer at %d bytes (asked for %d); "
            "raise net.core.rmem_max so that boot storms are not dropped",
            granted,
            wanted,
        )
    return granted

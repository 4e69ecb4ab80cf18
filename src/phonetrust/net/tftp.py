"""The TFTP server: UDP, a dumb pump around :class:`TftpServerCore`.

Sockets: one listening socket (the well-known port, with a large receive
buffer) and a socket per transfer connected to its client, both from
:mod:`.tftp_pool` (which keeps finished transfers' sockets for later ones).
Errors to requests (File not found, busy, write refused) go out from the
listening socket: that costs no socket under a flood of bad requests, and a
client takes its first answer from any port.

Call order (all on the event loop; ``now`` is the loop's monotonic clock)::

    listener readable -> recvfrom until the queue is empty (at most READ_BATCH),
                         core.receive_datagram(data, addr, now) for each
    transfer readable -> the pool hands over every ready transfer socket at
                         once (``now`` read once per wake-up): recv one
                         datagram, core.receive_from_peer(tid, data, now), send
                         what it returns from that socket (a refused recv, i.e.
                         ICMP unreachable: core.abort)
    timer             -> core.handle_timer(now); one loop timer follows
                         core.next_timer()
    actions, in order:
        OpenTransfer    -> a socket from the pool, connected to the client
                           (failure, e.g. out of descriptors: core.abort)
        Send            -> send from the tid's socket (or the listener); a full
                           buffer drops the datagram: retransmission repairs it
        RequestReceived -> source.lookup(name): bytes -> core.accept; missing ->
                           core.refuse(File not found), or, for a name the plan
                           may lack (E2), the relay (:mod:`.tftp_relay`) asks the
                           alternate servers and then calls core.accept or
                           core.refuse
        TransferEnded   -> the socket back to the pool; report (log, trace, download)
        other actions   -> report (:mod:`.tftp_report`: log lines, CUCM's trace)

Descriptors. The server keeps within ``max_descriptors`` (the share of the
process's open-file limit that ``serve`` gives TFTP; by default half the
soft RLIMIT_NOFILE): the listener, the epoll and the E2 relay's sockets
are reserved (:data:`RESERVED_DESCRIPTORS`), and the rest is for transfer
sockets, running and idle together. ``max_transfers`` is lowered to that
rest; the pool keeps idle sockets only within what the running transfers
leave, and gives up its oldest one when a transfer needs one. So a flood
takes slots - which fresh requests win back from stale ones, see
:mod:`phonetrust.protocols.tftp.server` - and never the descriptors TVS and
CAPF need to accept. The first time every slot is taken, one warning says so.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import random
import resource
import socket
from collections.abc import Sequence

from phonetrust.clock import Clock, SystemClock
from phonetrust.errors import LocalError
from phonetrust.net.tftp_pool import IDLE_REST, RECV_SIZE, SocketPool, open_listener
from phonetrust.net.tftp_relay import Relay
from phonetrust.net.tftp_remote import MAX_FETCHES
from phonetrust.net.tftp_report import Report
from phonetrust.net.trace import TftpTrace
from phonetrust.protocols.tftp.packets import ErrorCode, ReadRequest
from phonetrust.protocols.tftp.server import (
    LISTENER,
    Action,
    OpenTransfer,
    RequestReceived,
    Send,
    Stats,
    TftpServerCore,
    TransferEnded,
)
from phonetrust.protocols.tftp.transfer import Address, ServerConfig
from phonetrust.service.tftpfiles import DownloadLog, Missing, Resolved, TftpSource

log = logging.getLogger("phonetrust.tftp")

__all__ = [
    "IDLE_REST",
    "MIN_TRANSFER_SOCKETS",
    "RESERVED_DESCRIPTORS",
    "TftpServer",
    "default_max_descriptors",
]

READ_BATCH = 1024
"""Datagrams read from the listener per wake-up before the transfers get their turn."""
LOOKUP_CACHE = 65536
"""File names whose lookup is kept per source (emptied when full, and when the source changes)."""
RESERVED_DESCRIPTORS = 2 + MAX_FETCHES + 1
"""The listener, the transfers' epoll, and the E2 relay's sockets and their epoll."""
MIN_TRANSFER_SOCKETS = 4
STOP_GRACE = 3.0
NOT_FOUND = "File not found"


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
        self._relay = Relay(alternates, source.alternates)
        self._report = Report(source.node, downloads=downloads, clock=clock, tracer=tracer)
        self._socks: dict[int, tuple[socket.socket, Address]] = {}
        self._found: dict[str, Resolved] = {}
        """``source.lookup`` of names found: a source never changes, so neither do they."""
        self._links: dict[int, tuple[socket.socket, int]] = {}
        """By socket fd: the transfer socket and its tid (the hot path's lookup)."""
        self._pool = SocketPool(
            loop, int(listener.family), self._host, core.config.max_transfers, self._serve
        )
        """Transfer sockets, running and idle, within what the descriptor budget allows."""
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = 0.0
        self._stopped = False
        self.recv_buffer = 0
        """The listener's receive buffer as the kernel reports it."""
        self.max_descriptors = RESERVED_DESCRIPTORS + core.config.max_transfers
        """The budget this server keeps within (set by :meth:`start`)."""

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
        listener, granted = open_listener(host, port, recv_buffer)
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
        server.max_descriptors = server._report.max_descriptors = budget
        server._pool.limit = sockets
        loop.add_reader(listener.fileno(), server._on_listener)
        server._report.start()
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
        self._report.node = source.node
        if source.alternates != old.alternates:
            self._relay.follow(source.alternates)
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
        self._pool.keep = False
        self._core.accepting = False
        self._loop.remove_reader(self._listener.fileno())
        await self._relay.cancel()
        deadline = self._loop.time() + grace
        while self._core.active and self._loop.time() < deadline:
            await asyncio.sleep(0.02)
        self._run(self._core.abort_all(self._loop.time(), "server stopped"))
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._listener.close()
        self._pool.close()
        await self._report.stop()

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
                self._pool.stray(fd)  # a late datagram for a kept socket's last transfer
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
                self._report.event(action)

    def _open(self, action: OpenTransfer) -> list[Action]:
        if self._core.transfer(action.tid) is None:  # ended before its socket was made
            return []
        try:
            sock = self._pool.take(action.addr)
        except OSError as exc:  # out of descriptors or ports
            self._report.no_socket(action.addr, exc)
            return self._core.abort(action.tid, self._loop.time(), f"no socket: {exc}")
        self._links[sock.fileno()] = (sock, action.tid)
        self._socks[action.tid] = (sock, action.addr)
        return []

    def _ended(self, action: TransferEnded) -> None:
        entry = self._socks.pop(action.tid, None)
        fd = -1
        if entry is not None:
            fd = entry[0].fileno()
            del self._links[fd]
            self._pool.give_back(entry[0])
        self._report.ended(action, fd)

    def _answer(self, request: ReadRequest, addr: Address) -> list[Action]:
        self._report.request(addr, request, len(self._socks))
        found: Resolved | Missing | None = self._found.get(request.filename)
        if found is None:
            found = self._source.lookup(request.filename)
            if isinstance(found, Resolved):
                if len(self._found) >= LOOKUP_CACHE:
                    self._found.clear()
                self._found[request.filename] = found
        if isinstance(found, Resolved):
            return self._core.accept(addr, found.data, self._loop.time(), found)
        if found.remote and self._relay.available and not self._stopped:
            self._relay.ask(request.filename, found, lambda got, why: self._relayed(addr, got, why))
            return []
        return self._core.refuse(addr, ErrorCode.FILE_NOT_FOUND, NOT_FOUND, found.reason)

    def _relayed(self, addr: Address, found: Resolved | None, reason: str) -> None:
        """E2's answer to the request of ``addr``: the remote file, or File not found."""
        now = self._loop.time()
        if found is not None:
            self._run(self._core.accept(addr, found.data, now, found))
        else:
            self._run(self._core.refuse(addr, ErrorCode.FILE_NOT_FOUND, NOT_FOUND, reason))
        self._arm()

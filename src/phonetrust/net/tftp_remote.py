"""Fetching a file over TFTP: one client transfer pumped on asyncio, and the E2 relay cache.

:func:`fetch` is a dumb pump around :class:`ClientTransfer`: a fresh UDP
socket (a fresh TID), ``add_reader`` for its datagrams (every one queued is
read on each wake-up), one timer for ``transfer.next_timer()``, and a
deadline for the whole transfer. Call order::

    sendto(transfer.start(now), server)
    readable -> transfer.receive_datagram(data, addr, now) -> sendto each
    timer    -> transfer.handle_timer(now) -> sendto each; re-arm
    finished or deadline -> close the socket; result() or TftpError

:class:`RemoteFiles` is what a central TFTP server (scenario E2) uses for a
file it lacks: ask each configured remote cluster's TFTP server in turn,
keep answers (and "not found" answers, more briefly) in a small LRU cache,
fetch a name once however many phones ask at the same time, and never run
more than ``max_fetches`` fetches at once (beyond that: not found).
"""

from __future__ import annotations

import asyncio
import logging
import random
import select
import socket
import weakref
from collections import OrderedDict
from collections.abc import Callable

from phonetrust.protocols.tftp.client import ClientTransfer
from phonetrust.protocols.tftp.packets import ErrorCode, PeerError, TftpError, TransferTimeout
from phonetrust.protocols.tftp.transfer import Address

log = logging.getLogger("phonetrust.tftp")

RECV_SIZE = 65536
MAX_FETCHES = 32
"""Remote fetches at once (one socket each) a :class:`RemoteFiles` allows by default."""


class Readiness:
    """Calls a socket's callback when it is readable, for many short-lived sockets.

    On Linux the sockets go into one epoll of our own, itself watched by the
    event loop: one loop callback serves every socket that became readable
    (``poll`` returns them all in one system call), instead of one loop
    callback - and one ``epoll_ctl`` through the loop's selector - each.
    Elsewhere each socket is simply given to ``loop.add_reader``.
    """

    BATCH = 1024

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._callbacks: dict[int, Callable[[], None]] = {}
        self._epoll = select.epoll() if hasattr(select, "epoll") else None
        if self._epoll is not None:
            loop.add_reader(self._epoll.fileno(), self._ready)

    def watch(self, fd: int, callback: Callable[[], None]) -> None:
        if self._epoll is None:
            self._loop.add_reader(fd, callback)
            return
        self._epoll.register(fd, select.EPOLLIN)
        self._callbacks[fd] = callback

    def unwatch(self, fd: int) -> None:
        """Before the socket is closed."""
        if self._epoll is None:
            self._loop.remove_reader(fd)
            return
        if self._callbacks.pop(fd, None) is not None:
            self._epoll.unregister(fd)

    def _ready(self) -> None:
        assert self._epoll is not None  # noqa: S101 - registered only with an epoll
        callbacks = self._callbacks
        for fd, _ in self._epoll.poll(0, self.BATCH):
            callback = callbacks.get(fd)
            if callback is not None:
                callback()

    def close(self) -> None:
        if self._epoll is not None:
            self._loop.remove_reader(self._epoll.fileno())
            self._epoll.close()
            self._callbacks.clear()


_shared: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Readiness] = (
    weakref.WeakKeyDictionary()
)


def shared_readiness(loop: asyncio.AbstractEventLoop) -> Readiness:
    """The loop's :class:`Readiness` for client sockets (made on first use)."""
    found = _shared.get(loop)
    if found is None or found._loop.is_closed():
        found = _shared[loop] = Readiness(loop)
    return found


class _Pump:
    """One client transfer's socket, timers and completion."""

    __slots__ = ("deadline", "done", "loop", "sock", "timer", "timer_at", "transfer")

    def __init__(
        self, loop: asyncio.AbstractEventLoop, sock: socket.socket, transfer: ClientTransfer
    ) -> None:
        self.loop, self.sock, self.transfer = loop, sock, transfer
        self.done: asyncio.Future[None] = loop.create_future()
        self.timer: asyncio.TimerHandle | None = None
        self.timer_at = 0.0
        self.deadline: asyncio.TimerHandle | None = None

    def send(self, out: list[tuple[bytes, Address]]) -> None:
        sock = self.sock
        for datagram, addr in out:
            try:  # noqa: SIM105 - contextlib.suppress would cost a context manager per packet
                sock.sendto(datagram, addr)
            except OSError:
                pass  # a full buffer or a late ICMP error: lost like any datagram
        if self.transfer.finished:
            self.finish()
        elif self.timer is None:
            self.arm()

    def readable(self) -> None:
        """One datagram per call: the socket stays readable while more wait."""
        try:
            data, addr = self.sock.recvfrom(RECV_SIZE)
        except OSError:
            return  # nothing after all, or an ICMP error from an earlier send
        self.send(self.transfer.receive_datagram(data, addr[:2], self.loop.time()))

    def fire(self) -> None:
        """The retransmission timer: early (the deadline moved on) it only re-arms."""
        self.timer = None
        self.send(self.transfer.handle_timer(self.loop.time()))
        if self.timer is None and not self.transfer.finished:
            self.arm()

    def arm(self) -> None:
        when = self.transfer.next_timer()
        if when is not None:
            self.timer_at = when
            self.timer = self.loop.call_at(when, self.fire)

    def expire(self, message: str) -> None:
        self.deadline = None
        self.send(self.transfer.abort(TransferTimeout(message)))

    def finish(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if self.deadline is not None:
            self.deadline.cancel()
            self.deadline = None
        if not self.done.done():
            self.done.set_result(None)


async def fetch(
    server: Address,
    filename: str,
    *,
    timeout: float = 10.0,
    blksize: int | None = None,
    windowsize: int | None = None,
    tsize: bool = False,
    rto: float = 1.0,
    retries: int = 5,
    max_size: int = 64 * 1024 * 1024,
    rng: random.Random | None = None,
    bind: str = "",
) -> tuple[bytes, ClientTransfer]:
    """``filename`` from the TFTP server at ``server`` (an IP address and port).

    Raises :class:`PeerError` (the server's error, e.g. code 1 File not
    found), :class:`TransferTimeout` (no answer within the retries, or the
    whole transfer not done within ``timeout`` seconds), or another
    :class:`TftpError`.
    """
    loop = asyncio.get_running_loop()
    transfer = ClientTransfer(
        filename,
        server,
        blksize=blksize,
        windowsize=windowsize,
        tsize=tsize,
        rto=rto,
        retries=retries,
        max_size=max_size,
        rng=rng,
    )
    family = socket.AF_INET6 if ":" in server[0] else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    pump = _Pump(loop, sock, transfer)
    readiness = shared_readiness(loop)
    try:
        sock.setblocking(False)
        sock.bind((bind, 0))
        readiness.watch(sock.fileno(), pump.readable)
        try:
            pump.deadline = loop.call_later(
                timeout, pump.expire, f"{filename}: no complete answer in {timeout:g} s"
            )
            pump.send([(transfer.start(loop.time()), server)])
            await pump.done
        finally:
            readiness.unwatch(sock.fileno())
            pump.finish()
    finally:
        sock.close()
    return transfer.result(), transfer


class RemoteFiles:
    """Files of remote clusters' TFTP servers, fetched on demand and cached briefly (E2)."""

    def __init__(
        self,
        servers: list[tuple[str, int]],
        *,
        timeout: float = 3.0,
        ttl: float = 30.0,
        negative_ttl: float = 5.0,
        max_entries: int = 512,
        max_fetches: int = MAX_FETCHES,
        max_size: int = 16 * 1024 * 1024,
    ) -> None:
        self.servers = list(servers)
        self.timeout = timeout
        self.ttl = ttl
        self.negative_ttl = negative_ttl
        self.max_entries = max_entries
        self.max_fetches = max_fetches
        self.max_size = max_size
        self._cache: OrderedDict[str, tuple[float, bytes | None, str]] = OrderedDict()
        self._inflight: dict[str, asyncio.Future[tuple[bytes | None, str]]] = {}
        self.fetches = 0

    async def get(self, name: str) -> tuple[bytes | None, str]:
        """(bytes, ``host:port``) from the first server that has ``name``; (None, why) if none."""
        loop = asyncio.get_running_loop()
        now = loop.time()
        hit = self._cache.get(name)
        if hit is not None:
            expires, data, origin = hit
            if expires > now:
                self._cache.move_to_end(name)
                return data, origin
            del self._cache[name]
        running = self._inflight.get(name)
        if running is not None:
            return await asyncio.shield(running)
        if len(self._inflight) >= self.max_fetches:
            return None, "too many remote fetches at once"
        future: asyncio.Future[tuple[bytes | None, str]] = loop.create_future()
        self._inflight[name] = future
        try:
            answer = await self._ask_each(name)
            data, origin = answer
            ttl = self.ttl if data is not None else self.negative_ttl
            self._cache[name] = (loop.time() + ttl, data, origin)
            while len(self._cache) > self.max_entries:
                self._cache.popitem(last=False)
            future.set_result(answer)
            return answer
        finally:
            del self._inflight[name]
            if not future.done():
                future.cancel()  # the fetch itself was cancelled: so are those waiting on it

    async def _ask_each(self, name: str) -> tuple[bytes | None, str]:
        loop = asyncio.get_running_loop()
        reasons: list[str] = []
        for host, port in self.servers:
            label = f"{host}:{port}"
            try:
                infos = await loop.getaddrinfo(host, port, type=socket.SOCK_DGRAM)
                address = infos[0][4]
                self.fetches += 1
                data, _ = await fetch(
                    (str(address[0]), int(address[1])),
                    name,
                    timeout=self.timeout,
                    blksize=1428,
                    rto=min(1.0, self.timeout / 4),
                    max_size=self.max_size,
                )
            except PeerError as exc:
                reasons.append(f"{label}: {exc.message}")
                if exc.code != ErrorCode.FILE_NOT_FOUND:
                    log.info("TFTP remote %s for %s: %s", label, name, exc.message)
                continue
            except (TftpError, OSError) as exc:
                reasons.append(f"{label}: {exc}")
                log.warning("TFTP remote %s for %s failed: %s", label, name, exc)
                continue
            return data, label
        return None, "; ".join(reasons) or "no alternate servers"

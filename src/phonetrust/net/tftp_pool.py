"""The TFTP server's sockets: the listener, and one per transfer, kept a while for the next.

The listener (:func:`open_listener`) asks for a large receive buffer so
that a boot storm's requests wait in the kernel rather than being dropped;
when the OS grants less, a warning says so.

RFC 1350 wants a new transfer id (port) per transfer, phones expect DATA
from it, and a socket connected to its client has the kernel drop every
other sender's datagrams. So each transfer gets a socket of its own, bound
beside the listener and connected to the client.

Readiness: on Linux the sockets sit in one epoll of our own that the event
loop watches, so one loop callback learns every ready socket in one system
call (``on_ready`` gets up to :data:`POLL_BATCH` of them); elsewhere the
loop watches each socket itself.

Reuse: a new socket per transfer (socket, bind, connect, epoll add, epoll
delete, close) costs about five times what reconnecting a kept one does,
and a boot storm makes three transfers per phone. A finished transfer's
socket is kept (at most :data:`IDLE_SOCKETS`, and never beyond ``limit``
sockets lent and kept together), rests :data:`IDLE_REST` s so that a port
does not serve two transfers in immediate succession, and is then
reconnected to a new client; datagrams its old peer sends late are read
and dropped. When a transfer needs a socket and the limit is reached, the
oldest kept one is closed to make room.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import select
import socket
import sys
from collections import deque
from collections.abc import Callable, Sequence

from phonetrust.protocols.tftp.transfer import Address

log = logging.getLogger("phonetrust.tftp")

IDLE_SOCKETS = 1024
"""Transfer sockets kept open after their transfer, for later transfers to other clients
(at most: the descriptor budget may allow fewer)."""
IDLE_REST = 1.0
"""Seconds a kept socket rests before it serves again: a port (TID) is not reused at once."""
POLL_BATCH = 1024
"""Ready sockets handed over per wake-up (the others stay ready for the next one)."""
READ_BATCH = 1024
"""Datagrams drained from one socket at most."""
RECV_SIZE = 65536
_HAS_NONBLOCK = hasattr(socket, "SOCK_NONBLOCK")
_DGRAM_NONBLOCK = socket.SOCK_DGRAM | getattr(socket, "SOCK_NONBLOCK", 0)
"""Sockets are made non-blocking by ``socket()`` itself where the OS can: one call less."""

Ready = Callable[[Sequence[tuple[int, int]]], None]
"""Called with ``(fd, events)`` of the sockets that have datagrams to read."""


class SocketPool:
    """Sockets for transfers: :meth:`take` one connected to a client, :meth:`give_back` it."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        family: int,
        host: str,
        limit: int,
        on_ready: Ready,
    ) -> None:
        self._loop = loop
        self._family = family
        self._host = host
        self.limit = limit
        """Sockets lent and kept together that the descriptor budget allows."""
        self._on_ready = on_ready
        self._lent = 0
        self._idle: deque[tuple[float, socket.socket]] = deque()
        self._idle_fds: dict[int, socket.socket] = {}
        self.keep = True
        """False once the server stops: sockets given back are closed, not kept."""
        self._epoll = select.epoll() if hasattr(select, "epoll") else None
        if self._epoll is not None:
            loop.add_reader(self._epoll.fileno(), self._on_epoll)

    def take(self, addr: Address) -> socket.socket:
        """A socket connected to ``addr``, kept or new; OSError when none can be had."""
        sock = self._rested(addr)
        if sock is None:
            if self._lent + len(self._idle) >= self.limit and self._idle:
                self._close(self._idle_fds.pop(self._idle.popleft()[1].fileno()))
            sock = socket.socket(self._family, _DGRAM_NONBLOCK)
            try:
                if not _HAS_NONBLOCK:
                    sock.setblocking(False)
                sock.bind((self._host, 0))
                sock.connect(addr)
                self._watch(sock.fileno())
            except BaseException:
                sock.close()
                raise
        self._lent += 1
        return sock

    def give_back(self, sock: socket.socket) -> None:
        """A finished transfer's socket: kept for a later transfer, or closed."""
        self._lent -= 1
        idle = len(self._idle)
        if not self.keep or idle >= IDLE_SOCKETS or idle + self._lent >= self.limit:
            self._close(sock)
            return
        self._idle.append((self._loop.time() + IDLE_REST, sock))
        self._idle_fds[sock.fileno()] = sock

    def stray(self, fd: int) -> None:
        """A ready socket no transfer holds: a kept one's late datagrams are dropped."""
        idle = self._idle_fds.get(fd)
        if idle is not None:
            drain(idle)

    def close(self) -> None:
        """Close the kept sockets and stop watching; sockets given back later are closed."""
        self.keep = False
        while self._idle:
            self._close(self._idle.popleft()[1])
        self._idle_fds.clear()
        if self._epoll is not None:
            self._loop.remove_reader(self._epoll.fileno())
            self._epoll.close()

    def _on_epoll(self) -> None:
        assert self._epoll is not None  # noqa: S101 - the loop watches it only when there is one
        self._on_ready(self._epoll.poll(0, POLL_BATCH))

    def _on_fd(self, fd: int) -> None:
        self._on_ready(((fd, 0),))

    def _watch(self, fd: int) -> None:
        if self._epoll is not None:
            self._epoll.register(fd, select.EPOLLIN)
        else:
            self._loop.add_reader(fd, self._on_fd, fd)

    def _close(self, sock: socket.socket) -> None:
        fd = sock.fileno()
        if self._epoll is not None:
            self._epoll.unregister(fd)
        else:
            self._loop.remove_reader(fd)
        sock.close()

    def _rested(self, addr: Address) -> socket.socket | None:
        """A kept socket that has rested, connected to ``addr`` and emptied; or None.

        Once connected to the new peer the kernel drops anyone else's
        datagrams; those it queued before are read and dropped here.
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
        drain(sock)
        return sock


def drain(sock: socket.socket) -> None:
    """Read and drop what the socket holds (datagrams, a pending ICMP error)."""
    for _ in range(READ_BATCH):
        try:
            sock.recv(RECV_SIZE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            continue


def open_listener(host: str, port: int, recv_buffer: int) -> tuple[socket.socket, int]:
    """The request socket bound to ``host:port``, and the receive buffer the OS granted."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_DGRAM)
    try:
        listener.setblocking(False)
        granted = grow_receive_buffer(listener, recv_buffer)
        listener.bind((host, port))
    except BaseException:
        listener.close()
        raise
    return listener, granted


_LINUX_SO_RCVBUFFORCE = 33
"""asm-generic/socket.h; Python's socket module does not export it."""


def grow_receive_buffer(sock: socket.socket, wanted: int) -> int:
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

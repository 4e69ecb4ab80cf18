"""A TFTP read server without I/O: datagrams and ``now`` in; datagrams, events and timers out.

:class:`TftpServerCore` owns every transfer. Sockets are named by a
*transfer id* (``tid``): ``LISTENER`` (0) is the well-known port, every
accepted transfer gets a fresh tid and, from the adapter, a fresh UDP
socket (RFC 1350: the server answers from a new port). The adapter calls,
in this order::

    core.receive_datagram(data, addr, now, tid)  # for every datagram read
    core.receive_from_peer(tid, data, now)      # the same, when the socket is connected
    core.handle_timer(now)                      # when core.next_timer() is reached
    core.accept(addr, payload, now, tag)        # answer to a RequestReceived ...
    core.refuse(addr, code, message)            # ... or this one, exactly once
    core.abort(tid, now, reason)                # its socket failed (peer gone, EMFILE)

and performs the returned actions in order: :class:`OpenTransfer` (bind a
socket for the tid), :class:`Send` (from the tid's socket, or the listener),
:class:`TransferEnded` (close the tid's socket; record, log). The other
actions are events to log or count.

Requests. A read request whose mode is ``octet`` or ``netascii`` becomes a
:class:`RequestReceived`; the file's bytes come back through ``accept``.
``netascii`` is served with the stored bytes unchanged: translating line
ends would break the signature of every ``.sgn`` and ``.tlv`` file, and no
phone asks for it. Write requests are refused with error 2, other modes
with error 4. A request repeated from the same address while its first copy
is pending or being served is a retransmission and is ignored (the
transfer retransmits on its own); one that is queued refreshes its place
(see Capacity). Options (RFC 2347-2349, 7440), their values ASCII digits
only: ``blksize`` 8..65464 (larger is lowered to ``max_blksize``),
``tsize`` (answered with the file's size), ``timeout`` 1..10 s
(``max_option_timeout``; the retransmission wait once the client has
answered, see :mod:`~phonetrust.protocols.tftp.transfer`), ``windowsize``
1..65535 (lowered to ``max_windowsize``); invalid or unknown options are
left out of the OACK, and with none left there is no OACK.

Capacity. At most ``max_transfers`` run at once. Fresh requests are
preferred over stale ones, so that a flood of spoofed requests (whose
sources never answer) cannot keep phones out:

- a request that finds every slot taken evicts the oldest transfer whose
  peer has never answered, once that one is ``evict_after`` (0.5 s) old -
  long past any LAN round trip - and takes its slot; the evicted transfer
  ends quietly (nothing is sent to a peer that never answered);
- otherwise it waits in a queue of ``max_queue`` (one per address), and
  the *freshest* waiting request starts first, as slots free or as
  never-answered transfers grow old enough to evict (checked at each
  timer). A client that is alive retransmits its request, and each
  retransmission makes its waiting request fresh again; a spoofed source
  never does, so a flood's requests sink to the stale end. One that
  waited longer than ``queue_wait`` since it was last refreshed is
  dropped;
- when the queue is full its stalest request is answered with error 0
  "Server busy" and the fresh one takes its place - never dropped without
  a word. A :class:`SlotsFull` action says, each time, that a request
  found every slot taken.

The transfers themselves - options, blocks, retransmission with backoff and
jitter, and their state table - are in :mod:`phonetrust.protocols.tftp.transfer`.
"""

from __future__ import annotations

import heapq
import random
from collections import OrderedDict
from dataclasses import dataclass, field

from phonetrust.protocols.tftp.packets import (
    ErrorCode,
    MalformedPacket,
    ReadRequest,
    WriteRequest,
    error_packet,
    parse,
)
from phonetrust.protocols.tftp.transfer import (
    TRANSITIONS,
    Address,
    Input,
    PacketCache,
    Reaction,
    ServerConfig,
    State,
    Transfer,
    negotiate,
)

LISTENER = 0
"""The tid of the well-known port's socket."""

_ERROR_5 = error_packet(ErrorCode.UNKNOWN_TID, "Unknown transfer ID")


# -- actions --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Send:
    """Send ``datagram`` to ``addr`` from the socket of ``tid``."""

    tid: int
    datagram: bytes
    addr: Address


@dataclass(frozen=True, slots=True)
class OpenTransfer:
    """Bind a new socket for ``tid`` (before the sends that follow)."""

    tid: int
    addr: Address


@dataclass(frozen=True, slots=True)
class RequestReceived:
    """A read request to answer with ``accept`` or ``refuse`` (by ``addr``)."""

    request: ReadRequest
    addr: Address


@dataclass(frozen=True, slots=True)
class Refused:
    """A request answered with an error (``code``) from the listener."""

    filename: str
    addr: Address
    code: int
    reason: str


@dataclass(frozen=True, slots=True)
class Queued:
    filename: str
    addr: Address


@dataclass(frozen=True, slots=True)
class Dropped:
    """A datagram that got no answer: malformed, stray, a retransmitted request, expired."""

    addr: Address
    reason: str


@dataclass(frozen=True, slots=True)
class TransferEnded:
    """The transfer is over: close its socket. ``ok`` means its last block was acknowledged."""

    tid: int
    addr: Address
    filename: str
    ok: bool
    size: int
    blksize: int
    reason: str
    tag: object
    started: float
    ended: float
    retransmissions: int


@dataclass(frozen=True, slots=True)
class SlotsFull:
    """A request found all ``max_transfers`` slots taken (it evicted, waits, or was refused)."""

    max_transfers: int


Action = (
    Send | OpenTransfer | RequestReceived | Refused | Queued | Dropped | TransferEnded | SlotsFull
)


# -- the server ---------------------------------------------------------------------------


@dataclass
class Stats:
    requests: int = 0
    completed: int = 0
    failed: int = 0
    refused: int = 0
    busy: int = 0
    queued: int = 0
    expired: int = 0
    evicted: int = 0
    dropped: int = 0
    retransmissions: int = 0


@dataclass(slots=True)
class _Waiting:
    request: ReadRequest
    payload: bytes
    tag: object
    since: float


@dataclass
class TftpServerCore:
    config: ServerConfig = field(default_factory=ServerConfig)
    rng: random.Random = field(default_factory=random.Random)
    stats: Stats = field(default_factory=Stats)

    def __post_init__(self) -> None:
        self._transfers: dict[int, Transfer] = {}
        self._by_addr: dict[Address, int] = {}
        self._pending: dict[Address, ReadRequest] = {}
        self._queue: OrderedDict[Address, _Waiting] = OrderedDict()
        self._unanswered: OrderedDict[int, Transfer] = OrderedDict()
        """Transfers by start, oldest first, that may not have heard from their peer yet
        (answered ones leave it when found at the front, or when they end)."""
        self._timers: list[tuple[float, int]] = []
        self._next_tid = 1
        self._packets = PacketCache()
        self.accepting = True

    # -- inputs ----------------------------------------------------------------------

    def receive_datagram(
        self, data: bytes, addr: Address, now: float, tid: int = 0
    ) -> list[Action]:
        if tid == LISTENER:
            return self._request(data, addr, now)
        transfer = self._transfers.get(tid)
        if transfer is None:
            return [Dropped(addr, "datagram for a finished transfer")]
        if addr != transfer.peer:
            if TRANSITIONS[transfer.state, Input.FOREIGN] is Reaction.REJECT:
                return [Send(tid, _ERROR_5, addr)]
            return []
        out, after = self.receive_from_peer(tid, data, now)
        actions: list[Action] = [Send(tid, d, addr) for d in out]
        actions.extend(after)
        return actions

    def receive_from_peer(
        self, tid: int, data: bytes, now: float
    ) -> tuple[list[bytes], list[Action]]:
        """:meth:`receive_datagram` for a datagram known to come from the transfer's peer.

        The hot path of an adapter whose transfer sockets are connected (the
        kernel drops every other sender): returns the datagrams to send to
        the peer from the transfer's socket, then the other actions.
        """
        transfer = self._transfers.get(tid)
        if transfer is None:
            return [], []
        out = transfer.receive(data, now)
        if transfer.state is State.SENDING or transfer.state is State.NEGOTIATING:
            return out, []
        return out, self._finish(transfer, now)

    def _request(self, data: bytes, addr: Address, now: float) -> list[Action]:
        if not self.accepting:
            return [Dropped(addr, "server stopping")]
        try:
            packet = parse(data)
        except MalformedPacket as exc:
            self.stats.dropped += 1
            return [Dropped(addr, f"malformed request: {exc}")]
        if isinstance(packet, WriteRequest):
            self.stats.refused += 1
            reason = "write requests are refused"
            return [
                Send(LISTENER, error_packet(ErrorCode.ACCESS_VIOLATION, "Access violation"), addr),
                Refused(packet.filename, addr, ErrorCode.ACCESS_VIOLATION, reason),
            ]
        if not isinstance(packet, ReadRequest):
            self.stats.dropped += 1
            return [Dropped(addr, f"{type(packet).__name__} sent to the request port")]
        self.stats.requests += 1
        current = self._by_addr.get(addr)
        waiting = self._queue.get(addr)
        if waiting is not None:  # a live client: its request becomes fresh again
            waiting.since = now
            self._queue.move_to_end(addr)
            return [Dropped(addr, "retransmitted request (it waits, refreshed)")]
        if addr in self._pending:
            return [Dropped(addr, "retransmitted request")]
        actions: list[Action] = []
        if current is not None:
            running = self._transfers[current]
            if running.filename == packet.filename:
                return [Dropped(addr, "retransmitted request")]
            running.fail("the client asked for another file")
            actions.extend(self._finish(running, now))
        if packet.mode.lower() not in ("octet", "netascii"):
            self.stats.refused += 1
            reason = f"mode {packet.mode!r} is not supported"
            actions += [
                Send(LISTENER, error_packet(ErrorCode.ILLEGAL_OPERATION, reason), addr),
                Refused(packet.filename, addr, ErrorCode.ILLEGAL_OPERATION, reason),
            ]
            return actions
        self._pending[addr] = packet
        actions.append(RequestReceived(packet, addr))
        return actions

    def accept(self, addr: Address, payload: bytes, now: float, tag: object = None) -> list[Action]:
        """Serve the pending request of ``addr`` with ``payload`` (now or when a slot frees)."""
        request = self._pending.pop(addr, None)
        if request is None:
            return []
        if len(self._transfers) < self.config.max_transfers:
            return self._start(request, addr, payload, now, tag)
        actions: list[Action] = [SlotsFull(self.config.max_transfers)]
        stale = self._stale(now)
        if stale is not None:
            actions += self._evict(stale, now)
            actions += self._start(request, addr, payload, now, tag)
            return actions
        if self.config.max_queue == 0:
            actions += self._busy(request.filename, addr)
            return actions
        if len(self._queue) >= self.config.max_queue:
            oldest, waiting = self._queue.popitem(last=False)
            actions += self._busy(waiting.request.filename, oldest)
        self.stats.queued += 1
        self._queue[addr] = _Waiting(request, payload, tag, now)
        actions.append(Queued(request.filename, addr))
        return actions

    def _busy(self, filename: str, addr: Address) -> list[Action]:
        self.stats.busy += 1
        reason = "Server busy, try again later"
        return [
            Send(LISTENER, error_packet(ErrorCode.NOT_DEFINED, reason), addr),
            Refused(filename, addr, ErrorCode.NOT_DEFINED, reason),
        ]

    def _stale(self, now: float) -> Transfer | None:
        """The oldest transfer whose peer never answered, if it is old enough to evict."""
        unanswered = self._unanswered
        while unanswered:
            transfer = next(iter(unanswered.values()))
            if transfer.answered or transfer.finished:
                del unanswered[transfer.tid]
                continue
            return transfer if now - transfer.started >= self.config.evict_after else None
        return None

    def _evict(self, transfer: Transfer, now: float) -> list[Action]:
        """End a never-answered transfer quietly to free its slot (no queued request takes it)."""
        self.stats.evicted += 1
        transfer.fail("evicted for a fresh request: the client never answered")
        return self._finish(transfer, now, refill=False)

    def refuse(
        self, addr: Address, code: ErrorCode, message: str, reason: str = ""
    ) -> list[Action]:
        """Answer the pending request of ``addr`` with an error from the listener."""
        request = self._pending.pop(addr, None)
        if request is None:
            return []
        self.stats.refused += 1
        return [
            Send(LISTENER, error_packet(code, message), addr),
            Refused(request.filename, addr, code, reason or message),
        ]

    def abort(self, tid: int, now: float, reason: str) -> list[Action]:
        """End a transfer whose socket failed; no answer is sent."""
        transfer = self._transfers.get(tid)
        if transfer is None:
            return []
        transfer.fail(reason)
        return self._finish(transfer, now)

    def handle_timer(self, now: float) -> list[Action]:
        actions: list[Action] = []
        timers = self._timers
        while timers and timers[0][0] <= now:
            _, tid = heapq.heappop(timers)
            transfer = self._transfers.get(tid)
            if transfer is None:
                continue
            if transfer.deadline > now:
                heapq.heappush(timers, (transfer.deadline, tid))
                continue
            before = transfer.retransmissions
            for datagram in transfer.timeout(now):
                actions.append(Send(tid, datagram, transfer.peer))
            self.stats.retransmissions += transfer.retransmissions - before
            if transfer.finished:
                actions.extend(self._finish(transfer, now))
            else:
                heapq.heappush(timers, (transfer.deadline, tid))
        if self._queue:
            actions.extend(self._promote(now))
        return actions

    def next_timer(self) -> float | None:
        """When to call :meth:`handle_timer` (possibly early: it then re-arms)."""
        return self._timers[0][0] if self._timers else None

    # -- queries ------------------------------------------------------------------------

    @property
    def active(self) -> int:
        return len(self._transfers)

    @property
    def waiting(self) -> int:
        return len(self._queue) + len(self._pending)

    def transfer(self, tid: int) -> Transfer | None:
        return self._transfers.get(tid)

    def abort_all(self, now: float, reason: str) -> list[Action]:
        """End everything (the server stops): queued requests are dropped."""
        self.accepting = False
        self._queue.clear()
        actions: list[Action] = []
        for tid in list(self._transfers):
            actions.extend(self.abort(tid, now, reason))
        return actions

    # -- internals ----------------------------------------------------------------------

    def _start(
        self, request: ReadRequest, addr: Address, payload: bytes, now: float, tag: object
    ) -> list[Action]:
        tid = self._next_tid
        self._next_tid += 1
        negotiated = negotiate(request, len(payload), self.config)
        transfer = Transfer(
            tid,
            addr,
            request.filename,
            payload,
            negotiated,
            config=self.config,
            rng=self.rng,
            now=now,
            tag=tag,
            packets=self._packets.get(payload, negotiated.blksize),
        )
        self._transfers[tid] = transfer
        self._by_addr[addr] = tid
        self._unanswered[tid] = transfer
        actions: list[Action] = [OpenTransfer(tid, addr)]
        actions.extend(Send(tid, d, addr) for d in transfer.start(now))
        heapq.heappush(self._timers, (transfer.deadline, tid))
        return actions

    def _finish(self, transfer: Transfer, now: float, *, refill: bool = True) -> list[Action]:
        del self._transfers[transfer.tid]
        self._unanswered.pop(transfer.tid, None)
        if self._by_addr.get(transfer.peer) == transfer.tid:
            del self._by_addr[transfer.peer]
        ok = transfer.state is State.COMPLETE
        if ok:
            self.stats.completed += 1
        else:
            self.stats.failed += 1
        actions: list[Action] = [
            TransferEnded(
                transfer.tid,
                transfer.peer,
                transfer.filename,
                ok,
                len(transfer.data),
                transfer.blksize,
                transfer.reason,
                transfer.tag,
                transfer.started,
                now,
                transfer.retransmissions,
            )
        ]
        if refill and self._queue:
            actions.extend(self._promote(now))
        return actions

    def _promote(self, now: float) -> list[Action]:
        """Start queued requests in free slots, or in those of stale never-answered transfers."""
        actions: list[Action] = []
        queue = self._queue
        while queue:  # the stalest first: those that waited too long are dropped
            addr, waiting = next(iter(queue.items()))
            if now - waiting.since <= self.config.queue_wait:
                break
            del queue[addr]
            self.stats.expired += 1
            actions.append(Dropped(addr, "waited too long for a free transfer slot"))
        while queue:  # then the freshest starts first
            if len(self._transfers) >= self.config.max_transfers:
                stale = self._stale(now)
                if stale is None:
                    break
                actions.extend(self._evict(stale, now))
            addr, waiting = queue.popitem(last=True)
            actions.extend(self._start(waiting.request, addr, waiting.payload, now, waiting.tag))
        return actions

"""What the TFTP server tells of its work: log lines, CUCM's trace lines, devices' downloads.

Every request ends in one log line on ``phonetrust.tftp`` (INFO): who,
which name, what it got (file, device, bytes, hash) or why not. With a
tracer (:mod:`.trace`), CUCM's trace lines too: the request, then the
transfer or the refusal - never a line per datagram, so a boot storm pays
for tracing per file, not per packet. A device's completed download of
its trust list or configuration is recorded in the store, in batches: a
task writes what gathered every second (in a thread, the store being
synchronous) and once more when the server stops; a write the store refuses
is tried again with the next. Conditions an operator
must know of (every slot taken, no socket for a transfer) are warned of
once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime

from phonetrust.clock import Clock
from phonetrust.net.trace import TftpTrace
from phonetrust.protocols.tftp.packets import ReadRequest
from phonetrust.protocols.tftp.server import (
    Action,
    Dropped,
    Queued,
    Refused,
    SlotsFull,
    TransferEnded,
)
from phonetrust.protocols.tftp.transfer import Address
from phonetrust.service.tftpfiles import DownloadLog, Resolved

log = logging.getLogger("phonetrust.tftp")

FLUSH_INTERVAL = 1.0
"""Seconds between two writes of the downloads gathered."""


class Report:
    """The server's log, trace and download record; ``node`` names the downloads' server."""

    def __init__(
        self,
        node: str,
        *,
        downloads: DownloadLog | None,
        clock: Clock,
        tracer: TftpTrace | None,
    ) -> None:
        self.node = node
        self.max_descriptors = 0
        """The descriptor budget the server keeps within, for the warning that it is used up."""
        self._downloads = downloads
        self._clock = clock
        self._trace = tracer
        self._flusher: asyncio.Task[None] | None = None
        self._told_full = False
        self._told_no_socket = False

    def request(self, addr: Address, request: ReadRequest, serving: int) -> None:
        if self._trace is not None:
            self._trace.request(addr, request.filename, request.mode, serving)

    def event(self, action: Action) -> None:
        """An action that is only news: a refusal, slots full, a queued or dropped request."""
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

    def ended(self, action: TransferEnded, sock: int) -> None:
        """A transfer is over (``sock``: its socket's descriptor, -1 if it had none)."""
        resolved = action.tag if isinstance(action.tag, Resolved) else None
        if self._trace is not None:
            file = resolved.file if resolved is not None else action.filename
            if action.ok:
                self._trace.transferred(action.addr, file, action.tid, sock)
            else:
                self._trace.failed(action.addr, file, action.tid, action.reason)
        if action.ok and resolved is not None and resolved.record and self._downloads is not None:
            at = datetime.fromtimestamp(self._clock.now(), UTC)
            self._downloads.add(resolved, self.node, at)
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

    def no_socket(self, addr: Address, exc: OSError) -> None:
        if self._told_no_socket:
            return
        self._told_no_socket = True
        log.warning(
            "TFTP: no socket for a transfer to %s:%d: %s (said once; such requests fail)",
            *addr,
            exc,
        )

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

    # -- downloads -----------------------------------------------------------------------

    def start(self) -> None:
        """Write the downloads every :data:`FLUSH_INTERVAL` (on the running loop)."""
        if self._downloads is not None:
            self._flusher = asyncio.get_running_loop().create_task(self._flush_every())

    async def stop(self) -> None:
        """Stop the periodic writes and write what is left."""
        if self._flusher is not None:
            self._flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flusher
        await self.flush()

    async def _flush_every(self) -> None:
        while True:
            await asyncio.sleep(FLUSH_INTERVAL)
            await self.flush()

    async def flush(self) -> None:
        if self._downloads is None or not self._downloads.pending:
            return
        try:
            await asyncio.to_thread(self._downloads.flush)
        except Exception as exc:  # noqa: BLE001 - a store failure delays these records, not the server
            log.warning("TFTP: downloads not recorded yet (kept for the next write): %s", exc)

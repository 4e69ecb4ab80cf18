"""E2 for the TFTP server: a file this node lacks, asked of the remote clusters' servers.

A central TFTP server that cannot find a name the plan may lack (see
:class:`~phonetrust.service.tftpfiles.Missing`) asks the TFTP servers of
the remote clusters for it (:class:`~phonetrust.net.tftp_remote.RemoteFiles`:
each in turn, cached briefly, one fetch per name however many phones ask)
in a task, and answers the phone's request when they have answered. The
answer comes through a callback, also when the task is cancelled because
the server stops: every request the relay takes is answered exactly once.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable, Sequence

from phonetrust.net.tftp_remote import RemoteFiles
from phonetrust.policy.tftpnames import NameKind
from phonetrust.service.tftpfiles import Missing, Resolved

Answer = Callable[[Resolved | None, str], None]
"""Called once per relayed request: the file, or None and why not."""


class Relay:
    """The remote fetches of one server; ``fixed`` servers override the source's alternates."""

    def __init__(
        self, fixed: Sequence[tuple[str, int]], alternates: Sequence[tuple[str, int]]
    ) -> None:
        self._fixed = list(fixed)
        self._remote = self._remote_for(alternates)
        self._tasks: set[asyncio.Task[None]] = set()

    def follow(self, alternates: Sequence[tuple[str, int]]) -> None:
        """The source's alternates changed: ask the new ones, and forget what the old said."""
        self._remote = self._remote_for(alternates)

    @property
    def available(self) -> bool:
        """There is some server to ask."""
        return self._remote is not None

    def ask(self, name: str, missing: Missing, answer: Answer) -> None:
        """Fetch ``name`` in a task, then ``answer``; only when :attr:`available`."""
        task = asyncio.get_running_loop().create_task(self._fetch(name, missing, answer))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def cancel(self) -> None:
        """Cancel every fetch (each still answers: "cancelled") and wait for them."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _fetch(self, name: str, missing: Missing, answer: Answer) -> None:
        data: bytes | None = None
        why = "cancelled"
        try:
            assert self._remote is not None  # noqa: S101 - ask is called only when available
            data, why = await self._remote.get(name)
        finally:
            if data is not None:
                kind = missing.name.kind if missing.name is not None else NameKind.OTHER
                sha1 = hashlib.sha1(data).hexdigest()
                answer(Resolved(name, name, data, sha1, kind, None, f"remote {why}"), "")
            else:
                answer(None, f"{missing.reason}; remote: {why}")

    def _remote_for(self, alternates: Sequence[tuple[str, int]]) -> RemoteFiles | None:
        servers = self._fixed or list(alternates)
        return RemoteFiles(servers) if servers else None

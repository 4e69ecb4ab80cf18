"""Waiting for a server without sleeping a fixed time.

A test that waits for a server (to accept a connection, to reload a change,
to write its trace) polls the condition it needs and goes on as soon as it
holds; a deadline turns a server that never gets there into a failure
rather than a hang. Sleeps that *are* the behaviour under test (a client
that stays silent, a connection that must age) stay sleeps.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from phonetrust.net.serve import Running
from phonetrust.service.changes import reading
from phonetrust.service.context import Context


async def until(check: Callable[[], bool], *, timeout: float = 10.0, poll: float = 0.01) -> None:
    """Return as soon as ``check()`` holds; fail if it does not within ``timeout`` seconds."""
    try:
        async with asyncio.timeout(timeout):
            while not check():
                await asyncio.sleep(poll)
    except TimeoutError:
        raise AssertionError(f"not so within {timeout} s: {check}") from None


async def reloaded(ctx: Context, *nodes: Running, timeout: float = 20.0) -> None:
    """Wait until every running node serves the store's current file plan.

    A change (a regeneration, a scheduled CAPF operation, a parameter) is
    published as a new plan version; ``serve`` polls the store and reloads.
    """

    def version() -> int:
        with reading(ctx) as uow:
            return uow.current_version()

    wanted = await asyncio.to_thread(version)
    await until(lambda: all(n.version >= wanted for n in nodes), timeout=timeout, poll=0.02)

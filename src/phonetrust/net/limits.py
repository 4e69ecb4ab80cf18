"""File descriptors for ``serve``: raise the process's limit, then split it among the services.

Every TFTP transfer, TLS connection and kept UDP socket is a descriptor, and
they all come from one per-process limit (RLIMIT_NOFILE, often 1,024). Left
to themselves, a burst of TFTP requests takes every one of them and TVS and
CAPF can no longer accept. So ``serve`` first raises the soft limit to the
hard one (:func:`raise_open_files`), then gives each running service a
budget of its own (:func:`budgets`): a share of what is left after the
descriptors already open and a reserve for the process itself (database,
logs, key files, worker threads). Shares never overlap and never exceed the
limit, so each budget is a reserve the other services cannot take; each
server keeps within its own (TLS listeners by dropping their oldest idle
connection, TFTP by sizing its transfers and idle socket pool).
"""

from __future__ import annotations

import logging
import os
import resource
from collections.abc import Iterable

log = logging.getLogger("phonetrust.serve")

PROCESS_RESERVE = 64
"""Descriptors kept for the process itself: database connections, logs, key files, threads."""
SHARES = {"tftp": 4, "tvs": 3, "capf": 2, "https": 1}
"""Relative shares of what is left; TFTP needs a socket per transfer plus its idle pool."""
CEILINGS = {"tvs": 2000, "capf": 1000, "https": 256, "tftp": 4096}
"""No service is given more than it can use (its default bound)."""
FLOOR = 4
"""A service's budget is never below this, even under a tiny limit."""
UNLIMITED_TARGET = 65536
"""The soft limit aimed at when the hard limit is unlimited."""


def raise_open_files() -> int:
    """Raise the soft RLIMIT_NOFILE to the hard limit; returns the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = UNLIMITED_TARGET if hard == resource.RLIM_INFINITY else hard
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError) as exc:
            log.warning("could not raise the open-file limit from %d to %d: %s", soft, target, exc)
        else:
            log.info("open-file limit raised from %d to %d", soft, target)
            soft = target
    return UNLIMITED_TARGET if soft == resource.RLIM_INFINITY else int(soft)


def open_descriptors() -> int:
    """Descriptors this process has open now (an estimate where /proc is not available)."""
    for where in ("/proc/self/fd", "/dev/fd"):
        try:
            return max(0, len(os.listdir(where)) - 1)  # less the one listdir used
        except OSError:
            continue
    return 32


def budgets(services: Iterable[str], *, limit: int, in_use: int) -> dict[str, int]:
    """Descriptors each of ``services`` may hold, out of ``limit`` with ``in_use`` open.

    Each gets its share (:data:`SHARES`) of what is left after ``in_use`` and
    :data:`PROCESS_RESERVE`, capped at its ceiling and at least :data:`FLOOR`;
    one descriptor of each goes to its listening socket."""
    names = list(services)
    if not names:
        return {}
    spare = max(0, limit - in_use - PROCESS_RESERVE - len(names))
    total = sum(SHARES[name] for name in names)
    return {name: max(FLOOR, min(CEILINGS[name], spare * SHARES[name] // total)) for name in names}


def per_address(budget: int) -> int:
    """Connections one peer address may hold out of a TLS service's ``budget``: half of it,
    so a single address can never take every slot."""
    return max(1, budget // 2)

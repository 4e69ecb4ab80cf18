"""Many simulated phones booting at once, and what they came to (``phonetrust phone fleet``).

:func:`run_fleet` boots phones with at most ``concurrency`` boots in flight
(workers pulling from one iterator, so a generator of phones is made one at
a time) and folds each :class:`~phonetrust.sim.phone.BootReport` into a
small :class:`PhoneOutcome` and then into a :class:`FleetSummary`: which
ITL and CTL (by MD5, as ``show itl`` prints it) how many phones hold, how
many are locked and why, how many applied their configuration, how many
TVS queries they sent. A boot storm of 10,000 phones must not keep 10,000
console logs: a finished phone's log is dropped unless ``keep_logs`` asks
for it, and outcomes are kept only when ``keep_outcomes`` asks.

A fleet given a ``state_dir`` remembers: each phone's flash (lists, TVS
cache, keys) lives in ``state_dir/SEP<MAC>/`` (:mod:`.storage`'s layout, the
directory ``phone boot --state`` takes), is loaded before its boot and saved
as soon as that boot ends, so a second run boots phones that remember the
first, and memory stays one phone's flash per boot in flight. A directory
that cannot be loaded is that phone's simulator failure, not the fleet's: the
phone does not boot and its directory is left as it was.

The fleet command's work is here too, so that the CLI only parses options
and prints: which devices boot (:func:`cluster_devices`), which node's TFTP
they use (:func:`tftp_node`), and a fleet against a given TFTP server
(:func:`boot_against`) or against the cluster's own nodes served in this
process on free loopback ports, the cluster's addresses routed to them
(:func:`boot_in_process`).

No click, no terminal: the caller gives a ``progress`` callback, or a
:data:`Progress` that opens one when the boots begin.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path

from phonetrust.errors import LocalError
from phonetrust.net.ports import STANDARD_PORTS
from phonetrust.policy.domain import Device, Node, Service
from phonetrust.policy.models import model as phone_model
from phonetrust.service import inventory
from phonetrust.service.changes import reading
from phonetrust.service.context import Context
from phonetrust.sim.console import PhoneLog
from phonetrust.sim.network import Endpoint, Routes, route_services, tftp_address
from phonetrust.sim.phone import BootReport, Phone
from phonetrust.sim.storage import STATE_FILE, StorageError, load, save

DEFAULT_CONCURRENCY = 50
START_TIMEOUT = 300.0
"""Seconds the in-process services may take to load (a large cluster's files)."""
NONE = "none"
"""How the summary names the absence of a list (a non-secure cluster has no CTL)."""


@dataclass(frozen=True, slots=True)
class PhoneOutcome:
    """What one phone's boot came to, small enough to keep for every phone of a fleet."""

    name: str
    model: str
    ctl_md5: str | None = None
    itl_md5: str | None = None
    locked: str | None = None
    """Why the phone is locked, with its own MAC replaced by ``<MAC>`` so reasons group."""
    config_applied: bool = False
    tvs_queries: int = 0
    unanswered: int = 0
    """TFTP requests that got no answer at all (an overloaded or unreachable server)."""
    error: str | None = None
    """An unexpected failure of the simulator itself (the boot did not finish)."""
    console: str | None = None
    """The console log, only when the runner was asked to keep it."""

    @classmethod
    def of(cls, phone: Phone, report: BootReport, *, console: str | None = None) -> PhoneOutcome:
        reason = report.list_failed or report.config_failed
        return cls(
            name=phone.name,
            model=phone.model.name,
            ctl_md5=report.ctl_md5,
            itl_md5=report.itl_md5,
            locked=None if reason is None else reason.replace(phone.mac, "<MAC>"),
            config_applied=report.config_applied,
            tvs_queries=report.tvs_queries,
            unanswered=sum(1 for s in report.steps if s.outcome == "unreachable"),
            console=console,
        )


@dataclass(slots=True)
class FleetSummary:
    """Counts over every phone booted; :meth:`lines` is what ``phone fleet`` prints."""

    phones: int = 0
    itl: Counter[str] = field(default_factory=Counter)
    ctl: Counter[str] = field(default_factory=Counter)
    locked: Counter[str] = field(default_factory=Counter)
    models: Counter[str] = field(default_factory=Counter)
    applied: int = 0
    tvs_queries: int = 0
    unanswered_phones: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    elapsed: float = 0.0
    outcomes: list[PhoneOutcome] = field(default_factory=list)
    """Every phone's outcome, only when the runner was asked to keep them."""

    def add(self, outcome: PhoneOutcome) -> None:
        self.phones += 1
        self.models[outcome.model] += 1
        if outcome.error is not None:
            self.errors[outcome.error] += 1
            return
        self.itl[outcome.itl_md5 or NONE] += 1
        self.ctl[outcome.ctl_md5 or NONE] += 1
        if outcome.locked is not None:
            self.locked[outcome.locked] += 1
        self.applied += outcome.config_applied
        self.tvs_queries += outcome.tvs_queries
        self.unanswered_phones += outcome.unanswered > 0

    @property
    def locked_phones(self) -> int:
        return sum(self.locked.values())

    @property
    def failed_phones(self) -> int:
        return sum(self.errors.values())

    @property
    def rate(self) -> float:
        """Phones booted per second of wall-clock time."""
        return self.phones / self.elapsed if self.elapsed > 0 else 0.0

    def lines(self) -> list[str]:
        """The summary as a person reads it, most common hash first."""
        out = [
            f"Phones booted: {self.phones:,} ("
            + ", ".join(f"{n:,} x {m}" for m, n in sorted(self.models.items()))
            + ")"
        ]
        out.append("ITL (MD5):")
        out.extend(f"  {n:>7,}  {md5}" for md5, n in self.itl.most_common())
        out.append("CTL (MD5):")
        out.extend(f"  {n:>7,}  {md5}" for md5, n in self.ctl.most_common())
        out.append(f"Locked: {self.locked_phones:,}")
        out.extend(f"  {n:>7,}  {why}" for why, n in self.locked.most_common())
        if self.errors:
            out.append(f"Simulator failures: {self.failed_phones:,}")
            out.extend(f"  {n:>7,}  {why}" for why, n in self.errors.most_common())
        out.append(f"Configuration applied: {self.applied:,}")
        out.append(f"TVS queries: {self.tvs_queries:,}")
        if self.unanswered_phones:
            out.append(f"Phones with unanswered TFTP requests: {self.unanswered_phones:,}")
        out.append(f"Elapsed: {self.elapsed:.1f} s ({self.rate:,.1f} phones/s)")
        return out


async def boot_one(
    phone: Phone, *, keep_log: bool = False, flash: Path | None = None
) -> PhoneOutcome:
    """Boot one phone; an exception of the simulator becomes an outcome, not a crash.

    With ``flash`` (the phone's own directory) the phone boots with what it
    holds and saves what it holds after, locked or not: a locked phone's
    state is its old lists. A boot that failed is not saved, nor is one
    cancelled (an interrupted fleet leaves unfinished phones' flash as it was).
    """
    if flash is not None:
        try:
            await asyncio.to_thread(remember, phone, flash)
        except StorageError as exc:
            return PhoneOutcome(phone.name, phone.model.name, error=_failure(phone, exc))
    try:
        report = await phone.boot()
    except Exception as exc:  # noqa: BLE001 - one broken phone must not stop the storm
        outcome = PhoneOutcome(phone.name, phone.model.name, error=_failure(phone, exc))
    else:
        console = phone.log.console_text() if keep_log else None
        outcome = PhoneOutcome.of(phone, report, console=console)
        if flash is not None:
            try:  # in a thread: each file is fsynced, and other phones' timers keep running
                await asyncio.to_thread(save, flash, phone.state, phone.keys)
            except OSError as exc:
                outcome = PhoneOutcome(phone.name, phone.model.name, error=_failure(phone, exc))
    if not keep_log:
        phone.log = PhoneLog()  # a fleet keeps no console logs: memory stays per-phone small
    return outcome


def remember(phone: Phone, flash: Path) -> None:
    """Give ``phone`` the state and keys saved in ``flash``; no saved state: a new phone.

    As ``phone boot --state`` does, a directory without a saved state (missing
    or empty) is a phone fresh from the factory. :class:`StorageError` when
    the directory cannot be loaded, or holds a phone of another model than
    the cluster's device.
    """
    if not (flash / STATE_FILE).exists():
        return
    state, keys = load(flash)
    if state.model.name != phone.model.name:
        raise StorageError(
            f"{flash}: the phone there is model {state.model.name}, the device {phone.model.name}"
        )
    phone.state, phone.keys = state, keys


def _failure(phone: Phone, exc: Exception) -> str:
    """How the summary names a simulator failure; the MAC taken out so failures group."""
    return f"{type(exc).__name__}: {exc}".replace(phone.mac, "<MAC>")


async def run_fleet(
    phones: Iterable[Phone],
    *,
    concurrency: int = DEFAULT_CONCURRENCY,
    progress: Callable[[PhoneOutcome], None] | None = None,
    keep_logs: bool = False,
    keep_outcomes: bool = False,
    state_dir: Path | None = None,
) -> FleetSummary:
    """Boot every phone, at most ``concurrency`` at a time; ``progress`` hears of each one done.

    With ``state_dir`` each phone's flash is ``state_dir/SEP<MAC>/`` (see :func:`boot_one`).
    """
    if concurrency < 1:
        raise ValueError("concurrency must be at least 1")
    summary = FleetSummary()
    source: Iterator[Phone] = iter(phones)

    async def worker() -> None:
        for phone in source:  # one shared iterator: each phone is taken by one worker
            flash = None if state_dir is None else state_dir / phone.name
            outcome = await boot_one(phone, keep_log=keep_logs, flash=flash)
            summary.add(outcome)
            if keep_outcomes:
                summary.outcomes.append(outcome)
            if progress is not None:
                progress(outcome)

    started = time.perf_counter()
    try:
        await asyncio.gather(*(worker() for _ in range(concurrency)))
    finally:
        summary.elapsed = time.perf_counter() - started
    return summary


# -- the fleet command: which phones, which servers -----------------------------------

Progress = Callable[[int], AbstractContextManager[Callable[[PhoneOutcome], None]]]
"""Given how many phones will boot, a context that hears of each one done.

Opened only when the boots begin, so that what a caller prints while the
servers start comes before it.
"""


def cluster_devices(ctx: Context, models: frozenset[str] | None, count: int | None) -> list[Device]:
    """The cluster's devices of ``models`` (all when None), the first ``count`` of them."""
    devices = inventory.list_devices(ctx)
    if models is not None:
        devices = [d for d in devices if phone_model(d.model).name in models]
    which = "" if models is None else " of models " + ", ".join(sorted(models))
    if not devices:
        raise LocalError(f"the cluster has no devices{which}")
    if count is not None:
        if count > len(devices):
            raise LocalError(f"--count {count}: the cluster has only {len(devices)} devices{which}")
        devices = devices[:count]
    return devices


def tftp_node(cluster_nodes: list[Node], wanted: str | None) -> Node:
    """The node whose TFTP the phones use: ``wanted``, else the publisher, else the first."""
    tftp_nodes = [n for n in cluster_nodes if n.runs(Service.TFTP)]
    if wanted is not None:
        for n in cluster_nodes:
            if n.host.lower() == wanted.lower():
                if not n.runs(Service.TFTP):
                    raise LocalError(f"--node {n.host}: that node does not run TFTP")
                return n
        known = ", ".join(n.host for n in cluster_nodes) or "none"
        raise LocalError(f"--node {wanted}: unknown node (nodes: {known})")
    for n in tftp_nodes:
        if n.publisher:
            return n
    if not tftp_nodes:
        raise LocalError("no node of the cluster runs TFTP")
    return tftp_nodes[0]


def phones_for(
    devices: list[Device], tftp: Endpoint, routes: Routes, timeout: float
) -> Iterator[Phone]:
    """Made one at a time as the runner takes them: a fleet holds only the phones in flight."""
    for device in devices:
        yield Phone(
            device.name,
            phone_model(device.model),
            tftp,
            routes=routes,
            timeout=timeout,
            tvs_timeout=timeout,
        )


async def _boot(
    devices: list[Device],
    tftp: Endpoint,
    routes: Routes,
    *,
    concurrency: int,
    timeout: float,
    progress: Progress,
    state_dir: Path | None,
) -> FleetSummary:
    with progress(len(devices)) as done:
        phones = phones_for(devices, tftp, routes, timeout)
        return await run_fleet(phones, concurrency=concurrency, progress=done, state_dir=state_dir)


async def boot_against(
    tftp: Endpoint,
    devices: list[Device],
    routes: Routes,
    *,
    concurrency: int,
    timeout: float,
    progress: Progress,
    state_dir: Path | None = None,
) -> FleetSummary:
    """Boot ``devices`` against a TFTP server that is already running."""
    address = tftp_address(tftp[0], tftp[1], routes)
    return await _boot(
        devices,
        (address, tftp[1]),
        routes,
        concurrency=concurrency,
        timeout=timeout,
        progress=progress,
        state_dir=state_dir,
    )


async def boot_in_process(
    ctx: Context,
    devices: list[Device],
    *,
    node: str | None,
    routes: Routes,
    concurrency: int,
    timeout: float,
    tftp_dir: Path,
    progress: Progress,
    announce: Callable[[str], None] = lambda _: None,
    state_dir: Path | None = None,
) -> FleetSummary:
    """Serve every node of the cluster here on free ports, route the cluster's addresses to them.

    The phones use ``node``'s TFTP (see :func:`tftp_node`); Ctrl-C (SIGINT,
    SIGTERM) stops the fleet, then the servers, and ends in a
    :class:`~phonetrust.errors.LocalError`.
    """
    from phonetrust.net.serve import ServeOptions, serving  # noqa: PLC0415 - servers

    def nodes() -> list[Node]:
        with reading(ctx) as uow:
            return uow.list_nodes()

    # The servers' periodic alerts (back up ITLRecovery, ...) are not the fleet's business.
    logging.getLogger("phonetrust.serve").setLevel(logging.ERROR)
    cluster_nodes = await asyncio.to_thread(nodes)
    phones_use = tftp_node(cluster_nodes, node)
    served = [n for n in cluster_nodes if n.services & {Service.TFTP, Service.TVS, Service.CAPF}]
    loop = asyncio.get_running_loop()
    announce(f"Starting the services of {len(served)} node(s)...")
    async with contextlib.AsyncExitStack() as servers:
        for each in served:
            options = ServeOptions(
                node=each.host,
                tftp_port=0,
                tvs_port=0,
                capf_port=0,
                https_port=0,
                tftp_dir=tftp_dir,
            )
            running = await servers.enter_async_context(
                serving(ctx, options, start_timeout=START_TIMEOUT)
            )
            routes = route_services(routes, (each.host, str(each.ip)), running.ports)
        interrupted = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):  # Ctrl-C stops the fleet, then the servers
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(sig, interrupted.set)
        try:
            tftp = (str(phones_use.ip), STANDARD_PORTS["tftp"])
            fleet_task = asyncio.create_task(
                _boot(
                    devices,
                    tftp,
                    routes,
                    concurrency=concurrency,
                    timeout=timeout,
                    progress=progress,
                    state_dir=state_dir,
                )
            )
            waiter = asyncio.create_task(interrupted.wait())
            await asyncio.wait({fleet_task, waiter}, return_when=asyncio.FIRST_COMPLETED)
            waiter.cancel()
            if not fleet_task.done():
                fleet_task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await fleet_task
                raise LocalError("interrupted")
            return fleet_task.result()
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                    loop.remove_signal_handler(sig)

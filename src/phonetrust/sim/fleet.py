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

No click, no terminal: the caller gives a ``progress`` callback.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from phonetrust.sim.console import PhoneLog
from phonetrust.sim.phone import BootReport, Phone

DEFAULT_CONCURRENCY = 50
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


async def boot_one(phone: Phone, *, keep_log: bool = False) -> PhoneOutcome:
    """Boot one phone; an exception of the simulator becomes an outcome, not a crash."""
    try:
        report = await phone.boot()
    except Exception as exc:  # noqa: BLE001 - one broken phone must not stop the storm
        outcome = PhoneOutcome(phone.name, phone.model.name, error=f"{type(exc).__name__}: {exc}")
    else:
        console = phone.log.console_text() if keep_log else None
        outcome = PhoneOutcome.of(phone, report, console=console)
    if not keep_log:
        phone.log = PhoneLog()  # a fleet keeps no console logs: memory stays per-phone small
    return outcome


async def run_fleet(
    phones: Iterable[Phone],
    *,
    concurrency: int = DEFAULT_CONCURRENCY,
    progress: Callable[[PhoneOutcome], None] | None = None,
    keep_logs: bool = False,
    keep_outcomes: bool = False,
) -> FleetSummary:
    """Boot every phone, at most ``concurrency`` at a time; ``progress`` hears of each one done."""
    if concurrency < 1:
        raise ValueError("concurrency must be at least 1")
    summary = FleetSummary()
    source: Iterator[Phone] = iter(phones)

    async def worker() -> None:
        for phone in source:  # one shared iterator: each phone is taken by one worker
            outcome = await boot_one(phone, keep_log=keep_logs)
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

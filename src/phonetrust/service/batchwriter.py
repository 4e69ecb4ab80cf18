"""Many small database jobs from many threads, written in few transactions by one thread.

A server that records a result per session (CAPF) would spend most of its
database time opening and committing transactions, one per result, and
its sessions would contend for SQLite's one writer. A :class:`BatchWriter`
runs every job on one thread instead, and gathers what arrives within
``window`` seconds of the first waiting job (or while the previous batch
committed) into one transaction, at most ``max_batch`` jobs.

Rules, in the order they apply to a batch:

- each job runs inside the batch's transaction; a job that raises a
  :class:`~phonetrust.errors.PhonetrustError` fails alone, and the batch
  goes on and commits;
- if the transaction itself fails (the commit, or anything else), each of
  its jobs is tried again in a transaction of its own, so that one bad job
  fails only itself; a job that fails alone may be tried once more in the
  lesser form its owner's ``fallback`` gives (CAPF: without republishing
  the file plan), then its future gets the error;
- a job's ``cleanup`` runs before its future is settled, whatever the
  outcome, so that whoever waits on the future sees the cleanup done;
- when nothing has been waiting for ``idle_after()`` seconds (None: never),
  ``idle()`` runs on the same thread (CAPF republishes the file plan).

Time comes from ``clock``, so a test drives the writer without a thread
(``threaded=False``): it submits, moves a fake clock, and calls
:meth:`BatchWriter.pump`, which runs what is due and says when more is.
With a thread, the thread does just that: pump, then sleep until the next
deadline or until a job arrives.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from phonetrust.clock import Clock
from phonetrust.errors import LocalError, PhonetrustError

T = TypeVar("T")


class BatchWriterClosed(LocalError):
    """Work was submitted after :meth:`BatchWriter.close`."""


class MonotonicClock:
    """Seconds that only go forward: what batching windows and idle delays are measured in."""

    def now(self) -> float:
        return time.monotonic()


@dataclass(slots=True)
class Job(Generic[T]):
    """One piece of work and the future that receives its value or its error."""

    run: Callable[[T], Any]
    future: Future[Any]
    options: Any = None
    """Whatever the owner's transaction factory reads from its jobs (CAPF: publish the plan)."""
    cleanup: Callable[[], None] | None = None
    arrived: float = 0.0


@dataclass(eq=False)
class BatchWriter(Generic[T]):
    """Runs submitted jobs in batched transactions on one thread (or when pumped)."""

    transaction: Callable[[Sequence[Job[T]]], AbstractContextManager[T]]
    """Opens the transaction a batch runs in (it may read the jobs' ``options``)."""
    clock: Clock = field(default_factory=MonotonicClock)
    window: float = 0.002
    max_batch: int = 500
    fallback: Callable[[Job[T]], Job[T] | None] | None = None
    """The lesser form of a job whose transaction failed alone (None: none)."""
    failure: Callable[[Exception], Exception] | None = None
    """What a job's future gets when its transaction failed alone (None: the error itself)."""
    idle: Callable[[], None] | None = None
    idle_after: Callable[[], float | None] | None = None
    name: str = "batch-writer"
    threaded: bool = True
    _pending: deque[Job[T]] = field(init=False, default_factory=deque)
    _cond: threading.Condition = field(init=False, default_factory=threading.Condition)
    _kick: bool = field(init=False, default=False)
    _stopping: bool = field(init=False, default=False)
    _thread: threading.Thread | None = field(init=False, default=None)
    _quiet_since: float = field(init=False, default=0.0)

    def __post_init__(self) -> None:
        if self.max_batch < 1 or self.window < 0:
            raise LocalError("a batch writer needs max_batch >= 1 and window >= 0")
        self._quiet_since = self.clock.now()

    # -- what the owner calls ---------------------------------------------------------------
    def submit(
        self,
        run: Callable[[T], Any],
        *,
        options: Any = None,
        cleanup: Callable[[], None] | None = None,
    ) -> Future[Any]:
        """Queue ``run``; the future resolves to what it returns, once its batch committed."""
        future: Future[Any] = Future()
        job = Job(run, future, options, cleanup, self.clock.now())
        with self._cond:
            if self._stopping:
                raise BatchWriterClosed(f"{self.name} is closed")
            self._pending.append(job)
            if len(self._pending) in (1, self.max_batch):  # a deadline to set, or a full batch
                self._kick = True
                self._cond.notify()
            if self.threaded and self._thread is None:
                self._thread = threading.Thread(target=self._loop, name=self.name, daemon=True)
                self._thread.start()
        return future

    def flush(self) -> None:
        """Wait until everything submitted so far is committed (with a thread)."""
        self.submit(lambda _txn: None).result()

    def close(self) -> None:
        """Run what is queued, then stop; later submissions raise :class:`BatchWriterClosed`."""
        with self._cond:
            self._stopping = True
            self._kick = True
            self._cond.notify()
            thread = self._thread
        if thread is not None:
            thread.join()
        else:
            self.pump()

    def pump(self) -> float | None:
        """Run every batch that is due, then idle work if it is due.

        Returns the seconds until something else is due (None: nothing waits)."""
        while True:
            now = self.clock.now()
            with self._cond:
                if self._pending:
                    deadline = self._pending[0].arrived + self.window
                    full = len(self._pending) >= self.max_batch
                    if not (full or self._stopping or now >= deadline):
                        return deadline - now
                    count = min(len(self._pending), self.max_batch)
                    batch = [self._pending.popleft() for _ in range(count)]
                else:
                    batch = []
            if not batch:
                return self._idle_due(now)
            self._run(batch)
            self._quiet_since = self.clock.now()

    # -- the thread ----------------------------------------------------------------------------
    def _loop(self) -> None:
        while True:
            delay = self.pump()
            with self._cond:
                if self._stopping and not self._pending:
                    return
                if not self._kick:
                    self._cond.wait(delay)
                self._kick = False

    def _idle_due(self, now: float) -> float | None:
        wait = self.idle_after() if self.idle_after is not None else None
        if wait is None or self.idle is None or self._stopping:
            return None
        due = self._quiet_since + wait
        if now < due:
            return due - now
        self.idle()
        self._quiet_since = self.clock.now()
        return self.idle_after() if self.idle_after is not None else None

    # -- batches -------------------------------------------------------------------------------
    def _run(self, batch: list[Job[T]]) -> None:
        """Each batch in one transaction; what failed as a whole, job by job (no recursion)."""
        todo: deque[list[Job[T]]] = deque([batch])
        while todo:
            jobs = todo.popleft()
            error = self._attempt(jobs)
            if error is None:
                continue
            if len(jobs) > 1:
                todo.extend([job] for job in jobs)
                continue
            lesser = self.fallback(jobs[0]) if self.fallback is not None else None
            if lesser is not None:
                todo.append([lesser])
                continue
            failure = self.failure(error) if self.failure is not None else error
            self._settle(jobs[0], None, failure)

    def _attempt(self, jobs: list[Job[T]]) -> Exception | None:
        """Run ``jobs`` in one transaction and settle them; the transaction's error if it failed."""
        done: list[tuple[Job[T], Any, BaseException | None]] = []
        try:
            with self.transaction(jobs) as txn:
                for job in jobs:
                    try:
                        done.append((job, job.run(txn), None))
                    except PhonetrustError as exc:  # the job's own failure: the batch goes on
                        done.append((job, None, exc))
        except Exception as exc:  # noqa: BLE001 - a failed transaction fails its jobs only
            return exc
        for job, value, error in done:
            self._settle(job, value, error)
        return None

    @staticmethod
    def _settle(job: Job[T], value: Any, error: BaseException | None) -> None:
        if job.cleanup is not None:
            job.cleanup()
        if error is not None:
            job.future.set_exception(error)
        else:
            job.future.set_result(value)

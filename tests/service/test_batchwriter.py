"""The batch writer, driven by hand with a fake clock: no thread, no sleep, no database.

A "store" here is a list of committed transactions, each the list of what
its jobs wrote; a transaction whose jobs include one marked ``poison``
fails at its commit, as a constraint would.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import pytest

from phonetrust.errors import LocalError
from phonetrust.service.batchwriter import BatchWriter, BatchWriterClosed, Job
from phonetrust.testing.clock import FakeClock

Txn = list[str]


class Store:
    def __init__(self) -> None:
        self.committed: list[Txn] = []
        self.failed = 0

    @contextmanager
    def transaction(self, jobs: Sequence[Job[Txn]]) -> Iterator[Txn]:
        txn: Txn = []
        yield txn
        if any(job.options == "poison" for job in jobs):
            self.failed += 1
            raise RuntimeError("constraint failed")
        self.committed.append(txn)


def write(text: str) -> Callable[[Txn], str]:
    def run(txn: Txn) -> str:
        txn.append(text)
        return text

    return run


def writer(store: Store, clock: FakeClock, **options: Any) -> BatchWriter[Txn]:
    return BatchWriter(store.transaction, clock=clock, threaded=False, **options)


def test_jobs_within_the_window_share_one_transaction() -> None:
    store, clock = Store(), FakeClock(0.0)
    w = writer(store, clock, window=0.002)
    futures = [w.submit(write(t)) for t in "abc"]
    assert w.pump() == pytest.approx(0.002)
    assert store.committed == []
    clock.advance(0.001)
    futures.append(w.submit(write("d")))  # the window counts from the first waiting job
    assert w.pump() == pytest.approx(0.001)
    clock.advance(0.001)
    assert w.pump() is None
    assert store.committed == [["a", "b", "c", "d"]]
    assert [f.result(0) for f in futures] == ["a", "b", "c", "d"]


def test_a_full_batch_does_not_wait_for_the_window() -> None:
    store, clock = Store(), FakeClock(0.0)
    w = writer(store, clock, max_batch=2)
    for t in "abcde":
        w.submit(write(t))
    assert w.pump() == pytest.approx(0.002)  # "e" waits for its window
    assert store.committed == [["a", "b"], ["c", "d"]]
    clock.advance(0.002)
    w.pump()
    assert store.committed[-1] == ["e"]


def test_a_job_that_fails_fails_alone_and_the_batch_commits() -> None:
    store, clock = Store(), FakeClock(0.0)
    w = writer(store, clock)

    def broken(_txn: Txn) -> None:
        raise LocalError("device removed")

    good, bad = w.submit(write("a")), w.submit(broken)
    clock.advance(1)
    w.pump()
    assert good.result(0) == "a"
    with pytest.raises(LocalError, match="device removed"):
        bad.result(0)
    assert store.committed == [["a"]]


def test_a_failed_transaction_is_retried_job_by_job() -> None:
    store, clock = Store(), FakeClock(0.0)
    w = writer(store, clock, failure=lambda exc: LocalError(f"store: {exc}"))
    jobs = [w.submit(write(str(i)), options="poison" if i == 3 else None) for i in range(400)]
    clock.advance(1)
    w.pump()
    with pytest.raises(LocalError, match="store: constraint failed"):
        jobs[3].result(0)
    assert all(f.result(0) == str(i) for i, f in enumerate(jobs) if i != 3)
    assert len(store.committed) == 399  # each alone once the batch failed
    assert store.failed == 2  # the batch, then the poisoned job alone


def test_a_lone_failure_gets_its_lesser_form() -> None:
    store, clock = Store(), FakeClock(0.0)

    def fallback(job: Job[Txn]) -> Job[Txn] | None:
        return Job(job.run, job.future, None, job.cleanup) if job.options else None

    w = writer(store, clock, fallback=fallback)
    future = w.submit(write("a"), options="poison")
    clock.advance(1)
    w.pump()
    assert future.result(0) == "a"
    assert store.committed == [["a"]]


def test_cleanup_runs_before_the_future_is_settled() -> None:
    store, clock = Store(), FakeClock(0.0)
    w = writer(store, clock)
    order: list[str] = []
    future = w.submit(write("a"), cleanup=lambda: order.append("cleanup"))
    future.add_done_callback(lambda _f: order.append("settled"))
    failing = w.submit(write("b"), options="poison", cleanup=lambda: order.append("cleanup b"))
    clock.advance(1)
    w.pump()
    assert order == ["cleanup", "settled", "cleanup b"]
    assert failing.exception(0) is not None


def test_idle_work_runs_after_quiet_and_not_before() -> None:
    store, clock = Store(), FakeClock(0.0)
    ran: list[float] = []
    due = {"wait": 1.0}
    w = writer(
        store,
        clock,
        idle=lambda: ran.append(clock.now()),
        idle_after=lambda: due["wait"],
    )
    w.submit(write("a"))
    clock.advance(0.002)
    assert w.pump() == pytest.approx(1.0)  # the batch ran; idle work is a second away
    clock.advance(0.5)
    assert w.pump() == pytest.approx(0.5)
    assert ran == []
    due["wait"] = None  # type: ignore[assignment]
    clock.advance(0.5)
    assert w.pump() is None  # nothing to do any more
    assert ran == []
    due["wait"] = 0.5
    clock.advance(0.1)
    assert w.pump() == pytest.approx(0.5)  # idle work ran; the next is due after more quiet
    assert ran == [clock.now()]


def test_close_runs_what_waits_and_refuses_more() -> None:
    store, clock = Store(), FakeClock(0.0)
    w = writer(store, clock)
    future = w.submit(write("a"))
    w.close()  # no need to wait for the window
    assert future.result(0) == "a"
    with pytest.raises(BatchWriterClosed):
        w.submit(write("b"))


def test_with_its_thread_every_job_from_every_thread_is_written() -> None:
    store = Store()
    w: BatchWriter[Txn] = BatchWriter(store.transaction, name="test-writer")
    futures = []
    lock = threading.Lock()

    def client(n: int) -> None:
        for i in range(50):
            f = w.submit(write(f"{n}-{i}"))
            with lock:
                futures.append(f)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    w.flush()
    expected = sorted(f"{n}-{i}" for n in range(4) for i in range(50))
    assert sorted(f.result(5) for f in futures) == expected
    assert sum(len(t) for t in store.committed) == 200
    assert len(store.committed) < 200  # batched
    w.close()

"""Login throttling per address (per user it is the store's failure count, every node's).

An address that sends MAX_FAILURES wrong tries within WINDOW seconds is
refused for the rest of the window whatever name it tries next, so one
client cannot walk through user names either. In memory: a restart forgets
it, but not the per-user lock, which is in the database.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass

WINDOW = 15 * 60
MAX_FAILURES = 10


@dataclass(frozen=True, slots=True)
class Attempt:
    address: str
    at: float
    wait: float
    """Seconds to wait: the try was refused without being counted (0: it may go on)."""
    last: bool
    """This try was the last one the window allows: if it fails, the address is refused."""


class Throttle:
    def __init__(self, *, max_failures: int = MAX_FAILURES, window: float = WINDOW) -> None:
        self.max_failures = max_failures
        self.window = window
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def blocked_for(self, address: str, now: float) -> float:
        """Seconds until ``address`` may try again (0: it may now)."""
        with self._lock:
            return self._wait(self._recent(address, now), now)

    def attempt(self, address: str, now: float) -> Attempt:
        """Check and count one try in one step, before the secret is looked at.

        Counted first, so that a burst of concurrent tries cannot all pass the
        check before any of them is counted as failed; a right answer then
        takes its count back (:meth:`succeeded`)."""
        with self._lock:
            times = self._recent(address, now)
            wait = self._wait(times, now)
            if wait:
                return Attempt(address, now, wait, last=False)
            times.append(now)
            if len(self._failures) > 100_000:  # a spread-out flood: keep memory bounded
                self._failures.clear()
                self._failures[address] = times
            return Attempt(address, now, 0.0, last=len(times) == self.max_failures)

    def succeeded(self, attempt: Attempt) -> None:
        """The try was right: it does not count (earlier wrong ones still do, until they age:
        a user with a login of their own cannot wipe the count they ran up guessing)."""
        with self._lock:
            times = self._failures.get(attempt.address)
            if times is not None and attempt.at in times:
                times.remove(attempt.at)

    def _wait(self, times: deque[float], now: float) -> float:
        if len(times) < self.max_failures:
            return 0.0
        return max(times[-self.max_failures] + self.window - now, 1.0)

    def _recent(self, address: str, now: float) -> deque[float]:
        times = self._failures.setdefault(address, deque(maxlen=self.max_failures))
        while times and times[0] < now - self.window:
            times.popleft()
        return times

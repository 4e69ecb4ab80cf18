"""Login throttling per address (per user it is the store's failure count, every node's).

An address that sends MAX_FAILURES wrong logins within WINDOW seconds is
refused for the rest of the window whatever name it tries next, so one
client cannot walk through user names either. In memory: a restart forgets
it, but not the per-user lock, which is in the database.
"""

from __future__ import annotations

import threading
from collections import deque

WINDOW = 15 * 60
MAX_FAILURES = 10


class Throttle:
    def __init__(self, *, max_failures: int = MAX_FAILURES, window: float = WINDOW) -> None:
        self.max_failures = max_failures
        self.window = window
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def blocked_for(self, address: str, now: float) -> float:
        """Seconds until ``address`` may try again (0: it may now)."""
        with self._lock:
            times = self._recent(address, now)
            if len(times) < self.max_failures:
                return 0.0
            return max(times[-self.max_failures] + self.window - now, 1.0)

    def failed(self, address: str, now: float) -> bool:
        """Count a wrong login; True when this one blocks the address."""
        with self._lock:
            times = self._recent(address, now)
            times.append(now)
            if len(self._failures) > 100_000:  # a spread-out flood: keep memory bounded
                self._failures.clear()
                self._failures[address] = times
            return len(times) == self.max_failures

    def succeeded(self, address: str) -> None:
        with self._lock:
            self._failures.pop(address, None)

    def _recent(self, address: str, now: float) -> deque[float]:
        times = self._failures.setdefault(address, deque(maxlen=self.max_failures))
        while times and times[0] < now - self.window:
            times.popleft()
        return times

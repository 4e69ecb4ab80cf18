"""Time is an argument.

The core never reads the system clock: trust decisions, timestamps in
signed headers, TVS cache expiry and the regeneration hold all take ``now``
so that tests can move time at will. Only the outermost layers (CLI,
servers) hold a :class:`SystemClock`.
"""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    """Anything that can tell the current Unix time in seconds."""

    def now(self) -> float:
        """Seconds since the Unix epoch."""
        ...


class SystemClock:
    """The real wall clock, for the edges of the program only."""

    def now(self) -> float:
        return time.time()


class ShiftedClock:
    """Another clock, ``offset`` seconds ahead: the planner's copy of a cluster lives
    ahead of the wall clock by the reboots it plans."""

    def __init__(self, base: Clock, offset: float) -> None:
        self.base, self.offset = base, offset

    def now(self) -> float:
        return self.base.now() + self.offset

"""The console lines a phone's trust decisions produce, worded as real phones word them.

A real phone's console log (its web page, "Console Logs") reads::

    1244: NOT 15:20:59.529938 SECD: srvr_cert_vfy: Server Certificate Validation needs to be done
    1215: ERR 15:20:59.431314 SECD: EROR:https_cert_vfy: HTTPS cert not in CTL, <14.48.44.80>

A decision's lines are part of its outcome (an administrator compares them
with a real phone's log), so they are made here, beside the rules, as
values without a time: whoever records them knows ``now`` and stamps them
(``phonetrust.sim.console.PhoneLog``). Nothing here reads a clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum


class Level(Enum):
    NOTICE = "NOT"
    WARNING = "WRN"
    ERROR = "ERR"


@dataclass(frozen=True, slots=True)
class ConsoleLine:
    """One console line without its time: level, process (``SECD``, ``tftpClient``) and text."""

    level: Level
    process: str
    text: str

    def format(self, now: float) -> str:
        """``NOT 15:20:59.529938 SECD: text``."""
        return f"{self.level.value} {clock_text(now)} {self.process}: {self.text}"


def clock_text(now: float) -> str:
    """Time of day with microseconds, as console lines print it (UTC)."""
    return datetime.fromtimestamp(now, UTC).strftime("%H:%M:%S.%f")


def secd(text: str) -> ConsoleLine:
    """A notice of the security daemon (``SECD``), the process that judges trust."""
    return ConsoleLine(Level.NOTICE, "SECD", text)


def secd_error(text: str) -> ConsoleLine:
    """An error of ``SECD``; the phone prefixes the text with ``EROR:``."""
    return ConsoleLine(Level.ERROR, "SECD", f"EROR:{text}")


def secd_important(text: str) -> ConsoleLine:
    """A success the phone logs at ERR level (``ERR ... SECD: Authenticated the HTTPS ...``)."""
    return ConsoleLine(Level.ERROR, "SECD", text)


def tftp_client(text: str) -> ConsoleLine:
    return ConsoleLine(Level.NOTICE, "tftpClient", text)

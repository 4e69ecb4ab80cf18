"""The phone's console log and status messages, as the reference documents quote them.

A real phone's console log (its web page, "Console Logs") reads::

    1244: NOT 15:20:59.529938 SECD: srvr_cert_vfy: Server Certificate Validation needs to be done
    1215: ERR 15:20:59.431314 SECD: EROR:https_cert_vfy: HTTPS cert not in CTL, <14.48.44.80>

and its status messages (Settings > Status > Status Messages)::

    16:01:16 Trust List Updated

Decisions produce :class:`ConsoleLine` values without a time; whoever
records them (the I/O layer, which knows ``now``) stamps them, here with
:class:`PhoneLog`. Times print as UTC time of day. Nothing here reads a
clock or touches a file.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum

MAX_CONSOLE_LINES = 2000
"""Lines a :class:`PhoneLog` keeps; older ones scroll away, as on a phone."""

MAX_STATUS_MESSAGES = 30
"""Status messages a :class:`PhoneLog` keeps (the phone's list is short too)."""


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


def status_clock_text(now: float) -> str:
    """Time of day to the second, as status messages print it (UTC)."""
    return datetime.fromtimestamp(now, UTC).strftime("%H:%M:%S")


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


# -- lines the I/O layer writes around a decision -------------------------------


def tftp_requesting(transfer: int, filename: str, server: str) -> ConsoleLine:
    """``TFTP: [27]:Requesting CTLSEP0011215A1AE3.tlv from 14.48.44.80``."""
    return ConsoleLine(Level.NOTICE, "TFTP", f"[{transfer}]:Requesting {filename} from {server}")


def tftp_finished(transfer: int, size: int) -> ConsoleLine:
    """``TFTP: [27]:Finished --> rcvd 4762 bytes``."""
    return ConsoleLine(Level.NOTICE, "TFTP", f"[{transfer}]:Finished --> rcvd {size} bytes")


def tl_request_file(filename: str) -> ConsoleLine:
    """``SECD: tlRequestFile: Request CTLSEP0011215A1AE3.tlv``."""
    return secd(f"tlRequestFile: Request {filename}")


def tvs_connecting(address: str, port: int) -> ConsoleLine:
    """The TLS connection to a TVS server being opened (port 2445 by default)."""
    default = " (default)" if port == 2445 else ""
    return secd(
        "connectToTvsServer: Successfully started a TLS connection establishment to the "
        f"TVS server: IP:{address}, port:{port}{default}; Waiting for it to get connected."
    )


# -- the record ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StatusMessage:
    at: float
    text: str

    def format(self) -> str:
        """``16:01:16 Trust List Updated``."""
        return f"{status_clock_text(self.at)} {self.text}"


@dataclass(frozen=True, slots=True)
class StampedLine:
    number: int
    at: float
    line: ConsoleLine

    def format(self) -> str:
        """``1244: NOT 15:20:59.529938 SECD: ...``."""
        return f"{self.number}: {self.line.format(self.at)}"


@dataclass(frozen=True, slots=True)
class PhoneLog:
    """A phone's console log and status messages, bounded; an immutable value."""

    console: tuple[StampedLine, ...] = ()
    status: tuple[StatusMessage, ...] = ()
    next_number: int = 1

    def record(
        self, now: float, console: tuple[ConsoleLine, ...] = (), status: tuple[str, ...] = ()
    ) -> PhoneLog:
        """This log with ``console`` lines and ``status`` messages added at ``now``."""
        stamped = tuple(
            StampedLine(self.next_number + i, now, line) for i, line in enumerate(console)
        )
        return PhoneLog(
            console=(self.console + stamped)[-MAX_CONSOLE_LINES:],
            status=(self.status + tuple(StatusMessage(now, s) for s in status))[
                -MAX_STATUS_MESSAGES:
            ],
            next_number=self.next_number + len(console),
        )

    def console_text(self) -> str:
        return "".join(line.format() + "\n" for line in self.console)

    def status_text(self) -> str:
        return "".join(message.format() + "\n" for message in self.status)

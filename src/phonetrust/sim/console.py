"""The phone's console log and status messages, as the reference documents quote them.

Its status messages (Settings > Status > Status Messages) read::

    16:01:16 Trust List Updated

Decisions produce :class:`~phonetrust.policy.phone_console.ConsoleLine`
values without a time; the simulator, which knows ``now``, stamps them
into a :class:`PhoneLog`, with the lines it writes itself around a
decision (TFTP requests, TVS connections). Times print as UTC time of
day. Nothing here reads a clock or touches a file.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from phonetrust.policy.phone_console import ConsoleLine, Level, secd

MAX_CONSOLE_LINES = 2000
"""Lines a :class:`PhoneLog` keeps; older ones scroll away, as on a phone."""

MAX_STATUS_MESSAGES = 30
"""Status messages a :class:`PhoneLog` keeps (the phone's list is short too)."""


def status_clock_text(now: float) -> str:
    """Time of day to the second, as status messages print it (UTC)."""
    return datetime.fromtimestamp(now, UTC).strftime("%H:%M:%S")


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

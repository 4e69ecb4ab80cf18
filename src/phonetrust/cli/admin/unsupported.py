"""CUCM commands phonetrust does not have, each answered by one line saying so.

The troubleshooting guides mix trust commands with platform ones
(``utils network capture``, ``utils dbreplication``, ``show network``);
an administrator following one must learn at once that phonetrust leaves
that step to the host, and what to use instead, rather than read
"Invalid command" and wonder whether it was mistyped. The line is an
error (the command did not run), so ``-c`` and piped use exit non-zero as
for any refused command.
"""

from __future__ import annotations

from collections.abc import Callable

from phonetrust.cli.admin.grammar import Command
from phonetrust.cli.admin.session import Session
from phonetrust.errors import LocalError


class NotInPhonetrust(LocalError):
    """A CUCM command that phonetrust does not have."""


def _refuse(words: tuple[str, ...], instead: str) -> Callable[[Session, list[str]], None]:
    def run(_s: Session, _args: list[str]) -> None:
        raise NotInPhonetrust(f"{' '.join(words)}: not available in phonetrust ({instead})")

    return run


_NOT_HERE: tuple[tuple[tuple[str, ...], str], ...] = (
    (("utils", "network", "capture"), "use tcpdump on the host"),
    (("utils", "network", "ping"), "use ping on the host"),
    (("utils", "network", "traceroute"), "use traceroute on the host"),
    (("utils", "network", "arp"), "use ip neigh on the host"),
    (("utils", "network"), "use the host's network tools"),
    (
        ("utils", "dbreplication"),
        "every node reads the one cluster database; replicate PostgreSQL with its own tools",
    ),
    (
        ("utils", "diagnose"),
        "the doctor is not built yet: use show itl, show ctl and the traces in the active log",
    ),
    (("utils", "core"), "use the host's core dump tools"),
    (("utils", "ntp"), "the host keeps the time: use chronyc or timedatectl"),
    (("utils", "os"), "use the host's own administration"),
    (("utils", "system", "upgrade"), "upgrade the phonetrust package instead"),
    (("show", "network"), "use ip addr and ss on the host"),
    (("show", "status"), "use the host's tools (uptime, free, df)"),
    (("show", "hardware"), "use the host's tools (lscpu, lshw)"),
    (("show", "version"), "run phonetrust --version"),
    (("set", "network"), "configure the network on the host"),
    (("file", "view"), "only 'file view activelog PATH' is available"),
    (("file", "tail"), "only 'file tail activelog PATH' is available"),
    (("file", "dump"), "only the activelog area is available: 'file view activelog PATH'"),
    (("file", "search"), "use grep under DATA/activelog on the host"),
)

COMMANDS: tuple[Command, ...] = tuple(
    Command(words, (), f"not in phonetrust: {instead}", _refuse(words, instead), rest=True)
    for words, instead in _NOT_HERE
)
"""Each takes whatever follows its words (CUCM's take many arguments) and refuses it."""

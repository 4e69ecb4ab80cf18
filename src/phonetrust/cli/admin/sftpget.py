"""CUCM's ``file get`` dialogue: what would be sent, a confirmation, the SFTP questions.

Every ``file get`` area (``tftp ITLRecovery.p12``, ``activelog PATH``) asks
the same questions in the same order, so that an administrator's answers
(and scripts feeding them) carry over from one to the other; one function
asks them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from phonetrust.cli.admin.session import Session
from phonetrust.errors import LocalError


def host_question(s: Session) -> Callable[[str, str], bool]:
    """OpenSSH's question about an unknown host key, asked through the session."""

    def ask(label: str, fingerprint: str) -> bool:
        s.say(
            f"The authenticity of host '{label}' can't be established.",
            f"RSA key fingerprint is {fingerprint}.",
        )
        return s.prompts.confirm(
            "Are you sure you want to continue connecting (yes/no)? ", yes="yes"
        )

    return ask


@dataclass(frozen=True)
class Destination:
    """Where the administrator said to upload to."""

    server: str
    port: int
    user: str
    password: str = field(repr=False)
    directory: str

    @property
    def where(self) -> str:
        """``user@server:port:directory``, as the audit records an export."""
        return f"{self.user}@{self.server}:{self.port}:{self.directory}"


Files = Sequence[tuple[str, bytes]]


def ask(s: Session, files: Files) -> Destination | None:
    """Say what would be sent, confirm, and ask where to; None when the answer is no."""
    total = sum(len(data) for _, data in files)
    s.say(
        "Please wait while the system is gathering files info ...done.",
        "Sub-directories were not traversed.",
        f"Number of files affected: {len(files)}",
        f"Total size in Bytes: {total}",
        f"Total size in Kbytes: {total / 1024:.7g}",
    )
    if not s.prompts.confirm("Would you like to proceed [y/n]? "):
        return None
    server = s.prompts.ask("SFTP server IP: ")
    port = s.prompts.ask("SFTP server port [22]: ", "22")
    if not port.isdigit():
        raise LocalError(f"invalid port {port!r}")
    user = s.prompts.ask("User ID: ")
    password = s.prompts.secret("Password: ")
    directory = s.prompts.ask("Download directory: ")
    return Destination(server, int(port), user, password, directory)


def send(s: Session, to: Destination, files: Files) -> None:
    """Upload ``files`` to ``to``; raises as :func:`phonetrust.net.sftp.upload` does."""
    from phonetrust.net import sftp  # noqa: PLC0415 - paramiko loads only to send a file

    for name, data in files:
        sftp.upload(
            to.server,
            to.port,
            to.user,
            to.password,
            to.directory,
            name,
            data,
            known_hosts=s.where.root / "known_hosts",
            accept_new_host=host_question(s),
        )


def completed(s: Session, origin: str | Path, names: Sequence[str]) -> None:
    """CUCM's closing lines; ``origin`` is the directory the files are from."""
    base = str(origin).rstrip("/")
    s.say("", "Transfer completed.", "", *(f"Downloading file: {base}/{n}" for n in names))


def upload(s: Session, files: Files, origin: str | Path) -> Destination | None:
    """The whole dialogue: :func:`ask`, :func:`send`, :func:`completed`.

    None when the administrator answers no (nothing was sent); an SFTP
    failure raises. A caller that must record the outcome (the ITLRecovery
    export) calls the three steps itself.
    """
    to = ask(s, files)
    if to is None:
        return None
    send(s, to, files)
    completed(s, origin, [name for name, _ in files])
    return to

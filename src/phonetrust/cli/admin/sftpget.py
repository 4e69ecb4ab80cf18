"""CUCM's ``file get`` dialogue: what would be sent, a confirmation, the SFTP questions.

Every ``file get`` area (``tftp ITLRecovery.p12``, ``activelog PATH``) asks
the same questions in the same order, so that an administrator's answers
(and scripts feeding them) carry over from one to the other; one function
asks them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from phonetrust.cli.admin.session import Session
from phonetrust.errors import LocalError
from phonetrust.net import sftp


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


def upload(s: Session, files: Sequence[tuple[str, bytes]], origin: str | Path) -> bool:
    """Offer ``files`` (name, bytes), ask where to, and upload them over SFTP.

    ``origin`` is the directory the files are from, as the closing lines
    name it. False when the administrator answers no (nothing was sent);
    an SFTP failure raises, so a caller records an export only once this
    returns True.
    """
    total = sum(len(data) for _, data in files)
    s.say(
        "Please wait while the system is gathering files info ...done.",
        "Sub-directories were not traversed.",
        f"Number of files affected: {len(files)}",
        f"Total size in Bytes: {total}",
        f"Total size in Kbytes: {total / 1024:.7g}",
    )
    if not s.prompts.confirm("Would you like to proceed [y/n]? "):
        return False
    server = s.prompts.ask("SFTP server IP: ")
    port = s.prompts.ask("SFTP server port [22]: ", "22")
    if not port.isdigit():
        raise LocalError(f"invalid port {port!r}")
    user = s.prompts.ask("User ID: ")
    password = s.prompts.secret("Password: ")
    directory = s.prompts.ask("Download directory: ")
    for name, data in files:
        sftp.upload(
            server,
            int(port),
            user,
            password,
            directory,
            name,
            data,
            known_hosts=s.where.root / "known_hosts",
            accept_new_host=host_question(s),
        )
    base = str(origin).rstrip("/")
    s.say("", "Transfer completed.", "", *(f"Downloading file: {base}/{n}" for n, _ in files))
    return True

"""phonetrust.net.sftp against a real OpenSSH sshd (phonetrust.testing.sshd)."""

from __future__ import annotations

import errno
import re
import socket
import stat
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import cast

import paramiko
import pytest

from phonetrust.errors import LocalError, RemoteError
from phonetrust.net import sftp
from phonetrust.net.sftp import MAX_FETCH_BYTES, SftpError
from phonetrust.testing.sshd import SshServer, running_sshd

P12 = bytes(range(256)) * 8  # about the size of an ITLRecovery.p12


@pytest.fixture(scope="module")
def server() -> Iterator[SshServer]:
    with running_sshd() as running:
        yield running


@pytest.fixture
def known_hosts(tmp_path: Path, server: SshServer) -> Path:
    """A known_hosts file that already trusts the module's server."""
    path = tmp_path / "known_hosts"
    path.write_text(server.known_hosts_line())
    return path


def never_asked(label: str, fingerprint: str) -> bool:
    raise AssertionError(f"asked about {label} {fingerprint}")


def fetch(
    server: SshServer, path: str | Path, known_hosts: Path, max_size: int = MAX_FETCH_BYTES
) -> bytes:
    return sftp.fetch(
        server.host,
        server.port,
        server.user,
        server.password,
        str(path),
        known_hosts=known_hosts,
        accept_new_host=never_asked,
        timeout=5.0,
        max_size=max_size,
    )


def upload(
    server: SshServer, remote_dir: str | Path, filename: str, data: bytes, known_hosts: Path
) -> None:
    sftp.upload(
        server.host,
        server.port,
        server.user,
        server.password,
        str(remote_dir),
        filename,
        data,
        known_hosts=known_hosts,
        accept_new_host=never_asked,
        timeout=5.0,
    )


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


# --- fetch -------------------------------------------------------------------------------


def test_fetch_returns_the_file(server: SshServer, known_hosts: Path) -> None:
    path = server.put("ITLRecovery.p12", P12)
    assert fetch(server, path, known_hosts) == P12


def test_fetch_relative_to_the_login_directory(server: SshServer, known_hosts: Path) -> None:
    server.put("relative.p12", b"relative")
    assert fetch(server, "relative.p12", known_hosts) == b"relative"


def test_fetch_missing_file_names_the_path(server: SshServer, known_hosts: Path) -> None:
    missing = server.root / "nowhere" / "ITLRecovery.p12"
    with pytest.raises(SftpError, match="no such file") as caught:
        fetch(server, missing, known_hosts)
    assert str(caught.value) == f"127.0.0.1:{missing}: no such file"
    assert isinstance(caught.value, RemoteError)


def test_fetch_unreadable_file_is_permission_denied(server: SshServer, known_hosts: Path) -> None:
    secret = server.root / "root-only.p12"
    secret.write_bytes(P12)  # owned by root, not by the login
    secret.chmod(0o600)
    with pytest.raises(SftpError, match=r"root-only\.p12: permission denied"):
        fetch(server, secret, known_hosts)


def test_fetch_a_directory_is_refused(server: SshServer, known_hosts: Path) -> None:
    with pytest.raises(SftpError, match="is a directory"):
        fetch(server, server.root, known_hosts)


def test_fetch_refuses_an_oversized_file(server: SshServer, known_hosts: Path) -> None:
    path = server.put("huge.p12", b"\0" * (MAX_FETCH_BYTES + 1))
    with pytest.raises(SftpError, match=f"larger than {MAX_FETCH_BYTES} bytes"):
        fetch(server, path, known_hosts)
    exact = server.put("exact.p12", b"\1" * 100)
    assert fetch(server, exact, known_hosts, max_size=100) == b"\1" * 100
    with pytest.raises(SftpError, match="larger than 99 bytes"):
        fetch(server, exact, known_hosts, max_size=99)


def test_wrong_password_is_a_login_failure(server: SshServer, known_hosts: Path) -> None:
    path = server.put("ITLRecovery.p12", P12)
    with pytest.raises(SftpError) as caught:
        sftp.fetch(
            server.host,
            server.port,
            server.user,
            server.password + "x",
            str(path),
            known_hosts=known_hosts,
            timeout=5.0,
        )
    assert str(caught.value) == f"SFTP login failed for {server.user}@127.0.0.1"


def test_unknown_user_is_a_login_failure(server: SshServer, known_hosts: Path) -> None:
    with pytest.raises(SftpError, match=re.escape("SFTP login failed for nobody-here@127.0.0.1")):
        sftp.fetch(server.host, server.port, "nobody-here", "pw", "x", known_hosts=known_hosts)


def test_closed_port_cannot_be_reached_fast(tmp_path: Path) -> None:
    port = closed_port()
    started = time.monotonic()
    with pytest.raises(
        SftpError, match=re.escape(f"cannot reach 127.0.0.1:{port}: connection refused")
    ):
        sftp.fetch("127.0.0.1", port, "u", "p", "x", known_hosts=None, timeout=1.0)
    assert time.monotonic() - started < 2.0


def test_unknown_host_name_cannot_be_reached() -> None:
    with pytest.raises(SftpError, match=r"cannot reach no-such-host\.invalid:22: unknown host"):
        sftp.fetch("no-such-host.invalid", 22, "u", "p", "x", timeout=1.0)


def test_a_server_that_is_not_ssh_is_refused() -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def answer() -> None:
        connection, _ = listener.accept()
        with connection:
            connection.sendall(b"HTTP/1.0 400 Bad Request\r\n\r\n")

    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    try:
        with pytest.raises(
            SftpError, match=re.escape(f"cannot reach 127.0.0.1:{port}: SSH negotiation")
        ):
            sftp.fetch("127.0.0.1", port, "u", "p", "x", timeout=2.0)
    finally:
        thread.join(timeout=5)
        listener.close()


# --- host keys ---------------------------------------------------------------------------


@pytest.mark.parametrize("answer", [None, False])
def test_unknown_host_key_is_refused_unless_accepted(
    server: SshServer, tmp_path: Path, answer: bool | None
) -> None:
    path = server.put("ITLRecovery.p12", P12)
    known_hosts = tmp_path / "known_hosts"
    asked: list[tuple[str, str]] = []

    def decline(label: str, fingerprint: str) -> bool:
        asked.append((label, fingerprint))
        return False

    with pytest.raises(SftpError, match="not accepted") as caught:
        sftp.fetch(
            server.host,
            server.port,
            server.user,
            server.password,
            str(path),
            known_hosts=known_hosts,
            accept_new_host=None if answer is None else decline,
        )
    assert server.fingerprint in str(caught.value)
    assert asked == ([] if answer is None else [(label_of(server), server.fingerprint)])
    assert not known_hosts.exists()


def label_of(server: SshServer) -> str:
    name = f"[{server.host}]:{server.port}"
    return f"{name} ({name})"


def test_accepted_host_key_is_remembered(server: SshServer, tmp_path: Path) -> None:
    path = server.put("ITLRecovery.p12", P12)
    known_hosts = tmp_path / "ssh" / "known_hosts"
    asked: list[tuple[str, str]] = []

    def accept(label: str, fingerprint: str) -> bool:
        asked.append((label, fingerprint))
        return True

    got = sftp.fetch(
        server.host,
        server.port,
        server.user,
        server.password,
        str(path),
        known_hosts=known_hosts,
        accept_new_host=accept,
    )
    assert got == P12
    assert asked == [(label_of(server), server.fingerprint)]
    assert known_hosts.read_text() == server.known_hosts_line()
    # Known now: the second connection does not ask.
    assert fetch(server, path, known_hosts) == P12
    assert known_hosts.read_text() == server.known_hosts_line()


def test_without_known_hosts_every_connection_asks(server: SshServer) -> None:
    path = server.put("ITLRecovery.p12", P12)
    asked: list[str] = []

    def accept(label: str, fingerprint: str) -> bool:
        asked.append(fingerprint)
        return True

    for _ in range(2):
        assert (
            sftp.fetch(
                server.host,
                server.port,
                server.user,
                server.password,
                str(path),
                known_hosts=None,
                accept_new_host=accept,
            )
            == P12
        )
    assert asked == [server.fingerprint] * 2


def test_a_changed_host_key_is_refused_as_a_mismatch(tmp_path: Path) -> None:
    known_hosts = tmp_path / "known_hosts"
    with running_sshd() as own:
        path = own.put("ITLRecovery.p12", P12)
        args = (own.host, own.port, own.user, own.password, str(path))
        assert sftp.fetch(*args, known_hosts=known_hosts, accept_new_host=lambda _l, _f: True)
        old = own.fingerprint
        own.rotate_host_key()
        assert own.fingerprint != old
        with pytest.raises(SftpError, match="does not match") as caught:
            sftp.fetch(*args, known_hosts=known_hosts, accept_new_host=never_asked)
    message = str(caught.value)
    assert own.fingerprint in message
    assert label_of(own) in message
    assert str(known_hosts) in message


def test_a_corrupt_known_hosts_file_is_the_callers_error(server: SshServer, tmp_path: Path) -> None:
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(f"[{server.host}]:{server.port} ssh-rsa AAAA!!notbase64\n")
    with pytest.raises(LocalError, match="cannot read known hosts"):
        fetch(server, "x", known_hosts)


# --- upload ------------------------------------------------------------------------------


def test_upload_lands_on_the_server(server: SshServer, known_hosts: Path) -> None:
    target = server.root / "uploads"
    target.mkdir()
    target.chmod(0o777)
    upload(server, target, "ITLRecovery.p12", P12, known_hosts)
    landed = target / "ITLRecovery.p12"
    assert landed.read_bytes() == P12
    assert stat.S_IMODE(landed.stat().st_mode) == 0o600
    assert landed.stat().st_uid == server.uid
    # Uploading again replaces the file, and no temporary file is left behind.
    upload(server, target, "ITLRecovery.p12", b"second", known_hosts)
    assert landed.read_bytes() == b"second"
    assert [p.name for p in target.iterdir()] == ["ITLRecovery.p12"]


def test_upload_to_the_login_directory(server: SshServer, known_hosts: Path) -> None:
    upload(server, "", "home.p12", P12, known_hosts)
    assert (server.root / "home.p12").read_bytes() == P12


def test_upload_into_a_missing_directory(server: SshServer, known_hosts: Path) -> None:
    missing = server.root / "no" / "such"
    with pytest.raises(SftpError, match=re.escape(f"127.0.0.1:{missing}: no such directory")):
        upload(server, missing, "ITLRecovery.p12", P12, known_hosts)


def test_upload_into_a_file_is_refused(server: SshServer, known_hosts: Path) -> None:
    plain = server.put("plain-file", b"x")
    with pytest.raises(SftpError, match="not a directory"):
        upload(server, plain, "ITLRecovery.p12", P12, known_hosts)


def test_failed_upload_leaves_nothing(server: SshServer, known_hosts: Path) -> None:
    locked = server.root / "locked"
    locked.mkdir()  # owned by root, mode 0755: the login cannot write here
    with pytest.raises(SftpError, match="permission denied"):
        upload(server, locked, "ITLRecovery.p12", P12, known_hosts)
    assert list(locked.iterdir()) == []


@pytest.mark.parametrize("name", ["", ".", "..", "a/b", "../ITLRecovery.p12"])
def test_upload_file_name_must_be_plain(server: SshServer, known_hosts: Path, name: str) -> None:
    with pytest.raises(LocalError, match="not a plain file name"):
        upload(server, server.root, name, P12, known_hosts)


def test_a_silent_server_times_out() -> None:
    with socket.create_server(("127.0.0.1", 0)) as listener:  # accepts, never speaks
        port = listener.getsockname()[1]
        started = time.monotonic()
        with pytest.raises(SftpError, match=re.escape(f"cannot reach 127.0.0.1:{port}")):
            sftp.fetch("127.0.0.1", port, "u", "p", "x", timeout=0.5)
        assert time.monotonic() - started < 3.0


class RenameRecorder:
    """Stands in for an SFTP client whose server answers posix-rename with ``refusal``."""

    def __init__(self, refusal: OSError) -> None:
        self.refusal = refusal
        self.calls: list[tuple[str, ...]] = []

    def posix_rename(self, source: str, target: str) -> None:
        self.calls.append(("posix_rename", source, target))
        raise self.refusal

    def remove(self, path: str) -> None:
        self.calls.append(("remove", path))

    def rename(self, source: str, target: str) -> None:
        self.calls.append(("rename", source, target))


def test_rename_falls_back_when_posix_rename_is_unsupported() -> None:
    client = RenameRecorder(OSError("Operation unsupported"))
    sftp._rename_over(cast(paramiko.SFTPClient, client), "/d/.tmp", "/d/f")
    assert client.calls == [
        ("posix_rename", "/d/.tmp", "/d/f"),
        ("remove", "/d/f"),
        ("rename", "/d/.tmp", "/d/f"),
    ]


@pytest.mark.parametrize(
    "refusal", [OSError("Failure"), OSError(errno.EACCES, "Permission denied")]
)
def test_rename_keeps_the_old_file_when_posix_rename_fails(refusal: OSError) -> None:
    client = RenameRecorder(refusal)
    with pytest.raises(OSError, match=r"Failure|Permission denied") as caught:
        sftp._rename_over(cast(paramiko.SFTPClient, client), "/d/.tmp", "/d/f")
    assert caught.value is refusal
    assert client.calls == [("posix_rename", "/d/.tmp", "/d/f")]

"""A real, throwaway OpenSSH SFTP server for tests.

``running_sshd()`` starts the machine's own ``sshd`` (package
``openssh-server``) on 127.0.0.1 at a free port, with a host key made for
the occasion by ``ssh-keygen`` and an ``sshd_config`` in a temporary
directory that allows password logins to SFTP only (``internal-sftp``, no
shell, no forwarding). It yields an :class:`SshServer` with the address,
the login, a ``root`` directory for files and the host key's fingerprint.

Password logins need a real account, and neither root's password nor
root's logins are ours to touch, so the helper creates a dedicated local
user ``phonetrust-sftp-<random>`` (``useradd``, password set with
``chpasswd``) whose home is ``root`` in the temporary directory, and
deletes it (``userdel``) on exit. That needs root, which is how the test
machines run; elsewhere :class:`SshdUnavailable` says so. Users left behind
by a killed run are recognised (their home is gone) and deleted on the next
start.

On exit the server is stopped, the user deleted and the directory removed.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

INSTALL_HINT = "install openssh-server (apt-get install openssh-server)"
USER_PREFIX = "phonetrust-sftp-"
PRIVSEP_DIR = Path("/run/sshd")
START_TIMEOUT = 15.0
_ACCOUNT_LOCKED = {1, 10}  # useradd/userdel: cannot lock or update /etc/passwd or /etc/group
_SETUP_TIMEOUT = 30


class SshdUnavailable(RuntimeError):
    """``sshd`` is missing, cannot be run here, or would not start."""


@dataclass
class SshServer:
    """A running test ``sshd``: where it listens, who may log in, and its host key."""

    host: str
    port: int
    user: str
    password: str
    root: Path
    """The test user's home and login directory: put files here, uploads land here."""
    host_key: Path
    fingerprint: str
    """``SHA256:...`` as OpenSSH prints it."""
    public_key: str
    """``<type> <base64>``, as it appears in a ``known_hosts`` line."""
    uid: int
    gid: int
    log: Path
    _config: Path = field(repr=False)
    _sshd: str = field(repr=False)
    _key_type: str = field(repr=False)
    _process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def file_get_answers(self) -> tuple[str, str, str, str, str]:
        """The answers to ``file get``'s questions (server, port, user, password,
        directory) that upload into this server's root."""
        return (self.host, str(self.port), self.user, self.password, str(self.root))

    def known_hosts_line(self) -> str:
        """This server's ``known_hosts`` entry, as ssh or :mod:`phonetrust.net.sftp` write it."""
        return f"[{self.host}]:{self.port} {self.public_key}\n"

    def put(self, name: str, data: bytes, mode: int = 0o644) -> Path:
        """Write a file under ``root``, owned by the test user, and return its path."""
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        os.chown(path, self.uid, self.gid)
        path.chmod(mode)
        return path

    def rotate_host_key(self) -> None:
        """Restart the server, on the same port, with a newly generated host key."""
        self._stop()
        for suffix in ("", ".pub"):
            Path(f"{self.host_key}{suffix}").unlink(missing_ok=True)
        self.public_key, self.fingerprint = _make_host_key(self.host_key, self._key_type)
        self._start()

    def _start(self) -> None:
        with self.log.open("ab") as log:
            self._process = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
                [self._sshd, "-D", "-e", "-f", str(self._config)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
            )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise SshdUnavailable(
                    f"sshd exited with status {self._process.returncode}: {self._log_tail()}"
                )
            if _answers_ssh(self.host, self.port):
                return
            time.sleep(0.05)
        self._stop()
        raise SshdUnavailable(
            f"sshd did not answer on {self.host}:{self.port} "
            f"within {START_TIMEOUT:g} s: {self._log_tail()}"
        )

    def _stop(self) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)

    def _log_tail(self) -> str:
        try:
            return self.log.read_text(errors="replace").strip()[-2000:] or "(no output)"
        except OSError:
            return "(no log)"


SYSTEM_DIRS = "/usr/sbin:/usr/local/sbin:/sbin"
"""Where root's tools live, for a PATH without them (a cron job, ``env -i``)."""


def system_tool(name: str) -> str | None:
    """The path of ``name`` on the PATH, else in the system directories."""
    return shutil.which(name) or shutil.which(name, path=SYSTEM_DIRS)


def find_sshd() -> str:
    """The absolute path of ``sshd`` (it re-executes itself, so it must be absolute)."""
    found = system_tool("sshd")
    if found is None or shutil.which("ssh-keygen") is None:
        raise SshdUnavailable(f"sshd or ssh-keygen not found: {INSTALL_HINT}")
    return str(Path(found).resolve())


def _tool(name: str) -> str:
    return system_tool(name) or name  # checked present by running_sshd


@contextlib.contextmanager
def running_sshd(*, key_type: str = "rsa") -> Iterator[SshServer]:
    """Start a private SFTP-only ``sshd`` with a fresh host key and test user; yield it."""
    sshd = find_sshd()
    if os.geteuid() != 0:
        raise SshdUnavailable(
            "running_sshd() must run as root: it creates a throwaway local user "
            "for password logins (and sshd needs root to check passwords)"
        )
    for tool in ("useradd", "userdel", "chpasswd"):
        if system_tool(tool) is None:
            raise SshdUnavailable(f"{tool} not found (package passwd)")
    PRIVSEP_DIR.mkdir(mode=0o755, parents=True, exist_ok=True)
    _delete_stale_users()

    base = Path(tempfile.mkdtemp(prefix="phonetrust-sshd-"))
    base.chmod(0o711)  # the test user must reach its home inside
    user = ""
    server: SshServer | None = None
    try:
        home = base / "home"
        home.mkdir()
        user, password = _create_user(home)
        entry = pwd.getpwnam(user)
        os.chown(home, entry.pw_uid, entry.pw_gid)
        home.chmod(0o755)
        host_key = base / f"ssh_host_{key_type}_key"
        public_key, fingerprint = _make_host_key(host_key, key_type)
        for _attempt in range(5):
            port = _free_port()
            config = base / "sshd_config"
            config.write_text(_config_text(sshd, base, port, host_key, user))
            server = SshServer(
                host="127.0.0.1",
                port=port,
                user=user,
                password=password,
                root=home,
                host_key=host_key,
                fingerprint=fingerprint,
                public_key=public_key,
                uid=entry.pw_uid,
                gid=entry.pw_gid,
                log=base / "sshd.log",
                _config=config,
                _sshd=sshd,
                _key_type=key_type,
            )
            try:
                server._start()
                break
            except SshdUnavailable as exc:
                if "Address already in use" not in str(exc):
                    raise
        else:
            raise SshdUnavailable("sshd found no free port in 5 attempts")
        yield server
    finally:
        if server is not None:
            server._stop()
        if user:
            _delete_user(user)
        shutil.rmtree(base, ignore_errors=True)


def _config_text(sshd: str, base: Path, port: int, host_key: Path, user: str) -> str:
    lines = [
        f"Port {port}",
        "ListenAddress 127.0.0.1",
        f"HostKey {host_key}",
        f"PidFile {base / 'sshd.pid'}",
        "AuthorizedKeysFile none",
        "PubkeyAuthentication no",
        "PasswordAuthentication yes",
        "KbdInteractiveAuthentication no",
        "PermitEmptyPasswords no",
        "PermitRootLogin no",
        f"AllowUsers {user}",
        "UsePAM no",
        "StrictModes no",
        "UseDNS no",
        "X11Forwarding no",
        "AllowTcpForwarding no",
        "PermitTTY no",
        "Subsystem sftp internal-sftp",
        "ForceCommand internal-sftp",
        "MaxStartups 100",
        "LogLevel VERBOSE",
    ]
    # OpenSSH 9.8+ slows down addresses that fail logins; tests fail logins on purpose.
    penalties = "PerSourcePenalties no"
    probe = base / "sshd_config.probe"
    probe.write_text("\n".join([*lines, penalties]) + "\n")
    if _run([sshd, "-t", "-f", str(probe)], check=False).returncode == 0:
        lines.append(penalties)
    probe.unlink()
    return "\n".join(lines) + "\n"


def _make_host_key(path: Path, key_type: str) -> tuple[str, str]:
    """Generate a host key; return its public ``<type> <base64>`` and ``SHA256:`` fingerprint."""
    argv = ["ssh-keygen", "-q", "-t", key_type, "-N", "", "-C", "phonetrust-test", "-f", str(path)]
    if key_type == "rsa":
        argv[4:4] = ["-b", "2048"]
    _run(argv)
    public = " ".join(Path(f"{path}.pub").read_text().split()[:2])
    listed = _run(["ssh-keygen", "-l", "-E", "sha256", "-f", f"{path}.pub"]).stdout.split()
    return public, listed[1]


def _create_user(home: Path) -> tuple[str, str]:
    password = os.urandom(18).hex()
    for _attempt in range(10):
        user = USER_PREFIX + os.urandom(4).hex()
        done = _run_account(
            [
                _tool("useradd"),
                "-M",
                "-d",
                str(home),
                "-s",
                "/usr/sbin/nologin",
                "-c",
                "phonetrust",
                user,
            ]
        )
        if done.returncode == 9:  # name taken: draw another
            continue
        if done.returncode != 0:
            raise SshdUnavailable(f"useradd failed ({done.returncode}): {done.stderr.strip()}")
        try:
            _run([_tool("chpasswd")], stdin=f"{user}:{password}\n")
        except SshdUnavailable:
            _delete_user(user)
            raise
        return user, password
    raise SshdUnavailable("useradd: no free user name in 10 attempts")


def _delete_user(user: str) -> None:
    done = _run_account([_tool("userdel"), "-f", user])
    if done.returncode not in {0, 6}:  # 6: already gone
        raise SshdUnavailable(f"userdel {user} failed ({done.returncode}): {done.stderr.strip()}")


def _delete_stale_users() -> None:
    """Delete test users a killed run left behind: their home directory is gone."""
    for entry in pwd.getpwall():
        if entry.pw_name.startswith(USER_PREFIX) and not Path(entry.pw_dir).exists():
            with contextlib.suppress(SshdUnavailable):
                _delete_user(entry.pw_name)


def _run_account(argv: Sequence[str]) -> subprocess.CompletedProcess[str]:
    """Run useradd/userdel, waiting while another process holds the account files' lock."""
    deadline = time.monotonic() + _SETUP_TIMEOUT
    while True:
        done = _run(argv, check=False)
        if done.returncode not in _ACCOUNT_LOCKED or time.monotonic() > deadline:
            return done
        time.sleep(0.1)


def _run(
    argv: Sequence[str], *, stdin: str | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    try:
        done = subprocess.run(  # noqa: S603 - fixed argv of system tools, no shell
            list(argv),
            input=stdin,
            capture_output=True,
            text=True,
            timeout=_SETUP_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SshdUnavailable(f"{argv[0]}: {exc}") from exc
    if check and done.returncode != 0:
        raise SshdUnavailable(
            f"{Path(argv[0]).name} failed ({done.returncode}): "
            f"{(done.stderr or done.stdout).strip()[-2000:]}"
        )
    return done


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _answers_ssh(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0) as probe:
            return probe.recv(4).startswith(b"SSH-")
    except OSError:
        return False

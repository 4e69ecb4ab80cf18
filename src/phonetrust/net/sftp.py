"""SFTP client for moving one small file, such as ``ITLRecovery.p12``, to or from a server.

CUCM uses SFTP twice around ITL recovery: ``utils itl reset remotekey HOST
USER PATH`` fetches an ``ITLRecovery.p12`` from a server, and ``file get
tftp ITLRecovery.p12`` uploads one. :func:`fetch` and :func:`upload` do the
same, synchronously, with a password and a timeout.

Host keys are checked like OpenSSH does: against a ``known_hosts`` file
(entries named ``host`` on port 22, ``[host]:port`` otherwise; hashed
entries work too). A host with no entry is put to ``accept_new_host(label,
fingerprint)``, with ``label`` as OpenSSH prints it (``"name (ip)"``) and the
fingerprint as ``"SHA256:..."``; a key accepted is appended to the
``known_hosts`` file when one is given. A host whose key differs from its
entry is refused, without asking.

Every failure is a :class:`SftpError` (or a :class:`LocalError` for bad
arguments or an unreadable ``known_hosts``) with one clear message; no
``paramiko`` or ``socket`` exception reaches the caller.
"""

from __future__ import annotations

import base64
import contextlib
import errno
import hashlib
import logging
import posixpath
import secrets
import socket
import stat
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import paramiko
from paramiko.hostkeys import HostKeyEntry, InvalidHostKey

from phonetrust.errors import LocalError, RemoteError

MAX_FETCH_BYTES = 1 << 20
"""Largest file :func:`fetch` accepts; an ``ITLRecovery.p12`` is about 2 KB."""

DEFAULT_PORT = 22
UPLOAD_MODE = 0o600
"""Permissions of an uploaded file: an ``ITLRecovery.p12`` holds a private key."""

# paramiko logs each failed negotiation with a traceback at ERROR; with no logging configured
# Python would print it on stderr next to our one-line error. Logging set up by an
# application still receives the records (they propagate past this handler).
logging.getLogger("paramiko").addHandler(logging.NullHandler())

HostKeyCallback = Callable[[str, str], bool]
"""``accept_new_host(label, fingerprint)``: True to trust a host seen for the first time."""


class SftpError(RemoteError):
    """An SFTP transfer failed: host unreachable, login or host key refused, remote file error."""


@dataclass(frozen=True)
class _Where:
    """Who we talk to, for messages and ``known_hosts`` names."""

    host: str
    port: int
    user: str

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


def fingerprint(key: paramiko.PKey) -> str:
    """A host key's fingerprint as OpenSSH prints it: ``SHA256:`` and unpadded base64."""
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode("ascii").rstrip("=")


def known_hosts_name(host: str, port: int) -> str:
    """The name OpenSSH files a host under in ``known_hosts``: ``host`` or ``[host]:port``."""
    return host if port == DEFAULT_PORT else f"[{host}]:{port}"


def host_label(host: str, port: int, ip: str) -> str:
    """How OpenSSH names a host in its prompts: ``name (ip)``, with ``[..]:port`` off port 22."""
    return f"{known_hosts_name(host, port)} ({known_hosts_name(ip, port)})"


def fetch(
    host: str,
    port: int,
    user: str,
    password: str,
    remote_path: str,
    *,
    known_hosts: Path | None = None,
    accept_new_host: HostKeyCallback | None = None,
    timeout: float = 10.0,
    max_size: int = MAX_FETCH_BYTES,
) -> bytes:
    """Download ``remote_path`` from ``user@host:port`` and return its bytes.

    Raises :class:`SftpError` when the server cannot be reached, its host key
    is refused, the login fails, the file is missing, unreadable, a directory
    or larger than ``max_size`` bytes.
    """
    where = _Where(host, port, user)
    with _session(where, password, known_hosts, accept_new_host, timeout) as sftp:
        try:
            attrs = sftp.stat(remote_path)
            if attrs.st_mode is not None and stat.S_ISDIR(attrs.st_mode):
                raise SftpError(f"{host}:{remote_path}: is a directory, not a file")
            if attrs.st_size is not None and attrs.st_size > max_size:
                raise _too_large(where, remote_path, max_size)
            with sftp.open(remote_path, "rb") as remote:
                data = remote.read(max_size + 1)
        except (OSError, EOFError, paramiko.SSHException) as exc:
            raise _file_error(where, remote_path, exc) from exc
        if len(data) > max_size:  # the file grew after stat, or the server lied
            raise _too_large(where, remote_path, max_size)
        return data


def upload(  # noqa: PLR0917 - the fields CUCM's `file get tftp` prompts for, in order
    host: str,
    port: int,
    user: str,
    password: str,
    remote_dir: str,
    filename: str,
    data: bytes,
    *,
    known_hosts: Path | None = None,
    accept_new_host: HostKeyCallback | None = None,
    timeout: float = 10.0,
) -> None:
    """Store ``data`` as ``remote_dir/filename`` on ``user@host:port``, replacing any old file.

    The bytes go to a temporary name in ``remote_dir`` first, made readable by
    the owner only, and are renamed into place once complete: a failed upload
    leaves no partial file under ``filename``. An empty ``remote_dir`` means
    the login directory. Raises :class:`SftpError` as :func:`fetch` does, and
    when ``remote_dir`` is missing or not writable.
    """
    if not filename or "/" in filename or "\0" in filename or filename in {".", ".."}:
        raise LocalError(f"{filename!r} is not a plain file name")
    target = posixpath.join(remote_dir, filename)
    temporary = posixpath.join(remote_dir, f".{filename}.{secrets.token_hex(6)}.part")
    where = _Where(host, port, user)
    with _session(where, password, known_hosts, accept_new_host, timeout) as sftp:
        _require_directory(sftp, where, remote_dir)
        try:
            with sftp.open(temporary, "wx") as remote:
                # Narrow the permissions before any byte is written; a server
                # that cannot chmod (some non-POSIX ones) still gets the file.
                with contextlib.suppress(OSError):
                    sftp.chmod(temporary, UPLOAD_MODE)
                remote.write(data)
            _rename_over(sftp, temporary, target)
        except (OSError, EOFError, paramiko.SSHException) as exc:
            with contextlib.suppress(OSError, EOFError, paramiko.SSHException):
                sftp.remove(temporary)
            raise _file_error(where, target, exc) from exc


def _require_directory(sftp: paramiko.SFTPClient, where: _Where, remote_dir: str) -> None:
    path = remote_dir or "."
    try:
        attrs = sftp.stat(path)
    except (OSError, EOFError, paramiko.SSHException) as exc:
        if isinstance(exc, OSError) and exc.errno == errno.ENOENT:
            raise SftpError(f"{where.host}:{remote_dir}: no such directory") from exc
        raise _file_error(where, remote_dir, exc) from exc
    if attrs.st_mode is not None and not stat.S_ISDIR(attrs.st_mode):
        raise SftpError(f"{where.host}:{remote_dir}: not a directory")


def _rename_over(sftp: paramiko.SFTPClient, source: str, target: str) -> None:
    """Rename ``source`` to ``target``, replacing it atomically where the server can."""
    try:
        sftp.posix_rename(source, target)  # OpenSSH's posix-rename@openssh.com
    except OSError as exc:
        if exc.errno is not None or "support" not in str(exc).lower():
            raise
        # The extension is missing (SSH_FX_OP_UNSUPPORTED): plain SFTP rename refuses an
        # existing target, so the old file goes first.
        with contextlib.suppress(OSError):
            sftp.remove(target)
        sftp.rename(source, target)


def _too_large(where: _Where, path: str, max_size: int) -> SftpError:
    return SftpError(f"{where.host}:{path}: larger than {max_size} bytes, refusing to fetch it")


def _file_error(where: _Where, path: str, exc: BaseException) -> SftpError:
    """One message for what went wrong with a remote file or the session carrying it."""
    if isinstance(exc, SftpError):
        return exc
    if isinstance(exc, TimeoutError):
        return SftpError(f"{where.address}: no answer from the server (timed out)")
    if isinstance(exc, OSError) and exc.errno == errno.ENOENT:
        return SftpError(f"{where.host}:{path}: no such file")
    if isinstance(exc, OSError) and exc.errno == errno.EACCES:
        return SftpError(f"{where.host}:{path}: permission denied")
    if isinstance(exc, EOFError | paramiko.SSHException | ConnectionError):
        return SftpError(f"{where.address}: connection lost ({_reason(exc)})")
    return SftpError(f"{where.host}:{path}: {_reason(exc)}")


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


@contextlib.contextmanager
def _session(
    where: _Where,
    password: str,
    known_hosts: Path | None,
    accept_new_host: HostKeyCallback | None,
    timeout: float,
) -> Iterator[paramiko.SFTPClient]:
    """Connect, check the host key, log in and open SFTP; close everything on the way out."""
    stored = _load_known_hosts(known_hosts)
    name = known_hosts_name(where.host, where.port)
    sock = _connect(where, timeout)
    try:
        ip = str(sock.getpeername()[0])
        transport = paramiko.Transport(sock)
    except OSError as exc:
        sock.close()
        raise SftpError(f"cannot reach {where.address}: {_reason(exc)}") from exc
    try:
        transport.banner_timeout = timeout
        transport.handshake_timeout = timeout
        transport.auth_timeout = timeout
        _prefer_known_key_types(transport, stored.lookup(name))
        key = _handshake(transport, where, timeout)
        _check_host_key(
            key,
            stored=stored,
            name=name,
            label=host_label(where.host, where.port, ip),
            known_hosts=known_hosts,
            accept_new_host=accept_new_host,
        )
        _login(transport, where, password)
        yield _open_sftp(transport, where, timeout)
    finally:
        transport.close()
        sock.close()


def _connect(where: _Where, timeout: float) -> socket.socket:
    try:
        return socket.create_connection((where.host, where.port), timeout=timeout)
    except TimeoutError as exc:
        raise SftpError(f"cannot reach {where.address}: timed out after {timeout:g} s") from exc
    except socket.gaierror as exc:
        raise SftpError(f"cannot reach {where.address}: unknown host ({exc.strerror})") from exc
    except ConnectionRefusedError as exc:
        raise SftpError(f"cannot reach {where.address}: connection refused") from exc
    except OSError as exc:
        raise SftpError(f"cannot reach {where.address}: {_reason(exc)}") from exc


def _handshake(transport: paramiko.Transport, where: _Where, timeout: float) -> paramiko.PKey:
    try:
        transport.start_client(timeout=timeout)
        # start_client returns silently when its timeout runs out mid-negotiation.
        return transport.get_remote_server_key()
    except (paramiko.SSHException, OSError, EOFError) as exc:
        raise SftpError(
            f"cannot reach {where.address}: SSH negotiation failed ({_reason(exc)})"
        ) from exc


def _login(transport: paramiko.Transport, where: _Where, password: str) -> None:
    failed = f"SFTP login failed for {where.user}@{where.host}"
    try:
        transport.auth_password(where.user, password)
    except paramiko.AuthenticationException as exc:  # also BadAuthenticationType
        raise SftpError(failed) from exc
    except (paramiko.SSHException, OSError, EOFError) as exc:
        raise SftpError(f"{failed}: connection lost ({_reason(exc)})") from exc
    if not transport.is_authenticated():
        raise SftpError(failed)


def _open_sftp(transport: paramiko.Transport, where: _Where, timeout: float) -> paramiko.SFTPClient:
    try:
        channel = transport.open_session(timeout=timeout)
        channel.settimeout(timeout)
        channel.invoke_subsystem("sftp")
        return paramiko.SFTPClient(channel)
    except (paramiko.SSHException, OSError, EOFError) as exc:
        raise SftpError(f"{where.address}: SFTP is not available ({_reason(exc)})") from exc


def _load_known_hosts(path: Path | None) -> paramiko.HostKeys:
    stored = paramiko.HostKeys()
    if path is None or not path.exists():
        return stored
    try:
        stored.load(str(path))
    except (OSError, UnicodeDecodeError, InvalidHostKey, paramiko.SSHException) as exc:
        raise LocalError(f"{path}: cannot read known hosts ({_reason(exc)})") from exc
    return stored


def _prefer_known_key_types(
    transport: paramiko.Transport, known: Mapping[str, paramiko.PKey] | None
) -> None:
    """Ask first for a key type already on file, so a server with several keys can match."""
    if not known:
        return
    options = transport.get_security_options()
    wanted: list[str] = []
    for name in known:
        # An RSA entry is filed as "ssh-rsa"; its SHA-2 signature algorithms are what we ask for.
        wanted += ["rsa-sha2-512", "rsa-sha2-256"] if name == "ssh-rsa" else [name]
    supported = list(options.key_types)
    first = [name for name in wanted if name in supported]
    options.key_types = tuple(first + [name for name in supported if name not in first])


def _check_host_key(
    key: paramiko.PKey,
    *,
    stored: paramiko.HostKeys,
    name: str,
    label: str,
    known_hosts: Path | None,
    accept_new_host: HostKeyCallback | None,
) -> None:
    shown = fingerprint(key)
    known = stored.lookup(name)
    if known:
        if stored.check(name, key):
            return
        raise SftpError(
            f"host key for {label} does not match the one in {known_hosts} "
            f"(server sent {key.get_name()} {shown}): possible man-in-the-middle attack, "
            f"refusing to connect; remove the old entry if the key was changed on purpose"
        )
    if accept_new_host is None or not accept_new_host(label, shown):
        raise SftpError(f"host key for {label} not accepted ({key.get_name()} {shown})")
    if known_hosts is not None:
        _remember(known_hosts, name, key)


def _remember(path: Path, name: str, key: paramiko.PKey) -> None:
    line = HostKeyEntry([name], key).to_line()
    if line is None:  # pragma: no cover - an entry with a name and a key is always valid
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        existing = path.read_bytes() if path.exists() else b""
        with path.open("a", encoding="ascii") as out:
            if existing and not existing.endswith(b"\n"):
                out.write("\n")
            out.write(line)
    except OSError as exc:
        raise LocalError(f"{path}: cannot record the host key ({_reason(exc)})") from exc

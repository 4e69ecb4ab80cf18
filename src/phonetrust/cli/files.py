"""File input and output for commands: clear errors, atomic writes."""

from __future__ import annotations

import os
import stat
import tempfile
from datetime import datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

from phonetrust.errors import KeyMaterialError, LocalError
from phonetrust.formats.signing import Signer
from phonetrust.pki import pem

PRIVATE = 0o600
"""Mode for files that hold a private key, whatever the umask."""


def read_bytes(path: Path) -> bytes:
    """The file's bytes; a directory or missing file raises an OSError naming it."""
    if path.is_dir():
        raise IsADirectoryError(21, "Is a directory", str(path))
    return path.read_bytes()


def modified_time(path: Path) -> datetime:
    return datetime.fromtimestamp(path.stat().st_mtime).astimezone()


def load_signer(path: Path) -> Signer:
    cert, key = pem.load_certificate_and_key(read_bytes(path), source=str(path))
    try:
        return Signer.from_private_key(cert, key)
    except KeyMaterialError as exc:
        raise KeyMaterialError(f"{path}: {exc}") from None


def load_certificate(path: Path) -> x509.Certificate:
    return pem.load_certificate(read_bytes(path), source=str(path))


def load_private_key(path: Path) -> PrivateKeyTypes:
    return pem.load_private_key(read_bytes(path), source=str(path))


def write_atomically(path: Path, data: bytes, *, mode: int | None = None) -> None:
    """Write ``data`` to ``path`` so readers see the old file or the new one, never a part."""
    write_all_atomically([(path, data)], mode=mode)


def write_all_atomically(outputs: list[tuple[Path, bytes]], *, mode: int | None = None) -> None:
    """Write several files; if any cannot be written, none of them is replaced.

    Each file gets ``mode`` if given, else the mode of the file it replaces,
    else what the umask allows (as any new file would), not ``mkstemp``'s 0600.
    """
    staged: list[tuple[str, Path]] = []
    try:
        for path, data in outputs:
            if path.is_dir():
                raise IsADirectoryError(21, "Is a directory", str(path))
            try:
                fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
            except OSError as exc:
                # Name the file asked for, not the temporary one beside it.
                raise OSError(exc.errno, exc.strerror, str(path)) from None
            staged.append((tmp, path))
            with os.fdopen(fd, "wb") as out:
                os.fchmod(out.fileno(), _mode_for(path) if mode is None else mode)
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
        for tmp, path in staged:
            os.replace(tmp, path)
    finally:
        for tmp, _ in staged:
            Path(tmp).unlink(missing_ok=True)


def _mode_for(path: Path) -> int:
    try:
        return stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def strip_suffix(path: Path, suffix: str) -> Path:
    name = path.name
    if not name.endswith(suffix) or name == suffix:
        raise LocalError(f"{path}: expected a name ending in {suffix} (or give -o/--output)")
    return path.with_name(name[: -len(suffix)])

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


MiB = 1 << 20

INPUT_LIMIT = 4 * MiB
"""The most read from any CTL, ITL, .sgn, .enc.sgn, configuration or PEM file.

The largest of these a cluster can produce is far smaller: phones refuse an
ITL over 64 KB, a CTL of a full cluster (every node's CallManager, TFTP,
CAPF and TVS certificates and two eTokens) is a few hundred KB, a
configuration document is at most 1 MiB (``cnfxml_read.MAX_DOCUMENT_SIZE``)
and its .sgn or .enc.sgn adds a header of a few KB, and a PEM certificate
with its key is a few KB. Four times the largest stops an endless input
(``/dev/zero``, a FIFO) long before memory runs out."""

DEVICE_CSV_LIMIT = 64 * MiB
"""The most read from a device CSV: 40,000 phones (CUCM's largest cluster) at a generous
1 KiB a row is 40 MiB."""

ARCHIVE_LIMIT = 256 * MiB
"""The most read from a backup archive: it has no size of its own (the audit grows with the
cluster), so this bound is generous and only stops an endless input."""


def read_bytes(path: Path, *, limit: int = INPUT_LIMIT) -> bytes:
    """The file's bytes, at most ``limit`` of them.

    A directory or missing file raises an OSError naming it; a larger or endless
    input (``/dev/zero``, a FIFO fed forever) raises a LocalError naming it,
    after reading at most ``limit + 1`` bytes.
    """
    if path.is_dir():
        raise IsADirectoryError(21, "Is a directory", str(path))
    with path.open("rb") as f:
        found = os.fstat(f.fileno())
        if stat.S_ISREG(found.st_mode) and found.st_size > limit:
            raise _too_large(path, limit)
        data = f.read(limit + 1)  # one buffer: never more than limit + 1 bytes held
    if len(data) > limit:
        raise _too_large(path, limit)
    return data


def _too_large(path: Path, limit: int) -> LocalError:
    return LocalError(
        f"{path}: larger than {_size(limit)}, the most this command reads "
        "(no legal file of this kind is that large)"
    )


def _size(n: int) -> str:
    return f"{n // MiB} MiB" if n % MiB == 0 else f"{n} bytes"


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

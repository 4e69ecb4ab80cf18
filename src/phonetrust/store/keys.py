"""Private keys on disk, one sealed file per certificate, never world-readable.

Keys are found by the SHA-256 of their certificate's DER, so regenerated,
renamed and historical certificates each keep their own key and a restore
brings back exactly the keys its database refers to.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

from phonetrust.errors import KeyMaterialError
from phonetrust.pki import keywrap

DIR_MODE = 0o700
FILE_MODE = 0o600


def fingerprint(der: bytes) -> str:
    return hashlib.sha256(der).hexdigest()


class KeyStore:
    """Sealed private keys in ``directory``, keyed by certificate fingerprint."""

    def __init__(self, directory: Path, master_key: bytes) -> None:
        self.directory = directory
        self._master_key = master_key
        self._unsealed: dict[str, tuple[tuple[int, int, int], PrivateKeyTypes]] = {}
        """Keys already unsealed, by fingerprint, with the stat of the file they came from:
        loading an RSA key costs tens of milliseconds and every change signs with the same
        few keys. A file replaced or removed (by any process) is noticed by its stat."""
        directory.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
        os.chmod(directory, DIR_MODE)

    def _path(self, cert_der: bytes) -> Path:
        return self.directory / f"{fingerprint(cert_der)}.key"

    def has(self, cert_der: bytes) -> bool:
        return self._path(cert_der).exists()

    def put(self, cert_der: bytes, key: PrivateKeyTypes) -> None:
        sealed = keywrap.seal_private_key(self._master_key, key, fingerprint(cert_der).encode())
        write_private(self._path(cert_der), sealed)

    def get(self, cert_der: bytes) -> PrivateKeyTypes:
        name = fingerprint(cert_der)
        path = self.directory / f"{name}.key"
        try:
            info = path.stat()
            stamp = (info.st_ino, info.st_mtime_ns, info.st_size)
            cached = self._unsealed.get(name)
            if cached is not None and cached[0] == stamp:
                return cached[1]
            sealed = path.read_bytes()
        except FileNotFoundError:
            self._unsealed.pop(name, None)
            raise KeyMaterialError(
                f"the private key of certificate {name[:16]}... is missing"
            ) from None
        key = keywrap.unseal_private_key(self._master_key, sealed, name.encode())
        self._unsealed[name] = (stamp, key)
        return key

    def delete(self, cert_der: bytes) -> None:
        self._unsealed.pop(fingerprint(cert_der), None)
        self._path(cert_der).unlink(missing_ok=True)

    def files(self) -> list[Path]:
        return sorted(self.directory.glob("*.key"))

    def rekey(self, new_master_key: bytes) -> None:
        """Re-seal every key under a new master key (the security password changed)."""
        for path in self.files():
            context = path.stem.encode()
            key = keywrap.unseal_private_key(self._master_key, path.read_bytes(), context)
            write_private(path, keywrap.seal_private_key(new_master_key, key, context))
        self._master_key = new_master_key
        self._unsealed.clear()


def write_private(path: Path, data: bytes) -> None:
    """Atomic write of a file only its owner can read."""
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, path)

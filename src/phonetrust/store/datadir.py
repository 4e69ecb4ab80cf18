"""The data directory: where the database, the sealed keys and the master key live.

Layout::

    DATA/phonetrust.db     SQLite database (unless --db / PHONETRUST_DB names another)
    DATA/keys/<sha256>.key sealed private keys (0600, directory 0700)
    DATA/master.salt       scrypt salt of the security password
    DATA/master.key        the derived master key, cached so services start unattended (0600)
    DATA/p12.pass          the password ITLRecovery.p12 exports are sealed with (0600)
    DATA/tftp/             extra files TFTP serves (firmware, ring lists)

Whoever can read the whole directory can use the keys, as on any server;
a database dump, a backup or a stray key file alone cannot.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from phonetrust.errors import KeyMaterialError, LocalError
from phonetrust.pki import keywrap
from phonetrust.store.keys import KeyStore, write_private
from phonetrust.store.sql import sqlite_url

DATA_ENV = "PHONETRUST_DATA"
DB_ENV = "PHONETRUST_DB"
DEFAULT_DATA = Path("phonetrust-data")


@dataclass(frozen=True, slots=True)
class DataDir:
    root: Path
    db_url: str

    @classmethod
    def locate(cls, data: Path | None = None, db: str | None = None) -> DataDir:
        """``--data``/``PHONETRUST_DATA`` [./phonetrust-data], ``--db``/``PHONETRUST_DB``."""
        root = data or Path(os.environ.get(DATA_ENV) or DEFAULT_DATA)
        url = db or os.environ.get(DB_ENV) or sqlite_url(root / "phonetrust.db")
        return cls(root, url)

    @property
    def keys_dir(self) -> Path:
        return self.root / "keys"

    @property
    def tftp_dir(self) -> Path:
        return self.root / "tftp"

    def create(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(self.root, 0o700)

    def exists(self) -> bool:
        return (self.root / "master.salt").exists()

    def init_password(self, password: str) -> bytes:
        """Derive and cache the master key of a new cluster."""
        self.create()
        salt = keywrap.new_salt()
        master = keywrap.derive_master_key(password, salt)
        write_private(self.root / "master.salt", salt)
        write_private(self.root / "master.key", master)
        write_private(self.root / "p12.pass", p12_password(password))
        return master

    def master_key(self, password: str | None = None) -> bytes:
        """The cached master key, or the one ``password`` derives (which is then checked)."""
        salt_path, key_path = self.root / "master.salt", self.root / "master.key"
        if not salt_path.exists():
            raise LocalError(
                f"{self.root} holds no cluster; create one with `phonetrust cluster init`"
            )
        if password is None:
            if not key_path.exists():
                raise KeyMaterialError(
                    "the master key is not cached here; give the security password"
                )
            return key_path.read_bytes()
        master = keywrap.derive_master_key(password, salt_path.read_bytes())
        if key_path.exists() and key_path.read_bytes() != master:
            raise KeyMaterialError("wrong security password")
        return master

    def change_password(self, old_master: bytes, new_password: str) -> bytes:
        salt = keywrap.new_salt()
        new_master = keywrap.derive_master_key(new_password, salt)
        self.keystore(old_master).rekey(new_master)
        write_private(self.root / "master.salt", salt)
        write_private(self.root / "master.key", new_master)
        write_private(self.root / "p12.pass", p12_password(new_password))
        return new_master

    def p12_password(self) -> bytes:
        """The password of ITLRecovery.p12 exports, derived from the security password."""
        path = self.root / "p12.pass"
        if not path.exists():
            raise KeyMaterialError("the ITLRecovery.p12 password is not cached here")
        return path.read_bytes()

    def keystore(self, master_key: bytes) -> KeyStore:
        return KeyStore(self.keys_dir, master_key)


P12_SALT = b"phonetrust ITLRecovery.p12"
"""Fixed on purpose: a cluster rebuilt with the same security password can open an old .p12."""


def p12_password(password: str) -> bytes:
    """ITLRecovery.p12 is protected by a password derived from the security password (C2, C5)."""
    return keywrap.derive_master_key(password, P12_SALT).hex().encode()

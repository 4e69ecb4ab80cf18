"""The data directory: one machine's place in the cluster.

Layout::

    DATA/phonetrust.db     SQLite database (unless --db / PHONETRUST_DB names another), 0600
    DATA/master.key        the cluster key, cached so services start unattended (0600)
    DATA/node              the uid of the node this machine is (``cluster init`` / ``join``)
    DATA/tftp/             extra files TFTP serves (firmware, ring lists)
    DATA/activelog/        service traces, laid out as CUCM's active log (``store.tracefiles``)

The directory is 0700; commands refuse to start when it or ``master.key``
is open to other users. The private keys are in the database, sealed under
the cluster key; the cluster key is in the database too, sealed under the
security password (the key vault). So every machine of a cluster shares
the keys through the database, and a machine joins with the security
password alone (``phonetrust cluster join``). Whoever can read a data
directory's ``master.key`` *and* the database has the keys, as on any
server; a database dump, a backup or a stray file alone does not.

An older data directory (``master.salt``, ``p12.pass`` and ``keys/*.key``
sealed under the password's master key) is moved into the database the first
time it is opened: the old master key becomes the cluster key, so the
password stays the same and the sealed keys are copied unchanged.
"""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from phonetrust.errors import KeyMaterialError, LocalError
from phonetrust.pki import keywrap
from phonetrust.store import durable
from phonetrust.store.engine import read_only
from phonetrust.store.keys import KeyStore, open_vault, vault_of, vault_opens
from phonetrust.store.repository import Repository
from phonetrust.store.sql import sqlite_url

DATA_ENV = "PHONETRUST_DATA"
DB_ENV = "PHONETRUST_DB"
PASSWORD_ENV = "PHONETRUST_SECURITY_PASSWORD"  # noqa: S105 - the name of a variable
DEFAULT_DATA = Path("phonetrust-data")
KEY_FILE = "master.key"
NODE_FILE = "node"
LEGACY_SALT = "master.salt"
ACTIVELOG = "activelog"


def activelog_of(root: Path) -> Path:
    """Where a data directory keeps its service traces (``serve`` knows only the root)."""
    return root / ACTIVELOG


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
    def key_file(self) -> Path:
        return self.root / KEY_FILE

    @property
    def tftp_dir(self) -> Path:
        return self.root / "tftp"

    @property
    def activelog(self) -> Path:
        return activelog_of(self.root)

    def create(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True, mode=durable.DIR_MODE)
        os.chmod(self.root, durable.DIR_MODE)

    def exists(self) -> bool:
        """Whether this directory belongs to a cluster already."""
        return self.key_file.exists() or (self.root / LEGACY_SALT).exists()

    @contextmanager
    def creating(self) -> Iterator[None]:
        """Create the directory; should the block fail, leave nothing of what it made."""
        existed = self.root.exists()
        before = set(self.root.iterdir()) if existed else set()
        self.create()
        try:
            yield
        except BaseException:
            if not existed:
                shutil.rmtree(self.root, ignore_errors=True)
            else:
                for path in set(self.root.iterdir()) - before:
                    if path.is_dir() and not path.is_symlink():
                        shutil.rmtree(path, ignore_errors=True)
                    else:
                        path.unlink(missing_ok=True)
            raise

    def no_cluster(self) -> LocalError:
        return LocalError(
            f"{self.root} holds no cluster; create one with `phonetrust cluster init`, "
            "or join one with `phonetrust cluster join`"
        )

    def cache(self, cluster_key: bytes, node_uid: str | None) -> None:
        """Cache the cluster key here, and which node this machine is."""
        self.create()
        if node_uid is not None:
            durable.write_private(self.root / NODE_FILE, node_uid.encode("ascii"))
        durable.write_private(self.key_file, cluster_key)  # last: it marks the directory done

    def node_uid(self) -> str | None:
        """The uid of this machine's node (``cluster init``/``join``), if recorded."""
        path = self.root / NODE_FILE
        if not path.exists():
            return None
        return path.read_text("ascii").strip() or None

    def check_private(self) -> None:
        """:class:`LocalError` if the directory or the cached key is open to other users."""
        for path, fix in ((self.root, "700"), (self.key_file, "600")):
            try:
                mode = path.stat().st_mode
            except FileNotFoundError:
                continue
            if stat.S_IMODE(mode) & 0o077:
                raise LocalError(
                    f"{path} is open to other users (mode {stat.S_IMODE(mode):o}), "
                    f"which exposes the cluster's keys: run `chmod {fix} {path}`"
                )

    def cluster_key(self, repo: Repository, now: datetime, password: str | None = None) -> bytes:
        """The cluster key: cached here, or unsealed with ``password`` (then checked).

        ``repo`` must be the database of this directory's cluster; an older
        directory's keys are moved into it first (``now`` dates them).
        """
        if (self.root / LEGACY_SALT).exists():
            self.check_private()
            self._move_into_database(repo, now, password)
        if not self.exists():
            raise self.no_cluster()
        self.check_private()
        with read_only(), repo.unit_of_work() as uow:  # a command waits for no change
            vault = uow.get_key_vault()
        if vault is None:
            raise LocalError(
                f"the database of {self.root} holds no cluster (is --db / PHONETRUST_DB right?)"
            )
        cached = self.key_file.read_bytes() if self.key_file.exists() else None
        if cached is not None and not vault_opens(vault, cached):
            raise KeyMaterialError(
                f"{self.key_file} does not open this database's keys "
                "(is --db / PHONETRUST_DB right?)"
            )
        if password is not None:
            return open_vault(vault, password)  # the same key as the cache, if there is one
        if cached is None:
            raise KeyMaterialError("the cluster key is not cached here; give the security password")
        return cached

    def keystore(self, repo: Repository, cluster_key: bytes) -> KeyStore:
        return KeyStore(repo, cluster_key, home=self.root)

    # -- the older layout --------------------------------------------------------------------
    def _move_into_database(self, repo: Repository, now: datetime, password: str | None) -> None:
        """Move ``master.salt``, ``p12.pass`` and ``keys/*.key`` into the database, once.

        One transaction writes the vault and every key; only then are the files removed
        (``master.salt`` last). A crash anywhere leaves either the old directory, which
        this runs on again, or a moved one: the password opens everything either way.
        """
        salt = (self.root / LEGACY_SALT).read_bytes()
        master = self._legacy_master(salt, password)
        with repo.unit_of_work() as uow:
            vault = uow.get_key_vault()
        if vault is None:
            self._copy_into_database(repo, master, salt, now, password)
        elif not vault_opens(vault, master):
            raise KeyMaterialError(
                f"{self.root} and its database hold different keys; not moving them"
            )
        if not self.key_file.exists():
            durable.write_private(self.key_file, master)
        if (self.root / "keys").exists():
            shutil.rmtree(self.root / "keys")  # with any old write's .tmp
        stale = ("master.tmp", "p12.tmp", "p12.pass")  # old writes' .tmp and p12.pass
        durable.remove(*(self.root / name for name in stale if (self.root / name).exists()))
        durable.remove(self.root / LEGACY_SALT)  # last: the directory is then moved

    def _legacy_master(self, salt: bytes, password: str | None) -> bytes:
        if self.key_file.exists():
            master = self.key_file.read_bytes()
            if password is not None and keywrap.derive_master_key(password, salt) != master:
                raise KeyMaterialError("wrong security password")
            return master
        if password is None:
            raise KeyMaterialError("the master key is not cached here; give the security password")
        return keywrap.derive_master_key(password, salt)

    def _copy_into_database(
        self, repo: Repository, master: bytes, salt: bytes, now: datetime, password: str | None
    ) -> None:
        p12_file = self.root / "p12.pass"
        if p12_file.exists():
            p12 = p12_file.read_bytes()
        elif password is not None:
            p12 = keywrap.p12_password(password)
        else:
            raise KeyMaterialError("p12.pass is missing; give the security password")
        sealed = {}
        for path in sorted((self.root / "keys").glob("*.key")):
            blob = path.read_bytes()
            keywrap.unseal(master, blob, path.stem.encode())  # only keys this password opens
            sealed[path.stem] = blob
        with repo.unit_of_work() as uow:
            if uow.get_key_vault() is not None:
                raise LocalError(f"{self.root}: its keys are being moved by another process")
            uow.put_key_vault(vault_of(master, salt, master, p12, now))
            for name, blob in sealed.items():
                uow.put_sealed_key(name, blob, now)

"""Private keys in the cluster database, sealed under the cluster key; the key vault.

Keys are found by the SHA-256 of their certificate's DER, so regenerated,
renamed and historical certificates each keep their own key and a restore
brings back exactly the keys its database refers to. A key is written in
the unit of work that adds its certificate: both commit, or neither does,
and every machine of the cluster sees them at once.

The vault (one row) holds the cluster key sealed under the security
password, and the ITLRecovery.p12 password sealed under the cluster key.
Changing the password rewrites that one row: the cluster key, and so every
sealed private key and every machine's cached copy of it, stays the same.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TypeVar

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from phonetrust.errors import KeyMaterialError, LocalError
from phonetrust.pki import keywrap
from phonetrust.store.engine import read_only
from phonetrust.store.repository import KeyVault, Repository, UnitOfWork

T = TypeVar("T")

WRAP_CONTEXT = b"phonetrust cluster key"
P12_CONTEXT = b"phonetrust ITLRecovery.p12 password"


def fingerprint(der: bytes) -> str:
    return hashlib.sha256(der).hexdigest()


# -- the vault ------------------------------------------------------------------------------


def new_vault(password: str, cluster_key: bytes, now: datetime) -> KeyVault:
    """``cluster_key`` sealed under ``password`` (fresh salt), with the password's p12 password."""
    salt = keywrap.new_salt()
    master = keywrap.derive_master_key(password, salt)
    return vault_of(master, salt, cluster_key, keywrap.p12_password(password), now)


def vault_of(
    master: bytes, salt: bytes, cluster_key: bytes, p12_password: bytes, now: datetime
) -> KeyVault:
    """The vault row, given the password's master key (scrypt of the password and ``salt``)."""
    wrapped = keywrap.seal(keywrap.vault_kek(master), cluster_key, WRAP_CONTEXT)
    return KeyVault(salt, wrapped, keywrap.seal(cluster_key, p12_password, P12_CONTEXT), now)


def open_vault(vault: KeyVault, password: str) -> bytes:
    """The cluster key; :class:`KeyMaterialError` if ``password`` is not the security password."""
    master = keywrap.derive_master_key(password, vault.salt)
    try:
        return keywrap.unseal(keywrap.vault_kek(master), vault.wrapped_key, WRAP_CONTEXT)
    except KeyMaterialError:
        raise KeyMaterialError("wrong security password") from None


def vault_opens(vault: KeyVault, cluster_key: bytes) -> bool:
    """Whether ``cluster_key`` is the key of this vault (its p12 password unseals)."""
    try:
        keywrap.unseal(cluster_key, vault.p12_password, P12_CONTEXT)
    except KeyMaterialError:
        return False
    return True


# -- the keys ---------------------------------------------------------------------------------


class KeyStore:
    """The cluster's private keys, unsealed with ``cluster_key``, read through ``repo``.

    Methods that take ``uow`` work inside that unit of work (and see what it
    wrote before it commits); without one, a read opens its own.
    """

    def __init__(self, repo: Repository, cluster_key: bytes, home: Path | None = None) -> None:
        self._repo = repo
        self._cluster_key = cluster_key
        self.home = home
        """The data directory the cluster key was read from (None: not from one)."""
        self._unsealed: dict[str, PrivateKeyTypes] = {}
        """Keys already unsealed, by fingerprint: loading an RSA key costs tens of
        milliseconds and every change signs with the same few keys. The key of a
        fingerprint never changes, so an entry never goes stale."""

    # -- private keys
    def put(self, uow: UnitOfWork, cert_der: bytes, key: PrivateKeyTypes, at: datetime) -> None:
        """Store the key of ``cert_der`` in ``uow``: it commits with the certificate."""
        name = fingerprint(cert_der)
        uow.put_sealed_key(
            name, keywrap.seal_private_key(self._cluster_key, key, name.encode()), at
        )
        # Cached now, so the plan built later in the same change signs with it. Should
        # the change roll back, so does the certificate, and no one asks for this key.
        self._unsealed[name] = key

    def get(self, cert_der: bytes, uow: UnitOfWork | None = None) -> PrivateKeyTypes:
        name = fingerprint(cert_der)
        cached = self._unsealed.get(name)
        if cached is not None:
            return cached
        sealed = self._read(uow, lambda u: u.get_sealed_key(name))
        if sealed is None:
            raise KeyMaterialError(f"the private key of certificate {name[:16]}... is missing")
        key = keywrap.unseal_private_key(self._cluster_key, sealed, name.encode())
        self._unsealed[name] = key
        return key

    def has(self, cert_der: bytes, uow: UnitOfWork) -> bool:
        return uow.get_sealed_key(fingerprint(cert_der)) is not None

    def delete(self, cert_der: bytes, uow: UnitOfWork | None = None) -> None:
        name = fingerprint(cert_der)
        self._unsealed.pop(name, None)
        if uow is None:
            with self._repo.unit_of_work() as own:
                own.delete_sealed_key(name)
        else:
            uow.delete_sealed_key(name)

    def _read(self, uow: UnitOfWork | None, read: Callable[[UnitOfWork], T]) -> T:
        """``read`` in ``uow``, else in a read-only one of its own: a serving node loading
        a key must neither wait for nor hold up a change in progress."""
        if uow is not None:
            return read(uow)
        with read_only(), self._repo.unit_of_work() as own:
            return read(own)

    # -- the vault
    def _vault(self, uow: UnitOfWork | None) -> KeyVault:
        vault = self._read(uow, lambda u: u.get_key_vault())
        if vault is None:
            raise LocalError("the database holds no key vault: it holds no cluster")
        return vault

    def p12_password(self, uow: UnitOfWork | None = None) -> bytes:
        """The password ITLRecovery.p12 exports are sealed with (derived from the security one)."""
        return keywrap.unseal(self._cluster_key, self._vault(uow).p12_password, P12_CONTEXT)

    def derived_secret(self, purpose: str) -> bytes:
        """A 32-byte secret for ``purpose`` (the web sessions' signing key), derived from the
        cluster key: the same on every node and after a restart, stored nowhere."""
        hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose.encode())
        return hkdf.derive(self._cluster_key)

    def check_password(self, password: str, uow: UnitOfWork | None = None) -> None:
        """:class:`KeyMaterialError` unless ``password`` is the security password."""
        if open_vault(self._vault(uow), password) != self._cluster_key:
            raise KeyMaterialError("wrong security password")

    def change_password(self, uow: UnitOfWork, new_password: str, now: datetime) -> None:
        """Seal the cluster key under ``new_password``: one row, committed with ``uow``."""
        uow.put_key_vault(new_vault(new_password, self._cluster_key, now))

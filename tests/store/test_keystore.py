"""The key store: keys sealed in the database with their certificates; the key vault."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from phonetrust.errors import KeyMaterialError
from phonetrust.pki import keywrap
from phonetrust.store.datadir import DataDir
from phonetrust.store.keys import KeyStore, fingerprint, new_vault, open_vault, vault_opens
from phonetrust.store.sql import SqlRepository
from phonetrust.testing.clock import FakeClock
from phonetrust.testing.cluster import new_context, open_context
from phonetrust.testing.pki import make_identity, plain_name

CLUSTER_KEY = bytes(range(32))
CERT = make_identity(plain_name("cucm-pub"), slot=6)
DER = CERT.certificate.public_bytes(Encoding.DER)
NOW = datetime(2026, 3, 6, 12, 0, tzinfo=UTC)
PASSWORD = "Cisco-Security-123"  # noqa: S105 - a test password


def _numbers(key: object) -> int:
    assert isinstance(key, rsa.RSAPrivateKey)
    return key.private_numbers().d


def test_a_key_is_sealed_in_the_database_and_read_back_by_another_store(
    repo: SqlRepository,
) -> None:
    store = KeyStore(repo, CLUSTER_KEY)
    with repo.unit_of_work() as uow:
        store.put(uow, DER, CERT.key, NOW)
        # Inside the same unit of work, before it commits, a store that never saw it finds it.
        assert _numbers(KeyStore(repo, CLUSTER_KEY).get(DER, uow)) == _numbers(CERT.key)
        sealed = uow.get_sealed_key(fingerprint(DER))
    assert sealed is not None
    assert CERT.key.private_bytes(Encoding.DER, PrivateFormat.PKCS8, NoEncryption()) not in sealed
    other = KeyStore(repo, CLUSTER_KEY)  # e.g. `serve` on another machine
    assert _numbers(other.get(DER)) == _numbers(CERT.key)
    assert other.get(DER) is other.get(DER)  # unsealed once
    with repo.unit_of_work() as uow:
        assert other.has(DER, uow)


def test_a_key_whose_change_rolled_back_is_not_there(repo: SqlRepository) -> None:
    store = KeyStore(repo, CLUSTER_KEY)

    def failed_change() -> None:
        with repo.unit_of_work() as uow:
            store.put(uow, DER, CERT.key, NOW)
            raise RuntimeError("the change failed")

    with pytest.raises(RuntimeError):
        failed_change()
    with pytest.raises(KeyMaterialError, match="is missing"):
        KeyStore(repo, CLUSTER_KEY).get(DER)


def test_another_cluster_key_cannot_unseal_and_delete_forgets(repo: SqlRepository) -> None:
    store = KeyStore(repo, CLUSTER_KEY)
    with repo.unit_of_work() as uow:
        store.put(uow, DER, CERT.key, NOW)
    with pytest.raises(KeyMaterialError, match="cannot decrypt"):
        KeyStore(repo, bytes(32)).get(DER)
    store.delete(DER)
    with pytest.raises(KeyMaterialError, match="is missing"):
        store.get(DER)


def test_the_vault_opens_with_the_password_only_and_a_change_keeps_the_cluster_key(
    repo: SqlRepository,
) -> None:
    with repo.unit_of_work() as uow:
        uow.put_key_vault(new_vault(PASSWORD, CLUSTER_KEY, NOW))
    store = KeyStore(repo, CLUSTER_KEY)
    store.check_password(PASSWORD)
    with pytest.raises(KeyMaterialError, match="wrong security password"):
        store.check_password("not-the-password")
    assert store.p12_password() == keywrap.p12_password(PASSWORD)
    with repo.unit_of_work() as uow:
        store.change_password(uow, "New-Password-456", NOW)
    with repo.unit_of_work() as uow:
        vault = uow.get_key_vault()
    assert vault is not None
    assert open_vault(vault, "New-Password-456") == CLUSTER_KEY
    assert vault_opens(vault, CLUSTER_KEY)
    assert not vault_opens(vault, bytes(32))
    with pytest.raises(KeyMaterialError, match="wrong security password"):
        open_vault(vault, PASSWORD)
    # The .p12 password follows the security password (C5), as it always did.
    assert store.p12_password() == keywrap.p12_password("New-Password-456")


def test_reading_a_key_waits_for_no_change_in_progress(repo: SqlRepository) -> None:
    """A serving node loads a key while an administrator's change holds the write lock."""
    with repo.unit_of_work() as uow:
        KeyStore(repo, CLUSTER_KEY).put(uow, DER, CERT.key, NOW)
        uow.put_key_vault(new_vault(PASSWORD, CLUSTER_KEY, NOW))
    reader = KeyStore(repo, CLUSTER_KEY)
    with repo.unit_of_work():  # a change in progress (SQLite: the write lock is taken)
        started = time.monotonic()
        assert _numbers(reader.get(DER)) == _numbers(CERT.key)
        assert reader.p12_password() == keywrap.p12_password(PASSWORD)
        assert time.monotonic() - started < 5  # busy_timeout is 10 s: no wait for the lock


def test_opening_a_data_directory_waits_for_no_change_in_progress(tmp_path: Path) -> None:
    """Every command and `serve` start reads the vault; a change in progress holds the lock."""
    where = DataDir.locate(tmp_path / "data")
    ctx = new_context(where, PASSWORD, FakeClock(NOW.timestamp()))
    with ctx.repo.unit_of_work():  # SQLite: the write lock is taken
        started = time.monotonic()
        other = open_context(where, FakeClock(NOW.timestamp()))
        assert time.monotonic() - started < 5  # busy_timeout is 10 s: no wait for the lock
        other.repo.close()
    ctx.repo.close()

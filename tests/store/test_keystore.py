"""The key store: sealed files, and unsealed keys reused only while their file is unchanged."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from phonetrust.errors import KeyMaterialError
from phonetrust.store.keys import FILE_MODE, KeyStore
from phonetrust.testing.pki import make_identity, plain_name

MASTER = bytes(range(32))
CERT = make_identity(plain_name("cucm-pub"), slot=6)
DER = CERT.certificate.public_bytes(Encoding.DER)


def _numbers(key: object) -> int:
    assert isinstance(key, rsa.RSAPrivateKey)
    return key.private_numbers().d


def test_a_key_is_sealed_private_and_read_back(tmp_path: Path) -> None:
    store = KeyStore(tmp_path / "keys", MASTER)
    store.put(DER, CERT.key)
    (path,) = store.files()
    assert path.stat().st_mode & 0o777 == FILE_MODE
    assert (
        CERT.key.private_bytes(Encoding.DER, PrivateFormat.PKCS8, NoEncryption())
        not in path.read_bytes()
    )
    assert _numbers(store.get(DER)) == _numbers(CERT.key)
    assert store.get(DER) is store.get(DER)  # unsealed once


def test_a_file_changed_or_removed_by_another_process_is_noticed(tmp_path: Path) -> None:
    store = KeyStore(tmp_path / "keys", MASTER)
    other = KeyStore(tmp_path / "keys", MASTER)  # e.g. the admin CLI beside `serve`
    store.put(DER, CERT.key)
    first = store.get(DER)
    replacement = make_identity(plain_name("cucm-pub"), slot=7).key
    other.put(DER, replacement)  # a restore writing the file again
    assert _numbers(store.get(DER)) == _numbers(replacement)
    assert store.get(DER) is not first
    os.unlink(store.files()[0])
    with pytest.raises(KeyMaterialError, match="is missing"):
        store.get(DER)


def test_rekey_and_delete_forget_unsealed_keys(tmp_path: Path) -> None:
    store = KeyStore(tmp_path / "keys", MASTER)
    store.put(DER, CERT.key)
    store.get(DER)
    store.rekey(bytes(32))
    assert _numbers(store.get(DER)) == _numbers(CERT.key)
    assert _numbers(KeyStore(tmp_path / "keys", bytes(32)).get(DER)) == _numbers(CERT.key)
    store.delete(DER)
    with pytest.raises(KeyMaterialError):
        store.get(DER)

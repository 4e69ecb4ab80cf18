"""A phone's flash: save and load round trips."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from phonetrust.formats.tags import Role
from phonetrust.policy import phone_trust as trust
from phonetrust.policy.phone_decisions import TrustState, TvsReply, Via
from phonetrust.sim import storage
from phonetrust.sim.storage import DeviceIdentity, DeviceKeys, StorageError
from tests.sim import T0, ctl, der, itl, phone, world


def test_round_trip_with_lists_cache_and_keys(tmp_path: Path) -> None:
    w = world()
    state = phone("7975", ctl_bytes=ctl(w.cm), itl_bytes=itl(w.cm, recovery=w.recovery))
    pending = trust.check_https_server(state, der(w.tomcat), T0)
    state = pending.resume_with_tvs(TvsReply(True, (Role.APP_SERVER,)), T0).state
    keys = DeviceKeys(mic=DeviceIdentity(w.mic.certificate, w.mic.key))
    where = tmp_path / "SEP001122334455"
    storage.save(where, state, keys)
    loaded, loaded_keys = storage.load(where)
    assert loaded == state
    assert loaded.trust_state is state.trust_state
    assert loaded.itl_file is not None
    assert state.itl_file is not None
    assert loaded.itl_file.md5 == state.itl_file.md5
    assert loaded_keys.mic is not None
    assert loaded_keys.mic.certificate == w.mic.certificate
    assert loaded_keys.lsc is None
    assert loaded_keys.decryption_key() is not None
    assert stat.S_IMODE((where / storage.MIC_FILE).stat().st_mode) == 0o600
    assert trust.check_https_server(loaded, der(w.tomcat), T0 + 1).via is Via.TVS_CACHE


def test_erased_lists_leave_the_flash(tmp_path: Path) -> None:
    w = world()
    state = phone(ctl_bytes=ctl(w.cm), itl_bytes=itl(w.cm))
    storage.save(tmp_path, state)
    storage.save(tmp_path, trust.erase(state).state)
    assert not (tmp_path / storage.CTL_FILE).exists()
    assert not (tmp_path / storage.ITL_FILE).exists()
    loaded, keys = storage.load(tmp_path)
    assert loaded.trust_state is TrustState.NO_LISTS
    assert keys == DeviceKeys()


def test_lsc_is_preferred_for_decryption(tmp_path: Path) -> None:
    w = world()
    keys = DeviceKeys(
        mic=DeviceIdentity(w.mic.certificate, w.mic.key),
        lsc=DeviceIdentity(w.other_phone.certificate, w.other_phone.key),
    )
    storage.save(tmp_path, phone(), keys)
    loaded, loaded_keys = storage.load(tmp_path)
    assert (loaded.has_mic, loaded.has_lsc) == (True, True)
    key = loaded_keys.decryption_key()
    assert isinstance(key, rsa.RSAPrivateKey)
    assert key.private_numbers() == w.other_phone.key.private_numbers()


@pytest.mark.parametrize(
    "damage",
    [
        lambda p: (p / storage.STATE_FILE).write_text("{not json"),
        lambda p: (p / storage.STATE_FILE).write_text(json.dumps({"format": 99})),
        lambda p: (p / storage.ITL_FILE).write_bytes(b"\x01\x00junk"),
        lambda p: (p / storage.STATE_FILE).unlink(),
    ],
)
def test_damage_is_a_storage_error(tmp_path: Path, damage: object) -> None:
    storage.save(tmp_path, phone())
    assert callable(damage)
    damage(tmp_path)
    with pytest.raises(StorageError):
        storage.load(tmp_path)

"""Backup and restore (B5): byte-identical trust lists after a restore; bad archives refused."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from phonetrust.errors import KeyMaterialError, LocalError
from phonetrust.formats.sgn import SignedFile
from phonetrust.pki import keywrap
from phonetrust.policy.domain import CertName, Device
from phonetrust.service import backup, inventory, users
from phonetrust.service.context import Context, x509_of
from phonetrust.store.datadir import DataDir
from phonetrust.store.keys import new_vault
from phonetrust.testing.clock import FakeClock
from phonetrust.testing.cluster import restored_context
from tests.service.conftest import PASSWORD, Lab
from tests.service.helpers import current, signed_by, trust_list


def _restored(tmp_path: Path, archive: bytes, clock: FakeClock) -> tuple[DataDir, Context]:
    where = DataDir.locate(tmp_path / "restored")
    content = backup.open_archive(archive, PASSWORD)
    return where, restored_context(where, content, PASSWORD, clock)


def test_restore_serves_byte_identical_files_and_keeps_the_keys(lab: Lab, tmp_path: Path) -> None:
    lab.admin("utils ctl set-cluster mixed-mode", "y")
    inventory.add_devices(lab.ctx, [Device("SEP001122334455", "7975")])
    archive = backup.create(lab.ctx, PASSWORD)
    with lab.ctx.repo.unit_of_work() as uow:
        original = {
            (n.host, name): uow.published_file(n.host, name)
            for n in uow.list_nodes()
            for name in uow.published_names(n.host)
        }
    where, ctx = _restored(tmp_path, archive, lab.clock)
    with ctx.repo.unit_of_work() as uow:
        restored = {
            (n.host, name): uow.published_file(n.host, name)
            for n in uow.list_nodes()
            for name in uow.published_names(n.host)
        }
        assert uow.get_device("SEP001122334455") is not None
    assert restored == original
    # The restored node still holds its CallManager key: a change re-signs with the same key.
    cm = current(ctx, "cucm-pub", CertName.CALLMANAGER)
    assert cm == current(lab.ctx, "cucm-pub", CertName.CALLMANAGER)
    lab.clock.advance(60)
    inventory.update_device(ctx, "SEP001122334455", settings={"webAccess": "1"})
    config = "SEP001122334455.cnf.xml.sgn"
    with ctx.repo.unit_of_work() as uow:
        changed = {name: uow.published_file("cucm-pub", name) for name in (config, "ITLFile.tlv")}
    new_config = changed[config]
    assert new_config is not None
    assert new_config != original["cucm-pub", config], "the change was not published"
    assert SignedFile.from_wire(new_config).verify(cm).verified
    assert signed_by(trust_list(changed["ITLFile.tlv"]), cm)
    # The archive carries what each file was made from: what did not change is kept.
    assert changed["ITLFile.tlv"] == original["cucm-pub", "ITLFile.tlv"]
    # Every key, ITLRecovery's included, is in the restored database under its new cluster
    # key, and the security password of the archive opens them.
    ctx.keys.check_password(PASSWORD)
    with ctx.repo.unit_of_work() as uow:
        for n in uow.list_nodes():
            for name in CertName:
                own = uow.current_certificate(n.host, name)
                if own is not None:
                    assert ctx.keys.get(own.der, uow).public_key() == x509_of(own).public_key()
    assert ctx.keys.p12_password() == keywrap.p12_password(PASSWORD)
    ctx.repo.close()
    del where


def test_a_backup_does_not_clear_the_recovery_alert(lab: Lab) -> None:
    backup.create(lab.ctx, PASSWORD)
    with lab.ctx.repo.unit_of_work() as uow:
        assert [a.kind for a in uow.list_alerts()] == ["ITLRecoveryBackup"]


@pytest.mark.parametrize(
    ("mangle", "message"),
    [
        (lambda b: b[: len(b) // 2], "truncated or was altered"),
        (lambda b: b[:-1] + bytes([b[-1] ^ 1]), "truncated or was altered"),
        (lambda b: b[:20], "truncated"),
        (lambda b: b"not a backup at all", "not a phonetrust backup"),
    ],
)
def test_damaged_archives_are_refused_with_a_clear_reason(
    lab: Lab, mangle: object, message: str
) -> None:
    archive = backup.create(lab.ctx, PASSWORD)
    assert callable(mangle)
    with pytest.raises(backup.BackupError, match=message):
        backup.open_archive(mangle(archive), PASSWORD)


def test_wrong_password_is_named(lab: Lab) -> None:
    archive = backup.create(lab.ctx, PASSWORD)
    with pytest.raises(backup.BackupError, match="wrong security password"):
        backup.open_archive(archive, "wrong-password")


def test_restore_refuses_a_data_directory_that_has_a_cluster(lab: Lab) -> None:
    archive = backup.create(lab.ctx, PASSWORD)
    vault = new_vault(PASSWORD, keywrap.new_cluster_key(), lab.ctx.now())
    with pytest.raises(LocalError, match="restore needs an empty database"):
        backup.restore(lab.ctx, backup.open_archive(archive, PASSWORD), vault)


def test_a_lost_callmanager_key_blocks_publishing_until_callmanager_is_regenerated(
    lab: Lab,
) -> None:
    """B5's broken restore: phonetrust refuses to publish (rather than serve a bad ITL)."""
    before = lab.file("cucm-pub", "ITLFile.tlv")
    cm = current(lab.ctx, "cucm-pub", CertName.CALLMANAGER)
    lab.ctx.keys.delete(cm.public_bytes(Encoding.DER))
    with pytest.raises(KeyMaterialError, match="is missing"):
        inventory.set_param(lab.ctx, "CAPF Operation Expires in (days)", "12")
    assert lab.file("cucm-pub", "ITLFile.tlv") == before  # phones keep the last good files
    lab.admin("set cert regen CallManager", "yes")
    new_cm = current(lab.ctx, "cucm-pub", CertName.CALLMANAGER)
    assert signed_by(trust_list(lab.file("cucm-pub", "ITLFile.tlv")), new_cm)


def test_restore_keeps_the_web_users_and_api_tokens(lab: Lab, tmp_path: Path) -> None:
    users.add_user(lab.ctx, "operator", "Operator-Pass-1", users.READ_ONLY)
    _, token = users.create_token(lab.ctx, "operator", "script")
    archive = backup.create(lab.ctx, PASSWORD)
    _, ctx = _restored(tmp_path, archive, lab.clock)
    assert users.authenticate(ctx, "operator", "Operator-Pass-1").role == users.READ_ONLY
    found = users.token_user(ctx, token)
    assert found is not None
    assert found.name == "operator"
    ctx.repo.close()

"""C5: only a completed upload of ITLRecovery.p12 is an export (real OpenSSH server).

The daily alert exists so that the recovery key gets saved somewhere safe; an
export that was cancelled or never reached the SFTP server saved nothing, so
it must neither clear the alert nor be audited as an export.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from phonetrust.net.sftp import SftpError
from phonetrust.service import alerts
from phonetrust.store.repository import AuditEntry
from phonetrust.testing.sshd import SshServer, running_sshd
from tests.service.conftest import Lab

COMMAND = "file get tftp ITLRecovery.p12"


@pytest.fixture(scope="module")
def sshd() -> Iterator[SshServer]:
    with running_sshd() as server:
        yield server


def _open_alerts(lab: Lab) -> list[str]:
    with lab.ctx.repo.unit_of_work() as uow:
        return [a.kind for a in alerts.check_daily(uow, lab.ctx.now())]


def _exports(lab: Lab) -> list[AuditEntry]:
    with lab.ctx.repo.unit_of_work() as uow:
        return [e for e in uow.list_audit(1000) if e.action == COMMAND]


def _exported_at(lab: Lab) -> object:
    with lab.ctx.repo.unit_of_work() as uow:
        state = uow.get_cluster()
        assert state is not None
        return state.p12_exported_at


def _closed_port() -> int:
    """A local port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_answering_n_exports_nothing(lab: Lab) -> None:
    out = lab.admin(COMMAND, "n")
    assert "Would you like to proceed [y/n]? n" in out
    assert "Transfer completed." not in out
    assert _open_alerts(lab) == [alerts.RECOVERY_BACKUP]
    assert _exports(lab) == []
    assert _exported_at(lab) is None


def test_a_wrong_sftp_password_is_audited_as_failed_and_keeps_the_alert(
    lab: Lab, sshd: SshServer
) -> None:
    with pytest.raises(SftpError, match="login failed"):
        lab.admin(
            COMMAND, "y", sshd.host, str(sshd.port), sshd.user, "wrong", str(sshd.root), "yes"
        )
    assert not (sshd.root / "ITLRecovery.p12").exists()
    assert _open_alerts(lab) == [alerts.RECOVERY_BACKUP]
    assert _exported_at(lab) is None
    [entry] = _exports(lab)
    assert "failed" in entry.detail
    assert "login failed" in entry.detail


def test_an_unreachable_sftp_host_is_audited_as_failed_and_keeps_the_alert(lab: Lab) -> None:
    port = _closed_port()
    with pytest.raises(SftpError, match="cannot reach"):
        lab.admin(COMMAND, "y", "127.0.0.1", str(port), "nobody", "secret", "backups")
    assert _open_alerts(lab) == [alerts.RECOVERY_BACKUP]
    assert _exported_at(lab) is None
    [entry] = _exports(lab)
    assert f"127.0.0.1:{port}" in entry.detail
    assert "failed" in entry.detail


def test_a_completed_upload_clears_the_alert_and_is_audited_as_the_export(
    lab: Lab, sshd: SshServer
) -> None:
    out = lab.admin(COMMAND, "y", *sshd.file_get_answers(), "yes")
    assert "Transfer completed." in out
    assert (sshd.root / "ITLRecovery.p12").exists()
    assert _open_alerts(lab) == []
    assert _exported_at(lab) == lab.ctx.now()
    [entry] = _exports(lab)
    assert "failed" not in entry.detail
    assert str(sshd.root) in entry.detail

"""Alerts, and the ITLRecovery backup alert of scenario C5.

Until ITLRecovery.p12 is exported with ``file get tftp ITLRecovery.p12``
an alert is raised every day; a full backup does not clear it, and a
change of the security password (which protects the .p12) arms it again.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from phonetrust.store.repository import Alert, ClusterState, UnitOfWork

RECOVERY_BACKUP = "ITLRecoveryBackup"
RECOVERY_MESSAGE = (
    "The ITLRecovery key has not been backed up. Export it with "
    "'file get tftp ITLRecovery.p12' to an SFTP server and keep it safe: it is the only way "
    "to recover phones that no longer trust the cluster."
)
DAY = timedelta(days=1)


def arm_recovery_backup(uow: UnitOfWork, now: datetime) -> None:
    uow.raise_alert(RECOVERY_BACKUP, RECOVERY_MESSAGE, now)


def recovery_pending(state: ClusterState) -> bool:
    """The ITLRecovery key has not been exported since the security password last changed."""
    exported, changed = state.p12_exported_at, state.password_changed_at
    return exported is None or (changed is not None and changed > exported)


def check_daily(uow: UnitOfWork, now: datetime) -> list[Alert]:
    """Re-raise open daily alerts whose last raise is a day old; returns the open alerts."""
    state = uow.get_cluster()
    if state is not None:
        pending = recovery_pending(state)
        open_alerts = {a.kind: a for a in uow.list_alerts(open_only=True)}
        current = open_alerts.get(RECOVERY_BACKUP)
        if pending and (current is None or now - current.raised_at >= DAY):
            arm_recovery_backup(uow, now)
    return uow.list_alerts(open_only=True)

"""Cluster security mode, the CTL, ITL recovery and the TFTP directory commands.

Each function does what the CUCM command of the same name does and returns
the lines CUCM prints (the admin shell adds its prompts around them).
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12

from phonetrust.errors import KeyMaterialError, LocalError, ParseError
from phonetrust.formats.header import Header
from phonetrust.formats.trustlist import build_trust_list
from phonetrust.policy import params as P
from phonetrust.policy.domain import CertName, OwnCertificate, SecurityMode, Service, SignerOption
from phonetrust.policy.rules import require_publisher
from phonetrust.policy.trustlists import ctl_records
from phonetrust.service import alerts, fileplan
from phonetrust.service.changes import change, reading
from phonetrust.service.context import (
    Context,
    certificate,
    cluster,
    itl_recovery,
    node,
    publisher,
    signer_of,
    x509_of,
)
from phonetrust.store.repository import AuditEntry, ClusterState, UnitOfWork

RECOVERY_P12 = "ITLRecovery.p12"
CTL_UPDATE_QUESTION = "This operation will update the CTLFile. Do you want to continue? (y/n):"
ADMIN_PASSWORD_PROMPT = "Enter CCM Administrator password :"  # noqa: S105 - a prompt
"""CUCM's questions around its ``utils ctl`` / ``utils itl`` commands, asked alike by the admin
shell and the web pages' confirm pages."""


def set_cluster_question(mode: str) -> str:
    """``utils ctl set-cluster``'s question (``mode``: "Mixed" or "Non Secure")."""
    return f"This operation sets the cluster to {mode} mode. Do you want to continue? (y/n):"


RESTART_SERVICES = (
    "Please Restart the TFTP and Cisco CallManager services on all nodes in the cluster "
    "that run these services"
)


def _build_ctl(ctx: Context, uow: UnitOfWork, etokens: tuple[x509.Certificate, ...] = ()) -> bytes:
    """A tokenless CTL signed by the publisher's CallManager key (or ITLRecovery, H5)."""
    pub = publisher(uow)
    state = cluster(uow)
    signer_own = certificate(uow, pub.host, CertName.CALLMANAGER)
    if state.signer is SignerOption.ITLRECOVERY:
        signer_own = itl_recovery(uow) or signer_own
    signer = signer_of(ctx, signer_own, uow)
    records = ctl_records(fileplan.node_certs(uow), signer.certificate, pub, etokens)
    return build_trust_list(
        signer,
        records,
        filename=fileplan.CTL_NAME,
        timestamp=int(ctx.now().timestamp()),
        digest=fileplan.digest_of(uow),
    ).to_wire()


def set_mixed_mode(ctx: Context, host: str) -> list[str]:
    """``utils ctl set-cluster mixed-mode`` (D1): tokenless CTL, mode 1, no auto-registration."""
    with change(ctx, "utils ctl set-cluster mixed-mode") as ch:
        uow = ch.uow
        require_publisher(node(uow, host), "utils ctl")
        state = cluster(uow)
        ch.ctl_update = fileplan.CtlUpdate(_build_ctl(ctx, uow))
        uow.put_cluster(replace(state, security_mode=SecurityMode.MIXED, ctl_deleted=False))
        uow.set_param(P.AUTO_REGISTRATION, "False")
    return ["Moving Cluster to Mixed Mode", "Cluster set to Mixed Mode", RESTART_SERVICES]


def set_non_secure_mode(ctx: Context, host: str) -> list[str]:
    """``utils ctl set-cluster non-secure-mode`` (D9): the CTL stays until deleted."""
    with change(ctx, "utils ctl set-cluster non-secure-mode") as ch:
        uow = ch.uow
        require_publisher(node(uow, host), "utils ctl")
        state = cluster(uow)
        uow.put_cluster(replace(state, security_mode=SecurityMode.NON_SECURE))
        uow.set_param(P.AUTO_REGISTRATION, "True")
    return [
        "Moving Cluster to Non Secure Mode",
        "Cluster set to Non Secure Mode",
        RESTART_SERVICES,
    ]


def update_ctl(ctx: Context, host: str) -> list[str]:
    """``utils ctl update CTLFile`` (D4, D6): re-sign with the publisher key, drop eTokens."""
    with change(ctx, "utils ctl update CTLFile") as ch:
        uow = ch.uow
        require_publisher(node(uow, host), "utils ctl")
        state = cluster(uow)
        _require_mixed(state)
        ch.ctl_update = fileplan.CtlUpdate(_build_ctl(ctx, uow))
        uow.put_cluster(replace(state, ctl_deleted=False))
    return ["Updating CTL file", "CTL file Updated", RESTART_SERVICES]


def _require_mixed(state: ClusterState) -> None:
    if state.security_mode is not SecurityMode.MIXED:
        raise LocalError(
            "The cluster is not in Mixed Mode; set it with utils ctl set-cluster mixed-mode"
        )


def security_mode(ctx: Context) -> SecurityMode:
    """The cluster's mode now: what ``utils ctl`` checks before it asks anything."""
    with reading(ctx) as uow:
        return cluster(uow).security_mode


def check_update_ctl(ctx: Context) -> None:
    """Refuse now what :func:`update_ctl` would refuse: a cluster not in mixed mode."""
    with reading(ctx) as uow:
        _require_mixed(cluster(uow))


def has_ctl(ctx: Context, host: str) -> bool:
    """Whether ``host`` serves a CTLFile.tlv (``file delete`` says there is none first)."""
    with reading(ctx) as uow:
        return uow.published_file(node(uow, host).host, fileplan.CTL_NAME) is not None


def publish_hardware_ctl(ctx: Context, data: bytes) -> None:
    """Install a CTL the eToken CTL client signed (D3, D5) on every TFTP node."""
    with change(ctx, "ctl-client update CTLFile") as ch:
        uow = ch.uow
        state = cluster(uow)
        ch.ctl_update = fileplan.CtlUpdate(data)
        uow.put_cluster(replace(state, security_mode=SecurityMode.MIXED, ctl_deleted=False))
        uow.set_param(P.AUTO_REGISTRATION, "False")


def delete_ctl(ctx: Context, host: str) -> list[str]:
    """``file delete tftp CTLFile.tlv`` on one node (D9 clean-up, D5 migration)."""
    with change(ctx, "file delete tftp CTLFile.tlv", host) as ch:
        uow = ch.uow
        n = node(uow, host)
        if uow.published_file(n.host, fileplan.CTL_NAME) is None:
            raise LocalError("CTLFile.tlv: file not found")
        ch.ctl_update = fileplan.CtlUpdate(None, frozenset({n.host}))
    return ["files: found = 1, deleted = 1"]


def tftp_nodes(uow: UnitOfWork) -> list[str]:
    return [n.host for n in uow.list_nodes() if n.runs(Service.TFTP)]


def itl_reset(
    ctx: Context, host: str, remote_p12: bytes | None = None, p12_password: bytes | None = None
) -> list[str]:
    """``utils itl reset localkey|remotekey`` (C1, C2): the publisher's ITL, re-signed.

    Every TFTP node serves it, signed by ITLRecovery, until the next TFTP restart.

    With a remote .p12, its key replaces the local recovery key first; it is opened with
    ``p12_password`` [default: the one the security password derives].
    """
    with change(ctx, "utils itl reset", "remotekey" if remote_p12 else "localkey") as ch:
        uow = ch.uow
        pub = node(uow, host)
        require_publisher(pub, "utils itl reset")
        if remote_p12 is not None:
            password = ctx.keys.p12_password(uow) if p12_password is None else p12_password
            _import_recovery(ctx, uow, pub.host, remote_p12, password)
        if itl_recovery(uow) is None:
            raise LocalError("the publisher has no ITLRecovery key")
        state = cluster(uow)
        uow.put_cluster(replace(state, itl_reset_active=True))
        ch.tftp_restart = True
        nodes = tftp_nodes(uow)
    lines = [
        "Locating active Tftp servers in the cluster.....",
        "",
        "Following is the list of Active tftp servers in the cluster",
        "",
        "[" + ", ".join(f"'{h}'" for h in nodes) + "]",
        "The reset ITL file was generated successfully",
        "",
        "Transferring new reset ITL file to the TFTP server nodes in the cluster.....",
        "",
    ]
    for h in nodes:
        if h != host:
            lines.append(f"Successfully transferred reset ITL to node {h}")
            lines.append("")
        lines += [
            f"Restarting Cisco Tftp service on host {h}",
            f"Cisco Tftp service restarted on host {h}",
        ]
    return lines


def _import_recovery(
    ctx: Context, uow: UnitOfWork, host: str, data: bytes, password: bytes | None
) -> None:
    try:
        key, cert, _ = pkcs12.load_key_and_certificates(data, password)
    except ValueError:
        raise KeyMaterialError(
            "ITLRecovery.p12: cannot open it (wrong password, or not a PKCS#12 file)"
        ) from None
    if cert is None or not isinstance(key, rsa.RSAPrivateKey):
        raise KeyMaterialError("ITLRecovery.p12 holds no RSA key and certificate")
    der = cert.public_bytes(serialization.Encoding.DER)
    now = ctx.now()
    ctx.keys.put(uow, der, key, now)
    uow.add_own_certificate(OwnCertificate(host, CertName.ITLRECOVERY, der, now))


def restart_tftp(ctx: Context) -> list[str]:
    """A TFTP restart: files are rebuilt, and an ITL reset ends (C1: CallManager signs again)."""
    with change(ctx, "restart Cisco Tftp") as ch:
        uow = ch.uow
        ch.tftp_restart = True
        state = cluster(uow)
        if state.itl_reset_active:
            uow.put_cluster(replace(state, itl_reset_active=False))
        nodes = tftp_nodes(uow)
    return [f"Cisco Tftp service restarted on host {h}" for h in nodes]


def export_recovery(ctx: Context, host: str, p12_password: bytes | None = None) -> bytes:
    """The bytes of ``file get tftp ITLRecovery.p12``: the publisher's recovery key, sealed.

    Sealed with ``p12_password`` [default: the one the security password derives]. On a
    subscriber the file does not exist (C3). Nothing is recorded here: only an upload that
    completed is an export (:func:`recovery_exported`), so a cancelled or failed one leaves
    the C5 alert open.
    """
    with reading(ctx) as uow:
        n = node(uow, host)
        recovery = itl_recovery(uow)
        if not n.publisher or recovery is None:
            raise LocalError(f"{RECOVERY_P12}: file not found")
        key = ctx.keys.get(recovery.der, uow)
        if not isinstance(key, rsa.RSAPrivateKey):
            raise KeyMaterialError("the ITLRecovery key is not an RSA key")
        if p12_password is None:
            p12_password = ctx.keys.p12_password(uow)
        return pkcs12.serialize_key_and_certificates(
            b"ITLRecovery",
            key,
            x509_of(recovery),
            None,
            serialization.BestAvailableEncryption(p12_password),
        )


def recovery_exported(ctx: Context, host: str, where: str) -> None:
    """A completed upload of ITLRecovery.p12 to ``where``: audited, and the C5 alert cleared."""
    with change(ctx, f"file get tftp {RECOVERY_P12}", f"{host} -> {where}") as ch:
        uow = ch.uow
        now = ctx.now()
        uow.put_cluster(replace(cluster(uow), p12_exported_at=now))
        uow.clear_alert(alerts.RECOVERY_BACKUP, now)


def recovery_export_failed(ctx: Context, host: str, where: str, reason: str) -> None:
    """An upload of ITLRecovery.p12 that did not complete: audited as failed, alert kept.

    Only the audit entry is written: nothing phones download changed, so no plan is
    published.
    """
    with ctx.repo.unit_of_work() as uow:
        uow.append_audit(
            AuditEntry(
                ctx.now(),
                ctx.actor,
                f"file get tftp {RECOVERY_P12}",
                f"{host} -> {where}: failed: {reason}",
            )
        )


@dataclass(frozen=True, slots=True)
class TftpFileInfo:
    """One line of ``file list tftp ... detail``."""

    name: str
    size: int
    modified: datetime


def tftp_listing(ctx: Context, host: str, pattern: str = "*") -> list[TftpFileInfo]:
    """``file list tftp PATTERN``: the node's published files matching ``pattern``, by name.

    A file's time is when its bytes were made: the TIMESTAMP its signer wrote in the
    header (the plan keeps a file's old bytes while its inputs do not change, so this
    is when it last changed, on the context's clock). A plain ``.cnf.xml`` changes with
    its ``.sgn``; a file with neither is dated by the last change to the cluster, which
    published it at the latest.
    """
    with reading(ctx) as uow:
        n = node(uow, host)
        sizes = uow.published_names(n.host)
        wanted = sorted(name for name in sizes if fnmatch.fnmatchcase(name, pattern))
        stamps = {name: _signed_at(uow.published_file(n.host, name)) for name in wanted}
        for name in wanted:
            if stamps[name] is None and name.endswith(".cnf.xml"):
                stamps[name] = _signed_at(uow.published_file(n.host, name + ".sgn"))
        audit = uow.list_audit(1)
    fallback = audit[0].at if audit else ctx.now()
    return [TftpFileInfo(name, sizes[name], stamps[name] or fallback) for name in wanted]


def _signed_at(data: bytes | None) -> datetime | None:
    if data is None:
        return None
    try:
        stamp = Header.from_wire(data).timestamp
    except ParseError:
        return None
    return None if stamp is None else datetime.fromtimestamp(stamp, UTC)


def tftp_file(ctx: Context, host: str, name: str) -> bytes | None:
    with reading(ctx) as uow:
        node(uow, host)
        return uow.published_file(host, name)


def change_security_password(ctx: Context, old: str, new: str) -> None:
    """``set password user security``: the key vault re-sealed, the .p12 alert re-armed (C5).

    One row changes in one transaction: until it commits the old password opens every key,
    after it the new one does. The cluster key, so every sealed private key and every
    machine's cached copy of it, stays the same.
    """
    if len(new) < 8:
        raise LocalError("the security password must have at least 8 characters")
    with change(ctx, "set password user security") as ch:
        uow = ch.uow
        ctx.keys.check_password(old, uow)  # in the transaction: against the vault it replaces
        now = ctx.now()
        uow.put_cluster(replace(cluster(uow), password_changed_at=now))
        alerts.arm_recovery_backup(uow, now)
        ctx.keys.change_password(uow, new, now)

"""Creating the cluster, adding and renaming nodes, and regenerating certificates."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from cryptography.hazmat.primitives import serialization

from phonetrust.errors import LocalError
from phonetrust.pki import roles
from phonetrust.pki.selfsigned import Organisation
from phonetrust.policy.domain import (
    CallManagerGroup,
    CertName,
    DeviceSecurityMode,
    Node,
    OwnCertificate,
    SecurityMode,
    SecurityProfile,
    Service,
    SignerOption,
)
from phonetrust.policy.rules import check_regeneration_hold
from phonetrust.service import alerts
from phonetrust.service.changes import change, reading
from phonetrust.service.context import Context, cluster, node, publisher, x509_of
from phonetrust.store.repository import ClusterState, KeyVault, UnitOfWork

NODE_CERTS = (CertName.CALLMANAGER, CertName.TVS, CertName.CAPF, CertName.IPSEC, CertName.TOMCAT)

DEFAULT_PROFILE = "Universal Device Template - Model-independent Security Profile"
STANDARD_PROFILES = (
    SecurityProfile(DEFAULT_PROFILE),
    SecurityProfile("Authenticated Phone Profile", DeviceSecurityMode.AUTHENTICATED),
    SecurityProfile("Encrypted Phone Profile", DeviceSecurityMode.ENCRYPTED),
    SecurityProfile(
        "Encrypted Phone Profile with TFTP Encryption",
        DeviceSecurityMode.ENCRYPTED,
        tftp_encrypted=True,
    ),
)


def init_cluster(
    ctx: Context,
    *,
    name: str,
    publisher_node: Node,
    subscribers: list[Node],
    org: Organisation,
    signer: SignerOption = SignerOption.CALLMANAGER,
    vault: KeyVault | None = None,
) -> None:
    """A new cluster: nodes, every node's certificates, the Default group and profiles.

    ``vault`` (the cluster key ``ctx.keys`` seals with, sealed under the security password)
    is written in the same transaction as the keys: a failed init leaves neither behind.
    """
    nodes = [replace(publisher_node, publisher=True)] + [
        replace(s, publisher=False) for s in subscribers
    ]
    _check_unique(nodes)
    now = ctx.now()
    with change(ctx, "cluster init", f"{name}: " + ", ".join(n.host for n in nodes)) as ch:
        uow = ch.uow
        if uow.get_cluster() is not None:
            raise LocalError("a cluster already exists in this data directory")
        if vault is not None:
            uow.put_key_vault(vault)
        uow.put_cluster(
            ClusterState(name, SecurityMode.NON_SECURE, signer, now, password_changed_at=now)
        )
        for n in nodes:
            uow.put_node(n)
            for cert_name in (*NODE_CERTS, CertName.ITLRECOVERY):
                _issue(ctx, uow, n, cert_name, org=org, now=now)
        callmanagers = [n.host for n in nodes if n.runs(Service.CALLMANAGER)][:3]
        if callmanagers:
            uow.put_group(CallManagerGroup("Default", tuple(callmanagers)))
        for profile in STANDARD_PROFILES:
            uow.put_profile(profile)
        alerts.arm_recovery_backup(uow, now)


def add_node(ctx: Context, new: Node) -> None:
    """A subscriber joins: it gets its own certificates in the cluster's organisation."""
    now = ctx.now()
    with change(ctx, "cluster add-node", f"{new.host} {new.ip}") as ch:
        uow = ch.uow
        cluster(uow)
        if uow.get_node(new.host) is not None:
            raise LocalError(f"a node named {new.host} already exists")
        if any(n.ip == new.ip for n in uow.list_nodes()):
            raise LocalError(f"another node already has the address {new.ip}")
        subscriber = replace(new, publisher=False)
        org = _organisation(uow)
        uow.put_node(subscriber)
        for cert_name in (*NODE_CERTS, CertName.ITLRECOVERY):
            _issue(ctx, uow, subscriber, cert_name, org=org, now=now)


def rename_node(ctx: Context, old: str, new_host: str, new_domain: str | None = None) -> list[str]:
    """A host name or domain change regenerates all of the node's certificates at once (B4).

    ITLRecovery keeps its original name (C4). Returns what was regenerated.
    """
    now = ctx.now()
    with change(ctx, "cluster rename-node", f"{old} -> {new_host}") as ch:
        uow = ch.uow
        current = node(uow, old)
        renamed = Node(
            new_host,
            current.ip,
            current.domain if new_domain is None else new_domain,
            current.publisher,
            current.services,
        )
        if new_host != old and uow.get_node(new_host) is not None:
            raise LocalError(f"a node named {new_host} already exists")
        if renamed == current:
            raise LocalError(f"{old} already has that name and domain")
        org = _organisation(uow)
        uow.rename_node(old, renamed)
        for cert_name in NODE_CERTS:
            _issue(ctx, uow, renamed, cert_name, org=org, now=now)
    return [c.value for c in NODE_CERTS]


def check_hold(ctx: Context, host: str, cert_name: CertName) -> None:
    """Refuse now what :func:`regenerate` would refuse for the hold time (B3).

    CUCM says so before its WARNING and its question (reference 003): an
    administrator must not be asked to confirm what cannot happen.
    :func:`regenerate` checks again in its own transaction.
    """
    with reading(ctx) as uow:
        node(uow, host)
        histories = {c: uow.certificate_history(host, c) for c in CertName}
    check_regeneration_hold(histories, cert_name, ctx.now())


def regenerate(ctx: Context, host: str, cert_name: CertName) -> None:
    """``set cert regen NAME``: a new key and certificate, refused within the hold time (B3)."""
    now = ctx.now()
    with change(ctx, "set cert regen", f"{host} {cert_name.value}") as ch:
        uow = ch.uow
        n = node(uow, host)
        histories = {c: uow.certificate_history(host, c) for c in CertName}
        check_regeneration_hold(histories, cert_name, now)
        current = uow.current_certificate(host, cert_name)
        keep_cn = None
        if current is not None and cert_name in (CertName.ITLRECOVERY, CertName.CAPF):
            keep_cn = roles.common_name_of(x509_of(current))
        _issue(ctx, uow, n, cert_name, org=_organisation(uow), now=now, common=keep_cn)


def regenerated_message(cert_name: CertName) -> str:
    """What CUCM prints after a successful ``set cert regen`` (reference 003)."""
    return (
        f"Successfully Regenerated Certificate for {cert_name.value}.\n"
        "Please do a backup of the server as soon as possible. Failure to do\n"
        "so can stale the cluster in case of a crash.\n"
        f"You must restart services related to {cert_name.value} for the regenerated\n"
        "certificates to become active."
    )


def _issue(
    ctx: Context,
    uow: UnitOfWork,
    n: Node,
    cert_name: CertName,
    *,
    org: Organisation,
    now: datetime,
    common: str | None = None,
) -> None:
    issued = roles.issue(cert_name.value, n.fqdn, org, now=now, common=common)
    der = issued.certificate.public_bytes(serialization.Encoding.DER)
    ctx.keys.put(uow, der, issued.key, now)
    uow.add_own_certificate(OwnCertificate(n.host, cert_name, der, now))


def _organisation(uow: UnitOfWork) -> Organisation:
    own = uow.current_certificate(publisher(uow).host, CertName.CALLMANAGER)
    return Organisation() if own is None else roles.organisation_of(x509_of(own))


def _check_unique(nodes: list[Node]) -> None:
    hosts = [n.host.lower() for n in nodes]
    if len(set(hosts)) != len(hosts):
        raise LocalError("two nodes have the same host name")
    ips = [n.ip for n in nodes]
    if len(set(ips)) != len(ips):
        raise LocalError("two nodes have the same IP address")

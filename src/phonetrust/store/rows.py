"""Domain values to table rows and back: the one place that knows both shapes.

``*_row`` functions give the column values for :mod:`phonetrust.store.schema`;
``*_from`` functions rebuild the frozen domain value from a result row. Enums
are stored by value (text or integer), binary columns come back as ``bytes``.
"""

from __future__ import annotations

import hashlib
import ipaddress
from typing import Any

from sqlalchemy import Row

from phonetrust.policy.domain import (
    CallManagerGroup,
    CapfAuthMode,
    CapfOperation,
    CertName,
    Device,
    DeviceSecurityMode,
    Node,
    OwnCertificate,
    Protocol,
    SecurityMode,
    SecurityProfile,
    Service,
    SignerOption,
    TrustedCertificate,
    TrustStore,
)
from phonetrust.store.repository import (
    Alert,
    ApiToken,
    AuditEntry,
    ClusterState,
    TokenCounter,
    WebUser,
)

CLUSTER_ID = 1
"""The cluster table's one row."""

Values = dict[str, Any]


def sha256_hex(der: bytes) -> str:
    return hashlib.sha256(der).hexdigest()


def _bytes(value: Any) -> bytes | None:
    return None if value is None else bytes(value)


def cluster_row(state: ClusterState) -> Values:
    return {
        "id": CLUSTER_ID,
        "name": state.name,
        "security_mode": int(state.security_mode),
        "signer": state.signer.value,
        "created_at": state.created_at,
        "itl_reset_active": state.itl_reset_active,
        "password_changed_at": state.password_changed_at,
        "p12_exported_at": state.p12_exported_at,
        "ctl_deleted": state.ctl_deleted,
    }


def cluster_from(row: Row[Any]) -> ClusterState:
    return ClusterState(
        name=row.name,
        security_mode=SecurityMode(row.security_mode),
        signer=SignerOption(row.signer),
        created_at=row.created_at,
        itl_reset_active=row.itl_reset_active,
        password_changed_at=row.password_changed_at,
        p12_exported_at=row.p12_exported_at,
        ctl_deleted=row.ctl_deleted,
    )


def node_row(node: Node) -> Values:
    return {
        "host": node.host,
        "ip": str(node.ip),
        "domain": node.domain,
        "publisher": node.publisher,
        "services": sorted(service.value for service in node.services),
    }


def node_from(row: Row[Any]) -> Node:
    return Node(
        host=row.host,
        ip=ipaddress.IPv4Address(row.ip),
        domain=row.domain,
        publisher=row.publisher,
        services=frozenset(Service(name) for name in row.services),
    )


def own_row(cert: OwnCertificate) -> Values:
    return {
        "node": cert.node,
        "name": cert.name.value,
        "der": cert.der,
        "created_at": cert.created_at,
    }


def own_from(row: Row[Any]) -> OwnCertificate:
    return OwnCertificate(
        node=row.node, name=CertName(row.name), der=bytes(row.der), created_at=row.created_at
    )


def trusted_row(cert: TrustedCertificate) -> Values:
    return {
        "store": cert.store.value,
        "der": cert.der,
        "sha256": sha256_hex(cert.der),
        "added_at": cert.added_at,
        "description": cert.description,
    }


def trusted_from(row: Row[Any]) -> TrustedCertificate:
    return TrustedCertificate(
        store=TrustStore(row.store),
        der=bytes(row.der),
        added_at=row.added_at,
        description=row.description,
    )


def group_row(group: CallManagerGroup) -> Values:
    return {"name": group.name, "members": list(group.members)}


def group_from(row: Row[Any]) -> CallManagerGroup:
    return CallManagerGroup(row.name, tuple(row.members))


def profile_row(profile: SecurityProfile) -> Values:
    return {
        "name": profile.name,
        "mode": int(profile.mode),
        "tftp_encrypted": profile.tftp_encrypted,
        "protocol": None if profile.protocol is None else profile.protocol.value,
    }


def profile_from(row: Row[Any]) -> SecurityProfile:
    return SecurityProfile(
        name=row.name,
        mode=DeviceSecurityMode(row.mode),
        tftp_encrypted=row.tftp_encrypted,
        protocol=None if row.protocol is None else Protocol(row.protocol),
    )


def device_row(device: Device) -> Values:
    return {
        "name": device.name,
        "model": device.model,
        "protocol": device.protocol.value,
        "cm_group": device.group,
        "profile": device.profile,
        "capf_operation": device.capf_operation.value,
        "capf_auth_mode": int(device.capf_auth_mode),
        "capf_auth_hash": device.capf_auth_hash,
        "capf_auth_failures": device.capf_auth_failures,
        "capf_locked_at": device.capf_locked_at,
        "capf_key": device.capf_key,
        "capf_expires": device.capf_expires,
        "settings": dict(device.settings),
        "description": device.description,
        "lsc": device.lsc,
        "mic": device.mic,
        "capf_status": device.capf_status,
    }


def device_from(row: Row[Any]) -> Device:
    return Device(
        name=row.name,
        model=row.model,
        protocol=Protocol(row.protocol),
        group=row.cm_group,
        profile=row.profile,
        capf_operation=CapfOperation(row.capf_operation),
        capf_auth_mode=CapfAuthMode(row.capf_auth_mode),
        capf_auth_hash=row.capf_auth_hash,
        capf_auth_failures=row.capf_auth_failures,
        capf_locked_at=row.capf_locked_at,
        capf_key=row.capf_key,
        capf_expires=row.capf_expires,
        settings={str(k): str(v) for k, v in row.settings.items()},
        description=row.description,
        lsc=_bytes(row.lsc),
        mic=_bytes(row.mic),
        capf_status=row.capf_status,
    )


def audit_row(entry: AuditEntry) -> Values:
    return {"at": entry.at, "who": entry.who, "action": entry.action, "detail": entry.detail}


def audit_from(row: Row[Any]) -> AuditEntry:
    return AuditEntry(at=row.at, who=row.who, action=row.action, detail=row.detail)


def alert_from(row: Row[Any]) -> Alert:
    return Alert(
        kind=row.kind, message=row.message, raised_at=row.raised_at, cleared_at=row.cleared_at
    )


def token_row(counter: TokenCounter) -> Values:
    return {"serial": counter.serial, "failures": counter.failures, "locked": counter.locked}


def token_from(row: Row[Any]) -> TokenCounter:
    return TokenCounter(serial=row.serial, failures=row.failures, locked=row.locked)


def user_row(user: WebUser) -> Values:
    return {
        "name": user.name,
        "password_hash": user.password_hash,
        "role": user.role,
        "created_at": user.created_at,
        "password_changed_at": user.password_changed_at,
        "failures": user.failures,
        "locked_until": user.locked_until,
        "session_epoch": user.session_epoch,
    }


def user_from(row: Row[Any]) -> WebUser:
    return WebUser(
        name=row.name,
        password_hash=row.password_hash,
        role=row.role,
        created_at=row.created_at,
        password_changed_at=row.password_changed_at,
        failures=row.failures,
        locked_until=row.locked_until,
        session_epoch=row.session_epoch,
    )


def api_token_row(token: ApiToken) -> Values:
    return {
        "token_id": token.token_id,
        "user_name": token.user,
        "label": token.label,
        "secret_hash": token.secret_hash,
        "created_at": token.created_at,
        "last_used_at": token.last_used_at,
    }


def api_token_from(row: Row[Any]) -> ApiToken:
    return ApiToken(
        token_id=row.token_id,
        user=row.user_name,
        label=row.label,
        secret_hash=row.secret_hash,
        created_at=row.created_at,
        last_used_at=row.last_used_at,
    )

"""Backup and restore (B5): the whole cluster in one archive sealed with the security password.

The archive holds every database record (certificate history, trust
stores, devices, parameters, audit, alerts, the current file plan) and
every private key, as JSON compressed and sealed with AES-256-GCM under a
key derived from the security password. Restoring onto a fresh data
directory gives a cluster that serves byte-identical trust lists, so phones
keep trusting a rebuilt node. Layout::

    b"PTBACKUP1" | salt (16) | key check (16) | nonce (12) | AES-GCM(gzip(JSON))
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import hmac
import json
import os
from dataclasses import asdict
from datetime import datetime
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from phonetrust.errors import LocalError, RemoteError
from phonetrust.pki import keywrap
from phonetrust.policy import capfauth
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
    check_ipv4,
)
from phonetrust.service.context import Context
from phonetrust.store.repository import (
    ApiToken,
    AuditEntry,
    ClusterState,
    KeyVault,
    UnitOfWork,
    WebUser,
)

MAGIC = b"PTBACKUP1"
FORMAT_VERSION = 1
_HEAD = len(MAGIC) + keywrap.SALT_SIZE + 16 + keywrap.NONCE_SIZE


class BackupError(RemoteError):
    """The archive cannot be used: wrong password, truncated, altered, or not a backup."""


def create(ctx: Context, password: str) -> bytes:
    """The sealed archive of the whole cluster."""
    with ctx.repo.unit_of_work() as uow:
        content = _export(ctx, uow)
    salt = keywrap.new_salt()
    key = keywrap.derive_master_key(password, salt)
    nonce = os.urandom(keywrap.NONCE_SIZE)
    body = AESGCM(key).encrypt(nonce, gzip.compress(json.dumps(content).encode()), MAGIC)
    return MAGIC + salt + _key_check(key) + nonce + body


def open_archive(data: bytes, password: str) -> dict[str, Any]:
    """The archive's content; :class:`BackupError` saying what is wrong otherwise."""
    if not data.startswith(MAGIC):
        raise BackupError("not a phonetrust backup (wrong file?)")
    if len(data) < _HEAD + 16:
        raise BackupError("the backup is truncated")
    salt = data[len(MAGIC) : len(MAGIC) + keywrap.SALT_SIZE]
    check = data[len(MAGIC) + keywrap.SALT_SIZE : len(MAGIC) + keywrap.SALT_SIZE + 16]
    nonce = data[_HEAD - keywrap.NONCE_SIZE : _HEAD]
    key = keywrap.derive_master_key(password, salt)
    if not hmac.compare_digest(check, _key_check(key)):
        raise BackupError("wrong security password for this backup")
    try:
        plain = gzip.decompress(AESGCM(key).decrypt(nonce, data[_HEAD:], MAGIC))
    except (InvalidTag, OSError, EOFError):
        raise BackupError("the backup is truncated or was altered") from None
    content = json.loads(plain)
    if not isinstance(content, dict) or content.get("format") != FORMAT_VERSION:
        raise BackupError("unsupported backup format")
    return dict(content)


def restore(ctx: Context, content: dict[str, Any], vault: KeyVault) -> int:
    """Load an opened archive into an empty cluster; returns the file plan version published.

    ``vault`` seals the cluster key ``ctx.keys`` uses: it commits with the keys it opens.
    """
    with ctx.repo.unit_of_work() as uow:
        if uow.get_cluster() is not None or uow.get_key_vault() is not None:
            raise LocalError("restore needs an empty database: this one has a cluster")
        uow.put_key_vault(vault)
        now = ctx.now()
        for item in content["keys"]:
            der = _b(item["cert"])
            ctx.keys.put(uow, der, keywrap.private_key_from_der(_b(item["key"])), now)
        _import(uow, content)
        plan = {(f["node"], f["name"]): _b(f["data"]) for f in content["files"]}
        inputs = {(f["node"], f["name"]): f["inputs"] for f in content["files"] if "inputs" in f}
        return uow.publish(plan, inputs)


# -- export -----------------------------------------------------------------------------


def _export(ctx: Context, uow: UnitOfWork) -> dict[str, Any]:
    state = uow.get_cluster()
    if state is None:
        raise LocalError("there is no cluster to back up")
    nodes = uow.list_nodes()
    certs = [c for n in nodes for name in CertName for c in uow.certificate_history(n.host, name)]
    keys = []
    for cert in certs:
        if ctx.keys.has(cert.der, uow):
            key = ctx.keys.get(cert.der, uow)
            keys.append({"cert": _s(cert.der), "key": _s(keywrap.private_key_der(key))})
    files = []
    for n in nodes:
        for name, (data, inputs) in sorted(uow.published_with_inputs(n.host).items()):
            item = {"node": n.host, "name": name, "data": _s(data)}
            if inputs is not None:  # so that a restored file is kept as it was
                item["inputs"] = inputs
            files.append(item)
    return {
        "format": FORMAT_VERSION,
        "cluster": _jsonable(asdict(state)),
        "nodes": [_node_out(n) for n in nodes],
        "certificates": [
            {"node": c.node, "name": c.name.value, "der": _s(c.der), "at": c.created_at.isoformat()}
            for c in certs
        ],
        "trusted": [
            {
                "store": t.store.value,
                "der": _s(t.der),
                "at": t.added_at.isoformat(),
                "description": t.description,
            }
            for t in uow.list_trusted()
        ],
        "groups": [{"name": g.name, "members": list(g.members)} for g in uow.list_groups()],
        "profiles": [_jsonable(asdict(p)) for p in uow.list_profiles()],
        "devices": [_device_out(d) for d in uow.list_devices()],
        "params": uow.get_params(),
        "audit": [_jsonable(asdict(a)) for a in reversed(uow.list_audit(10**9))],
        "alerts": [_jsonable(asdict(a)) for a in uow.list_alerts(open_only=True)],
        "keys": keys,
        "files": files,
        # The web's users (argon2 hashes) and API tokens (hashes): a restored cluster keeps
        # its logins. Older archives have neither and restore with no web users.
        "users": [_jsonable(asdict(u)) for u in uow.list_users()],
        "api_tokens": [_jsonable(asdict(t)) for t in uow.list_api_tokens()],
    }


def _node_out(n: Node) -> dict[str, Any]:
    return {
        "host": n.host,
        "ip": str(n.ip),
        "domain": n.domain,
        "publisher": n.publisher,
        "services": sorted(s.value for s in n.services),
    }


def _device_out(d: Device) -> dict[str, Any]:
    out: dict[str, Any] = _jsonable(asdict(d))
    out["lsc"] = None if d.lsc is None else _s(d.lsc)
    out["mic"] = None if d.mic is None else _s(d.mic)
    return out


# -- import ------------------------------------------------------------------------------


def _import(uow: UnitOfWork, c: dict[str, Any]) -> None:
    s = c["cluster"]
    uow.put_cluster(
        ClusterState(
            name=s["name"],
            security_mode=SecurityMode(s["security_mode"]),
            signer=SignerOption(s["signer"]),
            created_at=_when(s["created_at"]),
            itl_reset_active=s["itl_reset_active"],
            password_changed_at=_t(s["password_changed_at"]),
            p12_exported_at=_t(s["p12_exported_at"]),
            ctl_deleted=s["ctl_deleted"],
        )
    )
    for n in c["nodes"]:
        uow.put_node(
            Node(
                n["host"],
                check_ipv4(n["ip"]),
                n["domain"],
                n["publisher"],
                frozenset(Service(v) for v in n["services"]),
            )
        )
    for cert in c["certificates"]:
        uow.add_own_certificate(
            OwnCertificate(cert["node"], CertName(cert["name"]), _b(cert["der"]), _when(cert["at"]))
        )
    for t in c["trusted"]:
        uow.add_trusted(
            TrustedCertificate(
                TrustStore(t["store"]), _b(t["der"]), _when(t["at"]), t["description"]
            )
        )
    for g in c["groups"]:
        uow.put_group(CallManagerGroup(g["name"], tuple(g["members"])))
    for p in c["profiles"]:
        uow.put_profile(
            SecurityProfile(
                p["name"],
                DeviceSecurityMode(p["mode"]),
                p["tftp_encrypted"],
                None if p["protocol"] is None else Protocol(p["protocol"]),
            )
        )
    for d in c["devices"]:
        uow.put_device(
            Device(
                name=d["name"],
                model=d["model"],
                protocol=Protocol(d["protocol"]),
                group=d["group"],
                profile=d["profile"],
                capf_operation=CapfOperation(d["capf_operation"]),
                capf_auth_mode=CapfAuthMode(d["capf_auth_mode"]),
                capf_auth_hash=_auth_hash(d),
                capf_auth_failures=d.get("capf_auth_failures", 0),
                capf_locked_at=_t(d.get("capf_locked_at")),
                capf_key=d["capf_key"],
                capf_expires=_t(d["capf_expires"]),
                settings=dict(d["settings"]),
                description=d["description"],
                lsc=None if d["lsc"] is None else _b(d["lsc"]),
                mic=None if d["mic"] is None else _b(d["mic"]),
            )
        )
    for name, value in c["params"].items():
        uow.set_param(name, value)
    for a in c["audit"]:
        uow.append_audit(AuditEntry(_when(a["at"]), a["who"], a["action"], a["detail"]))
    for a in c["alerts"]:
        uow.raise_alert(a["kind"], a["message"], _when(a["raised_at"]))
    for u in c.get("users", []):
        uow.put_user(
            WebUser(
                u["name"],
                u["password_hash"],
                u["role"],
                _when(u["created_at"]),
                _when(u["password_changed_at"]),
                u["failures"],
                _t(u["locked_until"]),
                u["session_epoch"],
            )
        )
    for t in c.get("api_tokens", []):
        uow.put_api_token(
            ApiToken(
                t["token_id"],
                t["user"],
                t["label"],
                t["secret_hash"],
                _when(t["created_at"]),
                _t(t["last_used_at"]),
            )
        )


# -- encoding helpers --------------------------------------------------------------------------


def _auth_hash(d: dict[str, Any]) -> str:
    """A device's CAPF authentication string hash; a backup made before 0005 has it in clear."""
    if "capf_auth_hash" in d:
        return str(d["capf_auth_hash"])
    clear = str(d.get("capf_auth_string") or "")
    try:
        return capfauth.hash_auth_string(clear) if clear else ""
    except capfauth.AuthStringError:  # never usable by a phone: none is pending
        return ""


def _key_check(key: bytes) -> bytes:
    return hmac.new(key, b"phonetrust backup key check", hashlib.sha256).digest()[:16]


def _s(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _b(text: str) -> bytes:
    return base64.b64decode(text.encode("ascii"), validate=True)


def _t(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


def _when(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | frozenset | set):
        return [_jsonable(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bytes):
        return _s(value)
    if hasattr(value, "value"):
        return value.value
    return value

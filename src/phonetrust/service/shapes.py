"""The JSON shapes of what the cluster holds, shared by the HTTP API (/api/v1) and ``--json``.

Both the API and the CLI's ``--json`` print these dicts and nothing else, so
a script written against one works against the other; a key renamed here is
renamed in both at once. Each function is pure: a domain or store value in,
a dict of str, int, bool, None, lists and dicts out, ready for ``json.dumps``.

The conventions every shape keeps:

* keys are snake_case and stable; a fact that is absent is ``null``, never a
  missing key;
* times are ISO 8601 in UTC to the second with a ``Z`` suffix
  (``2026-03-06T19:45:13Z``), as the text listings show them to the second;
* bytes never appear: a certificate is its facts (:func:`certificate`), and
  only a trust store's certificates carry their ``pem``, because a trust
  store holds public certificates a client may want to fetch back; a
  device's LSC and MIC are facts only (they identify the phone; the PEM
  would only invite copying them around);
* secrets never appear: a device's CAPF authentication string hash stays in
  the store;
* enumerations are their CUCM spelling where the text shows one
  (``"SIP"``, ``"Phone-SAST-trust"``, ``"install"``) and their lower-case
  name otherwise (``"authenticated"``, ``"null_string"``); the numbers CUCM
  also uses are given beside them (``security_mode``, ``mode``);
* a list answer is ``{"items": [...], "total": N}`` (:func:`listing`); a
  single thing (``cluster show``) is a plain object.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import TypeAlias

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from phonetrust.formats.legacy import sha1
from phonetrust.policy.domain import (
    CallManagerGroup,
    Device,
    Node,
    SecurityProfile,
    TrustedCertificate,
)
from phonetrust.store.repository import Alert, AuditEntry, ClusterState

Json: TypeAlias = "str | int | bool | list[Json] | dict[str, Json] | None"
JsonObject: TypeAlias = "dict[str, Json]"


def dumps(shape: Json) -> str:
    """The one spelling of a shape as text, so the CLI and the API answer byte for byte alike."""
    return json.dumps(shape, indent=2, sort_keys=True)


def timestamp(at: datetime | None) -> str | None:
    """A store time as ISO 8601 UTC; a naive time is taken as UTC, which is how SQLite keeps it."""
    if at is None:
        return None
    aware = at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
    return aware.strftime("%Y-%m-%dT%H:%M:%SZ")


def listing(items: Iterable[JsonObject]) -> JsonObject:
    """Every list answer's envelope; ``total`` leaves room for paging without a new shape."""
    out: list[Json] = [*items]
    return {"items": out, "total": len(out)}


def certificate(der: bytes, *, pem: bool = False) -> JsonObject:
    """What an administrator compares certificates by; ``pem`` only for trust store entries."""
    cert = x509.load_der_x509_certificate(der)
    facts: JsonObject = {
        "subject": cert.subject.rfc4514_string(),
        "issuer": cert.issuer.rfc4514_string(),
        "serial": format(cert.serial_number, "x"),
        "not_before": timestamp(cert.not_valid_before_utc),
        "not_after": timestamp(cert.not_valid_after_utc),
        "sha1": sha1(der).hex(),
        "sha256": hashlib.sha256(der).hexdigest(),
    }
    if pem:
        facts["pem"] = cert.public_bytes(serialization.Encoding.PEM).decode("ascii")
    return facts


def device(d: Device) -> JsonObject:
    """A phone with its CAPF state, which ``device list`` only hints at."""
    return {
        "name": d.name,
        "model": d.model,
        "protocol": d.protocol.value,
        "group": d.group,
        "profile": d.profile,
        "description": d.description,
        "settings": dict(sorted(d.settings.items())),
        "capf_operation": d.capf_operation.value,
        "capf_auth_mode": d.capf_auth_mode.name.lower(),
        "capf_key": d.capf_key,
        "capf_expires": timestamp(d.capf_expires),
        "capf_status": d.capf_status,
        "capf_auth_failures": d.capf_auth_failures,
        "capf_locked": d.capf_locked_at is not None,
        "capf_locked_at": timestamp(d.capf_locked_at),
        "lsc": None if d.lsc is None else certificate(d.lsc),
        "mic": None if d.mic is None else certificate(d.mic),
    }


def node(n: Node) -> JsonObject:
    return {
        "host": n.host,
        "ip": str(n.ip),
        "domain": n.domain,
        "fqdn": n.fqdn,
        "publisher": n.publisher,
        "role": "publisher" if n.publisher else "subscriber",
        "services": [*sorted(s.value for s in n.services)],
    }


def cluster(state: ClusterState, nodes: Iterable[Node], plan_version: int) -> JsonObject:
    """``cluster show``: the cluster record, its nodes, and the file plan they serve."""
    return {
        "name": state.name,
        "security_mode": int(state.security_mode),
        "security_mode_name": state.security_mode.name.lower(),
        "signer": state.signer.value,
        "created_at": timestamp(state.created_at),
        "itl_reset_active": state.itl_reset_active,
        "ctl_deleted": state.ctl_deleted,
        "password_changed_at": timestamp(state.password_changed_at),
        "p12_exported_at": timestamp(state.p12_exported_at),
        "file_plan_version": plan_version,
        "nodes": [node(n) for n in nodes],
    }


def alert(a: Alert) -> JsonObject:
    return {
        "kind": a.kind,
        "message": a.message,
        "raised_at": timestamp(a.raised_at),
        "cleared_at": timestamp(a.cleared_at),
        "open": a.cleared_at is None,
    }


def audit(e: AuditEntry) -> JsonObject:
    return {"at": timestamp(e.at), "who": e.who, "action": e.action, "detail": e.detail}


def trusted(t: TrustedCertificate) -> JsonObject:
    """A trust store entry; its certificate with ``pem``, to be fetched back (see above)."""
    return {
        "store": t.store.value,
        "description": t.description,
        "added_at": timestamp(t.added_at),
        "certificate": certificate(t.der, pem=True),
    }


def params(values: Mapping[str, str]) -> list[JsonObject]:
    """Parameters as a list, not an object: their names have spaces and their order matters."""
    return [{"name": name, "value": value} for name, value in values.items()]


def profile(p: SecurityProfile) -> JsonObject:
    return {
        "name": p.name,
        "mode": int(p.mode),
        "mode_name": p.mode.name.lower(),
        "tftp_encrypted": p.tftp_encrypted,
        "protocol": None if p.protocol is None else p.protocol.value,
    }


def group(g: CallManagerGroup) -> JsonObject:
    """A CallManager group; ``members`` in the order phones try them."""
    return {"name": g.name, "members": list(g.members)}

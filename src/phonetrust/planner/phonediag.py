"""``phonetrust diagnose phone MAC``: can this phone recover by itself, or must its ITL go?

Reference 002 sets four conditions, all of which must hold before a phone's
ITL is deleted by hand (G2):

1. the ITL on the phone differs from the ITL the TFTP server serves
   (Settings > Security > Trust List against ``show itl``);
2. the TVS certificate in the phone's ITL differs from the one TVS presents;
3. the phone shows a verification failure for the ITL or its configuration;
4. no backup of the old TFTP (CallManager) private key exists.

Reference 003 (10.0) adds a way back before that: ``utils itl reset
localkey|remotekey`` re-signs the ITL with the ITLRecovery key, which
reaches every phone whose ITL holds the current ITLRecovery record (C6).

So the verdict, in the references' order: a phone that takes the current
files is **healthy** or **recovers by itself** (through TVS, B1, or because
its lists trust the new signer); a locked phone is reached by an **ITL
reset** when its ITL holds the ITLRecovery record, else by **restoring the
old key** when a backup holds it, else - all four conditions holding - its
ITL must be **deleted by hand**. A locked phone whose ITL is the server's
is not an ITL problem: deleting it would fix nothing (reference 002).

The phone's lists come from its recorded downloads (the last one, or the
one before it when the phone, replayed, refused the last: see
:mod:`.lastknown`) or from files copied off the phone (``--itl`` /
``--ctl``), which are what it really holds. Its boot is
the simulator's own, against the current files in memory (:mod:`.predict`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, replace
from enum import Enum

from cryptography import x509

from phonetrust.errors import LocalError, ParseError
from phonetrust.formats import legacy
from phonetrust.formats.names import colon_hex, serial_bytes
from phonetrust.formats.record import Record
from phonetrust.formats.tags import TFTP_ROLES, Role
from phonetrust.formats.trustlist import TrustList
from phonetrust.planner.lastknown import KnownPhone, last_known
from phonetrust.planner.offline import Servers
from phonetrust.planner.predict import Outcome, PhoneVerdict, predict
from phonetrust.policy.domain import CertName, Device, Service
from phonetrust.policy.models import model as phone_model
from phonetrust.policy.phone_trust import InstalledList, PhoneTrust, check_tvs_server
from phonetrust.service.changes import reading
from phonetrust.service.context import Context, itl_recovery
from phonetrust.service.fileplan import ITL_NAME
from phonetrust.sim.phone import normalise_mac
from phonetrust.store.repository import UnitOfWork

DEFAULT_MODEL = "8845"


class Verdict(Enum):
    HEALTHY = "healthy, nothing to do"
    RECOVERS_TVS = "recovers by itself through TVS"
    RECOVERS_SIGNER = "recovers by itself: its lists trust the new signer"
    ITL_RESET = "an ITL reset (`utils itl reset localkey|remotekey`) reaches it"
    RESTORE_KEY = "restore the old key from a backup"
    DELETE_ITL = "delete its ITL by hand (Settings > Security > Trust List > Erase...)"
    NOT_THE_ITL = "locked, but not by its ITL: deleting the ITL would not help"

    @property
    def unlocked(self) -> bool:
        """The phone takes the cluster's files (``diagnose phone`` exits 0)."""
        return self in (Verdict.HEALTHY, Verdict.RECOVERS_TVS, Verdict.RECOVERS_SIGNER)

    @property
    def key(self) -> str:
        return self.name.lower()


ACTIONS = {
    Verdict.HEALTHY: "",
    Verdict.RECOVERS_TVS: "reset the phone: it asks TVS about the new signer and takes the "
    "new lists (B1)",
    Verdict.RECOVERS_SIGNER: "reset the phone: it takes the new lists at boot",
    Verdict.ITL_RESET: "on the publisher `utils itl reset localkey` (or `remotekey HOST USER "
    "PATH` with the exported ITLRecovery.p12), reset the phone, then restart TFTP so "
    "CallManager signs the ITL again (C1)",
    Verdict.RESTORE_KEY: "restore the backup that holds the old CallManager key "
    "(`phonetrust backup restore`) so files are signed by a key its ITL trusts, then "
    "regenerate one certificate at a time",
    Verdict.DELETE_ITL: "on the phone: Settings > Security > Trust List > ITL File > Erase "
    "(a factory reset when settings access is disabled); it then trusts the next ITL on "
    "first use",
    Verdict.NOT_THE_ITL: "run `phonetrust diagnose` for the cluster: the refused file below "
    "says what to fix (a CTL whose signers are all gone must be erased on the phone)",
}


@dataclass(frozen=True, slots=True)
class Condition:
    """One condition of reference 002 (or 003), and what proves it."""

    holds: bool
    evidence: tuple[str, ...]

    def as_json(self) -> dict[str, object]:
        return {"holds": self.holds, "evidence": list(self.evidence)}


@dataclass(frozen=True, slots=True)
class PhoneDiagnosis:
    device: str
    source: str
    """Where the phone's lists come from: its last download, or files copied off it."""
    boot: str
    """What its boot against the current files came to, in the phone's words."""
    itl_differs: Condition
    tvs_differs: Condition
    failure_shown: Condition
    no_key_backup: Condition
    recovery_reaches: Condition
    """Reference 003: its ITL holds the current ITLRecovery record."""
    verdict: Verdict

    @property
    def delete_itl(self) -> bool:
        """Reference 002's rule: all four conditions hold."""
        return (
            self.itl_differs.holds
            and self.tvs_differs.holds
            and self.failure_shown.holds
            and self.no_key_backup.holds
        )

    @property
    def action(self) -> str:
        return ACTIONS[self.verdict]

    def conditions(self) -> dict[str, Condition]:
        return {
            "itl_differs": self.itl_differs,
            "tvs_differs": self.tvs_differs,
            "failure_shown": self.failure_shown,
            "no_key_backup": self.no_key_backup,
            "recovery_reaches": self.recovery_reaches,
        }

    def as_json(self) -> dict[str, object]:
        return {
            "device": self.device,
            "source": self.source,
            "boot": self.boot,
            "conditions": {k: c.as_json() for k, c in self.conditions().items()},
            "delete_itl": self.delete_itl,
            "verdict": self.verdict.key,
            "verdict_text": self.verdict.value,
            "action": self.action,
        }


def installed(data: bytes, what: str) -> InstalledList:
    """A list copied off a phone; one that does not parse is the caller's clear error."""
    try:
        found = InstalledList(data)
    except ParseError as exc:
        raise LocalError(f"{what}: not a CTL or ITL file: {exc}") from None
    if found.trust_list.kind.value != what.removeprefix("--").upper():
        raise LocalError(f"{what}: {found.filename} is not an {what.removeprefix('--').upper()}")
    return found


def diagnose_phone(
    ctx: Context,
    mac: str,
    *,
    itl: bytes | None = None,
    ctl: bytes | None = None,
    key_backup: bool | None = None,
) -> PhoneDiagnosis:
    """One phone's decision, with its evidence.

    ``itl`` / ``ctl``: files copied off the phone (a list not given is the one it last
    downloaded, or none). ``key_backup``: whether the administrator holds a backup of the
    old CallManager key; None: whether the store still holds it.
    """
    try:
        name = "SEP" + normalise_mac(mac)
    except ValueError as exc:
        raise LocalError(str(exc)) from None
    files = {"--itl": itl, "--ctl": ctl}
    given = {k: installed(v, k) for k, v in files.items() if v is not None}
    with reading(ctx) as uow:
        device = uow.get_device(name)
        known = last_known(uow, devices=[device]) if device is not None else {}
        kp = _phone(uow, name, device, known.get(name), given)
        servers = Servers.read(uow)
        verdict = predict({name: kp}, servers, ctx.clock).verdicts[0]
        source = _source(kp, given)
        return _decide(ctx, uow, kp, (servers, verdict, source), key_backup)


def _phone(
    uow: UnitOfWork,
    name: str,
    device: Device | None,
    kp: KnownPhone | None,
    given: Mapping[str, InstalledList],
) -> KnownPhone:
    """The phone to judge: its last download, with the files copied off it in place."""
    if not given:
        if kp is None or kp.state is None:
            why = "not a device of this cluster" if device is None else kp and kp.why_unknown
            raise LocalError(
                f"{name}: {why or 'no download recorded'}; copy its lists off the phone "
                "and pass them with --itl FILE [--ctl FILE]"
            )
        return kp
    base = kp.state if kp is not None and kp.state is not None else None
    if base is None:
        model = phone_model(device.model if device is not None else DEFAULT_MODEL)
        base = PhoneTrust(model, tvs_servers=_tvs_servers(uow, device))
    state = replace(
        base,
        itl_file=given.get("--itl", base.itl_file),
        ctl_file=given.get("--ctl", base.ctl_file),
        tvs_cache={},
    )
    node, tftp = _tftp_node(uow, kp)
    return KnownPhone(device or Device(name, base.model.name), state, tftp, node)


def _tvs_servers(uow: UnitOfWork, device: Device | None) -> tuple[tuple[str, int], ...]:
    """Its CallManager group's servers (every TVS node, up to three, when unknown)."""
    nodes = {n.host: n for n in uow.list_nodes()}
    group = None if device is None else uow.get_group(device.group)
    hosts = list(group.members) if group is not None else list(nodes)
    tvs = [nodes[h] for h in hosts if h in nodes and nodes[h].runs(Service.TVS)]
    return tuple((str(n.ip), 2445) for n in tvs[:3])


def _tftp_node(uow: UnitOfWork, kp: KnownPhone | None) -> tuple[str, str]:
    if kp is not None and kp.node is not None and kp.tftp is not None:
        return kp.node, kp.tftp
    tftp = [n for n in uow.list_nodes() if n.runs(Service.TFTP)]
    if not tftp:
        raise LocalError("no node of the cluster runs TFTP")
    first = next((n for n in tftp if n.publisher), tftp[0])
    return first.host, str(first.ip)


def _source(kp: KnownPhone, given: Mapping[str, InstalledList]) -> str:
    if given:
        return "files copied off the phone: " + ", ".join(
            f"{flag} {f.filename} ({len(f.raw)} bytes)" for flag, f in given.items()
        )
    at = "" if kp.at is None else f" at {kp.at:%Y-%m-%d %H:%M:%S} UTC"
    return f"its last download from {kp.node}{at}"


def _decide(
    ctx: Context,
    uow: UnitOfWork,
    kp: KnownPhone,
    booted: tuple[Servers, PhoneVerdict, str],
    key_backup: bool | None,
) -> PhoneDiagnosis:
    """The conditions, then the verdict in the references' order (module docstring)."""
    servers, boot, source = booted
    assert kp.state is not None  # noqa: S101 - _phone made it
    if boot.outcome is Outcome.UNKNOWN:  # its TFTP server is no node of the cluster now
        raise LocalError(f"{kp.device.name}: cannot be judged: {boot.reason}")
    state = kp.state
    locked = boot.outcome is Outcome.LOCKS
    differs = _itl_differs(uow, state, kp.node or "")
    tvs = _tvs_differs(state, servers)
    failure = Condition(locked, (boot.reason,) if locked else (f"it {boot.outcome.value}",))
    backup = _no_key_backup(ctx, uow, state, key_backup)
    reaches = _recovery(uow, state)
    if not locked:
        verdict = {
            Outcome.TVS: Verdict.RECOVERS_TVS,
            Outcome.SIGNER: Verdict.RECOVERS_SIGNER,
            Outcome.FIRST_USE: Verdict.RECOVERS_SIGNER,
        }.get(boot.outcome, Verdict.HEALTHY)
    elif not differs.holds:
        verdict = Verdict.NOT_THE_ITL
    elif reaches.holds:
        verdict = Verdict.ITL_RESET
    elif not backup.holds:
        verdict = Verdict.RESTORE_KEY
    elif tvs.holds:
        verdict = Verdict.DELETE_ITL
    else:
        verdict = Verdict.NOT_THE_ITL
    words = boot.reason if locked else boot.outcome.value
    return PhoneDiagnosis(
        kp.device.name, source, words, differs, tvs, failure, backup, reaches, verdict
    )


def _list_text(tl: InstalledList) -> str:
    return f"MD5 {tl.md5}, SHA-1 {tl.sha1} ({len(tl.raw)} bytes)"


def _itl_differs(uow: UnitOfWork, state: PhoneTrust, node: str) -> Condition:
    served = uow.published_file(node, ITL_NAME) if node else None
    phone = state.itl_file
    shown = "none" if served is None else f"MD5 {legacy.md5_hex(served)}, SHA-1 "
    shown += "" if served is None else f"{hashlib.sha1(served).hexdigest()} ({len(served)} bytes)"
    evidence = (
        "phone ITL: " + ("none" if phone is None else _list_text(phone)),
        f"{node or 'its TFTP node'} serves ITLFile.tlv: {shown}",
    )
    return Condition(phone is not None and (served is None or phone.raw != served), evidence)


def _tvs_differs(state: PhoneTrust, servers: Servers) -> Condition:
    itl = state.effective_itl
    records = [] if itl is None else [r for r in itl.records if r.role is Role.TVS]
    evidence = [
        f"ITL record #{_index(itl, r)} TVS {r.subject or ''}: serial "
        f"{colon_hex(r.serial or b'')}, hash {(r.cert_hash or b'').hex()}"
        for r in records
        if itl is not None
    ] or ["its ITL holds no TVS record"]
    trusted = False
    for address, port in state.tvs_servers:
        der = servers.tvs.get(address.lower())
        if der is None:
            evidence.append(f"TVS {address}:{port}: no TVS server there")
            continue
        cert = x509.load_der_x509_certificate(der)
        ok = check_tvs_server(state, der, address=address).accepted
        trusted = trusted or ok
        evidence.append(
            f"TVS {address}:{port} presents serial {colon_hex(_serial(cert))}, SHA-1 "
            f"{hashlib.sha1(der).hexdigest()}: {'matches' if ok else 'matches no TVS record'}"
        )
    if not state.tvs_servers:
        evidence.append("no TVS server in its configuration")
    return Condition(not trusted, tuple(evidence))


def _index(tl: TrustList | None, record: Record) -> int:
    """The record's number as ``show itl`` prints it (``ITL Record #:2``)."""
    return 0 if tl is None else tl.records.index(record) + 1


def _serial(cert: x509.Certificate) -> bytes:
    return serial_bytes(cert.serial_number)


def _no_key_backup(
    ctx: Context, uow: UnitOfWork, state: PhoneTrust, key_backup: bool | None
) -> Condition:
    """The key behind the TFTP record of the phone's ITL: still held, or backed up?"""
    itl = state.effective_itl
    tftp = [] if itl is None else [r for r in itl.records if r.role in TFTP_ROLES]
    owners = [
        own
        for n in uow.list_nodes()
        for own in uow.certificate_history(n.host, CertName.CALLMANAGER)
        if any(r.matches_certificate(own.der) for r in tftp)
    ]
    evidence = [
        f"ITL record #{_index(itl, r)} {r.role.spelling if r.role else ''} {r.subject or ''}: "
        f"serial {colon_hex(r.serial or b'')}"
        for r in tftp
    ]
    held = [own for own in owners if ctx.keys.has(own.der, uow)]
    for own in owners:
        where = "still in the key store" if own in held else "not in the key store"
        evidence.append(f"{own.node} CallManager of {own.created_at:%Y-%m-%d}: its key is {where}")
    if key_backup is not None:
        evidence.append(
            "the administrator " + ("holds" if key_backup else "holds no") + " backup of that key"
        )
        return Condition(not key_backup, tuple(evidence))
    current = {
        now.der
        for n in uow.list_nodes()
        if (now := uow.current_certificate(n.host, CertName.CALLMANAGER)) is not None
    }
    old_held = [own for own in held if own.der not in current]
    return Condition(not old_held, tuple(evidence))


def _recovery(uow: UnitOfWork, state: PhoneTrust) -> Condition:
    recovery = itl_recovery(uow)
    itl = state.effective_itl
    if recovery is None:
        return Condition(False, ("the publisher has no ITLRecovery certificate",))
    cert = x509.load_der_x509_certificate(recovery.der)
    current = f"current ITLRecovery: {cert.subject.rfc4514_string()}, serial "
    current += colon_hex(_serial(cert))
    if itl is None:
        return Condition(False, (current, "the phone holds no ITL"))
    for i, r in enumerate(itl.records, 1):
        if r.role is Role.SAST and r.matches_certificate(recovery.der):
            return Condition(True, (current, f"phone ITL record #{i} holds it"))
    return Condition(False, (current, "no record of the phone's ITL holds it"))

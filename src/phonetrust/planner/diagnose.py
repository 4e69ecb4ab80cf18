"""``phonetrust diagnose``: the references' verification checklist, run over the cluster.

Each check is one small function over a :class:`ClusterView` (the cluster
read once, in one unit of work) and returns one :class:`Check`: OK, WARN
or FAIL, what was found, and what to do. An administrator about to touch a
production cluster wants every one of them answered before a certificate
is regenerated, so they follow the documents' own order:

1. every node's certificates (serial, CN, dates) against the CTL and ITL
   records it serves (reference 004, checklist steps 1-2; G1);
2. the CTL older than a CallManager or CAPF certificate (004's file-age
   check: "the CTL Client would need to be run again"); a CTL on a
   non-secure cluster (D9), none on a mixed one (D10);
3. TFTP nodes serving different lists: the CTL is the same everywhere
   (D1); ITLs differ only by each node's own CallManager (reference 003);
4. the ITL's signer against the CallManager certificate the database
   holds (reference 002's ``run sql`` / OS Administration comparison,
   CSCtn50405): a list that does not verify, a signer that is not the
   current certificate, a CallManager certificate whose key is gone;
5. TVS, CAPF and ITLRecovery certificates missing from the lists (H4, C4);
6. ITLRecovery.p12 never exported (C5: the only bulk way back, 003);
7. eTokens the CTL lists that the cluster no longer knows (004, D5);
8. certificates expired or about to (004 step 1: "what dates to watch");
9. devices that lock if they reboot now: their last download no longer
   verifies against the current files (:mod:`.predict`), with counts;
10. services not answering on their ports (:mod:`.probe`, async, separate).

WARN never blocks: it is something to know (a stale CTL, a reset ITL in
force). FAIL is something phones suffer from now or will at the next
change.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from phonetrust.clock import Clock
from phonetrust.errors import ParseError
from phonetrust.formats import legacy
from phonetrust.formats.names import colon_hex, serial_bytes
from phonetrust.formats.record import Record
from phonetrust.formats.tags import TFTP_ROLES, Role
from phonetrust.formats.trustlist import TrustList
from phonetrust.planner.checks import Check, Status, check, worst
from phonetrust.planner.predict import reboot_all
from phonetrust.planner.probe import PROBE_TIMEOUT, RESTART_TFTP, Target, probe
from phonetrust.policy import etokens
from phonetrust.policy.domain import (
    CertName,
    Node,
    OwnCertificate,
    SecurityMode,
    Service,
    SignerOption,
    TrustStore,
)
from phonetrust.policy.trustlists import server_role
from phonetrust.service.changes import reading
from phonetrust.service.context import Context, cluster
from phonetrust.service.fileplan import CTL_NAME, ITL_NAME
from phonetrust.sim.network import Routes
from phonetrust.store.repository import ClusterState, UnitOfWork

EXPIRY_WARNING = timedelta(days=30)
SHOWN = 10
"""Devices named one by one in a check's detail; the rest are counted."""
UPDATE_CTL = (
    "run `utils ctl update CTLFile` on the publisher (eToken CTL: the CTL client's Update CTL "
    "File), restart TFTP and CallManager, then reset the phones"
)


# -- the cluster, read once ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Served:
    """One TFTP node's lists as the store publishes them (a list that does not parse: its
    parse error)."""

    host: str
    ctl_raw: bytes | None
    itl_raw: bytes | None
    ctl: TrustList | str | None
    itl: TrustList | str | None


@dataclass(frozen=True, slots=True)
class ClusterView:
    """What the checks read: nodes, their current certificates, the served lists."""

    state: ClusterState
    nodes: tuple[Node, ...]
    certs: Mapping[tuple[str, CertName], OwnCertificate]
    served: tuple[Served, ...]
    phone_sast: frozenset[bytes]
    keyless: frozenset[str]
    """Hosts whose current CallManager certificate has no private key in the store."""
    now: datetime
    recovery_history: tuple[bytes, ...] = ()

    @classmethod
    def read(cls, ctx: Context, uow: UnitOfWork) -> ClusterView:
        state = cluster(uow)
        nodes = tuple(uow.list_nodes())
        certs = {
            (n.host, name): own
            for n in nodes
            for name in CertName
            if (own := uow.current_certificate(n.host, name)) is not None
        }
        served = tuple(_served(uow, n.host) for n in nodes if n.runs(Service.TFTP))
        sast = frozenset(t.der for t in uow.list_trusted(TrustStore.PHONE_SAST))
        keyless = frozenset(
            host
            for (host, name), own in certs.items()
            if name is CertName.CALLMANAGER and not ctx.keys.has(own.der, uow)
        )
        pub = next((n.host for n in nodes if n.publisher), None)
        history = () if pub is None else uow.certificate_history(pub, CertName.ITLRECOVERY)
        return cls(
            state, nodes, certs, served, sast, keyless, ctx.now(), tuple(h.der for h in history)
        )

    def cert(self, host: str, name: CertName) -> x509.Certificate | None:
        own = self.certs.get((host, name))
        return None if own is None else x509.load_der_x509_certificate(own.der)

    def der(self, host: str, name: CertName) -> bytes | None:
        own = self.certs.get((host, name))
        return None if own is None else own.der

    @property
    def publisher(self) -> Node | None:
        return next((n for n in self.nodes if n.publisher), None)

    def recovery(self) -> bytes | None:
        pub = self.publisher
        return None if pub is None else self.der(pub.host, CertName.ITLRECOVERY)


def _served(uow: UnitOfWork, host: str) -> Served:
    ctl = uow.published_file(host, CTL_NAME)
    itl = uow.published_file(host, ITL_NAME)
    return Served(host, ctl, itl, _parse(ctl), _parse(itl))


def _parse(data: bytes | None) -> TrustList | str | None:
    if data is None:
        return None
    try:
        return TrustList.from_wire(data)
    except ParseError as exc:
        return str(exc)


def serial_text(cert: x509.Certificate) -> str:
    """A serial as ``show ctl`` / ``show itl`` print it (colon hex)."""
    return colon_hex(serial_bytes(cert.serial_number))


def differences(record: Record, cert: x509.Certificate) -> list[str]:
    """What differs between a list record and a current certificate: serial, CN, dates.

    A hash-only record (TVS and CAPF in an ITL) has only its hash to compare.
    """
    der = cert.public_bytes(Encoding.DER)
    if record.certificate_der is None:
        return [] if record.matches_certificate(der) else ["certificate hash"]
    found = []
    if record.serial != serial_bytes(cert.serial_number):
        found.append("serial " + colon_hex(record.serial or b"") + " vs " + serial_text(cert))
    held = record.certificate()
    if held is None:
        return [*found, "certificate unreadable"]
    if held.subject != cert.subject:
        found.append(f"CN {held.subject.rfc4514_string()} vs {cert.subject.rfc4514_string()}")
    if (held.not_valid_before_utc, held.not_valid_after_utc) != (
        cert.not_valid_before_utc,
        cert.not_valid_after_utc,
    ):
        found.append(
            f"dates to {held.not_valid_after_utc:%Y-%m-%d} vs {cert.not_valid_after_utc:%Y-%m-%d}"
        )
    if not found and record.certificate_der != der:
        found.append("certificate bytes")
    return found


def _distinct_ctls(view: ClusterView) -> list[tuple[TrustList | str, list[str]]]:
    """Each different CTL served, with the nodes serving it."""
    groups: dict[bytes, tuple[TrustList | str, list[str]]] = {}
    for s in view.served:
        if s.ctl_raw is not None and s.ctl is not None:
            groups.setdefault(s.ctl_raw, (s.ctl, []))[1].append(s.host)
    return list(groups.values())


# -- 1. certificates against the records ----------------------------------------------------


def check_certificates(view: ClusterView) -> Check:
    """Reference 004 steps 1-2: each node's CallManager and CAPF against the CTL; each TFTP
    node's CallManager against the TFTP record of the ITL it serves."""
    ctl_fails: list[str] = []
    itl_fails: list[str] = []
    for ctl, hosts in _distinct_ctls(view):
        where = "CTL of " + ", ".join(hosts)
        if isinstance(ctl, str):
            continue  # check_list_signers reports a list that does not parse
        for node in view.nodes:
            for name, role in ((CertName.CALLMANAGER, server_role(node)), (CertName.CAPF, None)):
                if name is CertName.CAPF and not node.runs(Service.CAPF):
                    continue
                if name is CertName.CALLMANAGER and role is None:
                    continue
                ctl_fails += _compare(ctl, node, name, view, where, by_host=True)
    for s in view.served:
        if not isinstance(s.itl, TrustList):
            continue
        node = next(n for n in view.nodes if n.host == s.host)
        if view.state.itl_reset_active and view.publisher is not None:
            node = view.publisher  # every node serves the publisher's ITL until TFTP restarts
        itl_fails += _compare(s.itl, node, CertName.CALLMANAGER, view, f"ITL of {s.host}")
    action = " ".join(
        part
        for part, needed in (
            (f"CTL: {UPDATE_CTL}.", ctl_fails),
            (f"ITL: {RESTART_TFTP}.", itl_fails),
        )
        if needed
    )
    ok = [f"{len(view.nodes)} nodes' CallManager and CAPF certificates match the lists' records"]
    return check(
        "certificates",
        "node certificates against the CTL and ITL records",
        ctl_fails + itl_fails,
        (),
        action=action,
        ok=ok,
    )


def _compare(
    tl: TrustList,
    node: Node,
    name: CertName,
    view: ClusterView,
    where: str,
    *,
    by_host: bool = False,
) -> list[str]:
    cert = view.cert(node.host, name)
    if cert is None:
        return []
    roles = {Role.CAPF} if name is CertName.CAPF else set(TFTP_ROLES) | {Role.CCM}
    candidates = [r for r in tl.records if r.role in roles]
    if by_host:
        candidates = [r for r in candidates if (r.dns_name or "").lower() == node.host.lower()]
    der = cert.public_bytes(Encoding.DER)
    if any(r.matches_certificate(der) for r in candidates):
        return []
    label = f"{where}: {node.host} {name.value}.pem (serial {serial_text(cert)})"
    if not candidates:
        return [f"{label} has no record"]
    return [f"{label} differs from its record: " + "; ".join(differences(candidates[0], cert))]


# -- 2. the CTL's age, mode -----------------------------------------------------------------


def check_ctl_age(view: ClusterView) -> Check:
    """Reference 004: a CTL generated before CallManager.pem or CAPF.pem misses them."""
    title = "CTL newer than every CallManager and CAPF certificate"
    ctls = _distinct_ctls(view)
    mixed = view.state.security_mode is SecurityMode.MIXED
    if not ctls:
        if mixed:
            fail = "the cluster is in mixed mode but no TFTP node serves CTLFile.tlv (D10)"
            return check("ctl-age", title, [fail], (), action=UPDATE_CTL)
        return Check("ctl-age", Status.OK, title, ("non-secure cluster, no CTL served",))
    if not mixed:
        warn = "a CTL is served but the cluster is not in mixed mode: it is stale (D9)"
        action = "`file delete tftp CTLFile.tlv` on each node that serves it"
        return check("ctl-age", title, (), [warn], action=action)
    fails: list[str] = []
    for ctl, hosts in ctls:
        if isinstance(ctl, str) or ctl.header.timestamp is None:
            continue
        made = datetime.fromtimestamp(ctl.header.timestamp, UTC)
        for (host, name), own in sorted(view.certs.items()):
            if name in (CertName.CALLMANAGER, CertName.CAPF) and own.created_at > made:
                fails.append(
                    f"CTL of {', '.join(hosts)} ({made:%Y-%m-%d %H:%M:%S} UTC) is older than "
                    f"{host} {name.value}.pem ({own.created_at:%Y-%m-%d %H:%M:%S} UTC)"
                )
    return check(
        "ctl-age", title, fails, (), action=UPDATE_CTL, ok=["the CTL is newer than them all"]
    )


# -- 3. the same lists on every TFTP node ---------------------------------------------------


def check_same_lists(view: ClusterView) -> Check:
    """D1: one CTL everywhere. Reference 003: ITLs differ only by the node's own
    CallManager (its signer and TFTP record); every other record is the cluster's."""
    fails: list[str] = []
    ctls = {s.host: s.ctl_raw for s in view.served}
    if len(set(ctls.values())) > 1:
        shown = ", ".join(
            f"{h}: {'none' if d is None else legacy.md5_hex(d)}" for h, d in ctls.items()
        )
        fails.append(f"TFTP nodes serve different CTLs (MD5 {shown})")
    shared = {s.host: _shared_records(view, s) for s in view.served if isinstance(s.itl, TrustList)}
    if len(set(shared.values())) > 1:
        union: frozenset[tuple[str, bytes]] = frozenset().union(*shared.values())
        fails.append(
            "ITL records differ between TFTP nodes: "
            + "; ".join(
                f"{h} lacks {', '.join(sorted(role for role, _ in union - recs))}"
                for h, recs in shared.items()
                if union - recs
            )
        )
    action = f"{RESTART_TFTP} on the nodes named; a CTL that differs: {UPDATE_CTL}" if fails else ""
    ok = [f"{len(view.served)} TFTP nodes serve the same CTL and the same ITL records"]
    return check("same-lists", "TFTP nodes serve the same lists", fails, (), action=action, ok=ok)


def _shared_records(view: ClusterView, s: Served) -> frozenset[tuple[str, bytes]]:
    assert isinstance(s.itl, TrustList)  # noqa: S101 - the caller filters
    callmanagers = [
        der
        for (_, name), own in view.certs.items()
        if name is CertName.CALLMANAGER
        for der in (own.der,)
    ]
    out = set()
    for r in s.itl.records:
        if r.role is Role.SAST and any(r.matches_certificate(d) for d in callmanagers):
            continue  # a node's CallManager as signer: its own, or the publisher's after a reset
        if r.role in TFTP_ROLES or r.role is Role.CCM:
            continue  # the node's own (perhaps stale) CallManager: check_certificates says
        key = r.certificate_der or r.cert_hash or b""
        out.add((r.role.spelling if r.role is not None else "-", key))
    return frozenset(out)


# -- 4. who signed the lists ----------------------------------------------------------------


def check_list_signers(view: ClusterView) -> Check:
    """Reference 002 (CSCtn50405): ``show itl`` must say "The ITL file was verified
    successfully" and name as signer the CallManager certificate that ``run sql`` lists with
    "Authentication and Authorization" and OS Administration shows as CallManager.pem."""
    fails: list[str] = []
    warns: list[str] = []
    for s in view.served:
        cm = view.cert(s.host, CertName.CALLMANAGER)
        if s.host in view.keyless and cm is not None:
            fails.append(
                f"{s.host}: CallManager.pem (serial {serial_text(cm)}) has no private key in the "
                "store (a restore from a backup without it): no ITL can be signed"
            )
        for label, tl in (("ITL", s.itl), ("CTL", s.ctl)):
            if tl is None:
                if label == "ITL":
                    fails.append(f"{s.host} serves no ITLFile.tlv")
                continue
            if isinstance(tl, str):
                fails.append(f"{s.host}: {label}File.tlv does not parse: {tl}")
                continue
            if not tl.verify().verified:
                fails.append(f"{s.host}: Verification of the {label} file failed")
                continue
            if label == "ITL" and cm is not None:
                fail, warn = _itl_signer(view, s.host, tl, cm)
                fails += fail
                warns += warn
    if any("no private key" in f for f in fails):
        action = (
            "regenerate CallManager on that node (`set cert regen CallManager`): phones take "
            "the new ITL through TVS (B1); never regenerate TVS at the same time"
        )
    elif fails:
        action = RESTART_TFTP
    else:
        action = "reset the phones, then restart TFTP so CallManager signs the ITL again (C1)"
    ok = ["every ITL verifies and is signed by its node's current CallManager.pem"]
    return check(
        "list-signers", "list signers against CallManager.pem", fails, warns, action=action, ok=ok
    )


def _itl_signer(
    view: ClusterView, host: str, itl: TrustList, cm: x509.Certificate
) -> tuple[list[str], list[str]]:
    """(fails, warns) about who signed ``host``'s ITL."""
    index = itl.signer_index()
    signer = None if index is None else itl.records[index]
    if signer is None:
        return [f"{host}: This etoken was not used to sign the ITL file (no signer record)"], []
    if signer.matches_certificate(cm.public_bytes(Encoding.DER)):
        return [], []
    recovery = view.recovery()
    if recovery is not None and signer.matches_certificate(recovery):
        if view.state.itl_reset_active:
            return [], [f"{host}: an ITL reset is in force: the ITL is signed by ITLRecovery"]
        if view.state.signer is not SignerOption.ITLRECOVERY:
            return [], [f"{host}: the ITL is signed by ITLRecovery"]
        return [], []
    if any(signer.matches_certificate(old) for old in view.recovery_history):
        return [], [f"{host}: the ITL is signed by an older ITLRecovery; {RESTART_TFTP}"]
    signed = colon_hex(itl.header.signer_serial or b"")
    return [
        f"{host}: ITL signed by serial {signed}, but run sql and OS Administration show "
        f"CallManager.pem serial {serial_text(cm)}"
    ], []


# -- 5. TVS, CAPF and ITLRecovery in the lists ----------------------------------------------


def check_services_listed(view: ClusterView) -> Check:
    """H4: each ITL names every TVS and CAPF certificate and the ITLRecovery record; the CTL
    names every CAPF. A regenerated ITLRecovery reaches the ITLs at the next TFTP restart (C4)."""
    fails: list[str] = []
    warns: list[str] = []
    recovery = view.recovery()
    for s in view.served:
        for label, tl in (("ITL", s.itl), ("CTL", s.ctl)):
            if not isinstance(tl, TrustList):
                continue
            wanted = [(Service.CAPF, CertName.CAPF, Role.CAPF)]
            if label == "ITL":
                wanted.append((Service.TVS, CertName.TVS, Role.TVS))
            for node in view.nodes:
                for service, name, role in wanted:
                    der = view.der(node.host, name)
                    if not node.runs(service) or der is None:
                        continue
                    if not any(r.role is role and r.matches_certificate(der) for r in tl.records):
                        fails.append(f"{label} of {s.host} lacks {node.host} {name.value}.pem")
            if label == "ITL" and recovery is not None and not itl_holds(tl, recovery):
                warns.append(f"ITL of {s.host} lacks the current ITLRecovery record")
    if any(f.startswith("CTL") for f in fails):
        action = UPDATE_CTL
    else:
        action = f"{RESTART_TFTP}, then reset the phones"
    ok = ["every list names every TVS and CAPF certificate and the ITLRecovery record"]
    return check(
        "services-listed",
        "TVS, CAPF and ITLRecovery in the lists",
        fails,
        warns,
        action=action,
        ok=ok,
    )


def itl_holds(itl: TrustList, der: bytes) -> bool:
    return any(r.role is Role.SAST and r.matches_certificate(der) for r in itl.records)


# -- 6. ITLRecovery.p12 exported ------------------------------------------------------------


def check_recovery_backup(view: ClusterView) -> Check:
    """C5 / reference 003: until ITLRecovery.p12 is exported, a lost publisher takes the only
    bulk way back for locked phones with it; a new security password re-arms the alert."""
    title = "ITLRecovery.p12 exported"
    exported, changed = view.state.p12_exported_at, view.state.password_changed_at
    if exported is None:
        fail = "ITLRecovery.p12 has never been exported (a DRS backup is not enough)"
    elif changed is not None and changed > exported:
        fail = (
            f"the security password changed ({changed:%Y-%m-%d}) after the last export "
            f"({exported:%Y-%m-%d}): the exported .p12 no longer opens with it"
        )
    else:
        return Check("recovery-backup", Status.OK, title, (f"exported {exported:%Y-%m-%d}",))
    action = "`file get tftp ITLRecovery.p12` on the publisher, to an SFTP server kept safe"
    return check("recovery-backup", title, [fail], (), action=action)


# -- 7. eTokens -----------------------------------------------------------------------------


def check_etokens(view: ClusterView) -> Check:
    """Reference 004: phones trust a CTL signed by any token it lists, so a listed token that
    is lost or destroyed must leave the CTL; one the cluster no longer holds in
    Phone-SAST-trust (D5) is taken as gone. Expired tokens cannot sign an update."""
    title = "eTokens listed in the CTL"
    fails: list[str] = []
    tokens = 0
    for ctl, hosts in _distinct_ctls(view):
        if isinstance(ctl, str):
            continue
        for cert in etokens.ctl_tokens(ctl):
            tokens += 1
            der = cert.public_bytes(Encoding.DER)
            name = cert.subject.rfc4514_string()
            where = f"CTL of {', '.join(hosts)}: eToken {name} (serial {serial_text(cert)})"
            if der not in view.phone_sast:
                fails.append(f"{where} is no longer in Phone-SAST-trust")
            elif cert.not_valid_after_utc < view.now:
                fails.append(f"{where} expired {cert.not_valid_after_utc:%Y-%m-%d}")
    if not tokens:
        return Check("etokens", Status.OK, title, ("tokenless CTL, or none: no eToken listed",))
    action = (
        "with a token the CTL lists, run the CTL client's Update CTL File without the lost "
        "ones (or go tokenless: `utils ctl update CTLFile`); if no listed token remains, "
        "phones holding this CTL must have it deleted by hand"
    )
    return check("etokens", title, fails, (), action=action, ok=[f"{tokens} eTokens, all known"])


# -- 8. expiry ------------------------------------------------------------------------------


def check_expiry(view: ClusterView) -> Check:
    """Reference 004 step 1: expiration dates are "what dates to watch"."""
    fails, warns = [], []
    for (host, name), own in sorted(view.certs.items()):
        if name is CertName.IPSEC:
            continue
        after = x509.load_der_x509_certificate(own.der).not_valid_after_utc
        if after <= view.now:
            fails.append(f"{host} {name.value}.pem expired {after:%Y-%m-%d}")
        elif after - view.now < EXPIRY_WARNING:
            warns.append(f"{host} {name.value}.pem expires {after:%Y-%m-%d}")
    action = (
        "regenerate them one at a time, never CallManager and TVS of one node together (B2), "
        "then update the CTL in mixed mode"
    )
    return check(
        "expiry", "certificates valid", fails, warns, action=action, ok=["none expires soon"]
    )


CHECKS: tuple[Callable[[ClusterView], Check], ...] = (
    check_certificates,
    check_ctl_age,
    check_same_lists,
    check_list_signers,
    check_services_listed,
    check_recovery_backup,
    check_etokens,
    check_expiry,
)


# -- 9. devices locked now ------------------------------------------------------------------


def check_locked(uow: UnitOfWork, clock: Clock, recovery: bytes | None) -> Check:
    """Every device's phone booted, in memory, from its last download against the current
    files: those refused are locked (or will be at their next reboot)."""
    title = "devices whose last download still verifies"
    known, prediction = reboot_all(uow, clock)
    locked = prediction.locked
    unknown = [v for v in prediction.verdicts if v.outcome.key == "unknown"]
    seen = len(prediction.verdicts) - len(unknown)
    notes = [f"{len(unknown)} devices never seen (no download recorded)"] if unknown else []
    if not locked:
        return Check("locked", Status.OK, title, (f"{seen} devices seen, none locked", *notes))
    reach = sum(
        1
        for v in locked
        if recovery is not None
        and (state := known[v.device].state) is not None
        and state.itl is not None
        and itl_holds(state.itl, recovery)
    )
    by_model = _counts({v.model for v in locked}, lambda m: sum(v.model == m for v in locked))
    by_group = _counts({v.group for v in locked}, lambda g: sum(v.group == g for v in locked))
    detail = [
        f"{len(locked)} of {seen} devices seen are locked (or lock at their next reboot)",
        f"by model: {by_model}; by CallManager group: {by_group}",
        f"an ITL reset reaches {reach} of them (their ITL holds the current ITLRecovery record)",
        *(f"{v.device}: {v.reason}" for v in locked[:SHOWN]),
        *([f"... and {len(locked) - SHOWN} more"] if len(locked) > SHOWN else []),
        *notes,
    ]
    action = (
        "`phonetrust diagnose phone MAC` for each; `utils itl reset localkey` then a reset of "
        f"the phones reaches {reach}; the other {len(locked) - reach} need their ITL deleted "
        "by hand (Settings > Security > Trust List) unless the old key is restored"
    )
    return Check("locked", Status.FAIL, title, tuple(detail), action)


def _counts(keys: set[str], count: Callable[[str], int]) -> str:
    return ", ".join(f"{k} {count(k)}" for k in sorted(keys))


# -- where the services should answer (check 10) --------------------------------------------


def targets(view: ClusterView) -> list[Target]:
    served = {s.host: s.itl_raw for s in view.served}
    out = []
    for node in view.nodes:
        ip = str(node.ip)
        if node.runs(Service.TFTP):
            out.append(Target(node.host, "tftp", ip, served.get(node.host)))
        if node.runs(Service.TVS):
            out.append(Target(node.host, "tvs", ip, view.der(node.host, CertName.TVS)))
        if node.runs(Service.CAPF):
            out.append(Target(node.host, "capf", ip, view.der(node.host, CertName.CAPF)))
    return out


# -- the whole checklist --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Report:
    checks: tuple[Check, ...]

    @property
    def status(self) -> Status:
        return worst(self.checks)

    def by_name(self, name: str) -> Check:
        return next(c for c in self.checks if c.name == name)


def checklist(ctx: Context) -> tuple[Report, list[Target]]:
    """Checks 1-9 in one read of the cluster, and the ports :func:`probe` should try."""
    with reading(ctx) as uow:
        view = ClusterView.read(ctx, uow)
        checks = [check(view) for check in CHECKS]
        checks.append(check_locked(uow, ctx.clock, view.recovery()))
    return Report(tuple(checks)), targets(view)


def diagnose(
    ctx: Context,
    *,
    probe_ports: bool = True,
    routes: Routes | None = None,
    timeout: float = PROBE_TIMEOUT,
) -> Report:
    """The checklist, with the services probe unless ``probe_ports`` is False.

    Runs its own event loop: call it from a thread when one is running.
    """
    report, wanted = checklist(ctx)
    if not probe_ports:
        return report
    found = asyncio.run(probe(wanted, routes or Routes(), timeout))
    return Report((*report.checks, found))

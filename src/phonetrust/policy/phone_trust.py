"""How a phone judges trust lists and servers: an immutable state and pure decisions (A2-A7).

A :class:`PhoneTrust` is what a phone keeps in flash: its CTL and ITL (or
none), the TVS servers of its last configuration, its TVS answer cache, its
model's capabilities, whether it holds a MIC and an LSC, its security mode.
Each decision takes the state, the bytes the phone received and ``now``, and
returns a :class:`Decision`: accepted or rejected, the new state, the status
messages (scenario H1 wording) and the console lines (``SECD: ...``) a real
phone would print. When the phone must ask TVS, the decision is *pending*:
it carries a :class:`NeedTvs` (the certificate and why), the caller asks a
TVS server - after :func:`check_tvs_server` accepted that server's
certificate - and calls :func:`resume_with_tvs` (or
``decision.resume_with_tvs``) with the answer, or None when no TVS could be
reached and trusted.

How a signer is judged, by trust state:

- no list, or only the empty "rollback" ITL (E1): the next CTL or ITL is
  trusted on first use (A2), any configuration is accepted;
- a CTL and no (usable) ITL: an ITL must be signed by a CCM+TFTP/TFTP record
  of the CTL (A3); TVS cannot be asked, since only an ITL names TVS (H4);
- otherwise the signer must be in the CTL (SAST - any eToken, D3 - or a
  TFTP-capable record) or in the ITL (SAST - CallManager, ITLRecovery, C1 -
  or TFTP-capable), else TVS is asked (A4, B1) - on models with Security By
  Default only (D7). A configuration must be signed by a TFTP-capable record
  (A5). An accepted new list flushes the TVS cache (H2).

Configuration files are judged in :mod:`.phone_configs`; the vocabulary is in
:mod:`.phone_decisions`; the full behaviour, trust state x input, is the table in
``tests/sim/table.py``, which a test sweeps cell by cell.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType

from cryptography.hazmat.primitives.serialization import Encoding

from phonetrust.errors import DecryptionError, KeyMaterialError, LocalError, ParseError
from phonetrust.formats import legacy, names
from phonetrust.formats.cnfxml_read import ParsedConfig, read
from phonetrust.formats.encsgn import EncryptedFile, decrypt_file
from phonetrust.formats.record import Record
from phonetrust.formats.sgn import SignedFile
from phonetrust.formats.signing import certificate_key
from phonetrust.formats.tags import TFTP_ROLES, Role
from phonetrust.formats.trustlist import Kind, TrustList
from phonetrust.policy.models import PhoneModel
from phonetrust.policy.phone_console import ConsoleLine
from phonetrust.policy.phone_decisions import (
    CONFIG_AUTH_FAILED,
    CONFIG_DECRYPT_FAILED,
    CTL_AND_ITL_INSTALLED,
    CTL_INSTALLED,
    CTL_UPDATE_FAILED,
    ERASING,
    FILE_NOT_FOUND,
    HOST_NOT_FOUND,
    ITL_INSTALLED,
    LIST_SIGNER_ROLES,
    NO_ROLES,
    NO_TRUST_LIST,
    TRUST_LIST_UPDATE_FAILED,
    TRUST_LIST_UPDATED,
    TRUST_LIST_VERIFICATION_FAILED,
    TVS_DEFAULT_TTL,
    ConfigForm,
    NeedTvs,
    Purpose,
    Reason,
    Trace,
    TrustState,
    TvsAnswer,
    Verdict,
    Via,
    digest_refusal,
    tftp_refusal,
)

# -- the state ------------------------------------------------------------------


@dataclass(frozen=True, slots=True, repr=False)
class InstalledList:
    """A CTL or ITL as stored on the phone: its bytes, parsed once."""

    raw: bytes
    trust_list: TrustList = field(init=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "trust_list", TrustList.from_wire(self.raw))

    def __repr__(self) -> str:
        return f"InstalledList({self.filename}, {len(self.raw)} bytes, MD5 {self.md5})"

    @property
    def md5(self) -> str:
        """What Settings > Security Settings > Trust List shows, and ``show ctl`` compares."""
        return legacy.md5_hex(self.raw)

    @property
    def sha1(self) -> str:
        return legacy.sha1(self.raw).hex()

    @property
    def filename(self) -> str:
        return self.trust_list.header.filename or self.trust_list.kind.default_filename()

    @property
    def rollback(self) -> bool:
        """The "Prepare Cluster for Rollback to pre 8.0" ITL: no record has a FUNCTION (E1)."""
        return all(r.role_code is None for r in self.trust_list.records)


@dataclass(frozen=True, slots=True)
class TvsCacheEntry:
    """A positive TVS answer: the roles vouched for, until when, and the certificate."""

    roles: frozenset[Role]
    expires_at: float
    certificate: bytes = field(repr=False)

    def fresh(self, now: float) -> bool:
        return now < self.expires_at


def cache_key(certificate_der: bytes) -> str:
    """TVS cache key: SHA-256 of the certificate's DER, in hex."""
    return hashlib.sha256(certificate_der).hexdigest()


TvsServer = tuple[str, int]


@dataclass(frozen=True, slots=True)
class PhoneTrust:
    """Everything the phone's trust decisions depend on; an immutable value."""

    model: PhoneModel
    ctl_file: InstalledList | None = None
    itl_file: InstalledList | None = None
    tvs_servers: tuple[TvsServer, ...] = ()
    tvs_cache: Mapping[str, TvsCacheEntry] = field(
        default_factory=lambda: MappingProxyType({}), hash=False
    )
    has_mic: bool = True
    has_lsc: bool = False
    security_mode: int = 1

    def __post_init__(self) -> None:
        if self.itl_file is not None and self.itl_file.trust_list.kind is not Kind.ITL:
            raise LocalError(f"{self.itl_file.filename} is not an ITL")
        if self.ctl_file is not None and self.ctl_file.trust_list.kind is not Kind.CTL:
            raise LocalError(f"{self.ctl_file.filename} is not a CTL")
        object.__setattr__(self, "tvs_cache", MappingProxyType(dict(self.tvs_cache)))

    @property
    def ctl(self) -> TrustList | None:
        return None if self.ctl_file is None else self.ctl_file.trust_list

    @property
    def itl(self) -> TrustList | None:
        return None if self.itl_file is None else self.itl_file.trust_list

    @property
    def effective_itl(self) -> TrustList | None:
        """The ITL the phone trusts by: none when it is the empty rollback ITL (E1)."""
        return None if self.itl_file is None or self.itl_file.rollback else self.itl_file.trust_list

    @property
    def trust_state(self) -> TrustState:
        rollback = self.itl_file is not None and self.itl_file.rollback
        if self.ctl_file is None:
            if self.itl_file is None:
                return TrustState.NO_LISTS
            return TrustState.ROLLBACK_ITL if rollback else TrustState.ITL_ONLY
        if self.itl_file is None:
            return TrustState.CTL_ONLY
        return TrustState.CTL_AND_ROLLBACK_ITL if rollback else TrustState.CTL_AND_ITL

    @property
    def has_anchors(self) -> bool:
        """Whether any list is in force (else the next list is trusted on first use)."""
        return self.ctl is not None or self.effective_itl is not None

    def cached(self, certificate_der: bytes, now: float) -> TvsCacheEntry | None:
        entry = self.tvs_cache.get(cache_key(certificate_der))
        return entry if entry is not None and entry.fresh(now) else None


def status_summary(state: PhoneTrust) -> str:
    """The installed-lists status message (H1) for this state."""
    if state.ctl_file is None:
        return NO_TRUST_LIST if state.itl_file is None else ITL_INSTALLED
    return CTL_INSTALLED if state.itl_file is None else CTL_AND_ITL_INSTALLED


def can_use_tvs(state: PhoneTrust) -> bool:
    """SBD model, an ITL naming at least one TVS certificate, and TVS servers configured."""
    itl = state.effective_itl
    return (
        state.model.security_by_default
        and itl is not None
        and any(r.role is Role.TVS for r in itl.records)
        and bool(state.tvs_servers)
    )


def flush_tvs_cache(state: PhoneTrust) -> PhoneTrust:
    return replace(state, tvs_cache=MappingProxyType({}))


@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome of one decision: verdict, new state, what the phone shows and logs."""

    verdict: Verdict
    state: PhoneTrust
    via: Via | None = None
    reason: Reason | None = None
    detail: str = ""
    status: tuple[str, ...] = ()
    console: tuple[ConsoleLine, ...] = ()
    need_tvs: NeedTvs | None = None
    content: bytes | None = field(default=None, repr=False)
    """The configuration document, when a configuration file was accepted."""
    config: ParsedConfig | None = field(default=None, repr=False)
    display: str | None = None

    @property
    def accepted(self) -> bool:
        return self.verdict is Verdict.ACCEPTED

    @property
    def pending(self) -> bool:
        return self.verdict is Verdict.PENDING

    def resume_with_tvs(self, answer: TvsAnswer | None, now: float) -> Decision:
        if self.need_tvs is None:
            raise LocalError("this decision is not waiting for TVS")
        return resume_with_tvs(self.state, self.need_tvs, answer, now)


def decide(
    verdict: Verdict,
    state: PhoneTrust,
    t: Trace,
    *,
    via: Via | None = None,
    reason: Reason | None = None,
    detail: str = "",
    status: tuple[str, ...] = (),
    need_tvs: NeedTvs | None = None,
    content: bytes | None = None,
    config: ParsedConfig | None = None,
    display: str | None = None,
) -> Decision:
    """A :class:`Decision` carrying the trace's lines: every rule ends through here."""
    return Decision(
        verdict, state, via, reason, detail, status, t.done(), need_tvs, content, config, display
    )


# -- trust lists ----------------------------------------------------------------


def on_ctl(
    state: PhoneTrust, data: bytes, now: float, tftp_server_address: str | None = None
) -> Decision:
    """Judge a downloaded CTL (A2, A4, D3, D7, D8)."""
    return _on_list(state, Kind.CTL, data, now, tftp_server_address)


def on_itl(state: PhoneTrust, data: bytes, now: float) -> Decision:
    """Judge a downloaded ITL (A2, A3, A4, B1, B2, C1, E1)."""
    if not state.model.security_by_default:
        t = Trace()
        t.note(f"tlVerify: model {state.model.name} has no Security By Default, ITL ignored")
        return decide(Verdict.REJECTED, state, t, reason=Reason.NOT_SUPPORTED)
    return _on_list(state, Kind.ITL, data, now, None)


def _list_failed(state: PhoneTrust, verification: bool = False) -> str:
    if not state.model.security_by_default:
        return CTL_UPDATE_FAILED
    return TRUST_LIST_VERIFICATION_FAILED if verification else TRUST_LIST_UPDATE_FAILED


def _on_list(
    state: PhoneTrust, kind: Kind, data: bytes, now: float, tftp_address: str | None
) -> Decision:
    t = Trace()

    def reject(reason: Reason, detail: str, *, verification: bool = False) -> Decision:
        status = (_list_failed(state, verification),)
        return decide(Verdict.REJECTED, state, t, reason=reason, detail=detail, status=status)

    try:
        tl = TrustList.from_wire(data)
    except ParseError as exc:
        t.error(f"validate_file_envelope: {kind.value} file cannot be parsed: {exc}")
        return reject(Reason.MALFORMED, str(exc), verification=True)
    name = tl.header.filename or kind.default_filename()
    if tl.kind is not kind:
        t.error(f"validate_file_envelope: {name} is not a {kind.value} file")
        return reject(Reason.MALFORMED, f"{name} is not a {kind.value} file", verification=True)
    refusal = digest_refusal(state.model, tl.header, t) or (
        tftp_refusal(state.model, state.ctl, tftp_address, t) if kind is Kind.CTL else None
    )
    if refusal is not None:
        return reject(*refusal)
    installed = state.ctl_file if kind is Kind.CTL else state.itl_file
    if installed is not None and installed.raw == data:
        t.note(f"tlVerify: {name} unchanged, MD5 {installed.md5}")
        return decide(Verdict.ACCEPTED, state, t, via=Via.UNCHANGED)
    signer = _list_signer(tl)
    certificate = None if signer is None else signer.certificate()
    public_key = None if certificate is None else certificate_key(certificate)
    if certificate is None or public_key is None or not tl.verify_with(public_key).verified:
        t.error(
            f"validate_file_envelope: File sign verify FAILED; header length <{tl.header.size}>"
        )
        detail = f"{name} is not signed by its signer record"
        return reject(Reason.BAD_SIGNATURE, detail, verification=True)
    t.note(f"validate_file_envelope: File sign verify SUCCESS; header length <{tl.header.size}>")
    der = certificate.public_bytes(Encoding.DER)
    if not state.has_anchors:
        t.note(f"tlVerify: no trust list in force, trusting {name} on first use")
        return _install(state, kind, data, Via.TOFU, t)
    ctl_roles = LIST_SIGNER_ROLES if kind is Kind.CTL else TFTP_ROLES  # A3
    searcher = "findByIssuerAndSerialAndRoleInTL"
    if _find(state, der, t, ctl_roles=ctl_roles, itl_roles=LIST_SIGNER_ROLES, searcher=searcher):
        return _install(state, kind, data, Via.TRUST_LIST, t)
    t.error(
        f"tlVerify: signer of {name} not in CTL or ITL, <{names.cucm_name(certificate.subject)}>"
    )
    purpose = Purpose.CTL_SIGNER if kind is Kind.CTL else Purpose.ITL_SIGNER
    return ask_tvs(state, NeedTvs(der, purpose, data, name), now, t)


def _list_signer(tl: TrustList) -> Record | None:
    """The signer's record: the SAST record the header names, or its role-less twin (E1)."""
    index = tl.signer_index()
    if index is not None:
        return tl.records[index]
    serial, issuer = tl.header.signer_serial, tl.header.ca_name_bytes
    candidates = [r for r in tl.records if r.role_code is None and r.serial == serial]
    exact = [r for r in candidates if r.issuer_bytes == issuer]
    best = exact or candidates
    return best[0] if best else None


def _find(
    state: PhoneTrust,
    der: bytes,
    t: Trace,
    *,
    ctl_roles: frozenset[Role] = NO_ROLES,
    itl_roles: frozenset[Role] = NO_ROLES,
    searcher: str,
) -> bool:
    """Whether ``der`` is a record of the CTL or the ITL in force with one of the roles.

    No roles given: any record with a role.
    """
    for label, tl, roles in (
        ("CTL", state.ctl, ctl_roles),
        ("ITL", state.effective_itl, itl_roles),
    ):
        if tl is None:
            continue
        t.note(f"{searcher}: Searching TL from {label} file")
        for rec in tl.records:
            role_ok = rec.role is not None and (not roles or rec.role in roles)
            if role_ok and rec.matches_certificate(der):
                assert rec.role is not None  # noqa: S101 - role_ok says so
                t.note(f"{searcher}: found in {label} file, role {rec.role.spelling}")
                return True
    return False


def _install(state: PhoneTrust, kind: Kind, data: bytes, via: Via, t: Trace) -> Decision:
    new = InstalledList(data)
    old = state.ctl_file if kind is Kind.CTL else state.itl_file
    changed = replace(state, ctl_file=new) if kind is Kind.CTL else replace(state, itl_file=new)
    verb = "installed" if old is None else "updated"
    t.note(f"tlUpdate: {kind.value} file {verb} <{new.filename}>, MD5 {new.md5}")
    if new.rollback:
        t.note("tlUpdate: ITL has empty function entries (rollback to pre 8.0): trust checks off")
    if changed.model.security_by_default:  # H2
        t.note(f"tvsReqFlushTvsCertCache: Sent Request to TVS proxy, len: {len(data)}")
        t.note("processTvsClntReq: TVS Certificate cache flush request received")
        t.note("tvsFlushCertCache: Completed TVS Certificate cache flush request")
        changed = flush_tvs_cache(changed)
    status = status_summary(changed) if old is None else TRUST_LIST_UPDATED
    return decide(Verdict.ACCEPTED, changed, t, via=via, status=(status,))


# -- TVS ------------------------------------------------------------------------


def ask_tvs(state: PhoneTrust, need: NeedTvs, now: float, t: Trace) -> Decision:
    """Use a cached TVS answer, or ask TVS when the phone can, or fail."""
    unknown = Reason.CERT_UNKNOWN if need.purpose is Purpose.HTTPS_SERVER else Reason.SIGNER_UNKNOWN
    if not state.model.security_by_default:  # D7
        why = _why_no_tvs(state)
        t.error(f"tlVerify: {why}")
        return _fail(state, need, unknown, why, t)
    t.note("processTvsClntReq: TVS Certificate Authentication request")
    entry = state.cached(need.certificate, now)
    if entry is not None and (not need.purpose.roles or entry.roles & need.purpose.roles):
        t.note("lookupAuthCertTvsCacheEntry: Matching entry found at cache")
        return _finish(state, need, Via.TVS_CACHE, t)
    t.note("lookupAuthCertTvsCacheEntry: No matching entry found at cache")
    if not can_use_tvs(state):
        why = _why_no_tvs(state)
        t.error(f"processTvsClntReq: cannot ask TVS: {why}")
        return _fail(state, need, unknown, why, t)
    t.note("setupSocketToTvsProxy: Connected to TVS proxy server")
    return decide(Verdict.PENDING, state, t, need_tvs=need)


def _why_no_tvs(state: PhoneTrust) -> str:
    if not state.model.security_by_default:
        return f"model {state.model.name} has no TVS (no Security By Default)"
    itl = state.effective_itl
    if itl is None or not any(r.role is Role.TVS for r in itl.records):
        return "no ITL in force names a TVS server"
    return "no TVS server in the configuration"


def resume_with_tvs(
    state: PhoneTrust, need: NeedTvs, answer: TvsAnswer | None, now: float
) -> Decision:
    """Finish a pending decision with TVS's answer (None: no TVS reached and trusted)."""
    t = Trace()
    if answer is None:
        t.error("processTvsClntReq: no TVS server could be reached and trusted")
        return _fail(state, need, Reason.TVS_UNAVAILABLE, "", t)
    t.note("clpTvsInit: Client message received on TVS proxy socket")
    t.note(
        f"processTvsClntReq: Success reading the client TVS request, len : {len(need.certificate)}"
    )
    roles = frozenset(Role(r) for r in answer.roles if r in Role._value2member_map_)
    if not answer.valid:
        t.error(f"processTvsClntReq: TVS does not trust the {need.purpose.value}")
        return _fail(state, need, Reason.TVS_REFUSED, "TVS answered: not valid", t)
    if need.purpose.roles and not roles & need.purpose.roles:
        spelled = ", ".join(sorted(r.spelling for r in roles)) or "none"
        t.error(f"processTvsClntReq: TVS roles ({spelled}) do not allow a {need.purpose.value}")
        return _fail(state, need, Reason.TVS_REFUSED, f"TVS vouches for roles: {spelled}", t)
    if answer.ttl > 0:
        default = "default " if answer.ttl == TVS_DEFAULT_TTL else ""
        t.note(
            "saveCertToTvsCache: Saving certificate in TVS cache with "
            f"{default}time-to-live value: {answer.ttl} seconds"
        )
        cache = {k: v for k, v in state.tvs_cache.items() if v.fresh(now)}  # expired go
        cache[cache_key(need.certificate)] = TvsCacheEntry(
            roles, now + answer.ttl, need.certificate
        )
        state = replace(state, tvs_cache=MappingProxyType(cache))
    return _finish(state, need, Via.TVS, t)


def _finish(state: PhoneTrust, need: NeedTvs, via: Via, t: Trace) -> Decision:
    if need.purpose is Purpose.CTL_SIGNER:
        return _install(state, Kind.CTL, need.data, via, t)
    if need.purpose is Purpose.ITL_SIGNER:
        return _install(state, Kind.ITL, need.data, via, t)
    if need.purpose is Purpose.CONFIG_SIGNER:
        return finish_config(state, need, via, t)
    t.important("Authenticated the HTTPS conn via TVS")
    return decide(Verdict.ACCEPTED, state, t, via=via)


def _fail(state: PhoneTrust, need: NeedTvs, reason: Reason, detail: str, t: Trace) -> Decision:
    """A rejection worded for what was being judged."""
    if need.purpose in (Purpose.CTL_SIGNER, Purpose.ITL_SIGNER):
        t.error(f"tlUpdate: {need.filename} rejected: {reason.value}")
        status: tuple[str, ...] = (_list_failed(state),)
        return decide(Verdict.REJECTED, state, t, reason=reason, detail=detail, status=status)
    if need.purpose is Purpose.CONFIG_SIGNER:
        return config_failed(state, need.filename, reason, detail, t)
    t.error(f"https_cert_vfy: HTTPS conn not authenticated, <{need.address}>")
    return decide(Verdict.REJECTED, state, t, reason=reason, detail=detail, display=HOST_NOT_FOUND)


def check_tvs_server(state: PhoneTrust, certificate_der: bytes, *, address: str = "") -> Decision:
    """Whether the phone may use a TVS server presenting ``certificate_der`` (A7, B2).

    The certificate must match a TVS record of the ITL in force, by hash.
    """
    t = Trace()
    if not state.model.security_by_default:
        t.note(f"tvs_cert_vfy: model {state.model.name} has no TVS client")
        return decide(Verdict.REJECTED, state, t, reason=Reason.NOT_SUPPORTED)
    t.note("srvr_cert_vfy: Server Certificate Validation needs to be done")
    if state.ctl is not None:
        t.note("findByIssuerAndSerialAndRoleInTL: Searching TL from CTL file")
    if state.itl is not None:
        t.note("findByIssuerAndSerialAndRoleInTL: Searching TL from ITL file")
    itl = state.effective_itl
    tvs_records = [] if itl is None else [r for r in itl.records if r.role is Role.TVS]
    if any(r.matches_certificate(certificate_der) for r in tvs_records):
        t.note("verifyCertWithHashFromTL: cert hash and hash in TL MATCH")
        t.note(f"tvs_cert_vfy: TVS cert verified with hash from TL, <{address}>")
        return decide(Verdict.ACCEPTED, state, t, via=Via.TRUST_LIST)
    if tvs_records:
        t.error("verifyCertWithHashFromTL: cert hash and hash in TL MISMATCH")
    else:
        t.error("verifyCertWithHashFromTL: no TVS record in TL")
    t.error(f"tvs_cert_vfy: TVS cert verification failed, <{address}>")
    return decide(Verdict.REJECTED, state, t, reason=Reason.TVS_SERVER_UNTRUSTED)


def check_capf_server(state: PhoneTrust, certificate_der: bytes, *, address: str = "") -> Decision:
    """Whether the phone may enrol with a CAPF server presenting ``certificate_der`` (F1).

    The certificate must be a CAPF record of the CTL or the ITL in force; with
    no list in force (a phone fresh from the factory) the first CAPF is trusted.
    """
    t = Trace()
    t.note("srvr_cert_vfy: Server Certificate Validation needs to be done")
    if not state.has_anchors:
        t.note(f"capf_cert_vfy: no trust list in force, CAPF trusted on first use, <{address}>")
        return decide(Verdict.ACCEPTED, state, t, via=Via.TOFU)
    capf_roles = frozenset({Role.CAPF})
    searcher = "findByIssuerAndSerialAndRoleInTL"
    if _find(
        state, certificate_der, t, ctl_roles=capf_roles, itl_roles=capf_roles, searcher=searcher
    ):
        t.note(f"capf_cert_vfy: CAPF cert verified with the CAPF record, <{address}>")
        return decide(Verdict.ACCEPTED, state, t, via=Via.TRUST_LIST)
    t.error(f"capf_cert_vfy: No valid CAPF server, <{address}>")
    return decide(Verdict.REJECTED, state, t, reason=Reason.CAPF_SERVER_UNTRUSTED)


def check_https_server(
    state: PhoneTrust, certificate_der: bytes, now: float, *, address: str = ""
) -> Decision:
    """Whether the phone trusts an HTTPS server's certificate: CTL/ITL, else TVS (A7)."""
    t = Trace()
    t.note("srvr_cert_vfy: Server Certificate Validation needs to be done")
    if _find(state, certificate_der, t, searcher="findByCertAndRoleInTL"):
        t.note(f"https_cert_vfy: HTTPS cert found in TL, <{address}>")
        return decide(Verdict.ACCEPTED, state, t, via=Via.TRUST_LIST)
    t.error(f"https_cert_vfy: HTTPS cert not in CTL, <{address}>")
    need = NeedTvs(certificate_der, Purpose.HTTPS_SERVER, address=address)
    return ask_tvs(state, need, now, t)


# -- configuration verdicts (TVS resumes into these; the rules are in phone_configs.py) --


def plain_name(filename: str) -> str:
    """The file's name in console lines (``/usr/ram/SEP....cnf.xml``), whatever form it came in."""
    return filename.removesuffix(".sgn").removesuffix(".enc") or "configuration file"


def finish_config(state: PhoneTrust, need: NeedTvs, via: Via, t: Trace) -> Decision:
    """Accept a configuration whose signer is trusted: decrypt, read, take its TVS servers.

    Here rather than in :mod:`.phone_configs` because a TVS answer resumes into it.
    """
    path = f"/usr/ram/{plain_name(need.filename)}"
    if via is Via.UNCHECKED:
        t.note(f"verifyFile: no trust list in force, file not verified <{path}>")
    else:
        t.note(f"verifyFile: verify SUCCESS <{path}>")
    if need.form is ConfigForm.ENCRYPTED:
        try:
            document = decrypt_file(EncryptedFile.from_wire(need.data), need.device_key)
        except (DecryptionError, KeyMaterialError) as exc:
            own = "LSC" if state.has_lsc else "MIC"
            t.error(f"decryptFile: decrypt FAILED with the {own} key <{path}>: {exc}")
            return config_failed(state, need.filename, Reason.CANNOT_DECRYPT, str(exc), t)
        t.note(f"decryptFile: decrypt SUCCESS <{path}>")
    elif need.form is ConfigForm.PLAIN:
        document = need.data
    else:
        document = SignedFile.from_wire(need.data).content
    try:
        parsed = read(document)
    except ParseError as exc:
        t.error(f"cfgParse: configuration cannot be read: {exc}")
        return config_failed(state, need.filename, Reason.CONFIG_UNREADABLE, str(exc), t)
    if not parsed.full_config:  # the stub beside an .enc.sgn: settings come with the real file
        t.note(f"cfgParse: encrypted configuration stub, fetching the encrypted file <{path}>")
        return decide(Verdict.ACCEPTED, state, t, via=via, content=document, config=parsed)
    servers = tuple((s.address, s.port) for s in parsed.tvs)
    listed = ", ".join(f"{a}:{p}" for a, p in servers) or "none"
    t.note(f"getTvsServerInfo: TVS servers from configuration: {listed}")
    changed = replace(state, tvs_servers=servers, security_mode=parsed.device_security_mode)
    return decide(Verdict.ACCEPTED, changed, t, via=via, content=document, config=parsed)


def config_failed(
    state: PhoneTrust, filename: str, reason: Reason, detail: str, t: Trace
) -> Decision:
    """A refused configuration, with the status message the phone shows (A5, A6)."""
    template = CONFIG_DECRYPT_FAILED if reason is Reason.CANNOT_DECRYPT else CONFIG_AUTH_FAILED
    status = (template.format(file=filename or "configuration file"),)
    return decide(Verdict.REJECTED, state, t, reason=reason, detail=detail, status=status)


# -- the settings menu and the TFTP client ---------------------------------------------


def erase(state: PhoneTrust) -> Decision:
    """Settings > Security > Trust List > Erase (G2): both lists and the TVS cache go."""
    t = Trace()
    t.note("tlErase: Erasing CTL and ITL files")
    cleared = flush_tvs_cache(replace(state, ctl_file=None, itl_file=None))
    return decide(Verdict.ACCEPTED, cleared, t, status=(ERASING,))


def on_file_not_found(state: PhoneTrust, filename: str) -> Decision:
    """The TFTP server has no such file (harmless for ``CTLFile.tlv`` in non-secure mode).

    When it was the last trust list the phone asks for (``ITLFile.tlv``, or
    ``CTLFile.tlv`` on a model without Security By Default) and the phone
    holds none, it also shows "No Trust List installed" (H1).
    """
    t = Trace()
    t.tftp(f"File not found <{filename}>")
    status: tuple[str, ...] = (FILE_NOT_FOUND.format(file=filename),)
    last_list = "ITLFile.tlv" if state.model.security_by_default else "CTLFile.tlv"
    if filename == last_list and state.ctl_file is None and state.itl_file is None:
        status += (NO_TRUST_LIST,)
    return decide(Verdict.REJECTED, state, t, reason=Reason.NOT_FOUND, status=status)

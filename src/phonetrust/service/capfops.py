"""CAPF's use cases: who may enrol, issuing the LSC, recording what happened.

A :class:`CapfService` is made once per node (:func:`load_capf_service`) with
the node's CAPF certificate and key loaded once, the cluster's CAPF
certificates (current and earlier: LSCs they issued still authenticate) and
the ``CAPF-trust`` store (MIC issuers). The CAPF server asks it:

- :meth:`CapfService.submit_decide` - is this device known, is an operation pending
  and unexpired, does the phone authenticate as the device's mode demands
  (null string; authentication string, one use; existing certificate with
  precedence to LSC or to MIC, scenario H6)? A refusal is recorded on the
  device ("Failure: ...") when the device is known.

  Authentication strings follow :mod:`phonetrust.policy.capfauth`: checked
  against their stored hash; each wrong one counted on the device's row
  (so every node shares the count, and a restart keeps it) with a
  conditional UPDATE that cannot lose a count to another node; the
  :data:`~phonetrust.policy.capfauth.MAX_FAILURES`-th locks the operation -
  one "capf lock" audit entry and an alert - and a locked operation is
  refused without checking the string and without writing anything, until
  it is scheduled again (``inventory.schedule_capf``). Every refusal before
  authentication (unknown device, wrong string, locked, expired, untrusted
  certificate) tells the phone the same reason and text, and an unknown
  device costs a verification too, so a client cannot enumerate devices;
  the log and the device's status keep the real reason.
- :meth:`CapfService.issue` - the LSC for the phone's new key.
- :meth:`CapfService.submit_record` - the outcome: the LSC stored and the
  operation cleared, the LSC deleted, the fetched certificate kept, or the
  failure and its reason.

The rules themselves are pure and live in :mod:`phonetrust.policy.capfauth`;
this module reads what they need, applies them, and writes what they say.

Database work goes through one :class:`~phonetrust.service.batchwriter.BatchWriter`:
the decisions and results queued within 2 ms of the first, or while the
previous transaction committed, run in one transaction with one audit
entry per kind of result naming every device; if that transaction fails,
each job runs alone so that one bad result fails only its own session.
Every caller, the CAPF server and the tests alike, uses the same calls:
:meth:`CapfService.submit_decide`, :meth:`CapfService.issue`,
:meth:`CapfService.submit_record`, :meth:`CapfService.release`.
A result does not republish the file plan, except for devices whose profile
encrypts their configuration (only their ``.enc.sgn`` depends on the LSC):
those batches run inside :func:`~phonetrust.service.changes.change`. The
configuration file also shows whether a CAPF operation is pending, so once
results have been recorded the plan is republished when CAPF has been idle
for ``republish_delay`` seconds (and when the service closes).

The device's status (:func:`status_text`) reads "Operation Pending", then
"Upgrade Success", "Delete Success", "Troubleshoot Success" or
"Failure: <reason>".
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Final

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes, PublicKeyTypes

from phonetrust.errors import LocalError, PhonetrustError
from phonetrust.pki.lsc import LSC_VALIDITY_DAYS, common_name, issue_lsc
from phonetrust.policy.capfauth import (
    AUTH_FAILED,
    MAX_FAILURES,
    AuthState,
    Issuers,
    Verdict,
    burn,
    certificate_problem,
    check_auth_string,
    install_key,
    lock_alert,
    string_refusal,
    untrusted,
)
from phonetrust.policy.domain import (
    CapfAuthMode,
    CapfOperation,
    CertName,
    Device,
    TrustStore,
    device_name,
)
from phonetrust.protocols.capf.events import (
    AuthInput,
    Decision,
    Operation,
    Outcome,
    Proceed,
    Refuse,
)
from phonetrust.protocols.capf.messages import CertificateBlob, CertificateType, Reason
from phonetrust.service.batchwriter import BatchWriter, BatchWriterClosed, Job
from phonetrust.service.changes import change, reading
from phonetrust.service.context import Context, certificate, node, x509_of
from phonetrust.store.repository import AuditEntry, CapfRecord, UnitOfWork

ACTOR: Final = "CAPF"
"""Who the audit log says acted."""

UPGRADE_SUCCESS: Final = "Upgrade Success"
DELETE_SUCCESS: Final = "Delete Success"
TROUBLESHOOT_SUCCESS: Final = "Troubleshoot Success"
PENDING: Final = "Operation Pending"

_OPERATIONS = {
    CapfOperation.NONE: Operation.NONE,
    CapfOperation.INSTALL: Operation.INSTALL,
    CapfOperation.FETCH: Operation.FETCH,
    CapfOperation.DELETE: Operation.DELETE,
}


class CapfStoreError(LocalError):
    """CAPF's results could not be written to (or read from) the database."""


def refused_before_auth(info: str) -> Refuse:
    """A refusal before authentication: ``info`` for the log, the same answer for every phone."""
    return Refuse(Reason.INVALID_ELEMENT, info, told=AUTH_FAILED)


def status_text(device: Device) -> str:
    """What the device's CAPF status shows: pending, the last success, or the failure."""
    if device.capf_operation is not CapfOperation.NONE:
        last = device.capf_status
        return f"{PENDING} (last attempt: {last})" if last.startswith("Failure") else PENDING
    return device.capf_status or "None"


def capf_identity(ctx: Context, host: str) -> tuple[x509.Certificate, PrivateKeyTypes]:
    """The node's current CAPF certificate and its private key (TLS and LSC signing)."""
    with reading(ctx) as uow:
        own = certificate(uow, node(uow, host).host, CertName.CAPF)
    return x509_of(own), ctx.keys.get(own.der)


def load_capf_service(
    ctx: Context,
    host: str,
    *,
    lsc_days: int = LSC_VALIDITY_DAYS,
    republish_delay: float | None = 1.0,
    max_batch: int = 500,
) -> CapfService:
    """The CAPF service of node ``host``: its key loaded once, the cluster's issuers read once."""
    cert, key = capf_identity(ctx, host)
    with reading(ctx) as uow:
        issuers = [
            x509_of(own)
            for n in uow.list_nodes()
            for own in reversed(uow.certificate_history(n.host, CertName.CAPF))
        ]
        trusted = [x509.load_der_x509_certificate(t.der) for t in uow.list_trusted(TrustStore.CAPF)]
        encrypted = frozenset(p.name for p in uow.list_profiles() if p.tftp_encrypted)
    return CapfService(
        ctx,
        host,
        cert,
        key,
        issuers=issuers,
        capf_trust=trusted,
        encrypted_profiles=encrypted,
        lsc_days=lsc_days,
        republish_delay=republish_delay,
        max_batch=max_batch,
    )


@dataclass(slots=True)
class Transaction:
    """What the jobs of one batch share: the unit of work, and what to do when it commits."""

    uow: UnitOfWork
    audit: list[tuple[str, str]] = field(default_factory=list)
    """(action, detail) lines: one audit entry per action, naming every device."""
    stale: bool = False
    """A result changed what the file plan shows: republish once CAPF is idle."""
    reserved: list[str] = field(default_factory=list)
    """Devices reserved for a session by this batch (released if it rolls back)."""


@dataclass(slots=True)
class _Session:
    """A device with a CAPF session under way (a second one is refused meanwhile)."""

    operation: CapfOperation
    encrypted: bool


@dataclass
class CapfService:
    """One node's CAPF: decisions, LSC issuance and the recording of outcomes."""

    ctx: Context
    node: str
    certificate: x509.Certificate
    key: PrivateKeyTypes = field(repr=False)
    issuers: list[x509.Certificate] = field(default_factory=list)
    """Every CAPF certificate of the cluster, current and earlier (LSC issuers)."""
    capf_trust: list[x509.Certificate] = field(default_factory=list)
    """The CAPF-trust store (MIC issuers)."""
    encrypted_profiles: frozenset[str] = frozenset()
    """Profiles that encrypt the configuration: their devices' LSC changes republish at once."""
    lsc_days: int = LSC_VALIDITY_DAYS
    republish_delay: float | None = 1.0
    max_batch: int = 500
    writer: BatchWriter[Transaction] = field(init=False, repr=False)
    """The one thread that reads and writes CAPF's records (public for tests and diagnostics)."""
    _own: Context = field(init=False, repr=False)
    _vouch: Issuers = field(init=False, repr=False)
    _lock: threading.Lock = field(init=False, repr=False)
    _active: dict[str, _Session] = field(init=False, repr=False)
    _stale: bool = field(init=False, default=False)
    _backoff: float = field(init=False, default=0.0)

    def __post_init__(self) -> None:
        self._own = replace(self.ctx, actor=ACTOR)  # the same context, audited as CAPF
        self._lock = threading.Lock()
        self._active = {}
        if self.certificate not in self.issuers:
            self.issuers.insert(0, self.certificate)
        self._vouch = Issuers(tuple(self.issuers), tuple(self.capf_trust))
        self.writer = BatchWriter(
            self._transaction,
            max_batch=self.max_batch,
            fallback=_without_plan,
            failure=_store_error,
            idle=self._republish,
            idle_after=self._republish_after,
            name=f"capf-db-{self.node}",
        )

    def now(self) -> datetime:
        return self.ctx.now()

    # -- the API -------------------------------------------------------------------------------
    def submit_decide(
        self, device: str, auth: AuthInput, now: datetime, source: str | None = None
    ) -> Future[Decision]:
        """Whether ``device`` may go on, and with what (a refusal is recorded on the device).

        ``source``: the phone's address, for the audit and the lock's alert."""
        return self._submit(lambda txn: self._decide(txn, device, auth, now, source))

    def issue(self, device: str, public_key: PublicKeyTypes) -> x509.Certificate:
        """The LSC for ``device``'s new key, signed by this node's CAPF key."""
        return issue_lsc(
            self.certificate, self.key, device, public_key, now=self.now(), days=self.lsc_days
        )

    def submit_record(self, outcome: Outcome) -> Future[None]:
        """Record a session's outcome on its device; resolves once committed."""
        name = outcome.device or ""
        blob = outcome.certificate
        run: Callable[[Transaction], None]
        if not outcome.success:
            info = outcome.info
            return self._submit(lambda txn: self._failed(txn, name, info), release=name)
        if outcome.operation is Operation.INSTALL and blob is not None:
            run = lambda txn: self._installed(txn, name, blob.der)  # noqa: E731
        elif outcome.operation is Operation.DELETE:
            run = lambda txn: self._deleted(txn, name)  # noqa: E731
        elif outcome.operation is Operation.FETCH and blob is not None:
            run = lambda txn: self._fetched(txn, name, blob)  # noqa: E731
        else:
            info = f"nothing to record for {outcome.operation}"
            return self._submit(lambda txn: self._failed(txn, name, info), release=name)
        with self._lock:
            session = self._active.get(name)
        return self._submit(run, plan=session is not None and session.encrypted, release=name)

    def release(self, device: str) -> None:
        """Forget a session that ends without an outcome to record (idempotent)."""
        with self._lock:
            self._active.pop(device, None)

    def active(self) -> list[str]:
        """Devices with a CAPF session under way (for diagnostics)."""
        with self._lock:
            return sorted(self._active)

    def flush(self) -> None:
        """Wait until everything queued so far is committed."""
        self._submit(lambda _txn: None).result()

    def close(self) -> None:
        """Commit what is queued, stop the database thread, republish if results are pending."""
        self.writer.close()
        if self._stale:
            self._republish()

    def _submit(
        self, run: Callable[[Transaction], Any], *, plan: bool = False, release: str | None = None
    ) -> Future[Any]:
        cleanup = None if release is None else lambda: self.release(release)
        try:
            return self.writer.submit(run, options=plan, cleanup=cleanup)
        except BatchWriterClosed:
            raise CapfStoreError("the CAPF service is closed") from None

    # -- deciding ------------------------------------------------------------------------------
    def _decide(
        self, txn: Transaction, raw: str, auth: AuthInput, now: datetime, source: str | None
    ) -> Decision:
        uow = txn.uow
        try:
            name: str | None = device_name(raw)
        except LocalError:
            name = None
        found = uow.get_device(name) if name is not None and raw == name else None
        if found is None:
            burn(auth.password)  # as long as a wrong string takes
            return refused_before_auth(f"unknown device {raw}")
        operation = found.capf_operation
        if operation is CapfOperation.NONE:
            return Proceed(Operation.NONE)
        refused = self._authenticate(txn, found, auth, now, source)
        if refused is not None:
            return refused
        with self._lock:
            busy = found.name in self._active
        if busy:
            return Refuse(Reason.INVALID_ELEMENT, "a CAPF session for it is under way")
        name = found.name
        encrypted = found.profile in self.encrypted_profiles
        spec = None
        if operation is CapfOperation.INSTALL:
            try:
                spec = install_key(found, encrypted)
            except LocalError as exc:
                uow.record_capf(name, CapfRecord(f"Failure: {exc}"))
                txn.audit.append((f"capf {operation.value}", f"{name}: {exc}"))
                return Refuse(Reason.INVALID_ELEMENT, str(exc))
        with self._lock:
            self._active[name] = _Session(operation, encrypted)
        txn.reserved.append(name)
        return Proceed(_OPERATIONS[operation], spec)

    def _authenticate(
        self, txn: Transaction, device: Device, auth: AuthInput, now: datetime, source: str | None
    ) -> Refuse | None:
        """None when the phone authenticated as the device's mode demands; else the refusal."""
        name, where = device.name, f" (from {source})" if source else ""
        if device.capf_expires is not None and now > device.capf_expires:
            burn(auth.password)
            problem: str | None = "operation expired"
        elif device.capf_auth_mode is CapfAuthMode.AUTH_STRING:
            return self._check_string(txn, device, auth.password, now, where)
        else:
            problem = certificate_problem(device, auth, self._vouch, now)
        if problem is None:
            return None
        txn.uow.record_capf(name, CapfRecord(f"Failure: {problem}"))
        txn.audit.append((f"capf {device.capf_operation.value}", f"{name}: {problem}{where}"))
        return refused_before_auth(problem)

    def _check_string(
        self, txn: Transaction, device: Device, given: str | None, now: datetime, where: str
    ) -> Refuse | None:
        """The authentication string, by the lock's rules; the count written only if unchanged."""
        uow, name, operation = txn.uow, device.name, device.capf_operation.value
        current: Device | None = device
        for _ in range(3):  # another node may count a string for it meanwhile: judge again
            if current is None:
                return refused_before_auth(f"unknown device {name}")
            state = AuthState(
                current.capf_auth_hash, current.capf_auth_failures, current.capf_locked_at
            )
            check = check_auth_string(state, given, now)
            if check.verdict is Verdict.LOCKED:  # nothing written: guessing costs us no writes
                return refused_before_auth(
                    f"locked after {MAX_FAILURES} wrong authentication strings"
                )
            new = check.state
            if check.verdict is Verdict.ACCEPT:
                if new.failures != state.failures:
                    uow.record_capf(name, CapfRecord(current.capf_status, failures=new.failures))
                return None
            words = string_refusal(check, state, name, operation, where)
            record = CapfRecord(
                words.status,
                failures=new.failures,
                locked_at=new.locked_at,
                expect_failures=state.failures,
            )
            if not uow.record_capf(name, record):
                current = uow.get_device(name)
                continue
            txn.audit.append((f"capf {operation}", words.audit))
            if words.lock_message is not None:
                txn.audit.append(("capf lock", words.lock_message))
                uow.raise_alert(lock_alert(name), words.lock_message, now)
            return refused_before_auth(words.problem)
        return refused_before_auth("the authentication state kept changing")

    # -- recording -----------------------------------------------------------------------------
    @staticmethod
    def _record(uow: UnitOfWork, name: str, record: CapfRecord) -> None:
        """One targeted UPDATE of the device's CAPF columns (no read, no whole-row upsert)."""
        if not uow.record_capf(name, record):
            raise LocalError(f"device {name} was removed during its CAPF session")

    def _installed(self, txn: Transaction, name: str, der: bytes) -> None:
        """The LSC stored, the operation and the one-use string cleared."""
        record = CapfRecord(
            UPGRADE_SUCCESS,
            operation=CapfOperation.NONE,
            auth_hash="",
            failures=0,
            clear_expiry=True,
            lsc=der,
        )
        self._record(txn.uow, name, record)
        serial = x509.load_der_x509_certificate(der).serial_number
        txn.audit.append(("capf install", f"{name}: {UPGRADE_SUCCESS}, LSC serial {serial:x}"))
        txn.stale = True

    def _deleted(self, txn: Transaction, name: str) -> None:
        record = CapfRecord(
            DELETE_SUCCESS, operation=CapfOperation.NONE, clear_expiry=True, clear_lsc=True
        )
        self._record(txn.uow, name, record)
        txn.audit.append(("capf delete", f"{name}: {DELETE_SUCCESS}"))
        txn.stale = True

    def _fetched(self, txn: Transaction, name: str, blob: CertificateBlob) -> None:
        if txn.uow.get_device(name) is None:
            raise LocalError(f"device {name} was removed during its CAPF session")
        try:
            cert = x509.load_der_x509_certificate(blob.der)
        except ValueError:
            raise LocalError(f"{name} gave a certificate that is not X.509 DER") from None
        kind = blob.kind or CertificateType.MIC
        kept = untrusted(name, kind, cert, self._vouch, self.now()) is None
        record = CapfRecord(
            TROUBLESHOOT_SUCCESS,
            operation=CapfOperation.NONE,
            clear_expiry=True,
            lsc=blob.der if kept and kind is CertificateType.LSC else None,
            mic=blob.der if kept and kind is not CertificateType.LSC else None,
        )
        self._record(txn.uow, name, record)
        detail = (
            f"{name}: {TROUBLESHOOT_SUCCESS}, {kind.name} {common_name(cert)!r} "
            f"serial {cert.serial_number:x}" + ("" if kept else " (not trusted, not kept)")
        )
        txn.audit.append(("capf fetch", detail))
        txn.stale = True

    def _failed(self, txn: Transaction, name: str, reason: str) -> None:
        """The operation failed: the device's status says why; the operation stays pending."""
        found = txn.uow.get_device(name)
        if found is None:
            return
        txn.uow.record_capf(name, CapfRecord(f"Failure: {reason}"[:300]))
        txn.audit.append((f"capf {found.capf_operation.value}", f"{name}: {reason}"))

    # -- the transaction of a batch, and republishing ---------------------------------------------
    @contextmanager
    def _transaction(self, jobs: Sequence[Job[Transaction]]) -> Iterator[Transaction]:
        """One unit of work for a batch: inside :func:`change` (the plan republished) when a
        job asks for it; the audit written before the commit; reservations undone on failure."""
        planned = any(job.options for job in jobs)
        txn: Transaction | None = None
        try:
            if planned:
                with change(
                    self._own, "capf", "LSCs of devices with encrypted configuration"
                ) as ch:
                    txn = Transaction(ch.uow)
                    yield txn
                    self._write_audit(ch.uow, txn.audit)
            else:
                with self._own.repo.unit_of_work() as uow:
                    txn = Transaction(uow)
                    yield txn
                    self._write_audit(uow, txn.audit)
        except BaseException:
            for name in txn.reserved if txn is not None else ():
                self.release(name)
            raise
        self._stale = False if planned else self._stale or txn.stale

    def _write_audit(self, uow: UnitOfWork, audit: list[tuple[str, str]]) -> None:
        """One audit entry per kind of result in the batch, naming every device."""
        lines: dict[str, list[str]] = {}
        for action, detail in audit:
            lines.setdefault(action, []).append(detail)
        now = self.now()
        for action, details in lines.items():
            detail = (
                details[0]
                if len(details) == 1
                else f"{len(details)} devices: " + "; ".join(details)
            )
            uow.append_audit(AuditEntry(now, ACTOR, action, detail))

    def _republish_after(self) -> float | None:
        if not self._stale or self.republish_delay is None:
            return None
        return max(self.republish_delay, self._backoff)

    def _republish(self) -> None:
        try:
            with change(self._own, "capf", "configuration files after CAPF operations"):
                pass
        except Exception:  # noqa: BLE001 - retried later, each time after a longer wait
            self._backoff = min(max(self._backoff * 2, 5.0), 300.0)
            return
        self._stale = False
        self._backoff = 0.0


def _without_plan(job: Job[Transaction]) -> Job[Transaction] | None:
    """A result whose transaction failed with the plan is recorded all the same, without it
    (the plan is republished later)."""
    return replace(job, options=False) if job.options else None


def _store_error(exc: Exception) -> Exception:
    if isinstance(exc, PhonetrustError):
        return exc
    return CapfStoreError(f"CAPF could not use the database: {exc}")

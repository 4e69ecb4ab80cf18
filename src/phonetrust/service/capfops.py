"""CAPF's use cases: who may enrol, issuing the LSC, recording what happened.

A :class:`CapfService` is made once per node (:func:`load_capf_service`) with
the node's CAPF certificate and key loaded once, the cluster's CAPF
certificates (current and earlier: LSCs they issued still authenticate) and
the ``CAPF-trust`` store (MIC issuers). The CAPF server asks it:

- :meth:`CapfService.decide` - is this device known, is an operation pending
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
- :meth:`CapfService.record` - the outcome: the LSC stored and the
  operation cleared, the LSC deleted, the fetched certificate kept, or the
  failure and its reason.

Database work is batched: one database thread gathers the decisions and
results queued within ``batch_window`` (2 ms) of the first, or while the
previous transaction committed, and runs them in one transaction with one
audit entry per kind of result naming every device; if that transaction
fails, each job runs alone so that one bad result fails only its own
session.
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

import queue
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Final

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes, PublicKeyTypes

from phonetrust.errors import LocalError, PhonetrustError
from phonetrust.pki.lsc import LSC_VALIDITY_DAYS, common_name, issue_lsc, issued_by, parse_key_spec
from phonetrust.policy.capfauth import (
    AUTH_FAILED,
    MAX_FAILURES,
    AuthState,
    Verdict,
    burn,
    check_auth_string,
    lock_alert,
)
from phonetrust.policy.domain import (
    CapfAuthMode,
    CapfOperation,
    CertName,
    Device,
    TrustStore,
    device_name,
)
from phonetrust.protocols.capf.messages import CertificateBlob, CertificateType, KeyType, Reason
from phonetrust.protocols.capf.server import (
    AuthInput,
    Decision,
    Operation,
    Outcome,
    Proceed,
    Refuse,
)
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


@dataclass(frozen=True, slots=True)
class _Result:
    """What a job did: its value, audit lines (action, detail), whether the plan is now stale."""

    value: object
    audit: tuple[tuple[str, str], ...] = ()
    stale: bool = False
    reserved: str | None = None
    """The device this job reserved for its session (undone if the transaction fails)."""


@dataclass(slots=True)
class _Job:
    run: Callable[[UnitOfWork], _Result]
    future: Future[Any]
    plan: bool = False
    """Republish the plan in the same transaction (an encrypted-profile device changed)."""
    release: str | None = None
    """The device whose session ends with this job."""


_STOP: Final = object()


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
    batch_window: float = 0.002
    """Seconds the database thread gathers work after the first job before a transaction."""
    _own: Context = field(init=False, repr=False)
    _queue: queue.SimpleQueue[_Job | object] = field(init=False, repr=False)
    _thread: threading.Thread | None = field(init=False, default=None, repr=False)
    _lock: threading.Lock = field(init=False, repr=False)
    _active: dict[str, _Session] = field(init=False, repr=False)
    _stale: bool = field(init=False, default=False)
    _backoff: float = field(init=False, default=0.0)
    _closed: bool = field(init=False, default=False)

    def __post_init__(self) -> None:
        self._own = replace(self.ctx, actor=ACTOR)  # the same context, audited as CAPF
        self._queue = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._active = {}
        if self.certificate not in self.issuers:
            self.issuers.insert(0, self.certificate)

    def now(self) -> datetime:
        return self.ctx.now()

    # -- decisions ---------------------------------------------------------------------------
    def submit_decide(
        self, device: str, auth: AuthInput, now: datetime, source: str | None = None
    ) -> Future[Decision]:
        return self._submit(lambda uow: self._decide(uow, device, auth, now, source))

    def decide(
        self, device: str, auth: AuthInput, now: datetime, source: str | None = None
    ) -> Decision:
        """Whether ``device`` may go on, and with what (a refusal is recorded on the device).

        ``source``: the phone's address, for the audit and the lock's alert."""
        return self.submit_decide(device, auth, now, source).result()

    def issue(self, device: str, public_key: PublicKeyTypes) -> x509.Certificate:
        """The LSC for ``device``'s new key, signed by this node's CAPF key."""
        return issue_lsc(
            self.certificate, self.key, device, public_key, now=self.now(), days=self.lsc_days
        )

    # -- outcomes ---------------------------------------------------------------------------
    def submit_record(self, outcome: Outcome) -> Future[Any]:
        """Record a session's outcome on its device; resolves once committed."""
        name = outcome.device or ""
        if not outcome.success:
            return self.submit_fail(name, outcome.info)
        if outcome.operation is Operation.INSTALL and outcome.certificate is not None:
            lsc = x509.load_der_x509_certificate(outcome.certificate.der)
            der = outcome.certificate.der
            return self._submit_end(
                name, lambda uow: self._installed(uow, name, lsc, der, read_back=False)
            )
        if outcome.operation is Operation.DELETE:
            return self._submit_end(name, lambda uow: self._deleted(uow, name, read_back=False))
        if outcome.operation is Operation.FETCH and outcome.certificate is not None:
            blob = outcome.certificate
            return self._submit_end(name, lambda uow: self._fetched(uow, name, blob))
        return self.submit_fail(name, f"nothing to record for {outcome.operation}")

    def submit_fail(self, device: str, reason: str) -> Future[Any]:
        return self._submit(lambda uow: self._failed(uow, device, reason), release=device)

    def complete_install(self, device: str, lsc: x509.Certificate) -> Device:
        """The phone stored its new LSC: keep it, clear the operation and the one-use string."""
        der = lsc.public_bytes(serialization.Encoding.DER)
        result: Device = self._submit_end(
            device, lambda uow: self._installed(uow, device, lsc, der)
        ).result()
        return result

    def complete_delete(self, device: str) -> Device:
        result: Device = self._submit_end(device, lambda uow: self._deleted(uow, device)).result()
        return result

    def complete_fetch(self, device: str, blob: CertificateBlob) -> x509.Certificate:
        """The phone gave its certificate (troubleshoot): kept when it is trusted for it."""
        result: x509.Certificate = self._submit_end(
            device, lambda uow: self._fetched(uow, device, blob)
        ).result()
        return result

    def fail(self, device: str, reason: str) -> Device | None:
        """The operation failed: the device's status says why; the operation stays pending."""
        result: Device | None = self.submit_fail(device, reason).result()
        return result

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
        self._submit(lambda _uow: _Result(None)).result()

    def close(self) -> None:
        """Commit what is queued, republish if results are pending, stop the database thread."""
        with self._lock:
            self._closed = True
            thread = self._thread
        if thread is not None:
            self._queue.put(_STOP)
            thread.join()

    # -- the rules -----------------------------------------------------------------------------
    def _decide(
        self, uow: UnitOfWork, raw: str, auth: AuthInput, now: datetime, source: str | None
    ) -> _Result:
        try:
            name: str | None = device_name(raw)
        except LocalError:
            name = None
        found = uow.get_device(name) if name is not None and raw == name else None
        if found is None:
            burn(auth.password)  # as long as a wrong string takes
            return _Result(refused_before_auth(f"unknown device {raw}"))
        operation = found.capf_operation
        if operation is CapfOperation.NONE:
            return _Result(Proceed(Operation.NONE))
        refused = self._authenticate(uow, found, auth, now, source)
        if refused is not None:
            return refused
        with self._lock:
            busy = found.name in self._active
        if busy:
            return _Result(Refuse(Reason.INVALID_ELEMENT, "a CAPF session for it is under way"))
        name = found.name
        problem = None
        encrypted = found.profile in self.encrypted_profiles
        spec = None
        if operation is CapfOperation.INSTALL:
            try:
                spec = parse_key_spec(found.capf_key)
            except LocalError as exc:
                problem = str(exc)
            if spec is not None and encrypted and spec.key_type is not KeyType.RSA:
                problem = (
                    f"its profile encrypts the configuration, which needs an RSA key, "
                    f"not {spec.text}"
                )
        if problem is not None:
            uow.record_capf(name, CapfRecord(f"Failure: {problem}"))
            entry = (f"capf {operation.value}", f"{name}: {problem}")
            return _Result(Refuse(Reason.INVALID_ELEMENT, problem), (entry,))
        with self._lock:
            self._active[name] = _Session(operation, encrypted)
        return _Result(Proceed(_OPERATIONS[operation], spec), reserved=name)

    def _authenticate(
        self, uow: UnitOfWork, device: Device, auth: AuthInput, now: datetime, source: str | None
    ) -> _Result | None:
        """None when the phone authenticated as the device's mode demands; else the refusal."""
        name, where = device.name, f" (from {source})" if source else ""
        action = f"capf {device.capf_operation.value}"
        if device.capf_expires is not None and now > device.capf_expires:
            burn(auth.password)
            problem: str | None = "operation expired"
        elif device.capf_auth_mode is CapfAuthMode.AUTH_STRING:
            return self._check_string(uow, device, auth.password, now, where)
        else:
            problem = self._problem(device, auth, now)
        if problem is None:
            return None
        uow.record_capf(name, CapfRecord(f"Failure: {problem}"))
        return _Result(refused_before_auth(problem), ((action, f"{name}: {problem}{where}"),))

    def _check_string(
        self, uow: UnitOfWork, device: Device, given: str | None, now: datetime, where: str
    ) -> _Result | None:
        """The authentication string, by the lock's rules; the count written only if unchanged."""
        name, action = device.name, f"capf {device.capf_operation.value}"
        current: Device | None = device
        for _ in range(3):  # another node may count a string for it meanwhile: judge again
            if current is None:
                return _Result(refused_before_auth(f"unknown device {name}"))
            state = AuthState(
                current.capf_auth_hash, current.capf_auth_failures, current.capf_locked_at
            )
            check = check_auth_string(state, given, now)
            if check.verdict is Verdict.LOCKED:  # nothing written: guessing costs us no writes
                return _Result(
                    refused_before_auth(f"locked after {MAX_FAILURES} wrong authentication strings")
                )
            new = check.state
            if check.verdict is Verdict.ACCEPT:
                if new.failures != state.failures:
                    uow.record_capf(name, CapfRecord(current.capf_status, failures=new.failures))
                return None
            spent = not state.digest
            problem = (
                "the authentication string was already used"
                if spent
                else "authentication string mismatch"
            )
            status = f"Failure: {problem}"
            if check.newly_locked:
                status = (
                    f"Failure: locked after {MAX_FAILURES} wrong authentication strings; "
                    "schedule the operation again to unlock it"
                )
            record = CapfRecord(
                status,
                failures=new.failures,
                locked_at=new.locked_at,
                expect_failures=state.failures,
            )
            if not uow.record_capf(name, record):
                current = uow.get_device(name)
                continue
            audit = [(action, f"{name}: {problem} ({new.failures} of {MAX_FAILURES}){where}")]
            if check.newly_locked:
                message = (
                    f"CAPF {device.capf_operation.value} of {name} is locked after "
                    f"{MAX_FAILURES} wrong authentication strings{where}: it refuses every "
                    "string until the operation is scheduled again with a new string"
                )
                audit.append(("capf lock", message))
                uow.raise_alert(lock_alert(name), message, now)
            return _Result(refused_before_auth(problem), tuple(audit))
        return _Result(refused_before_auth("the authentication state kept changing"))

    def _problem(self, device: Device, auth: AuthInput, now: datetime) -> str | None:
        """Why the phone may not go on, in a mode without a string (None: it may)."""
        mode = device.capf_auth_mode
        if mode is CapfAuthMode.NULL_STRING:
            return None
        if mode in (CapfAuthMode.EXISTING_LSC_FIRST, CapfAuthMode.EXISTING_MIC_FIRST):
            return self._existing_certificate(device, auth, now)
        return "no CAPF authentication mode is set"

    def _existing_certificate(self, device: Device, auth: AuthInput, now: datetime) -> str | None:
        """H6: the LSC, else the MIC (or the MIC first); fails when neither is presented."""
        lsc_first = device.capf_auth_mode is CapfAuthMode.EXISTING_LSC_FIRST
        blob = auth.certificate
        if blob is None:
            why = auth.certificate_problem or "the phone presented no LSC or MIC"
            return f"authentication by existing certificate failed: {why}"
        kind = blob.kind
        if kind is None:
            return f"unknown certificate type {blob.type}"
        first, second = (
            (CertificateType.LSC, CertificateType.MIC)
            if lsc_first
            else (CertificateType.MIC, CertificateType.LSC)
        )
        on_record = {CertificateType.LSC: device.lsc, CertificateType.MIC: device.mic}
        if kind is second and on_record[first] is not None:
            return (
                f"precedence to {first.name}: the device has an {first.name}, "
                f"the phone presented its {second.name}"
            )
        try:
            presented = x509.load_der_x509_certificate(blob.der)
        except ValueError:
            return "the presented certificate is not X.509 DER"
        return self._trusted(device.name, kind, presented, now)

    def _trusted(
        self, name: str, kind: CertificateType, cert: x509.Certificate, now: datetime
    ) -> str | None:
        if kind is CertificateType.LSC:
            if issued_by(cert, self.issuers) is None:
                return "the LSC was not issued by a CAPF certificate of this cluster"
            if common_name(cert) != name:
                return f"the LSC belongs to {common_name(cert)!r}"
        else:
            if issued_by(cert, self.capf_trust) is None:
                return "the MIC is not issued by a certificate in CAPF-trust"
            if name not in common_name(cert):
                return f"the MIC belongs to {common_name(cert)!r}"
        if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
            return f"the {kind.name} is expired or not yet valid"
        return None

    # -- recording -----------------------------------------------------------------------------
    def _device(self, uow: UnitOfWork, name: str) -> Device:
        found = uow.get_device(name)
        if found is None:
            raise LocalError(f"device {name} was removed during its CAPF session")
        return found

    def _record(self, uow: UnitOfWork, name: str, record: CapfRecord) -> None:
        """One targeted UPDATE of the device's CAPF columns (no read, no whole-row upsert)."""
        if not uow.record_capf(name, record):
            raise LocalError(f"device {name} was removed during its CAPF session")

    def _installed(
        self,
        uow: UnitOfWork,
        name: str,
        lsc: x509.Certificate,
        der: bytes,
        *,
        read_back: bool = True,
    ) -> _Result:
        """The LSC stored, the operation and the one-use string cleared.

        ``read_back``: the updated device is the job's value (the API
        returns it); the server only needs to know that it is committed.
        """
        record = CapfRecord(
            UPGRADE_SUCCESS,
            operation=CapfOperation.NONE,
            auth_hash="",
            failures=0,
            clear_expiry=True,
            lsc=der,
        )
        self._record(uow, name, record)
        updated = self._device(uow, name) if read_back else None
        detail = f"{name}: {UPGRADE_SUCCESS}, LSC serial {lsc.serial_number:x}"
        return _Result(updated, (("capf install", detail),), stale=True)

    def _deleted(self, uow: UnitOfWork, name: str, *, read_back: bool = True) -> _Result:
        record = CapfRecord(
            DELETE_SUCCESS, operation=CapfOperation.NONE, clear_expiry=True, clear_lsc=True
        )
        self._record(uow, name, record)
        updated = self._device(uow, name) if read_back else None
        return _Result(updated, (("capf delete", f"{name}: {DELETE_SUCCESS}"),), stale=True)

    def _fetched(self, uow: UnitOfWork, name: str, blob: CertificateBlob) -> _Result:
        self._device(uow, name)
        try:
            cert = x509.load_der_x509_certificate(blob.der)
        except ValueError:
            raise LocalError(f"{name} gave a certificate that is not X.509 DER") from None
        kind = blob.kind or CertificateType.MIC
        kept = self._trusted(name, kind, cert, self.now()) is None
        record = CapfRecord(
            TROUBLESHOOT_SUCCESS,
            operation=CapfOperation.NONE,
            clear_expiry=True,
            lsc=blob.der if kept and kind is CertificateType.LSC else None,
            mic=blob.der if kept and kind is not CertificateType.LSC else None,
        )
        self._record(uow, name, record)
        detail = (
            f"{name}: {TROUBLESHOOT_SUCCESS}, {kind.name} {common_name(cert)!r} "
            f"serial {cert.serial_number:x}" + ("" if kept else " (not trusted, not kept)")
        )
        return _Result(cert, (("capf fetch", detail),), stale=True)

    def _failed(self, uow: UnitOfWork, name: str, reason: str) -> _Result:
        found = uow.get_device(name)
        if found is None:
            return _Result(None)
        status = f"Failure: {reason}"[:300]
        uow.record_capf(name, CapfRecord(status))
        updated = replace(found, capf_status=status)
        operation = found.capf_operation.value
        return _Result(updated, ((f"capf {operation}", f"{name}: {reason}"),))

    # -- the database thread ------------------------------------------------------------------
    def _submit_end(self, name: str, run: Callable[[UnitOfWork], _Result]) -> Future[Any]:
        with self._lock:
            session = self._active.get(name)
        return self._submit(run, plan=session is not None and session.encrypted, release=name)

    def _submit(
        self,
        run: Callable[[UnitOfWork], _Result],
        *,
        plan: bool = False,
        release: str | None = None,
    ) -> Future[Any]:
        future: Future[Any] = Future()
        with self._lock:
            if self._closed:
                raise CapfStoreError("the CAPF service is closed")
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name=f"capf-db-{self.node}", daemon=True
                )
                self._thread.start()
        self._queue.put(_Job(run, future, plan, release))
        return future

    def _run(self) -> None:
        stopping = False
        while not stopping:
            wait = None
            if self._stale and self.republish_delay is not None:
                wait = max(self.republish_delay, self._backoff)
            try:
                first = self._queue.get(timeout=wait)
            except queue.Empty:
                self._republish()
                continue
            batch: list[_Job] = []
            item: object = first
            gathered_until = time.monotonic() + self.batch_window
            while True:
                if isinstance(item, _Job):
                    batch.append(item)
                elif item is _STOP:
                    stopping = True
                if stopping or len(batch) >= self.max_batch:
                    break
                try:
                    item = self._queue.get(timeout=max(0.0, gathered_until - time.monotonic()))
                except queue.Empty:
                    break
            if batch:
                self._run_batch(batch)
        if self._stale:
            self._republish()

    @contextmanager
    def _transaction(self, batch: list[_Job]) -> Iterator[UnitOfWork]:
        if any(job.plan for job in batch):
            with change(self._own, "capf", "LSCs of devices with encrypted configuration") as ch:
                yield ch.uow
        else:
            with self._own.repo.unit_of_work() as uow:
                yield uow

    def _run_batch(self, batch: list[_Job]) -> None:
        """Run ``batch`` in one transaction; if the transaction fails, each job alone."""
        done: list[tuple[_Job, _Result | None, PhonetrustError | None]] = []
        try:
            with self._transaction(batch) as uow:
                for job in batch:
                    try:
                        done.append((job, job.run(uow), None))
                    except PhonetrustError as exc:
                        done.append((job, None, exc))
                self._write_audit(uow, [result for _, result, _ in done if result is not None])
        except Exception as exc:  # noqa: BLE001 - a failed commit or publish fails its jobs only
            for _, result, _ in done:
                if result is not None and result.reserved is not None:
                    self.release(result.reserved)
            if len(batch) > 1:
                for job in batch:
                    self._run_batch([job])
                return
            if batch[0].plan:  # record the result all the same; the plan is retried later
                batch[0].plan = False
                self._run_batch(batch)
                return
            failure = (
                exc
                if isinstance(exc, PhonetrustError)
                else CapfStoreError(f"CAPF could not use the database: {exc}")
            )
            self._settle(batch[0], None, failure)
            return
        if any(job.plan for job in batch):
            self._stale = False
        elif any(result is not None and result.stale for _, result, _ in done):
            self._stale = True
        for job, result, error in done:
            self._settle(job, result, error)

    def _write_audit(self, uow: UnitOfWork, results: list[_Result]) -> None:
        """One audit entry per kind of result in the batch, naming every device."""
        lines: dict[str, list[str]] = {}
        for result in results:
            for action, detail in result.audit:
                lines.setdefault(action, []).append(detail)
        now = self.now()
        for action, details in lines.items():
            detail = (
                details[0]
                if len(details) == 1
                else f"{len(details)} devices: " + "; ".join(details)
            )
            uow.append_audit(AuditEntry(now, ACTOR, action, detail))

    def _settle(self, job: _Job, result: _Result | None, error: PhonetrustError | None) -> None:
        if job.release is not None:
            self.release(job.release)
        if error is not None:
            job.future.set_exception(error)
        else:
            job.future.set_result(None if result is None else result.value)

    def _republish(self) -> None:
        try:
            with change(self._own, "capf", "configuration files after CAPF operations"):
                pass
        except Exception:  # noqa: BLE001 - retried later, each time after a longer wait
            self._backoff = min(max(self._backoff * 2, 5.0), 300.0)
            return
        self._stale = False
        self._backoff = 0.0

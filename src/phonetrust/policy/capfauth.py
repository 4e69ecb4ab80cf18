"""CAPF authentication by string: how it is stored, when it locks, who gets slowed down.

Pure rules; time is an argument. Three of them:

- **Storage.** An authentication string is kept only as a salted scrypt
  hash (:func:`hash_auth_string`), each with its own random salt and its
  cost written beside it (``scrypt$<n>$<r>$<p>$<salt>$<hash>``, base64), so
  the cost can change without invalidating stored hashes. The cost
  (n=1024, r=8: 1 MiB, about 1-2 ms here) keeps a verification cheap
  beside the TLS handshake and the LSC signature of the same enrolment;
  the strings are short and used once, so the lock below, not the hash
  cost, is what stops guessing. Comparison is by :func:`hmac.compare_digest`.
- **Lock.** :func:`check_auth_string` takes the stored state (hash, wrong
  strings so far, locked since) and the presented string and says
  ``ACCEPT``, ``REJECT`` or ``LOCKED`` with the state to store. The
  :data:`MAX_FAILURES`-th wrong string locks the operation; a locked
  operation refuses every string *without checking it* (no oracle is
  left), until an administrator schedules the operation again (a fresh
  :class:`AuthState`). A right string resets the count.
- **Slow-down per source address.** :class:`AddressBackoff` lets an address
  fail :data:`FREE_FAILURES` times, then refuses it for a window that
  doubles with each further failure (1 s, 2 s, 4 s ... at most
  :data:`MAX_BACKOFF`); an address quiet for :data:`FORGET_AFTER` starts
  again from zero. Memory is bounded: the least recently seen address is
  forgotten beyond ``capacity``. IPv6 peers are counted by /64
  (:func:`source_of`), since one host commonly holds a whole /64.

Beside the string, the rules of authentication by an existing certificate
(scenario H6: :func:`certificate_problem`, the LSC or the MIC first, each
vouched for by its issuers, :class:`Issuers`) and of the key an install
asks for (:func:`install_key`) are here, so that the CAPF service only
reads, decides by these functions and writes.

Every refusal before a phone has authenticated tells it the same thing,
:data:`AUTH_FAILED`, whether the device is unknown, the string wrong, the
operation locked or expired, so that no client can learn which devices
exist; :func:`burn` spends the cost of a verification where none is made,
so the answers do not differ in time by a hash either.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import re
import secrets
from collections import OrderedDict
from dataclasses import dataclass, replace
from datetime import datetime
from enum import Enum
from typing import Final

from cryptography import x509

from phonetrust.errors import LocalError
from phonetrust.pki.lsc import common_name, issued_by, parse_key_spec
from phonetrust.policy.domain import CapfAuthMode, Device
from phonetrust.protocols.capf.events import AuthInput
from phonetrust.protocols.capf.messages import CertificateType, KeySpec, KeyType

MAX_FAILURES: Final = 5
"""Wrong strings that lock a device's CAPF operation."""

AUTH_FAILED: Final = "authentication failed"
"""What every refusal before authentication tells the phone (REASON INFO)."""

SCHEME: Final = "scrypt"
SCRYPT_N: Final = 1024
SCRYPT_R: Final = 8
SCRYPT_P: Final = 1
SALT_BYTES: Final = 16
HASH_BYTES: Final = 32
_MAX_N: Final = 1 << 16
"""Largest cost accepted from a stored hash (64 MiB with r=8): a damaged row costs no more."""

_DIGITS = re.compile(r"[0-9]{4,10}")


class AuthStringError(LocalError):
    """An authentication string that CAPF cannot use (not 4 to 10 digits)."""


def lock_alert(device: str) -> str:
    """The kind of the alert raised when ``device``'s CAPF operation is locked (one a device)."""
    return f"CapfAuthLocked {device}"


def check_format(text: str) -> str:
    """``text`` when it is a valid authentication string: 4 to 10 ASCII digits."""
    if not _DIGITS.fullmatch(text):
        raise AuthStringError("an authentication string is 4 to 10 digits (0-9)")
    return text


def generate_auth_string(digits: int = 8) -> str:
    """A random string of ``digits`` digits, as CUCM's "Generate String" gives."""
    if not 4 <= digits <= 10:
        raise AuthStringError("an authentication string is 4 to 10 digits")
    return "".join(secrets.choice("0123456789") for _ in range(digits))


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _scrypt(text: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(
        text.encode(), salt=salt, n=n, r=r, p=p, dklen=HASH_BYTES, maxmem=256 * n * r + 1024 * 1024
    )


def hash_auth_string(text: str, *, salt: bytes | None = None) -> str:
    """The stored form of authentication string ``text`` (a fresh random salt unless given)."""
    check_format(text)
    salt = secrets.token_bytes(SALT_BYTES) if salt is None else salt
    digest = _scrypt(text, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
    return f"{SCHEME}${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(digest)}"


_DUMMY: Final = hash_auth_string("0000", salt=bytes(SALT_BYTES))


def verify_auth_string(stored: str, presented: str) -> bool:
    """Whether ``presented`` is the string ``stored`` was made from (constant-time compare).

    A stored value that is not a hash of this scheme matches nothing."""
    parts = stored.split("$")
    try:
        scheme, n_text, r_text, p_text, salt_text, digest_text = parts
        n, r, p = int(n_text), int(r_text), int(p_text)
        salt = base64.b64decode(salt_text, validate=True)
        expected = base64.b64decode(digest_text, validate=True)
    except ValueError:
        burn(presented)
        return False
    if scheme != SCHEME or not (1 < n <= _MAX_N and n & (n - 1) == 0) or not 0 < r * p <= 64:
        burn(presented)
        return False
    try:
        got = _scrypt(presented, salt, n, r, p)
    except (ValueError, MemoryError):
        return False
    return hmac.compare_digest(got, expected)


def burn(presented: str | None) -> None:
    """Spend what one verification costs, checking nothing (unknown device, locked operation)."""
    verify_auth_string(_DUMMY, "x" + (presented or ""))


def is_hash(stored: str) -> bool:
    """Whether ``stored`` looks like a hash of this module (not a string in clear)."""
    return stored.startswith(SCHEME + "$") and stored.count("$") == 5


# -- the lock ---------------------------------------------------------------------------------


class Verdict(Enum):
    ACCEPT = "accept"
    REJECT = "reject"
    LOCKED = "locked"


@dataclass(frozen=True, slots=True)
class AuthState:
    """What is stored for a device's authentication string."""

    digest: str = ""
    """The hash (:func:`hash_auth_string`); empty: no string, or the one given was used."""
    failures: int = 0
    """Wrong strings presented since the operation was scheduled (or the last right one)."""
    locked_at: datetime | None = None
    """When the operation was locked (None: it is not)."""

    @property
    def locked(self) -> bool:
        return self.locked_at is not None


@dataclass(frozen=True, slots=True)
class AuthCheck:
    """The verdict on one presented string, and the state to store (``state``)."""

    verdict: Verdict
    state: AuthState
    newly_locked: bool = False
    """This string locked the operation (raise the alert and audit it, once)."""

    @property
    def changed(self) -> bool:
        """The stored state must be written."""
        return self.verdict is not Verdict.LOCKED


def check_auth_string(
    state: AuthState,
    presented: str | None,
    now: datetime,
    *,
    limit: int = MAX_FAILURES,
) -> AuthCheck:
    """Judge ``presented`` against ``state``: accept, reject (and count), or locked.

    A locked operation is refused without looking at ``presented`` (the cost
    of a verification is spent all the same). A wrong string, or any string
    when none is stored, counts; the ``limit``-th locks the operation at
    ``now``. A right string resets the count."""
    if state.locked or state.failures >= limit:
        burn(presented)
        return AuthCheck(Verdict.LOCKED, state)
    given = presented or ""
    if state.digest:
        right = verify_auth_string(state.digest, given)
    else:
        burn(given)
        right = False
    if right:
        return AuthCheck(Verdict.ACCEPT, replace(state, failures=0))
    failures = state.failures + 1
    locked = failures >= limit
    new = replace(state, failures=failures, locked_at=now if locked else None)
    return AuthCheck(Verdict.REJECT, new, newly_locked=locked)


# -- the slow-down per source address ------------------------------------------------------

FREE_FAILURES: Final = 3
"""Failures an address may have before it is slowed down."""
BASE_BACKOFF: Final = 1.0
"""Seconds an address waits after its first failure beyond the free ones; doubled each time."""
MAX_BACKOFF: Final = 300.0
FORGET_AFTER: Final = 900.0
"""Seconds of quiet after which an address's failures are forgotten."""
CAPACITY: Final = 65_536
"""Addresses remembered at most (about 10 MB); the least recently seen go first."""


@dataclass(slots=True)
class _Address:
    failures: int
    last: float
    until: float


def source_of(peer: str) -> str:
    """What the slow-down counts by, from ``host:port``: the IPv4 address, or the IPv6 /64
    (one host gets a whole /64: counting its addresses one by one would count nothing)."""
    host = peer.rpartition(":")[0] or peer
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return host
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


class AddressBackoff:
    """Failures per source address and how long each must wait; ``now`` is any monotonic clock."""

    def __init__(
        self,
        *,
        free: int = FREE_FAILURES,
        base: float = BASE_BACKOFF,
        cap: float = MAX_BACKOFF,
        forget_after: float = FORGET_AFTER,
        capacity: int = CAPACITY,
    ) -> None:
        if free < 0 or base <= 0 or cap < base or capacity < 1:
            raise ValueError("free >= 0, 0 < base <= cap and capacity >= 1")
        self.free = free
        self.base = base
        self.cap = cap
        self.forget_after = max(forget_after, cap)
        self.capacity = capacity
        self._seen: OrderedDict[str, _Address] = OrderedDict()

    def __len__(self) -> int:
        return len(self._seen)

    def wait(self, address: str, now: float) -> float:
        """Seconds before ``address`` may try again (0: it may now)."""
        entry = self._seen.get(address)
        if entry is None:
            return 0.0
        if now - entry.last >= self.forget_after:
            del self._seen[address]
            return 0.0
        return max(0.0, entry.until - now)

    def failed(self, address: str, now: float) -> float:
        """Count a failure of ``address``; returns how long it must now wait."""
        entry = self._seen.pop(address, None)
        if entry is None or now - entry.last >= self.forget_after:
            entry = _Address(0, now, now)
        entry.failures += 1
        entry.last = now
        beyond = entry.failures - self.free
        if beyond > 0:
            entry.until = now + min(self.cap, self.base * 2.0 ** min(beyond - 1, 32))
        self._seen[address] = entry
        while len(self._seen) > self.capacity:
            self._seen.popitem(last=False)
        return max(0.0, entry.until - now)

    def succeeded(self, address: str) -> None:
        """``address`` authenticated: its failures are forgotten."""
        self._seen.pop(address, None)


# -- what a refused string is called, and what the device's status says -----------------------


@dataclass(frozen=True, slots=True)
class StringRefusal:
    """The words for a string refused by :func:`check_auth_string` (not for LOCKED: no write)."""

    problem: str
    """For the log, and the refusal's info."""
    status: str
    """The device's CAPF status."""
    audit: str
    """The audit line (device, problem, count)."""
    lock_message: str | None
    """The ``capf lock`` audit entry and alert text, when this string locked the operation."""


def string_refusal(
    check: AuthCheck, before: AuthState, device: str, operation: str, where: str = ""
) -> StringRefusal:
    """How a rejected string is reported; ``where`` says ``" (from <address>)"`` or nothing."""
    problem = (
        "the authentication string was already used"
        if not before.digest
        else "authentication string mismatch"
    )
    status = f"Failure: {problem}"
    lock_message = None
    if check.newly_locked:
        status = (
            f"Failure: locked after {MAX_FAILURES} wrong authentication strings; "
            "schedule the operation again to unlock it"
        )
        lock_message = (
            f"CAPF {operation} of {device} is locked after {MAX_FAILURES} wrong "
            f"authentication strings{where}: it refuses every string until the operation "
            "is scheduled again with a new string"
        )
    audit = f"{device}: {problem} ({check.state.failures} of {MAX_FAILURES}){where}"
    return StringRefusal(problem, status, audit, lock_message)


# -- authentication by an existing certificate (scenario H6) -----------------------------------


@dataclass(frozen=True, slots=True)
class Issuers:
    """Who vouches for a presented certificate: CAPF for an LSC, CAPF-trust for a MIC."""

    capf: tuple[x509.Certificate, ...] = ()
    """Every CAPF certificate of the cluster, current and earlier (LSC issuers)."""
    capf_trust: tuple[x509.Certificate, ...] = ()
    """The CAPF-trust store (MIC issuers)."""


def certificate_problem(
    device: Device, auth: AuthInput, issuers: Issuers, now: datetime
) -> str | None:
    """Why the phone may not go on, in a mode without a string (None: it may)."""
    mode = device.capf_auth_mode
    if mode is CapfAuthMode.NULL_STRING:
        return None
    if mode not in (CapfAuthMode.EXISTING_LSC_FIRST, CapfAuthMode.EXISTING_MIC_FIRST):
        return "no CAPF authentication mode is set"
    blob = auth.certificate
    if blob is None:
        why = auth.certificate_problem or "the phone presented no LSC or MIC"
        return f"authentication by existing certificate failed: {why}"
    kind = blob.kind
    if kind is None:
        return f"unknown certificate type {blob.type}"
    first, second = (
        (CertificateType.LSC, CertificateType.MIC)
        if mode is CapfAuthMode.EXISTING_LSC_FIRST
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
    return untrusted(device.name, kind, presented, issuers, now)


def untrusted(
    name: str, kind: CertificateType, cert: x509.Certificate, issuers: Issuers, now: datetime
) -> str | None:
    """Why ``cert`` does not vouch for device ``name`` as its ``kind`` (None: it does)."""
    if kind is CertificateType.LSC:
        if issued_by(cert, list(issuers.capf)) is None:
            return "the LSC was not issued by a CAPF certificate of this cluster"
        if common_name(cert) != name:
            return f"the LSC belongs to {common_name(cert)!r}"
    else:
        if issued_by(cert, list(issuers.capf_trust)) is None:
            return "the MIC is not issued by a certificate in CAPF-trust"
        if name not in common_name(cert):
            return f"the MIC belongs to {common_name(cert)!r}"
    if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
        return f"the {kind.name} is expired or not yet valid"
    return None


def install_key(device: Device, encrypted: bool) -> KeySpec:
    """The key an install asks for; an encrypted configuration is wrapped with RSA only.

    Raises :class:`~phonetrust.errors.LocalError` saying why the setting cannot be used."""
    spec = parse_key_spec(device.capf_key)
    if encrypted and spec.key_type is not KeyType.RSA:
        raise LocalError(
            f"its profile encrypts the configuration, which needs an RSA key, not {spec.text}"
        )
    return spec

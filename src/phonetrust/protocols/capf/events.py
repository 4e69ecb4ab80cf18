"""What the CAPF server session tells the program, and what the program answers.

Kept apart from the session (:mod:`.server`) because the program's side -
the CAPF service, the authentication rules of :mod:`phonetrust.policy.capfauth`,
the phone simulator - speaks in these values and needs nothing of the
session's tables.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

from phonetrust.errors import LocalError
from phonetrust.protocols.capf.messages import CertificateBlob, KeySpec, Reason


class CapfSessionError(LocalError):
    """The program drove a CAPF session out of order (decided twice, finished too early)."""


class Operation(Enum):
    NONE = "none"
    INSTALL = "install"
    FETCH = "fetch"
    DELETE = "delete"


# -- what the program is told, and what it answers ------------------------------------------


@dataclass(frozen=True, slots=True)
class AuthInput:
    """What the phone offered to authenticate with, its proofs already checked.

    ``certificate`` is set only when the phone proved it holds the key
    (SIGNED DATA / SHA2 SIGNED DATA verify); otherwise ``certificate_problem``
    says why. Whether the certificate is *trusted* is the program's decision.
    """

    device: str
    password: str | None = None
    certificate: CertificateBlob | None = None
    certificate_problem: str | None = None
    sudi: bytes | None = None
    sudi_problem: str | None = None
    version: int | None = None


@dataclass(frozen=True, slots=True)
class Proceed:
    """Authenticated: carry out ``operation`` (INSTALL needs the key to ask for)."""

    operation: Operation
    key: KeySpec | None = None

    def __post_init__(self) -> None:
        if self.operation is Operation.INSTALL and self.key is None:
            raise CapfSessionError("an install needs the key specification to ask for")


@dataclass(frozen=True, slots=True)
class Refuse:
    """End the session with ``reason`` (7 failed authentication, ...).

    ``info`` says why, for the log; ``told`` is the REASON INFO the phone gets
    when it must say less (None: ``info``). Refusals before authentication
    tell every client the same, so that none can learn which devices exist.
    """

    reason: Reason
    info: str = ""
    told: str | None = None


Decision = Proceed | Refuse


@dataclass(frozen=True, slots=True)
class Outcome:
    """How a session ended, for the log and, when ``recordable``, for the device's record."""

    device: str | None
    operation: Operation | None
    success: bool
    reason: Reason
    """The REASON the END SESSION carries (or would have)."""
    info: str = ""
    certificate: CertificateBlob | None = None
    """The LSC issued (install) or the certificate the phone gave (fetch)."""
    recordable: bool = False


@dataclass(frozen=True, slots=True)
class NeedDeviceDecision:
    device: str
    auth: AuthInput


@dataclass(frozen=True, slots=True)
class IssueCertificate:
    device: str
    public_key: PublicKeyTypes
    key: KeySpec


@dataclass(frozen=True, slots=True)
class Completed:
    outcome: Outcome


Event = NeedDeviceDecision | IssueCertificate | Completed

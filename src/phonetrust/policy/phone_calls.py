"""Secure registration and call security, as a phone decides them (scenarios F2, F3).

No call manager is in phonetrust's scope, so these are the phone's two
decisions as pure functions, for a registration endpoint (or a test) to use:

- F2 :func:`check_registration_server`: a phone registering over TLS (SCCP
  2443, SIP 5061) accepts the server only when the certificate it presents is
  a CallManager record (``CCM`` or ``CCM+TFTP``) of the phone's CTL. Without a
  CTL a phone registers non-securely only (TCP 2000 / SIP 5060): the ITL does
  not authenticate call signalling. The server, for its part, requires the
  phone's LSC (or MIC); :func:`registration_transport` names the transport a
  device security mode (1 non-secure, 2 authenticated, 3 encrypted) uses.
- F3 :func:`call_security`: the least secure party decides: encrypted +
  encrypted = lock (encrypted media), encrypted + authenticated = shield
  (authenticated), anything + non-secure = no icon.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from phonetrust.formats.tags import Role
from phonetrust.policy.domain import DeviceSecurityMode as SecurityMode
from phonetrust.policy.phone_trust import PhoneTrust

CALLMANAGER_ROLES = frozenset({Role.CCM, Role.CCM_TFTP})
"""The CTL roles that authenticate a call manager's TLS certificate."""

SCCP_PORT, SCCP_TLS_PORT = 2000, 2443
SIP_PORT, SIP_TLS_PORT = 5060, 5061


class CallSecurity(Enum):
    """What a call shows: the icon, and what it means for the media."""

    NONE = "none"
    """No icon: signalling or media in the clear."""
    AUTHENTICATED = "shield"
    """Shield: both ends authenticated, media not encrypted."""
    ENCRYPTED = "lock"
    """Lock: both ends encrypted (SRTP media)."""

    @property
    def icon(self) -> str:
        return self.value


def call_security(*parties: SecurityMode | int) -> CallSecurity:
    """F3: the security of a call between ``parties``: the least secure one decides.

    Each party is its device security mode (1, 2, 3). A call needs two parties;
    a conference may have more.
    """
    if len(parties) < 2:
        raise ValueError("a call has at least two parties")
    least = min(SecurityMode(int(p)) for p in parties)
    if least is SecurityMode.ENCRYPTED:
        return CallSecurity.ENCRYPTED
    if least is SecurityMode.AUTHENTICATED:
        return CallSecurity.AUTHENTICATED
    return CallSecurity.NONE


@dataclass(frozen=True, slots=True)
class Transport:
    protocol: str
    """``SIP`` or ``SCCP``."""
    port: int
    tls: bool


def registration_transport(protocol: str, mode: SecurityMode | int) -> Transport:
    """F2: TLS on 2443 (SCCP) / 5061 (SIP) for authenticated and encrypted devices."""
    name = protocol.strip().upper()
    if name not in ("SIP", "SCCP"):
        raise ValueError(f"unknown signalling protocol {protocol!r}: SIP or SCCP")
    secure = SecurityMode(int(mode)) is not SecurityMode.NON_SECURE
    if name == "SIP":
        return Transport(name, SIP_TLS_PORT if secure else SIP_PORT, secure)
    return Transport(name, SCCP_TLS_PORT if secure else SCCP_PORT, secure)


class RegistrationReason(Enum):
    NO_CTL = "no CTL installed: the phone registers non-securely only"
    NOT_CALLMANAGER = "the server's certificate is not a CCM or CCM+TFTP record of the CTL"


@dataclass(frozen=True, slots=True)
class RegistrationVerdict:
    accepted: bool
    reason: RegistrationReason | None = None
    role: Role | None = None
    """The CTL role that matched, when accepted."""


def check_registration_server(state: PhoneTrust, certificate_der: bytes) -> RegistrationVerdict:
    """F2: may the phone register over TLS with a server presenting ``certificate_der``?

    Only the CTL counts: its CallManager records (CCM, CCM+TFTP), matched by
    the certificate itself, never by name. The ITL, TVS and the TVS cache do
    not authenticate a call manager.
    """
    ctl = state.ctl
    if ctl is None:
        return RegistrationVerdict(False, RegistrationReason.NO_CTL)
    for record in ctl.records:
        if record.role in CALLMANAGER_ROLES and record.matches_certificate(certificate_der):
            return RegistrationVerdict(True, role=record.role)
    return RegistrationVerdict(False, RegistrationReason.NOT_CALLMANAGER)

"""CAPF, the Certificate Authority Proxy Function: message codec and sans-I/O sessions.

- :mod:`.elements` - the TLV elements, reasons, key specifications and what
  certificate authentication signs;
- :mod:`.messages` - the 8-byte header and one frozen type per command;
- :mod:`.proofs` - the signatures of certificate authentication, made and checked;
- :mod:`.events` - what the server session asks of the program (device
  decision, certificate issuance, outcome to record) and what it answers;
- :mod:`.server` - the server session as state tables (the events it
  raises, ``NeedDeviceDecision``, ``IssueCertificate``, ``Completed``, are
  in :mod:`.events`);
- :mod:`.client` - what a phone answers, for the simulator and ``phonetrust capf enroll``.
"""

from phonetrust.protocols.capf.client import PhoneResult, PhoneSession, generate_key
from phonetrust.protocols.capf.events import (
    AuthInput,
    CapfSessionError,
    Decision,
    Operation,
    Outcome,
    Proceed,
    Refuse,
)
from phonetrust.protocols.capf.messages import (
    AuthType,
    CapfServerUntrusted,
    CertificateBlob,
    CertificateType,
    Command,
    Curve,
    Element,
    KeySpec,
    KeyType,
    Message,
    Reason,
    Tag,
)
from phonetrust.protocols.capf.server import ServerSession

__all__ = [
    "AuthInput",
    "AuthType",
    "CapfServerUntrusted",
    "CapfSessionError",
    "CertificateBlob",
    "CertificateType",
    "Command",
    "Curve",
    "Decision",
    "Element",
    "KeySpec",
    "KeyType",
    "Message",
    "Operation",
    "Outcome",
    "PhoneResult",
    "PhoneSession",
    "Proceed",
    "Reason",
    "Refuse",
    "ServerSession",
    "Tag",
    "generate_key",
]

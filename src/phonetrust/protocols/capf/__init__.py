"""CAPF, the Certificate Authority Proxy Function: message codec and sans-I/O sessions.

- :mod:`.elements` - the TLV elements, reasons, key specifications and what
  certificate authentication signs;
- :mod:`.messages` - the 8-byte header and one frozen type per command;
- :mod:`.proofs` - the signatures of certificate authentication, made and checked;
- :mod:`.server` - the server session as a state table, with the events the
  program answers (device decision, certificate issuance, outcome to record);
- :mod:`.client` - what a phone answers, for the simulator and ``phonetrust capf enroll``.
"""

from phonetrust.protocols.capf.client import PhoneResult, PhoneSession, generate_key
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
from phonetrust.protocols.capf.server import (
    AuthInput,
    CapfSessionError,
    Completed,
    Decision,
    IssueCertificate,
    NeedDeviceDecision,
    Operation,
    Outcome,
    Proceed,
    Refuse,
    ServerSession,
)

__all__ = [
    "AuthInput",
    "AuthType",
    "CapfServerUntrusted",
    "CapfSessionError",
    "CertificateBlob",
    "CertificateType",
    "Command",
    "Completed",
    "Curve",
    "Decision",
    "Element",
    "IssueCertificate",
    "KeySpec",
    "KeyType",
    "Message",
    "NeedDeviceDecision",
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

"""What the phone's trust decisions are made of, shared by :mod:`.phone_trust` and its peers.

The verdicts and their reasons, the status messages (scenario H1) word for
word, why the phone asks TVS and what a TVS answer looks like, the console
trace of one decision, and the refusals both trust lists and configuration
files apply (H7, D8). Nothing here depends on the phone's state
(:class:`.phone_trust.PhoneTrust`), so every other module may import this one.
:class:`Trace`, :data:`NO_ROLES` and the two refusals are public because both
:mod:`.phone_trust` and :mod:`.phone_configs` build decisions with them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Protocol

from phonetrust.formats.algorithms import Digest
from phonetrust.formats.header import Header
from phonetrust.formats.tags import TFTP_ROLES, Role
from phonetrust.formats.trustlist import TrustList
from phonetrust.policy.models import PhoneModel
from phonetrust.policy.phone_console import (
    ConsoleLine,
    secd,
    secd_error,
    secd_important,
    tftp_client,
)

TVS_DEFAULT_TTL = 86_400
NO_ROLES: frozenset[Role] = frozenset()
LIST_SIGNER_ROLES = frozenset({Role.SAST, *TFTP_ROLES})
"""Roles whose certificate may sign a CTL or ITL (SAST: eTokens, CallManager, ITLRecovery)."""

# -- status messages (H1), word for word -----------------------------------------

NO_TRUST_LIST = "No Trust List installed"
ITL_INSTALLED = "ITL installed"
CTL_INSTALLED = "CTL Installed"
CTL_AND_ITL_INSTALLED = "CTL and ITL installed"
TRUST_LIST_UPDATED = "Trust List Updated"
TRUST_LIST_UPDATE_FAILED = "Trust List Update Failed"
TRUST_LIST_VERIFICATION_FAILED = "Trust List Verification Failed"
CTL_UPDATE_FAILED = "CTL update failed"
ERASING = "Erasing CTL and ITL files"
FILE_NOT_FOUND = "File Not Found <{file}>"
CONFIG_AUTH_FAILED = "invalid file {file}, authenticated fail."
CONFIG_DECRYPT_FAILED = "invalid file {file}, decryption fail."
HOST_NOT_FOUND = "Host Not Found"
"""What the screen shows when a secure URL cannot be trusted (B2)."""


class TrustState(Enum):
    """What lists a phone holds: the columns of the trust table (``tests/sim/table.py``)."""

    NO_LISTS = "no CTL, no ITL"
    CTL_ONLY = "CTL, no ITL"
    ITL_ONLY = "ITL, no CTL"
    CTL_AND_ITL = "CTL and ITL"
    ROLLBACK_ITL = "empty (rollback) ITL, no CTL"
    CTL_AND_ROLLBACK_ITL = "CTL and empty (rollback) ITL"


class Verdict(Enum):
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    PENDING = "waiting for TVS"


class Via(Enum):
    """Why something was accepted."""

    TOFU = "trusted on first use"
    TRUST_LIST = "signer or certificate found in the CTL or ITL"
    TVS = "vouched for by TVS"
    TVS_CACHE = "vouched for by TVS earlier (cached answer)"
    UNCHECKED = "no trust list in force: accepted without verification"
    UNCHANGED = "same file as the one installed"


class Reason(Enum):
    """Why something was rejected."""

    MALFORMED = "the file cannot be parsed"
    BAD_SIGNATURE = "the signature does not hold"
    SIGNER_UNKNOWN = "the signer is in neither the CTL nor the ITL, and TVS cannot be asked"
    CERT_UNKNOWN = "the certificate is in neither the CTL nor the ITL, and TVS cannot be asked"
    TVS_REFUSED = "TVS does not vouch for the certificate (for this use)"
    TVS_UNAVAILABLE = "no TVS server could be reached and trusted"
    TVS_SERVER_UNTRUSTED = "the TVS server's certificate matches no TVS record of the ITL"
    CAPF_SERVER_UNTRUSTED = "the CAPF server's certificate matches no CAPF record of the lists"
    TFTP_NOT_IN_CTL = "the TFTP server's address is not in the CTL"
    DIGEST_UNSUPPORTED = "this model cannot verify the file's digest algorithm"
    CANNOT_DECRYPT = "the phone's own key cannot decrypt the file"
    CONFIG_UNREADABLE = "the configuration document cannot be read"
    UNSIGNED = "a phone with a trust list accepts signed configuration only"
    NOT_SUPPORTED = "this model does not support this"
    NOT_FOUND = "the file is not on the TFTP server"


class ConfigForm(Enum):
    PLAIN = ".cnf.xml"
    SIGNED = ".cnf.xml.sgn"
    ENCRYPTED = ".cnf.xml.enc.sgn"


class Purpose(Enum):
    """Why the phone asks TVS about a certificate."""

    CTL_SIGNER = "CTL signer"
    ITL_SIGNER = "ITL signer"
    CONFIG_SIGNER = "configuration signer"
    HTTPS_SERVER = "HTTPS server"

    @property
    def roles(self) -> frozenset[Role]:
        """Roles TVS must answer for the certificate to do this; empty = any valid answer."""
        if self in (Purpose.CTL_SIGNER, Purpose.ITL_SIGNER):
            return LIST_SIGNER_ROLES
        return TFTP_ROLES if self is Purpose.CONFIG_SIGNER else frozenset()


# -- TVS ------------------------------------------------------------------------


class TvsAnswer(Protocol):
    """What a TVS server answered (``protocols.tvs.messages.Answer`` has this shape)."""

    @property
    def valid(self) -> bool: ...
    @property
    def roles(self) -> tuple[int, ...]: ...
    @property
    def ttl(self) -> int: ...


@dataclass(frozen=True, slots=True)
class TvsReply:
    """A plain :class:`TvsAnswer`, for tests and for callers that build answers."""

    valid: bool
    roles: tuple[int, ...] = ()
    ttl: int = TVS_DEFAULT_TTL


@dataclass(frozen=True, slots=True)
class NeedTvs:
    """The phone must ask TVS about ``certificate`` before it can decide."""

    certificate: bytes = field(repr=False)
    purpose: Purpose
    data: bytes = field(default=b"", repr=False)
    """The file being judged (empty for an HTTPS server)."""
    filename: str = ""
    form: ConfigForm | None = None
    """For a configuration file: how it came."""
    device_key: object | None = field(default=None, repr=False, compare=False)
    address: str = ""


# -- the console trace of one decision -------------------------------------------


class Trace:
    """Console lines of one decision, in order (local to one call)."""

    def __init__(self) -> None:
        self.lines: list[ConsoleLine] = []

    def note(self, text: str) -> None:
        self.lines.append(secd(text))

    def error(self, text: str) -> None:
        self.lines.append(secd_error(text))

    def important(self, text: str) -> None:
        self.lines.append(secd_important(text))

    def tftp(self, text: str) -> None:
        self.lines.append(tftp_client(text))

    def done(self) -> tuple[ConsoleLine, ...]:
        return tuple(self.lines)


# -- refusals shared by trust lists and configuration files ------------------------


def digest_refusal(model: PhoneModel, header: Header, t: Trace) -> tuple[Reason, str] | None:
    """H7: a model without SHA-512 support cannot verify a SHA-512 signature."""
    if header.digest is Digest.SHA512 and not model.sha512:
        t.error(f"verifyFile: digest algorithm SHA-512 not supported by {model.name}")
        return Reason.DIGEST_UNSUPPORTED, f"the {model.name} cannot verify SHA-512"
    return None


def tftp_refusal(
    model: PhoneModel, ctl: TrustList | None, address: str | None, t: Trace
) -> tuple[Reason, str] | None:
    """D8: old models use only TFTP servers whose address is a TFTP record of their CTL."""
    if address is None or ctl is None or not model.tftp_address_in_ctl:
        return None
    wanted = address.strip().lower().removeprefix("::ffff:")
    known = set()
    for rec in ctl.records:
        if rec.role in TFTP_ROLES:
            known.add(str(rec.ip_address) if rec.ip_address is not None else "")
            known.add((rec.dns_name or "").lower())
    t.tftp(f"auth server - tftpList[0] = {wanted}")
    if wanted in known - {""}:
        t.note("lookupCTL: TFTP SRVR secure")
        return None
    t.error(f"lookupCTL: TFTP SRVR {wanted} not in CTL")
    t.tftp(f"{wanted} is not a secure server")
    return Reason.TFTP_NOT_IN_CTL, f"TFTP server {wanted} is not a TFTP record of the CTL"

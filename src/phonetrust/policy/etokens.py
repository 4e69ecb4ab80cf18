"""The CTL client's eToken rules (D2, D3, D5), with the client's own messages.

- Password: an eToken allows 15 tries; each wrong password says how many
  are left, the 15th locks the token for good, a right one resets the count.
- Mixed mode with eTokens needs at least two of them in the CTL ("Add Tokens").
- The token that signs an update must already be in the current CTL (compared
  by certificate, never by name), unless the CTL file was deleted (D5).
- eToken records: role SAST, empty (NUL) DNS name, zero address; the signing
  token first, the backup tokens after it, then the cluster's servers.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from phonetrust.errors import LocalError
from phonetrust.formats.record import ETOKEN_DNS_NAME, Record
from phonetrust.formats.tags import Role
from phonetrust.formats.trustlist import TrustList
from phonetrust.policy.domain import Node
from phonetrust.policy.trustlists import NO_ADDRESS, NodeCerts, ctl_records

MAX_PASSWORD_TRIES = 15
"""A token self-destructs after 15 wrong passwords."""

MIN_TOKENS = 2
"""A hardware-mode CTL lists at least two eTokens: one signs, the others are backups."""

LOCKED_TEXT = (
    "The eToken is locked: its password was entered incorrectly 15 times. "
    "It can no longer sign the CTL File; use another Security Token listed in the CTL File."
)

ADD_TOKENS_TEXT = (
    "At least two Security Tokens are required in the CTL File and only one is listed. "
    "Click Add Tokens and insert another Security Token."
)

NOT_IN_CTL_TEXT = (
    "The Security Token you have inserted does not exist in the CTL File Please remove any "
    "Security Tokens already inserted and insert another Security Token. Click Ok when done."
)

NO_CTL_ON_SERVER = (
    "No CTL File exists on the server but the Call Manager Cluster Security Mode is in Secure "
    "Mode. For the system to function, you must create the CTL File and set Call Manager "
    "Cluster the Secure Mode."
)


class TooFewTokens(LocalError):
    """Fewer than two eTokens would be listed in the CTL (D3)."""


class TokenNotInCtl(LocalError):
    """The signing eToken is not listed in the current CTL (D5)."""


# -- password counter ---------------------------------------------------------------


def wrong_password_message(tries_left: int) -> str:
    attempts = "attempt" if tries_left == 1 else "attempts"
    return (
        f"The password is incorrect. You have {tries_left} {attempts} left "
        "before the eToken is locked."
    )


@dataclass(frozen=True, slots=True)
class PasswordOutcome:
    """The counter after one password attempt, and what the client says (None: accepted)."""

    failures: int
    locked: bool
    message: str | None = None

    @property
    def accepted(self) -> bool:
        return self.message is None

    @property
    def tries_left(self) -> int:
        return 0 if self.locked else max(0, MAX_PASSWORD_TRIES - self.failures)


def password_attempt(failures: int, locked: bool, *, correct: bool) -> PasswordOutcome:
    """Apply one attempt to a counter of ``failures`` wrong passwords (D3).

    A locked token stays locked whatever is typed; a right password resets
    the count; the 15th wrong one locks the token.
    """
    if locked:
        return PasswordOutcome(failures, True, LOCKED_TEXT)
    if correct:
        return PasswordOutcome(0, False)
    failures += 1
    if failures >= MAX_PASSWORD_TRIES:
        return PasswordOutcome(failures, True, LOCKED_TEXT)
    return PasswordOutcome(failures, False, wrong_password_message(MAX_PASSWORD_TRIES - failures))


# -- which tokens -------------------------------------------------------------------


def _der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(Encoding.DER)


def distinct(certificates: Iterable[x509.Certificate]) -> list[x509.Certificate]:
    """Certificates in order, each once (compared by DER)."""
    seen: set[bytes] = set()
    out: list[x509.Certificate] = []
    for cert in certificates:
        der = _der(cert)
        if der not in seen:
            seen.add(der)
            out.append(cert)
    return out


def require_enough_tokens(tokens: Sequence[x509.Certificate]) -> None:
    """Refuse a hardware CTL with fewer than two distinct eTokens (D3: "Add Tokens")."""
    if len(distinct(tokens)) < MIN_TOKENS:
        raise TooFewTokens(ADD_TOKENS_TEXT)


def listed_in(ctl: TrustList, certificate: x509.Certificate) -> bool:
    """Whether the CTL has a SAST record for exactly this certificate."""
    der = _der(certificate)
    return any(r.role is Role.SAST and r.matches_certificate(der) for r in ctl.records)


def require_token_in_ctl(ctl: TrustList | None, signer: x509.Certificate) -> None:
    """The signing token must be in the current CTL, unless there is none (D5)."""
    if ctl is not None and not listed_in(ctl, signer):
        raise TokenNotInCtl(NOT_IN_CTL_TEXT)


def is_etoken(record: Record) -> bool:
    """An eToken record: SAST, with a certificate and no host name (a token has none)."""
    return record.role is Role.SAST and not record.dns_name and record.certificate() is not None


def ctl_tokens(ctl: TrustList | None) -> list[x509.Certificate]:
    """The eTokens a CTL lists, in file order (a tokenless CTL lists none)."""
    if ctl is None:
        return []
    return [cert for r in ctl.records if is_etoken(r) and (cert := r.certificate()) is not None]


# -- records ------------------------------------------------------------------------


def etoken_record(certificate: x509.Certificate, *, include_signature: bool = False) -> Record:
    """An eToken's CTL record as the CTL client writes it: SAST, NUL DNS name, zero
    address, no SIGNATURE element (reference 004)."""
    return Record.from_certificate(
        certificate,
        Role.SAST,
        dns_name=ETOKEN_DNS_NAME,
        ip_address=NO_ADDRESS,
        include_signature=include_signature,
    )


def hardware_ctl_records(
    nodes: list[NodeCerts],
    publisher: Node,
    signer: x509.Certificate,
    tokens: Sequence[x509.Certificate],
) -> list[Record]:
    """The CTL the client writes: the signing token, the other tokens, then the servers."""
    records = ctl_records(
        nodes,
        signer,
        publisher,
        tuple(distinct([signer, *tokens])),
        certificate_signatures=False,
    )
    records[0] = etoken_record(signer)
    return records

"""One rooted error tree, split by blame.

Every failure phonetrust reports is a :class:`PhonetrustError`. Its two
branches say whose fault it is, because that decides what happens next: a
:class:`LocalError` means the caller asked for something impossible (fix the
command, the configuration or the key material), a :class:`RemoteError`
means bytes that came from outside - a file, a datagram, a TLS peer - are
malformed or untrustworthy (drop them, keep serving). Servers translate
errors into wire answers at exactly one edge, so protocol errors carry
their wire code.
"""

from __future__ import annotations


class PhonetrustError(Exception):
    """Root of everything phonetrust raises on purpose."""


class LocalError(PhonetrustError):
    """The caller's fault: bad arguments, missing or unusable key material."""


class RemoteError(PhonetrustError):
    """The input's fault: bytes from a file or a peer are malformed or untrusted."""


class KeyMaterialError(LocalError):
    """A PEM, key or certificate cannot be used for what was asked."""


class BuildError(LocalError):
    """A value cannot be encoded: too large for its length field, or inconsistent."""


class ParseError(RemoteError):
    """Bytes do not follow the format; ``offset`` is where reading stopped making sense.

    The offset is absolute from the start of the outermost buffer, so a
    message can point an administrator at the exact byte of a hex dump.
    """

    def __init__(self, reason: str, offset: int) -> None:
        super().__init__(f"{reason} (at byte {offset})")
        self.reason = reason
        self.offset = offset


class VerificationError(RemoteError):
    """A signature or hash does not hold, or the signer is not known."""


class DecryptionError(RemoteError):
    """An encrypted file cannot be opened with the key at hand."""

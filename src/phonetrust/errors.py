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


class ProtocolError(RemoteError):
    """A peer broke a wire protocol (CAPF, TVS, TFTP): a malformed message, or one out of place.

    A sibling of :class:`ParseError` rather than a kind of it, because a
    conversation can go wrong where no byte is at fault (a message in the
    wrong state, a closed connection): ``offset`` is then None. When the
    bytes are at fault, ``offset`` counts from the first byte of the
    offending message, the unit a packet capture shows. The socket adapter
    that catches it answers with the protocol's own code (a CAPF REASON, a
    TFTP error number) and drops that one connection or transfer.
    """

    def __init__(self, reason: str, offset: int | None = None) -> None:
        super().__init__(reason if offset is None else f"{reason} (at byte {offset})")
        self.reason = reason
        self.offset = offset

    @classmethod
    def at(cls, exc: ParseError, prefix: str = "") -> ProtocolError:
        """A parse failure inside a message, as the protocol's error."""
        return cls(prefix + exc.reason, exc.offset)


class VerificationError(RemoteError):
    """A signature or hash does not hold, or the signer is not known."""


class DecryptionError(RemoteError):
    """An encrypted file cannot be opened with the key at hand."""

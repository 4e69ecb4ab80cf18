"""Hardware eTokens as PKCS#11 tokens: list them, log in, sign inside them (D3, D5).

A Cisco eToken (System Administrator Security Token) holds one RSA key pair
and its SAST certificate, issued by ``Cisco Manufacturing CA``. The private
key never leaves the token: :class:`TokenSigner` asks the token to compute
each RSA PKCS#1 v1.5 signature, so it plugs into
:class:`~phonetrust.formats.signing.Signer` like an in-memory key.

Every PKCS#11 failure reaches callers as a :mod:`phonetrust.errors` error:
a wrong password is :class:`WrongTokenPassword`, a locked token
:class:`TokenLocked`, a token without key or certificate
:class:`~phonetrust.errors.KeyMaterialError`, anything else :class:`TokenError`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING, Self

import pkcs11
from cryptography import x509
from cryptography.x509.oid import NameOID
from pkcs11 import Attribute, CertificateType, KeyType, Mechanism, ObjectClass, TokenFlag

from phonetrust.errors import KeyMaterialError, LocalError
from phonetrust.formats.algorithms import Digest
from phonetrust.formats.signing import Signer

if TYPE_CHECKING:
    from pkcs11._pkcs11 import lib as Library

DEFAULT_MODULE = "/usr/lib/softhsm/libsofthsm2.so"
"""SoftHSM's PKCS#11 module: the default where no eToken driver is configured."""

MODULE_VARIABLE = "PHONETRUST_PKCS11_MODULE"
"""Environment variable naming the PKCS#11 module (e.g. SafeNet's ``libeToken.so``)."""

MECHANISMS = {
    Digest.SHA1: Mechanism.SHA1_RSA_PKCS,
    Digest.SHA256: Mechanism.SHA256_RSA_PKCS,
    Digest.SHA512: Mechanism.SHA512_RSA_PKCS,
}
"""The PKCS#11 mechanism that hashes and signs (RSA PKCS#1 v1.5) for each digest."""


class TokenError(LocalError):
    """The eToken or its PKCS#11 module cannot do what was asked."""


class WrongTokenPassword(TokenError):
    """The eToken refused the password."""


class TokenLocked(TokenError):
    """The eToken is locked: too many wrong passwords."""


@contextmanager
def _token_errors(what: str) -> Iterator[None]:
    """Translate PKCS#11 exceptions raised by ``what`` into phonetrust errors."""
    try:
        yield
    except (pkcs11.PinIncorrect, pkcs11.PinInvalid, pkcs11.PinLenRange):
        raise WrongTokenPassword(f"{what}: the password is incorrect") from None
    except pkcs11.PinLocked:
        raise TokenLocked(f"{what}: the eToken is locked") from None
    except (pkcs11.NoSuchKey, pkcs11.MultipleObjectsReturned, pkcs11.KeyTypeInconsistent):
        raise KeyMaterialError(f"{what}: the eToken holds no single RSA signing key") from None
    except (pkcs11.TokenNotPresent, pkcs11.DeviceRemoved, pkcs11.NoSuchToken):
        raise TokenError(f"{what}: the eToken is not inserted") from None
    except pkcs11.PKCS11Error as exc:
        detail = str(exc) or type(exc).__name__
        raise TokenError(f"{what}: PKCS#11 error ({detail})") from None


def module_path(module: str | None = None) -> str:
    """The PKCS#11 module to load: ``module``, else $PHONETRUST_PKCS11_MODULE, else SoftHSM."""
    return module or os.environ.get(MODULE_VARIABLE) or DEFAULT_MODULE


def open_library(module: str | None = None) -> Library:
    """Load and initialise a PKCS#11 module (cached per path by python-pkcs11)."""
    path = module_path(module)
    with _token_errors(f"PKCS#11 module {path}"):
        return pkcs11.lib(path)


@dataclass(frozen=True, slots=True)
class TokenInfo:
    """An inserted eToken: its label, serial and SAST certificate (DER), if it holds one."""

    label: str
    serial: str
    certificate: bytes | None = field(repr=False)
    handle: pkcs11.Token = field(repr=False, compare=False)

    def x509_certificate(self) -> x509.Certificate:
        """The token's certificate; a token without one cannot be used by the CTL client."""
        if self.certificate is None:
            raise KeyMaterialError(
                f"the eToken {self.label!r} ({self.serial}) holds no certificate"
            )
        return _load(self.certificate, f"eToken {self.label!r}")


def _load(der: bytes, what: str) -> x509.Certificate:
    try:
        return x509.load_der_x509_certificate(der)
    except ValueError:
        raise KeyMaterialError(f"{what}: its certificate is not a valid X.509 DER") from None


def _is_sast(der: bytes) -> bool:
    try:
        cert = x509.load_der_x509_certificate(der)
    except ValueError:
        return False
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return any(str(a.value).startswith("SAST") for a in names)


def _certificate(session: pkcs11.Session) -> tuple[bytes, bytes | None] | None:
    """The token's certificate (DER) and its CKA_ID: a SAST one if several are stored."""
    found: list[tuple[bytes, bytes | None]] = []
    for obj in session.get_objects(
        {
            Attribute.CLASS: ObjectClass.CERTIFICATE,
            Attribute.CERTIFICATE_TYPE: CertificateType.X_509,
        }
    ):
        attrs = obj.get_attributes([Attribute.VALUE, Attribute.ID])
        found.append((bytes(attrs[Attribute.VALUE]), attrs.get(Attribute.ID) or None))
    sast = [c for c in found if _is_sast(c[0])]
    candidates = sast or found
    return candidates[0] if candidates else None


def list_tokens(lib: Library) -> list[TokenInfo]:
    """The initialised tokens present, each with its certificate read from the token."""
    infos: list[TokenInfo] = []
    with _token_errors("listing eTokens"):
        for token in lib.get_tokens(token_flags=TokenFlag.TOKEN_INITIALIZED):
            label = token.label.strip()
            with _token_errors(f"eToken {label!r}"), token.open() as session:
                cert = _certificate(session)
            serial = token.serial.decode("ascii", "replace").strip()
            infos.append(TokenInfo(label, serial, None if cert is None else cert[0], token))
    return infos


@dataclass(frozen=True, slots=True)
class TokenSigner:
    """A :class:`~phonetrust.formats.signing.SigningKey` whose private key stays in the token."""

    private_key: pkcs11.SignMixin = field(repr=False)
    bits: int
    label: str

    @property
    def key_size(self) -> int:
        return self.bits

    def sign(self, data: bytes, digest: Digest) -> bytes:
        with _token_errors(f"signing with eToken {self.label!r}"):
            return self.private_key.sign(data, mechanism=MECHANISMS[digest])


class TokenSession:
    """A logged-in session on one eToken; close it (or use ``with``) when done."""

    def __init__(self, token: TokenInfo, session: pkcs11.Session) -> None:
        self.token = token
        self._session = session
        what = f"eToken {token.label!r}"
        with _token_errors(what):
            found = _certificate(session)
            if found is None:
                raise KeyMaterialError(f"{what} holds no certificate")
            der, key_id = found
            self.certificate = _load(der, what)
            private_key = (
                session.get_key(ObjectClass.PRIVATE_KEY, KeyType.RSA, id=key_id)
                if key_id
                else session.get_key(ObjectClass.PRIVATE_KEY, KeyType.RSA)
            )
            bits = private_key.key_length
            if not isinstance(private_key, pkcs11.SignMixin):
                raise KeyMaterialError(f"{what}: the private key cannot sign")
            self.key = TokenSigner(private_key, bits, token.label)

    def signer(self) -> Signer:
        """The token's certificate and in-token key, ready for ``build_trust_list``."""
        return Signer(self.certificate, self.key)

    def close(self) -> None:
        with _token_errors(f"eToken {self.token.label!r}"):
            self._session.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def login(token: TokenInfo, pin: str) -> TokenSession:
    """Log in to ``token`` with its password; the session signs with the token's key."""
    with _token_errors(f"eToken {token.label!r}"):
        session = token.handle.open(user_pin=pin)
    try:
        return TokenSession(token, session)
    except BaseException:
        with _token_errors(f"eToken {token.label!r}"):
            session.close()
        raise

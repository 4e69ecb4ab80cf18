"""The phone's side of a CAPF session without I/O: what a Cisco phone answers.

Call order for an adapter: after the TLS handshake (and the check of the
server certificate against the CTL/ITL CAPF record), loop::

    session.receive_data(read())      # or receive_eof(); ProtocolError on bad bytes
    write(session.data_to_send())     # header and payload in one write
    until session.done; then session.result()

Table (:data:`PHONE_TABLE`; a test sweeps every state x command; any other
cell is a :class:`~phonetrust.protocols.capf.messages.ProtocolError`)::

    AWAIT_AUTH_REQUEST  AUTH REQUEST                 AWAIT_OPERATION (auth response sent)
    AWAIT_OPERATION     KEY GENERATE REQUEST         AWAIT_STORE (in progress + public key sent)
    AWAIT_OPERATION     FETCH CERTIFICATE REQUEST    AWAIT_END (LSC, else MIC, sent)
    AWAIT_OPERATION     DELETE CERTIFICATE REQUEST   AWAIT_END (LSC forgotten)
    AWAIT_STORE         STORE CERTIFICATE REQUEST    AWAIT_END (LSC kept if it is for our key)
    any but DONE        END SESSION | RETRY LATER    DONE

The phone authenticates with everything it has: the authentication string
(PASSWORD, empty if none) and, when it holds one, a certificate with SIGNED
DATA and SHA2 SIGNED DATA (protocols.md): its LSC, else its MIC - or the MIC
first when told ``prefer_mic`` or when the server's AUTH TYPE says 4.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Final

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from phonetrust.errors import BuildError, ProtocolError
from phonetrust.protocols.capf.messages import (
    VERSION,
    AuthType,
    CertificateBlob,
    CertificateType,
    Command,
    Element,
    HashAlgorithm,
    KeySpec,
    KeyType,
    Message,
    Reason,
    Sha2Signature,
    SudiData,
    Tag,
    auth_signed_bytes,
    framer,
    sudi_signed_bytes,
)
from phonetrust.protocols.capf.server import Operation

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
Credential = tuple[x509.Certificate, PrivateKey]


class PhoneState(Enum):
    AWAIT_AUTH_REQUEST = "awaiting the auth request"
    AWAIT_OPERATION = "awaiting the operation"
    AWAIT_STORE = "awaiting the certificate"
    AWAIT_END = "awaiting the end of the session"
    DONE = "done"


_LIVE = (
    PhoneState.AWAIT_AUTH_REQUEST,
    PhoneState.AWAIT_OPERATION,
    PhoneState.AWAIT_STORE,
    PhoneState.AWAIT_END,
)

PHONE_TABLE: Final[dict[tuple[PhoneState, Command], tuple[str, PhoneState]]] = {
    (PhoneState.AWAIT_AUTH_REQUEST, Command.AUTH_REQUEST): (
        "_on_auth_request",
        PhoneState.AWAIT_OPERATION,
    ),
    (PhoneState.AWAIT_OPERATION, Command.KEY_GEN_REQUEST): (
        "_on_key_request",
        PhoneState.AWAIT_STORE,
    ),
    (PhoneState.AWAIT_OPERATION, Command.FETCH_CERTIFICATE_REQUEST): (
        "_on_fetch",
        PhoneState.AWAIT_END,
    ),
    (PhoneState.AWAIT_OPERATION, Command.DELETE_CERTIFICATE_REQUEST): (
        "_on_delete",
        PhoneState.AWAIT_END,
    ),
    (PhoneState.AWAIT_STORE, Command.STORE_CERTIFICATE_REQUEST): (
        "_on_store",
        PhoneState.AWAIT_END,
    ),
    **{(s, Command.END_SESSION): ("_on_end", PhoneState.DONE) for s in _LIVE},
    **{(s, Command.RETRY_LATER): ("_on_retry", PhoneState.DONE) for s in _LIVE},
}


def rsa_sign_bare(key: rsa.RSAPrivateKey, digest: bytes) -> bytes:
    """The RSA private operation on a PKCS#1 type-1 block around a bare hash (no DigestInfo).

    ``cryptography`` always wraps the hash in a DigestInfo, so the block is
    built here and exponentiated with the private numbers (CRT).
    """
    size = (key.key_size + 7) // 8
    if len(digest) > size - 11:
        raise BuildError(f"a {len(digest)}-byte hash does not fit a {key.key_size}-bit key")
    block = b"\x00\x01" + b"\xff" * (size - 3 - len(digest)) + b"\x00" + digest
    numbers = key.private_numbers()
    m = int.from_bytes(block, "big")
    s1 = pow(m, numbers.dmp1, numbers.p)
    s2 = pow(m, numbers.dmq1, numbers.q)
    h = (numbers.iqmp * (s1 - s2)) % numbers.p
    return (s2 + h * numbers.q).to_bytes(size, "big")


def sign_for_auth(
    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey, data: bytes
) -> tuple[bytes, Sha2Signature]:
    """SIGNED DATA (SHA-1) and SHA2 SIGNED DATA (SHA-512) over ``data``."""
    if isinstance(key, rsa.RSAPrivateKey):
        sha1 = hashlib.sha1(data).digest()  # the protocol's SIGNED DATA is SHA-1
        sha512 = hashlib.sha512(data).digest()
        return (
            rsa_sign_bare(key, sha1),
            Sha2Signature(HashAlgorithm.SHA512, rsa_sign_bare(key, sha512)),
        )
    sha1_ecdsa = ec.ECDSA(hashes.SHA1())  # noqa: S303 - the protocol's SIGNED DATA is SHA-1
    return (
        key.sign(data, sha1_ecdsa),
        Sha2Signature(HashAlgorithm.SHA512, key.sign(data, ec.ECDSA(hashes.SHA512()))),
    )


def generate_key(spec: KeySpec) -> PrivateKey:
    """A fresh key of the kind the server asked for (what the phone spends seconds on)."""
    if spec.key_type is KeyType.RSA:
        return rsa.generate_private_key(public_exponent=65537, key_size=spec.bits)
    return ec.generate_private_key(spec.curve_class())


@dataclass(frozen=True, slots=True)
class PhoneResult:
    """What the session did to the phone, and how the server ended it."""

    device: str
    operation: Operation
    success: bool
    reason: int | None
    """The END SESSION's REASON (None when the server said RETRY LATER)."""
    info: str = ""
    lsc: Credential | None = None
    """The LSC the phone holds after the session (new after an install, None after a delete)."""
    session_id: int | None = None
    retry_delay: int | None = None


class PhoneSession:
    """A phone talking to CAPF: its name, what it can authenticate with, its LSC."""

    def __init__(
        self,
        device: str,
        *,
        auth_string: str | None = None,
        lsc: Credential | None = None,
        mic: Credential | None = None,
        sudi: Credential | None = None,
        prefer_mic: bool = False,
        key_for: Callable[[KeySpec], PrivateKey] = generate_key,
        report_progress: bool = True,
        max_payload: int = 0xFFFF,
    ) -> None:
        self.device = device
        self.state = PhoneState.AWAIT_AUTH_REQUEST
        self.session_id: int | None = None
        self.lsc = lsc
        self._auth_string = auth_string
        self._mic = mic
        self._sudi = sudi
        self._prefer_mic = prefer_mic
        self._key_for = key_for
        self._report_progress = report_progress
        self._reader = framer(max_payload)
        self._out: list[bytes] = []
        self._operation = Operation.NONE
        self._key: PrivateKey | None = None
        self._stored = False
        self._fetched = False
        self._problem = ""
        self._reason: int | None = None
        self._info = ""
        self._retry: int | None = None

    @property
    def done(self) -> bool:
        return self.state is PhoneState.DONE

    def data_to_send(self) -> bytes:
        out, self._out = b"".join(self._out), []
        return out

    def receive_data(self, data: bytes) -> None:
        """Feed bytes from the server; raises :class:`ProtocolError` on bad ones."""
        if self.done:
            return
        self._reader.feed(data)
        while not self.done:
            message = self._reader.pop()
            if message is None:
                return
            self._handle(message)

    def receive_eof(self) -> None:
        if not self.done:
            raise ProtocolError(f"the server closed the connection while {self.state.value}")

    def result(self) -> PhoneResult:
        if not self.done:
            raise ProtocolError(f"the session has not ended ({self.state.value})")
        return PhoneResult(
            device=self.device,
            operation=self._operation,
            success=self._succeeded(),
            reason=self._reason,
            info=self._problem or self._info,
            lsc=self.lsc,
            session_id=self.session_id,
            retry_delay=self._retry,
        )

    def _succeeded(self) -> bool:
        if self._problem or self._reason is None:
            return False
        if self._operation is Operation.INSTALL:
            return self._stored and self._reason == Reason.UPDATE_CERTIFICATE
        if self._operation is Operation.DELETE:
            return self._reason == Reason.UPDATE_CERTIFICATE
        if self._operation is Operation.FETCH:
            return self._fetched and self._reason == Reason.NO_ACTION
        return self._reason == Reason.NO_ACTION

    # -- the table at work -----------------------------------------------------------------
    def _handle(self, message: Message) -> None:
        if self.session_id is not None and message.session_id != self.session_id:
            raise ProtocolError(
                f"session id {message.session_id:#010x} is not this session's "
                f"({self.session_id:#010x})",
                2,
            )
        entry = PHONE_TABLE.get((self.state, message.command))
        if entry is None:
            raise ProtocolError(f"{message.command.name} is unexpected while {self.state.value}")
        name, following = entry
        getattr(self, name)(message)
        self.state = following

    def _send(self, command: Command, *elements: Element) -> None:
        assert self.session_id is not None  # noqa: S101 - set by the auth request
        self._out.append(Message(command, self.session_id, elements).to_wire())

    def _on_auth_request(self, message: Message) -> None:
        self.session_id = message.session_id
        prefer_mic = self._prefer_mic or message.number(Tag.AUTH_TYPE) == AuthType.MIC
        order = (self._mic, self.lsc) if prefer_mic else (self.lsc, self._mic)
        kinds = (
            (CertificateType.MIC, CertificateType.LSC)
            if prefer_mic
            else (CertificateType.LSC, CertificateType.MIC)
        )
        elements = [
            Element.number(Tag.REASON, Reason.UPDATE_CERTIFICATE),
            Element.number(Tag.VERSION, VERSION),
            Element.text(Tag.DEVICE_NAME, self.device),
            Element.text(Tag.PASSWORD, self._auth_string or ""),
        ]
        for credential, kind in zip(order, kinds, strict=True):
            if credential is not None:
                elements.extend(self._proof(credential, kind))
                break
        if self._sudi is not None:
            elements.append(Element.of(self._sudi_data(self._sudi)))
        self._send(Command.AUTH_RESPONSE, *elements)

    def _proof(self, credential: Credential, kind: CertificateType) -> list[Element]:
        certificate, key = credential
        der = certificate.public_bytes(serialization.Encoding.DER)
        signed, sha2 = sign_for_auth(key, auth_signed_bytes(self.device, der))
        return [
            Element.of(CertificateBlob(kind, der)),
            Element(Tag.SIGNED_DATA, signed),
            Element.of(sha2),
        ]

    def _sudi_data(self, credential: Credential) -> SudiData:
        certificate, key = credential
        der = certificate.public_bytes(serialization.Encoding.DER)
        assert self.session_id is not None  # noqa: S101 - set just before
        signed, sha2 = sign_for_auth(key, sudi_signed_bytes(self.session_id, der))
        return SudiData(der, signed, sha2)

    def _on_key_request(self, message: Message) -> None:
        self._operation = Operation.INSTALL
        spec = KeySpec.of_request(message)
        if self._report_progress:
            self._send(Command.REQUEST_IN_PROGRESS)
        self._key = self._key_for(spec)
        der = self._key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        self._send(Command.KEY_GEN_RESPONSE, Element(Tag.PUBLIC_KEY, der))

    def _on_store(self, message: Message) -> None:
        blob = message.certificate
        problem = ""
        certificate: x509.Certificate | None = None
        if blob is None:
            problem = "the server sent no certificate to store"
        else:
            try:
                certificate = x509.load_der_x509_certificate(blob.der)
            except ValueError:
                problem = "the server sent a certificate that is not X.509 DER"
        assert self._key is not None  # noqa: S101 - made for the key request
        ours = self._key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        if certificate is not None and not problem:
            theirs = certificate.public_key().public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            if theirs != ours:
                problem = "the certificate is not for the key this phone generated"
        if problem or certificate is None:
            self._problem = problem
            self._send(
                Command.STORE_CERTIFICATE_RESPONSE,
                Element.number(Tag.REASON, Reason.INVALID_ELEMENT),
            )
            return
        self.lsc = (certificate, self._key)
        self._stored = True
        self._send(
            Command.STORE_CERTIFICATE_RESPONSE,
            Element.number(Tag.REASON, Reason.UPDATE_CERTIFICATE),
        )

    def _on_fetch(self, _message: Message) -> None:
        self._operation = Operation.FETCH
        held = (
            (self.lsc, CertificateType.LSC)
            if self.lsc is not None
            else (self._mic, CertificateType.MIC)
        )
        credential, kind = held
        if credential is None:
            self._problem = "the phone has no LSC or MIC to give"
            self._send(
                Command.FETCH_CERTIFICATE_RESPONSE,
                Element.number(Tag.REASON, Reason.INVALID_ELEMENT),
            )
            return
        der = credential[0].public_bytes(serialization.Encoding.DER)
        self._fetched = True
        self._send(
            Command.FETCH_CERTIFICATE_RESPONSE,
            Element.number(Tag.REASON, Reason.UPDATE_CERTIFICATE),
            Element.of(CertificateBlob(kind, der)),
        )

    def _on_delete(self, _message: Message) -> None:
        self._operation = Operation.DELETE
        self.lsc = None
        self._send(
            Command.DELETE_CERTIFICATE_RESPONSE,
            Element.number(Tag.REASON, Reason.UPDATE_CERTIFICATE),
        )

    def _on_end(self, message: Message) -> None:
        self._reason = message.reason
        self._info = message.text(Tag.REASON_INFO) or ""

    def _on_retry(self, message: Message) -> None:
        self._retry = message.number(Tag.RETRY_DELAY)
        self._info = f"the server asks to retry later ({message.number(Tag.RETRY_DELAY)} s)"

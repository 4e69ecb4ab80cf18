"""The phone's side of a CAPF session without I/O: what a Cisco phone answers.

Call order for an adapter: after the TLS handshake (and the check of the
server certificate against the CTL/ITL CAPF record), loop::

    session.receive_data(read())      # or receive_eof(); ProtocolError on bad bytes
    write(session.data_to_send())     # header and payload in one write
    until session.done; then session.result()

Table (:data:`PHONE_TABLE`; a test sweeps every state x command; any other
cell is a :class:`~phonetrust.errors.ProtocolError`; each row names the handler
function that answers the message, and the session moves to its state)::

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

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any, Final

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from phonetrust.errors import LocalError, ProtocolError
from phonetrust.protocols.capf.messages import (
    VERSION,
    AuthRequest,
    AuthResponse,
    AuthType,
    CertificateBlob,
    CertificateType,
    Command,
    DeleteCertificateRequest,
    DeleteCertificateResponse,
    Element,
    EndSession,
    FetchCertificateRequest,
    FetchCertificateResponse,
    KeyGenRequest,
    KeyGenResponse,
    KeySpec,
    KeyType,
    Message,
    Reason,
    RequestInProgress,
    RetryLater,
    StoreCertificateRequest,
    StoreCertificateResponse,
    SudiData,
    Tag,
    auth_signed_bytes,
    framer,
    sudi_signed_bytes,
)
from phonetrust.protocols.capf.proofs import sign_for_auth
from phonetrust.protocols.capf.server import Operation

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
Credential = tuple[x509.Certificate, PrivateKey]


class PhoneState(Enum):
    AWAIT_AUTH_REQUEST = "awaiting the auth request"
    AWAIT_OPERATION = "awaiting the operation"
    AWAIT_STORE = "awaiting the certificate"
    AWAIT_END = "awaiting the end of the session"
    DONE = "done"


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

    # -- the table at work: the one place the state changes ---------------------------------
    def _handle(self, message: Message) -> None:
        if self.session_id is not None and message.session_id != self.session_id:
            raise ProtocolError(
                f"session id {message.session_id:#010x} is not this session's "
                f"({self.session_id:#010x})",
                2,
            )
        row = PHONE_TABLE.get((self.state, message.command))
        if row is None:
            raise ProtocolError(f"{message.command.name} is unexpected while {self.state.value}")
        handler, following = row
        handler(self, message)
        self.state = following

    def _send(self, message: Message) -> None:
        self._out.append(message.to_wire())

    def _on_auth_request(self, message: AuthRequest) -> None:
        sid = self.session_id = message.session_id
        prefer_mic = self._prefer_mic or message.auth_type == AuthType.MIC
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
            elements.append(Element.of(self._sudi_data(sid, self._sudi)))
        self._send(AuthResponse(sid, tuple(elements)))

    def _proof(self, credential: Credential, kind: CertificateType) -> list[Element]:
        certificate, key = credential
        der = certificate.public_bytes(serialization.Encoding.DER)
        signed, sha2 = sign_for_auth(key, auth_signed_bytes(self.device, der))
        return [
            Element.of(CertificateBlob(kind, der)),
            Element(Tag.SIGNED_DATA, signed),
            Element.of(sha2),
        ]

    @staticmethod
    def _sudi_data(session_id: int, credential: Credential) -> SudiData:
        certificate, key = credential
        der = certificate.public_bytes(serialization.Encoding.DER)
        signed, sha2 = sign_for_auth(key, sudi_signed_bytes(session_id, der))
        return SudiData(der, signed, sha2)

    def _on_key_request(self, message: KeyGenRequest) -> None:
        self._operation = Operation.INSTALL
        spec = message.key
        if self._report_progress:
            self._send(RequestInProgress(message.session_id))
        self._key = self._key_for(spec)
        self._send(KeyGenResponse.make(message.session_id, _spki(self._key)))

    def _on_store(self, message: StoreCertificateRequest) -> None:
        key = self._key
        if key is None:
            raise LocalError("the phone was asked to store an LSC before making its key")
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
        if certificate is not None and not problem:
            theirs = certificate.public_key().public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            if theirs != _spki(key):
                problem = "the certificate is not for the key this phone generated"
        if problem or certificate is None:
            self._problem = problem
            self._send(StoreCertificateResponse.make(message.session_id, Reason.INVALID_ELEMENT))
            return
        self.lsc = (certificate, key)
        self._stored = True
        self._send(StoreCertificateResponse.make(message.session_id, Reason.UPDATE_CERTIFICATE))

    def _on_fetch(self, message: FetchCertificateRequest) -> None:
        self._operation = Operation.FETCH
        held = (
            (self.lsc, CertificateType.LSC)
            if self.lsc is not None
            else (self._mic, CertificateType.MIC)
        )
        credential, kind = held
        if credential is None:
            self._problem = "the phone has no LSC or MIC to give"
            self._send(FetchCertificateResponse.make(message.session_id, Reason.INVALID_ELEMENT))
            return
        der = credential[0].public_bytes(serialization.Encoding.DER)
        self._fetched = True
        self._send(
            FetchCertificateResponse.make(
                message.session_id, Reason.UPDATE_CERTIFICATE, CertificateBlob(kind, der)
            )
        )

    def _on_delete(self, message: DeleteCertificateRequest) -> None:
        self._operation = Operation.DELETE
        self.lsc = None
        self._send(DeleteCertificateResponse.make(message.session_id, Reason.UPDATE_CERTIFICATE))

    def _on_end(self, message: EndSession) -> None:
        self._reason = message.reason
        self._info = message.info or ""

    def _on_retry(self, message: RetryLater) -> None:
        self._retry = message.delay
        self._info = f"the server asks to retry later ({message.delay} s)"


def _spki(key: PrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


Handler = Callable[[PhoneSession, Any], None]
"""A phone handler: reads the message of its row's command and answers it."""

P = PhoneState
_LIVE = (P.AWAIT_AUTH_REQUEST, P.AWAIT_OPERATION, P.AWAIT_STORE, P.AWAIT_END)
_P = PhoneSession

PHONE_TABLE: Final[dict[tuple[PhoneState, Command], tuple[Handler, PhoneState]]] = {
    (P.AWAIT_AUTH_REQUEST, Command.AUTH_REQUEST): (_P._on_auth_request, P.AWAIT_OPERATION),
    (P.AWAIT_OPERATION, Command.KEY_GEN_REQUEST): (_P._on_key_request, P.AWAIT_STORE),
    (P.AWAIT_OPERATION, Command.FETCH_CERTIFICATE_REQUEST): (_P._on_fetch, P.AWAIT_END),
    (P.AWAIT_OPERATION, Command.DELETE_CERTIFICATE_REQUEST): (_P._on_delete, P.AWAIT_END),
    (P.AWAIT_STORE, Command.STORE_CERTIFICATE_REQUEST): (_P._on_store, P.AWAIT_END),
    **{(s, Command.END_SESSION): (_P._on_end, P.DONE) for s in _LIVE},
    **{(s, Command.RETRY_LATER): (_P._on_retry, P.DONE) for s in _LIVE},
}
"""Each row's handler is called with a message of the row's command (one type per command);
the session then moves to the row's state."""

"""The phone's configuration file rules (scenarios A5, A6): ``.cnf.xml``, ``.sgn``, ``.enc.sgn``.

A phone with no list in force takes any configuration (A2, E1); otherwise
the file must be signed by a TFTP-capable record of the CTL or ITL in force,
or by a certificate TVS vouches for as TFTP (A5), and an ``.enc.sgn`` must
then decrypt with the phone's own key (A6). Accepting a configuration
sets the TVS servers and the security mode it names. The verdict helpers
that TVS resumption also needs (:func:`.phone_trust.resume_with_tvs`) live in
:mod:`.phone_trust`, and are public for this module: :func:`~.phone_trust.decide`,
:func:`~.phone_trust.ask_tvs`, :func:`~.phone_trust.finish_config`,
:func:`~.phone_trust.config_failed`, :func:`~.phone_trust.plain_name`.
"""

from __future__ import annotations

from dataclasses import replace

from cryptography import x509

from phonetrust.errors import ParseError
from phonetrust.formats import names
from phonetrust.formats.encsgn import EncryptedFile
from phonetrust.formats.header import Header
from phonetrust.formats.sgn import SignedFile, verify_header_signature
from phonetrust.formats.tags import TFTP_ROLES, Role
from phonetrust.policy.phone_decisions import (
    NO_ROLES,
    ConfigForm,
    NeedTvs,
    Purpose,
    Reason,
    Trace,
    Verdict,
    Via,
    digest_refusal,
    tftp_refusal,
)
from phonetrust.policy.phone_trust import (
    Decision,
    PhoneTrust,
    ask_tvs,
    config_failed,
    decide,
    finish_config,
    plain_name,
)


def on_signed_config(
    state: PhoneTrust, data: bytes, now: float, *, tftp_server_address: str | None = None
) -> Decision:
    """Judge ``SEP<MAC>.cnf.xml.sgn`` (A5, E1, H7); the document is ``decision.content``."""
    t = Trace()
    try:
        signed = SignedFile.from_wire(data)
    except ParseError as exc:
        t.error(f"verifyFile: cannot parse the signed file: {exc}")
        return config_failed(state, "configuration file", Reason.MALFORMED, str(exc), t)
    name = signed.header.filename or ""
    need = NeedTvs(b"", Purpose.CONFIG_SIGNER, data, name, ConfigForm.SIGNED)
    return _judge_config(state, signed, need, t, now=now, tftp_address=tftp_server_address)


def on_encrypted_config(
    state: PhoneTrust,
    data: bytes,
    device_key: object | None,
    now: float,
    *,
    tftp_server_address: str | None = None,
) -> Decision:
    """Judge ``SEP<MAC>.cnf.xml.enc.sgn``: signed like ``.sgn``, then decrypted (A6).

    ``device_key`` is the phone's own private key: its LSC's, else its MIC's.
    """
    t = Trace()
    if not state.model.encrypted_config:
        t.error(f"decryptFile: model {state.model.name} has no encrypted configuration")
        return decide(Verdict.REJECTED, state, t, reason=Reason.NOT_SUPPORTED)
    try:
        encrypted = EncryptedFile.from_wire(data)
    except ParseError as exc:
        t.error(f"verifyFile: cannot parse the encrypted file: {exc}")
        return config_failed(state, "configuration file", Reason.MALFORMED, str(exc), t)
    name = encrypted.header.filename or ""
    need = NeedTvs(b"", Purpose.CONFIG_SIGNER, data, name, ConfigForm.ENCRYPTED, device_key)
    return _judge_config(state, encrypted, need, t, now=now, tftp_address=tftp_server_address)


def on_plain_config(state: PhoneTrust, data: bytes, *, filename: str = "") -> Decision:
    """Judge an unsigned ``SEP<MAC>.cnf.xml``: only a phone with no list in force takes it."""
    t = Trace()
    need = NeedTvs(b"", Purpose.CONFIG_SIGNER, data, filename, ConfigForm.PLAIN)
    if state.has_anchors:
        t.error("lookupCTL: TFTP SRVR secure, unsigned configuration refused")
        return config_failed(state, filename, Reason.UNSIGNED, "", t)
    return finish_config(state, need, Via.UNCHECKED, t)


def _judge_config(
    state: PhoneTrust,
    file: SignedFile | EncryptedFile,
    need: NeedTvs,
    t: Trace,
    *,
    now: float,
    tftp_address: str | None,
) -> Decision:
    """A5: the signer must be a TFTP-capable record of the lists in force (or TVS-vouched)."""
    header, signed_bytes = file.header, file.signed_bytes()
    refusal = tftp_refusal(state.model, state.ctl, tftp_address, t)
    if refusal is not None:
        return config_failed(state, need.filename, *refusal, t)
    if not state.has_anchors:  # A2 / E1: nothing to verify against
        return finish_config(state, need, Via.UNCHECKED, t)
    t.note("lookupCTL: TFTP SRVR secure")
    refusal = digest_refusal(state.model, header, t)
    if refusal is not None:
        return config_failed(state, need.filename, *refusal, t)
    candidates = _config_candidates(state, header, now)
    verified = [
        (der, roles)
        for der, (cert, roles) in candidates.items()
        if verify_header_signature(header, signed_bytes, cert).verified
    ]
    path = f"/usr/ram/{plain_name(need.filename)}"
    if not verified:
        t.error(f"verifyFile: verify FAILED <{path}>")
        if candidates:
            return config_failed(state, need.filename, Reason.BAD_SIGNATURE, "", t)
        detail = f"no certificate with serial {(header.signer_serial or b'').hex()} is known"
        return config_failed(state, need.filename, Reason.SIGNER_UNKNOWN, detail, t)
    if any(roles & TFTP_ROLES for _, roles in verified):
        return finish_config(state, need, Via.TRUST_LIST, t)
    t.error(f"verifyFile: signer not a TFTP record of the CTL or ITL <{path}>")
    return ask_tvs(state, replace(need, certificate=verified[0][0]), now, t)


def _config_candidates(
    state: PhoneTrust, header: Header, now: float
) -> dict[bytes, tuple[x509.Certificate, frozenset[Role]]]:
    """Certificates the phone holds whose serial is the header's, with their roles in the lists."""
    serial = header.signer_serial
    found: dict[bytes, tuple[x509.Certificate, frozenset[Role]]] = {}
    for tl in (state.ctl, state.effective_itl):
        for rec in () if tl is None else tl.records:
            cert = rec.certificate() if rec.serial == serial else None
            if cert is None or rec.certificate_der is None:
                continue
            roles = found[rec.certificate_der][1] if rec.certificate_der in found else NO_ROLES
            extra = NO_ROLES if rec.role is None else frozenset({rec.role})
            found[rec.certificate_der] = (cert, roles | extra)
    for entry in state.tvs_cache.values():
        if entry.fresh(now) and entry.certificate not in found:
            try:
                cert = x509.load_der_x509_certificate(entry.certificate)
            except ValueError:
                continue
            if names.serial_bytes(cert.serial_number) == serial:
                found[entry.certificate] = (cert, NO_ROLES)
    return found

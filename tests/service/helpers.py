"""Small readers for what a cluster publishes."""

from __future__ import annotations

from cryptography import x509

from phonetrust.formats.names import serial_bytes
from phonetrust.formats.tags import Role
from phonetrust.formats.trustlist import TrustList
from phonetrust.policy.domain import CertName
from phonetrust.service.context import Context


def current(ctx: Context, node: str, name: CertName) -> x509.Certificate:
    with ctx.repo.unit_of_work() as uow:
        own = uow.current_certificate(node, name)
    assert own is not None
    return x509.load_der_x509_certificate(own.der)


def trust_list(data: bytes | None) -> TrustList:
    assert data is not None, "the file is not published"
    return TrustList.from_wire(data)


def signed_by(tl: TrustList, cert: x509.Certificate) -> bool:
    """The list names ``cert`` as signer and its signature verifies with ``cert``'s key."""
    return (
        tl.header.signer_serial == serial_bytes(cert.serial_number)
        and tl.verify().verified
        and tl.verify_with(cert.public_key()).verified
    )


def roles(tl: TrustList) -> list[Role | None]:
    return [r.role for r in tl.records]

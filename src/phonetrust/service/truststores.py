"""Trust stores: upload, list and delete certificates (``CallManager-trust``, ...)."""

from __future__ import annotations

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from phonetrust.errors import LocalError
from phonetrust.policy.domain import TrustedCertificate, TrustStore
from phonetrust.service.changes import change, reading
from phonetrust.service.context import Context


def upload(ctx: Context, store: TrustStore, cert: x509.Certificate, description: str = "") -> bool:
    """Add a certificate; False when the store already had it."""
    der = cert.public_bytes(serialization.Encoding.DER)
    with change(ctx, "certificate upload", f"{store.value} serial {cert.serial_number:x}") as ch:
        uow = ch.uow
        return uow.add_trusted(TrustedCertificate(store, der, ctx.now(), description))


def delete(ctx: Context, store: TrustStore, der: bytes) -> None:
    with change(ctx, "certificate delete", store.value) as ch:
        uow = ch.uow
        if not uow.delete_trusted(store, der):
            raise LocalError(f"{store.value} holds no such certificate")


def listing(ctx: Context, store: TrustStore | None = None) -> list[TrustedCertificate]:
    with reading(ctx) as uow:
        return uow.list_trusted(store)

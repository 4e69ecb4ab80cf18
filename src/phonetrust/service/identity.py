"""A node's own certificate and private key, for a TLS service that presents it (TVS, the
HTTPS)."""

from __future__ import annotations

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

from phonetrust.policy.domain import CertName
from phonetrust.service.changes import reading
from phonetrust.service.context import Context, certificate, x509_of


def own_identity(
    ctx: Context, host: str, name: CertName
) -> tuple[x509.Certificate, PrivateKeyTypes]:
    """Node ``host``'s current ``name`` certificate and its key; :class:`LocalError` if none."""
    with reading(ctx) as uow:
        own = certificate(uow, host, name)
    return x509_of(own), ctx.keys.get(own.der)

"""A node's own certificate and private key, for a TLS service that presents it.

TVS and CAPF have their own loaders (they read more than the identity);
the Tomcat endpoint of ``serve`` needs only this.
"""

from __future__ import annotations

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

from phonetrust.errors import LocalError
from phonetrust.policy.domain import CertName
from phonetrust.service.changes import reading
from phonetrust.service.context import Context, x509_of
from phonetrust.service.context import node as node_of


def own_identity(
    ctx: Context, host: str, name: CertName
) -> tuple[x509.Certificate, PrivateKeyTypes]:
    """Node ``host``'s current ``name`` certificate and its key; :class:`LocalError` if none."""
    with reading(ctx) as uow:
        node = node_of(uow, host)
        own = uow.current_certificate(node.host, name)
    if own is None:
        raise LocalError(f"{host} has no {name} certificate")
    return x509_of(own), ctx.keys.get(own.der)

"""What every use case needs: the store, the keys, the clock, who is acting."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa

from phonetrust.clock import Clock
from phonetrust.errors import KeyMaterialError, LocalError
from phonetrust.formats.signing import Signer
from phonetrust.policy.domain import CertName, Node, OwnCertificate
from phonetrust.store.keys import KeyStore
from phonetrust.store.repository import ClusterState, Repository, UnitOfWork


class ChangeGuard(Protocol):
    """Looks at a change before it is committed, and may stop it.

    :meth:`begin` sees the cluster as the change finds it (a rename or a removal
    must not hide what phones hold); the call, inside the same transaction once
    the change's file plan is published (``before``: the plan version phones
    could have seen until now), may raise, which rolls the whole change back.
    The CLI's lock-out guard is one: it predicts which phones the new files
    lock out and asks before going on.
    """

    def begin(self, ctx: Context, uow: UnitOfWork) -> None: ...

    def __call__(self, ctx: Context, uow: UnitOfWork, before: int) -> None: ...


@dataclass(frozen=True, slots=True)
class Context:
    """Who acts, on which store and keys, at which time: shared by every change, never changed.

    What one change asks of the file plan travels on that change
    (:class:`~phonetrust.service.changes.Change`), so one context can serve
    concurrent changes (the CAPF thread's and the administrator's).
    """

    repo: Repository
    keys: KeyStore
    clock: Clock
    actor: str = "admin"
    guard: ChangeGuard | None = None
    """Asked before each change commits (an administrator's command); services have none."""
    sketch: bool = False
    """The planner's copy of a cluster: changes publish the trust lists only (the planner
    makes the configuration files its predicted boots read)."""

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.clock.now(), UTC)


def cluster(uow: UnitOfWork) -> ClusterState:
    state = uow.get_cluster()
    if state is None:
        raise LocalError("no cluster here yet; create one with `phonetrust cluster init`")
    return state


def node(uow: UnitOfWork, host: str) -> Node:
    found = uow.get_node(host)
    if found is None:
        known = ", ".join(n.host for n in uow.list_nodes()) or "none"
        raise LocalError(f"Unknown node {host!r} (nodes: {known})")
    return found


def publisher(uow: UnitOfWork) -> Node:
    for n in uow.list_nodes():
        if n.publisher:
            return n
    raise LocalError("the cluster has no publisher node")


def certificate(uow: UnitOfWork, host: str, name: CertName) -> OwnCertificate:
    own = uow.current_certificate(host, name)
    if own is None:
        raise LocalError(f"{host} has no {name.value} certificate")
    return own


def x509_of(own: OwnCertificate) -> x509.Certificate:
    return x509.load_der_x509_certificate(own.der)


def signer_of(ctx: Context, own: OwnCertificate, uow: UnitOfWork) -> Signer:
    """A signer with ``own``'s key, read in ``uow`` (which may have just made it)."""
    key = ctx.keys.get(own.der, uow)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise KeyMaterialError(f"the {own.name.value} key of {own.node} is not an RSA key")
    return Signer.from_private_key(x509_of(own), key)


def itl_recovery(uow: UnitOfWork) -> OwnCertificate | None:
    """The publisher's ITLRecovery certificate: the only one the cluster uses (C1)."""
    pub = publisher(uow)
    return uow.current_certificate(pub.host, CertName.ITLRECOVERY)

"""What TVS vouches for: every certificate the cluster trusts, by SHA-256 of its DER.

TVS decides by the exact certificate, never by name, serial or issuer: a
certificate that merely claims a trusted subject is unknown. The roles it
answers come from where the certificate was found; a certificate found in
several places gets the union of their roles.

========================================  =================================
where the certificate is                  roles answered
========================================  =================================
a node's own CallManager certificate      SAST (0) + CCM+TFTP (2), or CCM (1)
                                          / TFTP (3) by the node's services
a node's own TVS certificate              TVS (21)
a node's own CAPF certificate             CAPF (4)
a node's own tomcat certificate           APP-SERVER (7)
a node's own ITLRecovery certificate      SAST (0)
Phone-SAST-trust                          SAST (0) - uploaded eTokens (D5)
CallManager-trust                         CCM (1)
tomcat-trust, Phone-trust,                APP-SERVER (7)
Phone-VPN-trust
TVS-trust                                 TVS (21)
ITLRecovery-trust                         SAST (0)
a record of the current CTL               that record's own role (D6),
                                          except an eToken's (below)
========================================  =================================

An eToken record of the CTL (SAST, no host name) is not vouched for through
the CTL: only its upload to Phone-SAST-trust makes TVS vouch for it (D5), or
a CTL would vouch for its own signer.

Own certificates are the current ones (a regenerated certificate's
predecessor is no longer vouched for, unless the current CTL still lists
it). Not vouched for: the ``ipsec`` certificate and the CAPF-trust and
ipsec-trust stores - they hold IPsec peers and the CAs of phone
certificates, never a server a phone checks through TVS.

The current CTL is the one served by the publisher, or by the first TFTP
node when the publisher runs no TFTP (as the CTL client finds it).
A directory is immutable and carries the plan ``version`` it was read at:
a server swaps in a new one when the version moves (a CTL update, an
upload, a regeneration), which is how TVS "re-caches when CTLFile.tlv
changes".
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

from phonetrust.errors import ParseError
from phonetrust.formats.tags import Role
from phonetrust.formats.trustlist import TrustList
from phonetrust.policy import params as P
from phonetrust.policy.domain import CertName, Node, Service, TrustStore
from phonetrust.policy.etokens import is_etoken
from phonetrust.policy.trustlists import server_role
from phonetrust.protocols.tvs.messages import DEFAULT_TTL, Answer
from phonetrust.service.changes import reading
from phonetrust.service.context import Context
from phonetrust.service.identity import own_identity
from phonetrust.store.repository import UnitOfWork

log = logging.getLogger("phonetrust.tvs")

CTL_NAME = "CTLFile.tlv"

OWN_ROLES: Mapping[CertName, frozenset[Role]] = MappingProxyType(
    {
        CertName.TVS: frozenset({Role.TVS}),
        CertName.CAPF: frozenset({Role.CAPF}),
        CertName.TOMCAT: frozenset({Role.APP_SERVER}),
        CertName.ITLRECOVERY: frozenset({Role.SAST}),
    }
)
"""Roles of a node's own certificates, except CallManager's (which depend on the node)."""

STORE_ROLES: Mapping[TrustStore, frozenset[Role]] = MappingProxyType(
    {
        TrustStore.PHONE_SAST: frozenset({Role.SAST}),
        TrustStore.CALLMANAGER: frozenset({Role.CCM}),
        TrustStore.TOMCAT: frozenset({Role.APP_SERVER}),
        TrustStore.PHONE: frozenset({Role.APP_SERVER}),
        TrustStore.PHONE_VPN: frozenset({Role.APP_SERVER}),
        TrustStore.TVS: frozenset({Role.TVS}),
        TrustStore.ITLRECOVERY: frozenset({Role.SAST}),
    }
)
"""Roles of certificates uploaded to each trust store; stores not listed are not vouched for."""


def callmanager_roles(node: Node) -> frozenset[Role]:
    """A node's own CallManager certificate: SAST, plus CCM+TFTP / CCM / TFTP by its services."""
    role = server_role(node)
    return frozenset({Role.SAST} if role is None else {Role.SAST, role})


def own_roles(node: Node, name: CertName) -> frozenset[Role]:
    if name is CertName.CALLMANAGER:
        return callmanager_roles(node)
    return OWN_ROLES.get(name, frozenset())


@dataclass(frozen=True, slots=True)
class Entry:
    """One vouched-for certificate: its roles and where they came from."""

    roles: frozenset[int]
    sources: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class TvsDirectory:
    """Immutable map from a certificate's SHA-256 to its roles, and the TTL to answer."""

    entries: Mapping[bytes, Entry] = field(default_factory=lambda: MappingProxyType({}))
    ttl: int = DEFAULT_TTL
    version: int = 0
    """The file-plan version this was read at (0 when not read from a store)."""
    _answers: Mapping[bytes, Answer] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        entries = MappingProxyType(dict(self.entries))
        answers = {
            digest: Answer(True, tuple(sorted(entry.roles)), self.ttl)
            for digest, entry in entries.items()
        }
        object.__setattr__(self, "entries", entries)
        object.__setattr__(self, "_answers", MappingProxyType(answers))

    @classmethod
    def build(
        cls,
        found: Iterable[tuple[bytes, Iterable[int], str]],
        *,
        ttl: int = DEFAULT_TTL,
        version: int = 0,
    ) -> TvsDirectory:
        """From ``(certificate DER, roles, source)`` triples; repeated certificates merge."""
        roles: dict[bytes, set[int]] = {}
        sources: dict[bytes, list[str]] = {}
        for der, found_roles, source in found:
            digest = hashlib.sha256(der).digest()
            roles.setdefault(digest, set()).update(int(r) for r in found_roles)
            if source not in sources.setdefault(digest, []):
                sources[digest].append(source)
        entries = {d: Entry(frozenset(roles[d]), tuple(sources[d])) for d in roles}
        return cls(MappingProxyType(entries), ttl, version)

    def __len__(self) -> int:
        return len(self.entries)

    def lookup(self, der: bytes) -> Entry | None:
        return self.entries.get(hashlib.sha256(der).digest())

    def verify(self, der: bytes) -> Answer:
        """Valid with roles and TTL when the exact certificate is known, else invalid."""
        return self._answers.get(hashlib.sha256(der).digest(), _INVALID)


_INVALID = Answer.invalid()


def load_directory(ctx: Context) -> TvsDirectory:
    """Read what TVS vouches for from the store (blocking; run it in a thread from asyncio)."""
    with reading(ctx) as uow:
        return directory_from(uow)


def directory_from(uow: UnitOfWork) -> TvsDirectory:
    """What TVS vouches for as ``uow`` sees the cluster (the planner's is a change not made)."""
    found: list[tuple[bytes, Iterable[int], str]] = []
    for node in uow.list_nodes():
        for own in uow.list_own_certificates(node.host):
            roles = own_roles(node, own.name)
            if roles:
                found.append((own.der, roles, f"{node.host} {own.name.value}"))
    for trusted in uow.list_trusted():
        roles = STORE_ROLES.get(trusted.store, frozenset())
        if roles:
            found.append((trusted.der, roles, trusted.store.value))
    found += _ctl_entries(uow)
    ttl = P.EnterpriseParams.from_stored(uow.get_params()).tvs_ttl
    return TvsDirectory.build(found, ttl=ttl, version=uow.current_version())


def _ctl_entries(uow: UnitOfWork) -> list[tuple[bytes, Iterable[int], str]]:
    nodes = uow.list_nodes()
    tftp = [n.host for n in nodes if n.runs(Service.TFTP)]
    publishers = [n.host for n in nodes if n.publisher and n.host in tftp]
    hosts = publishers or tftp[:1]
    data = uow.published_file(hosts[0], CTL_NAME) if hosts else None
    if data is None:
        return []
    try:
        ctl = TrustList.from_wire(data)
    except ParseError as exc:
        log.warning("TVS ignores the CTL of %s, which cannot be read: %s", hosts[0], exc)
        return []
    found: list[tuple[bytes, Iterable[int], str]] = []
    for record in ctl.records:
        der, code = record.certificate_der, record.role_code
        if der and code is not None and 0 <= code <= 0xFF and not is_etoken(record):
            found.append((der, (code,), CTL_NAME))
    return found


def tvs_identity(ctx: Context, node: str) -> tuple[x509.Certificate, PrivateKeyTypes]:
    """The node's current TVS certificate and its private key, for the TLS server."""
    return own_identity(ctx, node, CertName.TVS)

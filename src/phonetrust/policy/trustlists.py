"""What goes into each CTL and ITL (scenarios D1, D2, H4, H5, E1, C1).

The CTL is the cluster's: its signer's SAST record, a record per
CallManager/TFTP node, the CAPF certificate(s), and in hardware mode the
eTokens - never TVS. Each TFTP node has its own ITL: the node's CallManager
certificate twice (as the signer's SAST record and with its TFTP role),
CAPF and every TVS as hash-only records, and the publisher's ITLRecovery
SAST record that lets ``utils itl reset`` recover locked phones.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from cryptography import x509

from phonetrust.formats.record import ETOKEN_DNS_NAME, ITL_DNS_NAME, Record
from phonetrust.formats.tags import Role
from phonetrust.policy.domain import Node, Service

NO_ADDRESS = ipaddress.IPv4Address(0)
"""eToken records carry a zero IPADDRESS: a token has no address."""


@dataclass(frozen=True, slots=True)
class NodeCerts:
    """A node and its current certificates (None where the node has none)."""

    node: Node
    callmanager: x509.Certificate | None
    tvs: x509.Certificate | None
    capf: x509.Certificate | None


def server_role(node: Node) -> Role | None:
    """CCM+TFTP, CCM or TFTP by the services the node runs; None for neither."""
    cm, tftp = node.runs(Service.CALLMANAGER), node.runs(Service.TFTP)
    if cm and tftp:
        return Role.CCM_TFTP
    if cm:
        return Role.CCM
    return Role.TFTP if tftp else None


def ctl_records(
    nodes: list[NodeCerts],
    signer: x509.Certificate,
    signer_node: Node,
    etokens: tuple[x509.Certificate, ...] = (),
    *,
    certificate_signatures: bool = True,
) -> list[Record]:
    """The cluster CTL's records, signer first (D2, H4: no TVS records).

    The hardware-token CTL client leaves each record's SIGNATURE element out
    (reference 004): ``certificate_signatures=False`` writes them that way.
    """

    def rec(
        cert: x509.Certificate, role: Role, dns: str | bytes, ip: ipaddress.IPv4Address
    ) -> Record:
        return Record.from_certificate(
            cert, role, dns_name=dns, ip_address=ip, include_signature=certificate_signatures
        )

    records = [rec(signer, Role.SAST, signer_node.host, signer_node.ip)]
    records += [
        rec(token, Role.SAST, ETOKEN_DNS_NAME, NO_ADDRESS) for token in etokens if token != signer
    ]
    for entry in nodes:
        role = server_role(entry.node)
        if role is not None and entry.callmanager is not None:
            records.append(rec(entry.callmanager, role, entry.node.host, entry.node.ip))
    records += [
        rec(entry.capf, Role.CAPF, entry.node.host, entry.node.ip)
        for entry in nodes
        if entry.node.runs(Service.CAPF) and entry.capf is not None
    ]
    return records


def itl_records(
    tftp: NodeCerts,
    nodes: list[NodeCerts],
    itl_recovery: x509.Certificate | None,
    *,
    signer: x509.Certificate,
    rollback: bool = False,
) -> list[Record]:
    """One TFTP node's ITL records in CUCM's order (H4).

    ``signer`` is the node's CallManager certificate, or ITLRecovery when the
    cluster signs with it (H5). ``rollback`` gives the "Prepare Cluster for
    Rollback to pre 8.0" ITL: the same certificates with empty functions (E1).
    """

    def rec(cert: x509.Certificate, role: Role, *, hash_only: bool = False) -> Record:
        return Record.from_certificate(
            cert, None if rollback else role, dns_name=ITL_DNS_NAME, hash_only=hash_only
        )

    records = [rec(signer, Role.SAST)]
    if tftp.callmanager is not None:
        records.append(rec(tftp.callmanager, server_role(tftp.node) or Role.TFTP))
    records += [
        rec(n.capf, Role.CAPF, hash_only=True)
        for n in nodes
        if n.node.runs(Service.CAPF) and n.capf is not None
    ]
    tvs_nodes = [n for n in nodes if n.node.runs(Service.TVS) and n.tvs is not None]
    own = [n for n in tvs_nodes if n.node.host == tftp.node.host]
    others = [n for n in tvs_nodes if n.node.host != tftp.node.host]
    records += [rec(n.tvs, Role.TVS, hash_only=True) for n in own if n.tvs is not None]
    if itl_recovery is not None and itl_recovery != signer:
        records.append(rec(itl_recovery, Role.SAST))
    records += [rec(n.tvs, Role.TVS, hash_only=True) for n in others if n.tvs is not None]
    return records

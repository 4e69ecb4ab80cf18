"""A small cluster for the simulated phone's tests: real keys, real lists, real signed files.

:func:`world` is built once per process (keys come from the cached
``phonetrust.testing.pki.rsa_key``), never inside a hypothesis example.
"""

from __future__ import annotations

import functools
import ipaddress
from dataclasses import dataclass

from cryptography.hazmat.primitives.serialization import Encoding

from phonetrust.formats.algorithms import Digest
from phonetrust.formats.encsgn import encrypt_file
from phonetrust.formats.record import ETOKEN_DNS_NAME, ITL_DNS_NAME, Record
from phonetrust.formats.sgn import sign_file
from phonetrust.formats.tags import Role
from phonetrust.formats.trustlist import build_trust_list
from phonetrust.policy.models import model
from phonetrust.policy.phone_trust import InstalledList, PhoneTrust
from phonetrust.testing.pki import Identity, make_identity, plain_name

T0 = 1_700_000_000
MAC = "001122334455"
SGN_NAME = f"SEP{MAC}.cnf.xml.sgn"
ENC_NAME = f"SEP{MAC}.cnf.xml.enc.sgn"
PLAIN_NAME = f"SEP{MAC}.cnf.xml"
PUBLISHER_IP = "10.0.0.1"
TVS_SERVERS = ((PUBLISHER_IP, 2445),)


def der(identity: Identity) -> bytes:
    return identity.certificate.public_bytes(Encoding.DER)


@dataclass(frozen=True)
class World:
    cm: Identity
    """The publisher's CallManager certificate: signs lists and configs (CCM+TFTP)."""
    tvs: Identity
    recovery: Identity
    cm2: Identity
    """A regenerated CallManager (or another cluster's): in none of the phone's lists."""
    tvs2: Identity
    tomcat: Identity
    mic: Identity
    other_phone: Identity
    token1: Identity
    token2: Identity


@functools.cache
def world() -> World:
    def ident(cn: str, slot: int) -> Identity:
        return make_identity(plain_name(cn), slot=slot)

    return World(
        cm=ident("cucm-pub", 0),
        tvs=ident("cucm-pub-tvs", 1),
        recovery=ident("ITLRECOVERY_cucm-pub", 2),
        cm2=ident("cucm-pub", 3),
        tvs2=ident("cucm-pub-tvs", 4),
        tomcat=ident("cucm-pub-tomcat", 5),
        mic=ident("CP-8845-SEP001122334455", 6),
        other_phone=ident("CP-8845-SEP00112233AAAA", 7),
        token1=ident("SAST-ADN0001", 8),
        token2=ident("SAST-ADN0002", 9),
    )


def ctl(
    signer: Identity,
    *,
    cm: Identity | None = None,
    tokens: tuple[Identity, ...] = (),
    timestamp: int = T0,
    tftp_ip: str = PUBLISHER_IP,
) -> bytes:
    """A CTL: signer (SAST), eTokens (SAST), the CallManager as CCM+TFTP (default: the signer)."""
    ip = ipaddress.IPv4Address(tftp_ip)
    node = cm or signer
    records = [
        Record.from_certificate(signer.certificate, Role.SAST, dns_name="cucm-pub", ip_address=ip)
    ]
    records += [
        Record.from_certificate(t.certificate, Role.SAST, dns_name=ETOKEN_DNS_NAME)
        for t in tokens
        if t is not signer
    ]
    records.append(
        Record.from_certificate(node.certificate, Role.CCM_TFTP, dns_name="cucm-pub", ip_address=ip)
    )
    return build_trust_list(
        signer.signer, records, filename="CTLFile.tlv", timestamp=timestamp
    ).to_wire()


def itl(
    signer: Identity,
    *,
    cm: Identity | None = None,
    tvs: Identity | None = None,
    recovery: Identity | None = None,
    rollback: bool = False,
    timestamp: int = T0,
    digest: Digest = Digest.SHA1,
) -> bytes:
    """An ITL as CUCM writes it: signer (SAST), CallManager (CCM+TFTP), TVS (hash), ITLRecovery."""
    w = world()
    node = cm or signer
    tvs_cert = (tvs or w.tvs).certificate

    def rec(identity: Identity, role: Role, *, hash_only: bool = False) -> Record:
        return Record.from_certificate(
            identity.certificate,
            None if rollback else role,
            dns_name=ITL_DNS_NAME,
            hash_only=hash_only,
        )

    records = [rec(signer, Role.SAST), rec(node, Role.CCM_TFTP)]
    records.append(
        Record.from_certificate(
            tvs_cert, None if rollback else Role.TVS, dns_name=ITL_DNS_NAME, hash_only=True
        )
    )
    if recovery is not None and recovery is not signer:
        records.append(rec(recovery, Role.SAST))
    return build_trust_list(
        signer.signer,
        records,
        filename="ITLSEP001122334455.tlv",
        timestamp=timestamp,
        digest=digest,
    ).to_wire()


def config_xml(tvs_address: str = PUBLISHER_IP, *, security_mode: int = 1) -> bytes:
    """A minimal configuration document: security mode and one TVS server."""
    return (
        f"<device><deviceSecurityMode>{security_mode}</deviceSecurityMode><TVS><members>"
        f'<member priority="0"><port>2445</port><address>{tvs_address}</address></member>'
        "</members></TVS></device>"
    ).encode()


def sgn(signer: Identity, content: bytes | None = None, *, digest: Digest = Digest.SHA1) -> bytes:
    body = config_xml() if content is None else content
    return sign_file(body, signer.signer, filename=SGN_NAME, timestamp=T0, digest=digest).to_wire()


def enc(signer: Identity, device: Identity, content: bytes | None = None) -> bytes:
    body = config_xml() if content is None else content
    return encrypt_file(
        body, signer.signer, device.certificate, filename=ENC_NAME, timestamp=T0
    ).to_wire()


def phone(
    model_name: str = "8845",
    *,
    ctl_bytes: bytes | None = None,
    itl_bytes: bytes | None = None,
    tvs_servers: tuple[tuple[str, int], ...] = TVS_SERVERS,
) -> PhoneTrust:
    """A phone of ``model_name`` with these lists installed and TVS servers configured."""
    return PhoneTrust(
        model(model_name),
        ctl_file=None if ctl_bytes is None else InstalledList(ctl_bytes),
        itl_file=None if itl_bytes is None else InstalledList(itl_bytes),
        tvs_servers=tvs_servers,
    )

"""What TVS vouches for (A7, D5, D6): roles by where a certificate is found, TTL, identity."""

from __future__ import annotations

import hashlib
from dataclasses import replace

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from phonetrust.errors import LocalError
from phonetrust.formats.tags import Role
from phonetrust.policy import params as P
from phonetrust.policy.domain import CertName, Service, TrustStore
from phonetrust.protocols.tvs.messages import DEFAULT_TTL, Answer
from phonetrust.service import inventory, truststores
from phonetrust.service.tvsdirectory import TvsDirectory, load_directory, tvs_identity
from phonetrust.testing.pki import make_identity, plain_name
from tests.service.conftest import Lab
from tests.service.helpers import current

SAST, CCM, CCM_TFTP, TFTP = Role.SAST, Role.CCM, Role.CCM_TFTP, Role.TFTP


def der_of(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(Encoding.DER)


def own(lab: Lab, node: str, name: CertName) -> bytes:
    return der_of(current(lab.ctx, node, name))


def valid(*roles: int, ttl: int = DEFAULT_TTL) -> Answer:
    return Answer(True, tuple(sorted(roles)), ttl)


def etoken(serial: int, slot: int) -> x509.Certificate:
    """A SAST eToken certificate as Cisco issues them (reference 000: SAST-ADN..., Cisco CA)."""
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, f"SAST-ADN{serial:08x} "),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "IPCBU"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Cisco Systems"),
        ]
    )
    issuer = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, "Cisco Manufacturing CA"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Cisco Systems"),
        ]
    )
    return make_identity(subject, issuer_name=issuer, serial=serial, slot=slot).certificate


def test_own_certificates_answer_the_roles_of_their_source(lab: Lab) -> None:
    directory = load_directory(lab.ctx)
    for node in ("cucm-pub", "cucm-sub1"):
        assert directory.verify(own(lab, node, CertName.CALLMANAGER)) == valid(SAST, CCM_TFTP)
        assert directory.verify(own(lab, node, CertName.TVS)) == valid(Role.TVS)
        assert directory.verify(own(lab, node, CertName.TOMCAT)) == valid(Role.APP_SERVER)
        assert directory.verify(own(lab, node, CertName.IPSEC)) == Answer.invalid()
    assert directory.verify(own(lab, "cucm-pub", CertName.CAPF)) == valid(Role.CAPF)
    assert directory.verify(own(lab, "cucm-pub", CertName.ITLRECOVERY)) == valid(SAST)
    entry = directory.lookup(own(lab, "cucm-pub", CertName.TVS))
    assert entry is not None
    assert entry.sources == ("cucm-pub TVS",)


@pytest.mark.parametrize(
    ("services", "roles"),
    [
        (frozenset({Service.CALLMANAGER, Service.TVS}), (SAST, CCM)),
        (frozenset({Service.TFTP}), (SAST, TFTP)),
        (frozenset({Service.CAPF}), (SAST,)),
    ],
    ids=["ccm-only", "tftp-only", "neither"],
)
def test_callmanager_roles_follow_the_node_s_services(
    lab: Lab, services: frozenset[Service], roles: tuple[int, ...]
) -> None:
    with lab.ctx.repo.unit_of_work() as uow:
        node = uow.get_node("cucm-sub1")
        assert node is not None
        uow.put_node(replace(node, services=services))
    directory = load_directory(lab.ctx)
    assert directory.verify(own(lab, "cucm-sub1", CertName.CALLMANAGER)) == valid(*roles)


@pytest.mark.parametrize(
    ("store", "roles"),
    [
        (TrustStore.PHONE_SAST, (SAST,)),
        (TrustStore.CALLMANAGER, (CCM,)),
        (TrustStore.TOMCAT, (Role.APP_SERVER,)),
        (TrustStore.PHONE, (Role.APP_SERVER,)),
        (TrustStore.PHONE_VPN, (Role.APP_SERVER,)),
        (TrustStore.TVS, (Role.TVS,)),
        (TrustStore.ITLRECOVERY, (SAST,)),
        (TrustStore.CAPF, ()),
        (TrustStore.IPSEC, ()),
    ],
    ids=lambda v: v.value if isinstance(v, TrustStore) else None,
)
def test_trust_store_uploads_answer_the_store_s_roles(
    lab: Lab, store: TrustStore, roles: tuple[int, ...]
) -> None:
    cert = make_identity(plain_name(f"uploaded to {store.value}"), slot=4).certificate
    assert load_directory(lab.ctx).verify(der_of(cert)) == Answer.invalid()
    truststores.upload(lab.ctx, store, cert, "test")
    expected = valid(*roles) if roles else Answer.invalid()
    assert load_directory(lab.ctx).verify(der_of(cert)) == expected


def test_a_certificate_in_several_places_gets_the_union_of_roles(lab: Lab) -> None:
    cert = make_identity(plain_name("cucm-other-cluster"), slot=4).certificate
    truststores.upload(lab.ctx, TrustStore.CALLMANAGER, cert)
    truststores.upload(lab.ctx, TrustStore.TOMCAT, cert)
    directory = load_directory(lab.ctx)
    assert directory.verify(der_of(cert)) == valid(CCM, Role.APP_SERVER)
    entry = directory.lookup(der_of(cert))
    assert entry is not None
    assert set(entry.sources) == {"CallManager-trust", "tomcat-trust"}


def test_d5_an_uploaded_etoken_is_vouched_for_as_sast(lab: Lab) -> None:
    token = etoken(0x83E9080000005545AF31, slot=5)
    assert load_directory(lab.ctx).verify(der_of(token)) == Answer.invalid()  # no upload: reject
    truststores.upload(lab.ctx, TrustStore.PHONE_SAST, token, "eToken 1")
    directory = load_directory(lab.ctx)
    assert directory.verify(der_of(token)) == valid(SAST)
    # Another token with the same subject and issuer is not vouched for: the hash decides.
    twin = etoken(0x83E9080000005545AF31, slot=6)
    assert twin.subject == token.subject
    assert directory.verify(der_of(twin)) == Answer.invalid()


def test_a_name_alike_of_an_own_certificate_is_unknown(lab: Lab) -> None:
    real = current(lab.ctx, "cucm-pub", CertName.CALLMANAGER)
    fake = make_identity(real.subject, serial=real.serial_number, slot=7).certificate
    assert load_directory(lab.ctx).verify(der_of(fake)) == Answer.invalid()
    assert load_directory(lab.ctx).verify(b"not even DER") == Answer.invalid()


def test_d6_after_regeneration_and_ctl_update_the_new_signer_is_vouched_for(lab: Lab) -> None:
    lab.admin("utils ctl set-cluster mixed-mode", "y")
    old = own(lab, "cucm-pub", CertName.CALLMANAGER)
    before = load_directory(lab.ctx)
    lab.later(600)
    lab.admin("set cert regen CallManager", "yes")
    new = own(lab, "cucm-pub", CertName.CALLMANAGER)
    # Until the CTL is updated the old certificate is still in the CTL: still vouched for.
    waiting = load_directory(lab.ctx)
    assert waiting.version > before.version
    assert waiting.verify(old) == valid(SAST, CCM_TFTP)
    old_entry = waiting.lookup(old)
    assert old_entry is not None
    assert old_entry.sources == ("CTLFile.tlv",)
    lab.admin("utils ctl update CTLFile", "y")
    after = load_directory(lab.ctx)
    assert after.verify(new) == valid(SAST, CCM_TFTP)
    new_entry = after.lookup(new)
    assert new_entry is not None
    assert set(new_entry.sources) == {"cucm-pub CallManager", "CTLFile.tlv"}
    assert after.verify(old) == Answer.invalid()


def test_ctl_records_answer_their_own_roles(lab: Lab) -> None:
    lab.admin("utils ctl set-cluster mixed-mode", "y")
    directory = load_directory(lab.ctx)
    capf = directory.lookup(own(lab, "cucm-pub", CertName.CAPF))
    assert capf is not None
    assert set(capf.sources) == {"cucm-pub CAPF", "CTLFile.tlv"}
    assert capf.roles == {Role.CAPF}


def test_ttl_comes_from_the_enterprise_parameter(lab: Lab) -> None:
    assert load_directory(lab.ctx).ttl == DEFAULT_TTL == 86_400
    inventory.set_param(lab.ctx, P.TVS_TTL, "3600")
    directory = load_directory(lab.ctx)
    assert directory.ttl == 3600
    assert directory.verify(own(lab, "cucm-pub", CertName.TVS)) == valid(Role.TVS, ttl=3600)


def test_tvs_identity_is_the_node_s_current_tvs_certificate_and_key(lab: Lab) -> None:
    cert, key = tvs_identity(lab.ctx, "cucm-sub1")
    assert cert == current(lab.ctx, "cucm-sub1", CertName.TVS)
    assert isinstance(key, rsa.RSAPrivateKey)
    assert key.public_key() == cert.public_key()
    lab.later(600)
    lab.admin("set cert regen TVS", "yes", node="cucm-sub1")
    regenerated, _ = tvs_identity(lab.ctx, "cucm-sub1")
    assert regenerated != cert
    with pytest.raises(LocalError, match="no TVS certificate"):
        tvs_identity(lab.ctx, "nosuch")


def test_a_directory_is_immutable_and_built_by_hash() -> None:
    a, b = b"certificate a", b"certificate b"
    directory = TvsDirectory.build([(a, [0], "x"), (a, [2], "y"), (b, [21], "x")], ttl=5)
    assert len(directory) == 2
    assert directory.verify(a) == Answer(True, (0, 2), 5)
    assert directory.verify(b"certificate c") == Answer.invalid()
    with pytest.raises(TypeError):
        directory.entries[hashlib.sha256(b).digest()] = directory.entries[  # type: ignore[index]
            hashlib.sha256(a).digest()
        ]
    assert TvsDirectory().verify(a) == Answer.invalid()

"""eTokens over PKCS#11, against real SoftHSM tokens (D3)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.serialization import Encoding

from phonetrust.errors import KeyMaterialError, LocalError
from phonetrust.formats import legacy, names
from phonetrust.formats.algorithms import Digest
from phonetrust.formats.record import ETOKEN_DNS_NAME, Record
from phonetrust.formats.tags import Role
from phonetrust.formats.trustlist import TrustList, build_trust_list
from phonetrust.pki.etoken import (
    TokenError,
    TokenInfo,
    WrongTokenPassword,
    list_tokens,
    login,
    module_path,
    open_library,
)
from phonetrust.policy.trustlists import NO_ADDRESS
from phonetrust.testing.softhsm import SoftHsm, softhsm_available, softhsm_tokens

pytestmark = pytest.mark.skipif(not softhsm_available(), reason="SoftHSM is not installed")


@pytest.fixture(scope="module")
def hsm() -> Iterator[SoftHsm]:
    with softhsm_tokens(2) as made:
        yield made


@pytest.fixture
def tokens(hsm: SoftHsm) -> list[TokenInfo]:
    return hsm.token_infos()


def test_list_tokens_reads_each_token_certificate(hsm: SoftHsm) -> None:
    listed = {t.serial: t for t in list_tokens(hsm.library())}
    assert set(listed) == {t.serial for t in hsm.tokens}
    for made in hsm.tokens:
        info = listed[made.serial]
        assert info.label == made.label
        assert info.certificate == made.certificate.public_bytes(Encoding.DER)
        cert = info.x509_certificate()
        assert names.cucm_name(cert.issuer) == "CN=Cisco Manufacturing CA;O=Cisco Systems"
        assert names.cucm_name(cert.subject) == (
            f"CN=SAST-ADN{made.serial[-8:]} ;OU=IPCBU;O=Cisco Systems, Inc."
        )
        assert len(names.serial_bytes(cert.serial_number)) == 10
        key = cert.public_key()
        assert isinstance(key, rsa.RSAPublicKey)
        assert key.key_size == 1024


def test_the_fake_manufacturing_ca_signed_the_token_certificates(hsm: SoftHsm) -> None:
    ca_key = hsm.ca_certificate.public_key()
    assert isinstance(ca_key, rsa.RSAPublicKey)
    for made in hsm.tokens:
        cert = made.certificate
        assert cert.signature_hash_algorithm is not None
        ca_key.verify(
            cert.signature, cert.tbs_certificate_bytes, padding.PKCS1v15(),
            cert.signature_hash_algorithm,
        )  # fmt: skip


@pytest.mark.parametrize(
    ("digest", "algorithm"), [(Digest.SHA1, legacy.sha1_hash()), (Digest.SHA512, hashes.SHA512())]
)
def test_the_token_signs_and_the_certificate_key_verifies(
    hsm: SoftHsm, tokens: list[TokenInfo], digest: Digest, algorithm: hashes.HashAlgorithm
) -> None:
    data = b"CTLFile.tlv header and records"
    with login(tokens[0], hsm.tokens[0].pin) as session:
        assert session.key.key_size == 1024
        assert session.certificate == hsm.tokens[0].certificate
        signature = session.key.sign(data, digest)
    key = hsm.tokens[0].certificate.public_key()
    assert isinstance(key, rsa.RSAPublicKey)
    key.verify(signature, data, padding.PKCS1v15(), algorithm)
    other = hsm.tokens[1].certificate.public_key()
    assert isinstance(other, rsa.RSAPublicKey)
    with pytest.raises(InvalidSignature):
        other.verify(signature, data, padding.PKCS1v15(), algorithm)


def test_a_wrong_password_is_a_typed_local_error(tokens: list[TokenInfo]) -> None:
    with pytest.raises(WrongTokenPassword, match="password is incorrect") as caught:
        login(tokens[0], "not-the-password")
    assert isinstance(caught.value, LocalError)


def test_a_ctl_signed_in_the_token_verifies(hsm: SoftHsm, tokens: list[TokenInfo]) -> None:
    backup = hsm.tokens[1].certificate
    with login(tokens[0], hsm.tokens[0].pin) as session:
        signer = session.signer()
        records = [
            Record.from_certificate(
                cert, Role.SAST, dns_name=ETOKEN_DNS_NAME, ip_address=NO_ADDRESS
            )
            for cert in (signer.certificate, backup)
        ]
        built = build_trust_list(
            signer, records, filename="CTLFile.tlv", timestamp=1_425_667_993, digest=Digest.SHA512
        )
    ctl = TrustList.from_wire(built.to_wire())
    outcome = ctl.verify()
    assert outcome.verified, outcome.reason
    assert outcome.signer_record == 0
    assert ctl.records[0].matches_certificate(tokens[0].certificate or b"")
    assert ctl.header.signer_serial == names.serial_bytes(signer.certificate.serial_number)
    assert not ctl.verify_with(backup.public_key()).verified


def test_a_token_without_certificate_cannot_be_used(tokens: list[TokenInfo]) -> None:
    bare = TokenInfo("blank", "0000", None, tokens[0].handle)
    with pytest.raises(KeyMaterialError, match="holds no certificate"):
        bare.x509_certificate()


def test_a_missing_module_is_a_token_error() -> None:
    with pytest.raises(TokenError, match="PKCS#11"):
        open_library("/nonexistent/libnothing.so")


def test_module_path_prefers_argument_then_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PHONETRUST_PKCS11_MODULE", "/opt/etoken/libeToken.so")
    assert module_path() == "/opt/etoken/libeToken.so"
    assert module_path("/x.so") == "/x.so"
    monkeypatch.delenv("PHONETRUST_PKCS11_MODULE")
    assert module_path() == "/usr/lib/softhsm/libsofthsm2.so"


def test_the_helper_restores_the_environment(hsm: SoftHsm, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOFTHSM2_CONF", "/somewhere/else.conf")
    with softhsm_tokens(1) as made:
        assert [t.label for t in made.token_infos()] == ["eToken1"]
        directory = made.directory
    assert os.environ["SOFTHSM2_CONF"] == "/somewhere/else.conf"
    assert not directory.exists()
    # The enclosing block's tokens are usable again (the module is re-initialised on demand).
    monkeypatch.undo()
    with login(hsm.token_infos()[1], hsm.tokens[1].pin) as session:
        assert session.certificate == hsm.tokens[1].certificate

"""Key material and trust files shared by the CLI tests, made once per session (per worker)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from phonetrust.pki.pem import to_pem
from phonetrust.pki.selfsigned import Organisation
from phonetrust.testing.pki import make_identity, plain_name
from tests.cli.helpers import (
    CONFIG,
    CTL_DNS,
    CTL_IP,
    SIGNER_DNS,
    SIGNER_IP,
    SIGNER_SERIAL,
    TIMESTAMP,
    Built,
    Pki,
    executable,
    run,
)


@pytest.fixture(scope="session", autouse=True)
def installed_command() -> str:
    """Fail every CLI test at once, clearly, when the console script is not on PATH."""
    return executable()


def _ec_pem() -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    name = plain_name("ec-signer")
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(0x1234)
        .not_valid_before(datetime(2025, 1, 1, tzinfo=UTC))
        .not_valid_after(datetime(2035, 1, 1, tzinfo=UTC))
        .sign(key, hashes.SHA256())
    )
    return to_pem(cert, key)


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    directory = tmp_path_factory.mktemp("pki")
    org = Organisation()
    signer = make_identity(org.name("cucm-pub"), serial=SIGNER_SERIAL, slot=0)
    ccm = make_identity(org.name("cucm-sub1"), slot=1)
    device = make_identity(plain_name("SEP001122334455"), slot=2)
    other = make_identity(plain_name("SEP00AABBCCDDEE"), slot=3)

    def put(name: str, data: bytes) -> Path:
        path = directory / name
        path.write_bytes(data)
        return path

    key_only = to_pem(device.certificate, device.key).split(b"-----END CERTIFICATE-----\n")[1]
    return Pki(
        directory=directory,
        signer=signer,
        ccm=ccm,
        device=device,
        other=other,
        signer_pem=put("CallManager.pem", to_pem(signer.certificate, signer.key)),
        signer_cert=put("CallManager-cert.pem", to_pem(signer.certificate)),
        ccm_cert=put("sub1.pem", to_pem(ccm.certificate)),
        device_cert=put("phone-cert.pem", to_pem(device.certificate)),
        device_key=put("phone-key.pem", key_only),
        other_pem=put("other-phone.pem", to_pem(other.certificate, other.key)),
        ec_pem=put("ec.pem", _ec_pem()),
        mismatched_pem=put("mismatched.pem", to_pem(signer.certificate, ccm.key)),
        not_pem=put("notes.txt", b"this is not PEM at all\n"),
    )


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory, pki: Pki) -> Built:
    directory = tmp_path_factory.mktemp("built")
    ctl = directory / "CTLFile.tlv"
    run(
        "file",
        "build",
        ctl,
        "--signer",
        pki.signer_pem,
        "--signer-dns",
        SIGNER_DNS,
        "--signer-ip",
        str(SIGNER_IP),
        "--record",
        f"CCM+TFTP={pki.ccm_cert},dns={CTL_DNS},ip={CTL_IP}",
        "--timestamp",
        str(TIMESTAMP),
    ).ok()
    itl = directory / "ITLFile.tlv"
    run(
        "file",
        "build",
        itl,
        "--signer",
        pki.signer_pem,
        "--record",
        f"CCM+TFTP={pki.signer_pem}",
        "--record",
        f"TVS={pki.ccm_cert},hash-only",
        "--timestamp",
        str(TIMESTAMP),
    ).ok()
    signed_dir = directory / "signed"
    signed_dir.mkdir()
    config = signed_dir / "SEP001122334455.cnf.xml"
    config.write_bytes(CONFIG)
    run("file", "sign", config, "--signer", pki.signer_pem, "--timestamp", str(TIMESTAMP)).ok()
    encrypted_dir = directory / "encrypted"
    encrypted_dir.mkdir()
    plain = encrypted_dir / config.name
    plain.write_bytes(CONFIG)
    run(
        "file",
        "encrypt",
        plain,
        "--signer",
        pki.signer_pem,
        "--device-cert",
        pki.device_cert,
        "--timestamp",
        str(TIMESTAMP),
    ).ok()
    return Built(
        directory=directory,
        ctl=ctl,
        itl=itl,
        config=config,
        sgn=signed_dir / f"{config.name}.sgn",
        enc=encrypted_dir / f"{config.name}.enc.sgn",
        stub=encrypted_dir / f"{config.name}.sgn",
    )

"""``phonetrust file sign / encrypt / decrypt``: outputs, round trips, atomic failures."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from phonetrust.formats.sgn import SignedFile
from tests.cli.helpers import (
    CONFIG,
    Built,
    Pki,
    der,
    md5_hex,
    run,
    show_json,
    snapshot,
    summary,
    temp_files,
)


def config_in(directory: Path, content: bytes = CONFIG) -> Path:
    path = directory / "SEP001122334455.cnf.xml"
    path.write_bytes(content)
    return path


def body_of(signed: Path) -> bytes:
    """What a .sgn carries after its header (read in-process: only the output is under test)."""
    return SignedFile.from_wire(signed.read_bytes()).content


# -- sign -----------------------------------------------------------------------------


def test_sign_writes_path_sgn_holding_the_file(pki: Pki, tmp_path: Path) -> None:
    config = config_in(tmp_path)
    result = run("file", "sign", config, "--signer", pki.signer_pem).ok()
    sgn = tmp_path / f"{config.name}.sgn"
    assert result.stdout == f"Wrote {sgn}.\n"
    assert sgn.read_bytes().endswith(CONFIG)
    assert body_of(sgn) == CONFIG
    data = show_json(sgn, "--cert", pki.signer_cert)
    assert (data["kind"], data["digest"], data["filename"]) == ("sgn", "sha1", sgn.name)
    assert data["verified"] is True
    assert config.read_bytes() == CONFIG
    assert temp_files(tmp_path) == []


def test_sign_with_sha512_and_a_timestamp(pki: Pki, tmp_path: Path) -> None:
    config = config_in(tmp_path)
    run(
        "file", "sign", config, "--signer", pki.signer_pem, "--digest", "sha512", "--timestamp", "7"
    ).ok()
    data = summary(tmp_path / f"{config.name}.sgn", pki.signer.certificate)
    assert (data["digest"], data["timestamp"], data["verified"]) == ("sha512", 7, True)


def test_sign_any_bytes(pki: Pki, tmp_path: Path) -> None:
    blob = tmp_path / "firmware.bin"
    content = bytes(range(256)) * 3 + b"\0"
    blob.write_bytes(content)
    run("file", "sign", blob, "--signer", pki.signer_pem).ok()
    assert body_of(tmp_path / "firmware.bin.sgn") == content


@pytest.mark.parametrize(
    ("signer", "message"),
    [
        ("cert", "no private key found"),
        ("ec", "not RSA"),
        ("missing", "No such file or directory"),
    ],
)
def test_sign_failures_leave_an_existing_sgn_intact(
    pki: Pki, tmp_path: Path, signer: str, message: str
) -> None:
    pem = {"cert": pki.signer_cert, "ec": pki.ec_pem}.get(signer, tmp_path / "absent.pem")
    config = config_in(tmp_path)
    (tmp_path / f"{config.name}.sgn").write_bytes(b"the signed file in service")
    before = snapshot(tmp_path)
    run("file", "sign", config, "--signer", pem).failure(str(pem), message)
    assert snapshot(tmp_path) == before


def test_sign_usage_errors(pki: Pki, tmp_path: Path) -> None:
    config = config_in(tmp_path)
    run("file", "sign", config, "--signer", pki.signer_pem, "--digest", "md5").usage_error(
        "--digest"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == [config.name]


# -- encrypt ------------------------------------------------------------------------------


def test_encrypt_writes_enc_sgn_and_the_signed_stub(built: Built, pki: Pki) -> None:
    data = summary(built.enc, pki.signer.certificate)
    assert (data["kind"], data["filename"], data["verified"]) == ("enc.sgn", built.enc.name, True)
    assert CONFIG not in built.enc.read_bytes()
    assert b"phoneLabel" not in built.enc.read_bytes()

    stub = body_of(built.stub).decode()
    stub_summary = summary(built.stub, pki.signer.certificate)
    assert (stub_summary["filename"], stub_summary["verified"]) == (built.stub.name, True)
    assert stub.startswith('<?xml version="1.0" encoding="UTF-8"?>\n<device>\n')
    for line in (
        "  <fullConfig>false</fullConfig>",
        "  <ipAddressMode>0</ipAddressMode>",
        "  <loadInformation>SIP88xx.14-2-1-0001-14</loadInformation>",
        f"  <certHash>{md5_hex(der(pki.device.certificate))}</certHash>",
        "  <encrConfig>true</encrConfig>",
    ):
        assert line in stub.splitlines(), line
    assert stub.endswith("</device>\n")
    # The stub keeps only what a phone needs before it can decrypt.
    assert "phoneLabel" not in stub


def test_encrypt_prints_what_it_wrote(pki: Pki, tmp_path: Path) -> None:
    config = config_in(tmp_path)
    out = run(
        "file", "encrypt", config, "--signer", pki.signer_pem, "--device-cert", pki.device_cert
    ).ok()
    enc, stub = tmp_path / f"{config.name}.enc.sgn", tmp_path / f"{config.name}.sgn"
    assert out.stdout == f"Wrote {enc} and its stub {stub}.\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([config.name, enc.name, stub.name])


@pytest.mark.parametrize(
    ("option", "which", "message"),
    [
        ("--device-cert", "ec", "needs an RSA device certificate"),
        ("--device-cert", "key-only", "no certificate found"),
        ("--device-cert", "missing", "No such file or directory"),
        ("--signer", "ec", "not RSA"),
        ("--signer", "cert", "no private key found"),
    ],
)
def test_encrypt_failures_write_neither_file(
    pki: Pki, tmp_path: Path, option: str, which: str, message: str
) -> None:
    pem = {"ec": pki.ec_pem, "key-only": pki.device_key, "cert": pki.signer_cert}.get(
        which, tmp_path / "absent.pem"
    )
    options = {"--signer": pki.signer_pem, "--device-cert": pki.device_cert, option: pem}
    config = config_in(tmp_path)
    result = run("file", "encrypt", config, *(x for kv in options.items() for x in kv))
    result.failure(str(pem), message)
    assert sorted(p.name for p in tmp_path.iterdir()) == [config.name]


def test_encrypt_is_all_or_nothing(pki: Pki, tmp_path: Path) -> None:
    """When the stub cannot be written, the .enc.sgn is not written either."""
    config = config_in(tmp_path)
    (tmp_path / f"{config.name}.sgn").mkdir()
    old_enc = tmp_path / f"{config.name}.enc.sgn"
    old_enc.write_bytes(b"the encrypted file in service")
    before = snapshot(tmp_path)
    run(
        "file", "encrypt", config, "--signer", pki.signer_pem, "--device-cert", pki.device_cert
    ).failure(f"{config.name}.sgn", "is a directory")
    assert snapshot(tmp_path) == before
    assert temp_files(tmp_path) == []


# -- decrypt ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(CONFIG, id="config"),
        pytest.param(b"", id="empty"),
        pytest.param(b"0123456789abcdef", id="one-block"),
        pytest.param(bytes(range(256)), id="binary"),
    ],
)
def test_encrypt_then_decrypt_gives_the_original_bytes(
    pki: Pki, tmp_path: Path, content: bytes
) -> None:
    config = config_in(tmp_path, content)
    run(
        "file", "encrypt", config, "--signer", pki.signer_pem, "--device-cert", pki.device_cert
    ).ok()
    config.unlink()
    enc = tmp_path / f"{config.name}.enc.sgn"
    result = run("file", "decrypt", enc, "--device-key", pki.device_key).ok()
    assert result.stdout == f"Wrote {config} ({len(content)} bytes).\n"
    assert config.read_bytes() == content
    assert temp_files(tmp_path) == []


def test_decrypt_to_output_after_checking_the_signature(
    built: Built, pki: Pki, tmp_path: Path
) -> None:
    out = tmp_path / "plain.xml"
    run(
        "file",
        "decrypt",
        built.enc,
        "--device-key",
        pki.device_key,
        "--cert",
        pki.signer_cert,
        "-o",
        out,
    ).ok()
    assert out.read_bytes() == CONFIG

    wrong = run(
        "file",
        "decrypt",
        built.enc,
        "--device-key",
        pki.device_key,
        "--cert",
        pki.ccm_cert,
        "--output",
        tmp_path / "other.xml",
    )
    wrong.failure(str(built.enc), f"verification failed against {pki.ccm_cert}")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plain.xml"]


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("other", "cannot decrypt"),
        ("ec", "RSA private key"),
        ("cert-only", "no private key found"),
        ("missing", "No such file or directory"),
    ],
)
def test_decrypt_with_an_unusable_key_leaves_the_output_intact(
    built: Built, pki: Pki, tmp_path: Path, key: str, message: str
) -> None:
    pem = {"other": pki.other_pem, "ec": pki.ec_pem, "cert-only": pki.device_cert}.get(
        key, tmp_path / "absent.pem"
    )
    enc = tmp_path / built.enc.name
    shutil.copyfile(built.enc, enc)
    plain = tmp_path / built.config.name
    plain.write_bytes(b"the plaintext from before")
    before = snapshot(tmp_path)
    run("file", "decrypt", enc, "--device-key", pem).failure(str(pem), message)
    assert snapshot(tmp_path) == before


def test_decrypt_refuses_what_is_not_enc_sgn(built: Built, pki: Pki, tmp_path: Path) -> None:
    sgn = tmp_path / "SEP1.cnf.xml.enc.sgn"
    shutil.copyfile(built.sgn, sgn)
    run("file", "decrypt", sgn, "--device-key", pki.device_key).failure(
        str(sgn), "not a .enc.sgn file"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == [sgn.name]


def test_decrypt_needs_an_output_name(built: Built, pki: Pki, tmp_path: Path) -> None:
    renamed = tmp_path / "encrypted.bin"
    shutil.copyfile(built.enc, renamed)
    run("file", "decrypt", renamed, "--device-key", pki.device_key).failure(
        str(renamed), ".enc.sgn", "--output"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == [renamed.name]

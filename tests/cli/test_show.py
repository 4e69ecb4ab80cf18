"""``phonetrust file show``: the listing, the JSON contract, and the exit status."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.cli.helpers import (
    CONFIG,
    CTL_DNS,
    CTL_IP,
    RECORD_KEYS,
    SIGNER_DNS,
    SIGNER_IP,
    SIGNER_KEYS,
    SIGNER_SERIAL,
    TIMESTAMP,
    TRUST_FILE_KEYS,
    Built,
    Pki,
    colon_hex,
    der,
    md5_hex,
    run,
    sha1_hex,
    show_json,
)

NOT_A_TRUST_FILE = "not a CTL, ITL, .sgn or .enc.sgn file"


def copy(source: Path, directory: Path, name: str | None = None) -> Path:
    target = directory / (name or source.name)
    shutil.copyfile(source, target)
    return target


def flip(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


# -- CTL and ITL ------------------------------------------------------------


def test_ctl_listing_is_cucm_show_ctl(built: Built) -> None:
    raw = built.ctl.read_bytes()
    out = run("file", "show", built.ctl).ok().stdout
    assert out.startswith(
        "The checksum value of the CTL file:\n"
        f"{md5_hex(raw)}(MD5)\n"
        f"{sha1_hex(raw)}(SHA1)\n"
        "\n"
        f"Length of CTL file: {len(raw)}\n"
        "The CTL File was last modified on "
    )
    for line in (
        "Parse CTL File",
        "Version: 1.2",
        "CTL Record #:1",
        "CTL Record #:2",
        "System Administrator Security Token",
        "CCM+TFTP",
        f"SERIALNUMBER\t10\t{colon_hex(SIGNER_SERIAL)}",
        f"DNSNAME\t{len(CTL_DNS) + 1}\t{CTL_DNS}",
        "This etoken was used to sign the CTL file.",
    ):
        assert line in out, line
    assert out.endswith("The CTL file was verified successfully.\n")
    assert "CTL Record #:3" not in out


def test_ctl_json_has_every_contract_key(built: Built, pki: Pki) -> None:
    raw = built.ctl.read_bytes()
    data = show_json(built.ctl)
    assert set(data) >= TRUST_FILE_KEYS
    assert data["kind"] == "ctl"
    assert data["version"] == "1.2"
    assert data["digest"] == "sha1"
    assert data["signer"] == {
        "name": pki.signer_name,
        "serial": "BD:A3:01:02:03:04:05:06:07:08",
        "issuer": pki.signer_name,
    }
    assert set(data["signer"]) >= SIGNER_KEYS
    assert data["signer_record"] == 0
    assert data["verified"] is True
    assert data["reason"] is None
    assert data["filename"] == "CTLFile.tlv"
    assert data["timestamp"] == TIMESTAMP

    records = data["records"]
    assert [r["role"] for r in records] == ["SAST", "CCM+TFTP"]
    for record in records:
        assert set(record) >= RECORD_KEYS
    own, sub = records
    assert own == {
        **own,
        "subject": pki.signer_name,
        "issuer": pki.signer_name,
        "serial": "BD:A3:01:02:03:04:05:06:07:08",
        "dns_name": SIGNER_DNS,
        "ip_address": str(SIGNER_IP),
        "certificate_sha1": sha1_hex(der(pki.signer.certificate)),
        "certificate_hash": None,
    }
    sub_name = "CN=cucm-sub1;OU=TAC;O=Cisco;L=Krakow;ST=Malopolska;C=PL"
    assert sub == {
        **sub,
        "subject": sub_name,
        "issuer": sub_name,
        "serial": colon_hex(pki.ccm.certificate.serial_number),
        "dns_name": CTL_DNS,
        "ip_address": str(CTL_IP),
        "certificate_sha1": sha1_hex(der(pki.ccm.certificate)),
        "certificate_hash": None,
    }
    # The header and the records account for every byte of the file.
    assert data["header_length"] + sum(r["length"] for r in records) == len(raw)
    assert all(isinstance(r["length"], int) and r["length"] > 0 for r in records)


def test_itl_shows_hash_only_records(built: Built, pki: Pki) -> None:
    out = run("file", "show", built.itl).ok().stdout
    assert "Parse ITL File" in out
    assert "ITL Record #:3" in out
    assert out.endswith("The ITL file was verified successfully.\n")

    data = show_json(built.itl)
    assert data["kind"] == "itl"
    assert data["signer_record"] == 0
    assert [r["role"] for r in data["records"]] == ["SAST", "CCM+TFTP", "TVS"]
    tvs = data["records"][2]
    assert tvs["certificate_sha1"] is None
    assert tvs["certificate_hash"] == sha1_hex(der(pki.ccm.certificate))
    for record in data["records"]:
        assert record["dns_name"] == ""
        assert record["ip_address"] is None


def test_kind_comes_from_the_content_not_the_name(built: Built, tmp_path: Path) -> None:
    assert show_json(copy(built.ctl, tmp_path, "ITLFile.tlv"))["kind"] == "ctl"
    assert show_json(copy(built.itl, tmp_path, "trust.bin"))["kind"] == "itl"


@pytest.mark.parametrize("where", ["record", "header", "last byte"])
def test_a_tampered_ctl_is_listed_but_exits_1(built: Built, tmp_path: Path, where: str) -> None:
    ctl = copy(built.ctl, tmp_path)
    raw = ctl.read_bytes()
    offset = {
        "record": raw.index(CTL_DNS.encode()),
        "header": raw.index(b"CTLFile.tlv"),
        "last byte": len(raw) - 1,
    }[where]
    flip(ctl, offset)

    result = run("file", "show", ctl)
    line = result.failure(str(ctl), "verification failed: the signature does not match the file")
    assert "against" not in line
    assert "Parse CTL File" in result.stdout
    assert "CTL Record #:2" in result.stdout
    assert result.stdout.endswith("Verification of the CTL File Failed\n")

    as_json = run("file", "show", ctl, "--json")
    as_json.failure("the signature does not match the file")
    data = as_json.json()
    assert data["verified"] is False
    assert data["reason"] == "the signature does not match the file"
    assert data["signer_record"] == 0


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"hello, this is text\n", id="text"),
        pytest.param(bytes(range(256)) * 4, id="binary"),
        pytest.param(None, id="truncated-ctl"),
    ],
)
@pytest.mark.parametrize("as_json", [False, True], ids=["listing", "json"])
def test_an_unparseable_file_exits_1_with_nothing_on_stdout(
    built: Built, tmp_path: Path, content: bytes | None, as_json: bool
) -> None:
    path = tmp_path / "CTLFile.tlv"
    path.write_bytes(built.ctl.read_bytes()[:-7] if content is None else content)
    result = run("file", "show", path, *(["--json"] if as_json else []))
    result.failure(str(path), NOT_A_TRUST_FILE)
    assert result.stdout == ""


def test_a_ctl_checked_against_a_certificate(built: Built, pki: Pki) -> None:
    run("file", "show", built.ctl, "--cert", pki.signer_cert).ok()
    wrong = run("file", "show", built.ctl, "--cert", pki.ccm_cert, "--json")
    wrong.failure(f"verification failed against {pki.ccm_cert}", "does not match")
    assert wrong.json()["verified"] is False


def test_a_ctl_failing_on_its_own_does_not_blame_the_certificate(
    built: Built, pki: Pki, tmp_path: Path
) -> None:
    ctl = copy(built.ctl, tmp_path)
    flip(ctl, ctl.stat().st_size - 1)
    line = run("file", "show", ctl, "--cert", pki.signer_cert).failure("verification failed: ")
    assert "against" not in line


# -- .sgn ---------------------------------------------------------------------


def test_sgn_without_cert_is_listed_but_not_verified(built: Built) -> None:
    result = run("file", "show", built.sgn)
    result.failure(str(built.sgn), "no certificate given", "--cert")
    assert "Parse SGN File" in result.stdout
    assert "Version: 1.0" in result.stdout
    assert f"Content: {len(CONFIG)} bytes" in result.stdout
    assert "The signature was not verified: no certificate was given (use --cert)." in (
        result.stdout
    )

    as_json = run("file", "show", built.sgn, "--json")
    as_json.failure("no certificate given")
    data = as_json.json()
    assert data["kind"] == "sgn"
    assert data["verified"] is False
    assert "--cert" in data["reason"]


@pytest.mark.parametrize("which", ["certificate only", "certificate and key"])
def test_sgn_with_the_signer_certificate_verifies(built: Built, pki: Pki, which: str) -> None:
    cert = pki.signer_cert if which == "certificate only" else pki.signer_pem
    out = run("file", "show", built.sgn, "--cert", cert).ok().stdout
    assert out.endswith("The SGN file was verified successfully.\n")

    data = show_json(built.sgn, "--cert", cert)
    assert set(data) >= TRUST_FILE_KEYS
    assert data["kind"] == "sgn"
    assert data["version"] == "1.0"
    assert data["digest"] == "sha1"
    assert data["signer"] == {
        "name": pki.signer_name,
        "serial": "BD:A3:01:02:03:04:05:06:07:08",
        "issuer": pki.signer_name,
    }
    assert data["records"] == []
    assert data["signer_record"] is None
    assert (data["verified"], data["reason"]) == (True, None)
    assert data["filename"] == built.sgn.name
    assert data["header_length"] + len(CONFIG) == built.sgn.stat().st_size


def test_sgn_with_another_certificate_does_not_verify(built: Built, pki: Pki) -> None:
    result = run("file", "show", built.sgn, "--cert", pki.ccm_cert)
    result.failure(f"verification failed against {pki.ccm_cert}", "not the one named in the header")
    assert "Parse SGN File" in result.stdout

    data = run("file", "show", built.sgn, "--cert", pki.ccm_cert, "--json").json()
    assert data["verified"] is False
    assert data["reason"] == "the certificate given is not the one named in the header"


def test_a_tampered_sgn_does_not_verify(built: Built, pki: Pki, tmp_path: Path) -> None:
    sgn = copy(built.sgn, tmp_path)
    flip(sgn, sgn.stat().st_size - 3)
    result = run("file", "show", sgn, "--cert", pki.signer_cert)
    result.failure("the signature does not match the file")
    assert result.stdout.endswith(
        "Verification of the SGN file failed: the signature does not match the file.\n"
    )


# -- .enc.sgn -------------------------------------------------------------------


def test_enc_sgn_is_detected_and_verified(built: Built, pki: Pki) -> None:
    out = run("file", "show", built.enc, "--cert", pki.signer_cert).ok().stdout
    assert "Parse ENC.SGN File" in out
    assert "(encrypted)" in out
    assert out.endswith("The ENC.SGN file was verified successfully.\n")

    data = show_json(built.enc, "--cert", pki.signer_cert)
    assert data["kind"] == "enc.sgn"
    assert data["version"] == "2.0"
    assert data["records"] == []
    assert (data["verified"], data["reason"], data["signer_record"]) == (True, None, None)

    unverified = run("file", "show", built.enc)
    unverified.failure("no certificate given")
    wrong = run("file", "show", built.enc, "--cert", pki.device_cert)
    wrong.failure("verification failed")


# -- inputs that cannot be used ---------------------------------------------------


def test_cert_option_errors_are_one_line(built: Built, pki: Pki, tmp_path: Path) -> None:
    missing = tmp_path / "missing.pem"
    run("file", "show", built.sgn, "--cert", missing).failure(str(missing))
    run("file", "show", built.sgn, "--cert", pki.device_key).failure(
        str(pki.device_key), "no certificate found"
    )
    run("file", "show", built.sgn, "--cert", tmp_path).failure(str(tmp_path), "is a directory")

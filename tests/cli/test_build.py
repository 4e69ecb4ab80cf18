"""``phonetrust file build``: records, roles, digests, and refusing bad input cleanly."""

from __future__ import annotations

import ipaddress
import os
import stat
from pathlib import Path

import pytest

from tests.cli.helpers import (
    Pki,
    der,
    run,
    sha1_hex,
    show_json,
    snapshot,
    summary,
    temp_files,
    umask,
)

NO_ADDRESS = str(ipaddress.IPv4Address(0))
"""What a CTL record says when given no address."""
ROLES = ("SAST", "CCM", "CCM+TFTP", "TFTP", "CAPF", "APP-SERVER", "TVS")


def test_build_puts_the_signer_record_first(pki: Pki, tmp_path: Path) -> None:
    ctl = tmp_path / "CTLFile.tlv"
    result = run(
        "file", "build", ctl, "--signer", pki.signer_pem, "--record", f"CCM={pki.ccm_cert}"
    )
    assert result.ok().stdout.startswith(f"Wrote {ctl}: CTL, 2 records")
    data = show_json(ctl)
    assert data["kind"] == "ctl"
    assert data["digest"] == "sha1"
    assert data["signer_record"] == 0
    own, ccm = data["records"]
    assert own["role"] == "SAST"
    assert own["certificate_sha1"] == sha1_hex(der(pki.signer.certificate))
    # A CTL record always carries an address; the signer's has an empty DNS name.
    assert (own["dns_name"], own["ip_address"]) == ("", NO_ADDRESS)
    assert ccm["role"] == "CCM"
    assert ccm["certificate_sha1"] == sha1_hex(der(pki.ccm.certificate))
    assert (ccm["dns_name"], ccm["ip_address"]) == ("", NO_ADDRESS)
    assert temp_files(tmp_path) == []


def test_every_role_spelling_is_accepted(pki: Pki, tmp_path: Path) -> None:
    ctl = tmp_path / "CTLFile.tlv"
    records = [f"--record={role}={pki.ccm_cert}" for role in ROLES]
    run("file", "build", ctl, "--signer", pki.signer_pem, *records).ok()
    data = summary(ctl)
    assert [r["role"] for r in data["records"]] == ["SAST", *ROLES]
    # The extra SAST record is not the signer's: the signer is still record 0.
    assert data["signer_record"] == 0


def test_role_spelling_ignores_case(pki: Pki, tmp_path: Path) -> None:
    ctl = tmp_path / "CTLFile.tlv"
    run(
        "file", "build", ctl, "--signer", pki.signer_pem, "--record", f"ccm+tftp={pki.ccm_cert}"
    ).ok()
    assert [r["role"] for r in summary(ctl)["records"]] == ["SAST", "CCM+TFTP"]


def test_no_signer_record(pki: Pki, tmp_path: Path) -> None:
    ctl = tmp_path / "CTLFile.tlv"
    run(
        "file",
        "build",
        ctl,
        "--signer",
        pki.signer_pem,
        "--no-signer-record",
        "--record",
        f"CCM+TFTP={pki.ccm_cert}",
    ).ok()
    # Nothing in the file can vouch for its signer, so show refuses it.
    result = run("file", "show", ctl, "--json")
    result.failure("verification failed", "no SAST record matches the signer")
    data = result.json()
    assert [r["role"] for r in data["records"]] == ["CCM+TFTP"]
    assert data["signer_record"] is None
    assert data["verified"] is False

    # The signer's record may come later, where the user puts it.
    later = tmp_path / "later.tlv"
    run(
        "file",
        "build",
        later,
        "--signer",
        pki.signer_pem,
        "--no-signer-record",
        "--record",
        f"CCM+TFTP={pki.ccm_cert}",
        "--record",
        f"SAST={pki.signer_cert}",
    ).ok()
    data = summary(later)
    assert [r["role"] for r in data["records"]] == ["CCM+TFTP", "SAST"]
    assert (data["signer_record"], data["verified"]) == (1, True)


def test_dns_ip_and_hash_only_records(pki: Pki, tmp_path: Path) -> None:
    ctl = tmp_path / "CTLFile.tlv"
    run(
        "file",
        "build",
        ctl,
        "--signer",
        pki.signer_pem,
        "--signer-dns",
        "cucm-pub",
        "--signer-ip",
        "10.0.0.10",
        "--record",
        f"CCM+TFTP={pki.ccm_cert},dns=cucm-sub1,ip=10.0.0.11",
        "--record",
        f"TVS={pki.device_cert},hash-only,ip=192.168.1.1",
    ).ok()
    own, sub, tvs = summary(ctl)["records"]
    assert (own["dns_name"], own["ip_address"]) == ("cucm-pub", "10.0.0.10")
    assert (sub["dns_name"], sub["ip_address"]) == ("cucm-sub1", "10.0.0.11")
    assert sub["certificate_sha1"] == sha1_hex(der(pki.ccm.certificate))
    assert sub["certificate_hash"] is None
    assert (tvs["dns_name"], tvs["ip_address"]) == ("", "192.168.1.1")
    assert tvs["certificate_sha1"] is None
    assert tvs["certificate_hash"] == sha1_hex(der(pki.device.certificate))
    assert tvs["length"] < sub["length"]


def test_itl_from_the_name_or_filename(pki: Pki, tmp_path: Path) -> None:
    itl = tmp_path / "ITLFile.tlv"
    run("file", "build", itl, "--signer", pki.signer_pem, "--record", f"TVS={pki.ccm_cert}").ok()
    data = summary(itl)
    assert data["kind"] == "itl"
    for record in data["records"]:
        assert (record["dns_name"], record["ip_address"]) == ("", None)

    renamed = tmp_path / "out.bin"
    run("file", "build", renamed, "--signer", pki.signer_pem, "--filename", "ITLSEP1.tlv").ok()
    data = summary(renamed)
    assert (data["kind"], data["filename"]) == ("itl", "ITLSEP1.tlv")


@pytest.mark.parametrize("spelling", ["sha512", "SHA512"])
def test_sha512(pki: Pki, tmp_path: Path, spelling: str) -> None:
    ctl = tmp_path / "CTLFile.tlv"
    run("file", "build", ctl, "--signer", pki.signer_pem, "--digest", spelling).ok()
    data = summary(ctl)
    assert (data["digest"], data["verified"]) == ("sha512", True)


def test_timestamp(pki: Pki, tmp_path: Path) -> None:
    ctl = tmp_path / "CTLFile.tlv"
    run("file", "build", ctl, "--signer", pki.signer_pem, "--timestamp", "1234567890").ok()
    assert summary(ctl)["timestamp"] == 1234567890


def test_new_output_follows_the_umask_and_a_replaced_one_keeps_its_mode(
    pki: Pki, tmp_path: Path
) -> None:
    fresh = tmp_path / "CTLFile.tlv"
    run("file", "build", fresh, "--signer", pki.signer_pem).ok()
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o666 & ~umask()

    existing = tmp_path / "ITLFile.tlv"
    existing.write_bytes(b"old")
    existing.chmod(0o640)
    run("file", "build", existing, "--signer", pki.signer_pem).ok()
    assert stat.S_IMODE(existing.stat().st_mode) == 0o640
    assert existing.read_bytes() != b"old"


# -- failures: one line, exit 1, nothing written ----------------------------------


def signer_cases(pki: Pki, tmp_path: Path) -> dict[str, tuple[Path, str]]:
    return {
        "missing": (tmp_path / "absent.pem", "No such file or directory"),
        "directory": (tmp_path, "is a directory"),
        "no key": (pki.signer_cert, "no private key found"),
        "no certificate": (pki.device_key, "no certificate found"),
        "EC key": (pki.ec_pem, "not RSA"),
        "key of another certificate": (pki.mismatched_pem, "does not belong"),
        "not PEM": (pki.not_pem, "no certificate or private key found"),
    }


@pytest.mark.parametrize(
    "case",
    [
        "missing",
        "directory",
        "no key",
        "no certificate",
        "EC key",
        "key of another certificate",
        "not PEM",
    ],
)
def test_an_unusable_signer_fails_cleanly(pki: Pki, tmp_path: Path, case: str) -> None:
    work = tmp_path / "work"
    work.mkdir()
    signer, message = signer_cases(pki, tmp_path)[case]
    result = run("file", "build", work / "CTLFile.tlv", "--signer", signer)
    result.failure(str(signer), message)
    assert result.stdout == ""
    assert list(work.iterdir()) == []


@pytest.mark.parametrize(
    ("record", "message"),
    [
        ("missing.pem", "No such file or directory"),
        ("key-only", "no certificate found"),
        ("not-pem", "no certificate"),
    ],
)
def test_a_failing_build_leaves_an_existing_output_intact(
    pki: Pki, tmp_path: Path, record: str, message: str
) -> None:
    pem = {"key-only": pki.device_key, "not-pem": pki.not_pem}.get(record, tmp_path / record)
    out = tmp_path / "CTLFile.tlv"
    out.write_bytes(b"the CTL in service")
    before = snapshot(tmp_path)
    result = run("file", "build", out, "--signer", pki.signer_pem, "--record", f"CCM={pem}")
    result.failure(str(pem), message)
    assert snapshot(tmp_path) == before


def test_output_errors_name_the_output(pki: Pki, tmp_path: Path) -> None:
    run("file", "build", tmp_path, "--signer", pki.signer_pem).failure(
        str(tmp_path), "is a directory"
    )
    nowhere = tmp_path / "no-such-dir" / "CTLFile.tlv"
    line = run("file", "build", nowhere, "--signer", pki.signer_pem).failure(str(nowhere))
    assert ".tmp" not in line
    assert sorted(p.name for p in tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (("--record", "CCM"), "expected ROLE=PEM"),
        (("--record", "CCM="), "expected ROLE=PEM"),
        (("--record", "BOSS={pem}"), "unknown role 'BOSS'"),
        (("--record", "CCM={pem},ip=10.0.0"), "'10.0.0' is not an IPv4 address"),
        (("--record", "CCM={pem},colour=blue"), "unknown record option 'colour=blue'"),
        (("--record", "CCM={pem},hash-only=yes"), "unknown record option"),
        (("--digest", "md5"), "'md5' is not one of 'sha1', 'sha512'"),
        (("--digest", "sha256"), "'sha256' is not one of"),
        (("--signer-ip", "10.0.0.300"), "not an IPv4 address"),
        (("--timestamp", "-1"), "--timestamp"),
        (("--timestamp", "4294967296"), "--timestamp"),
        (("--timestamp", "now"), "--timestamp"),
        (("--frobnicate",), "No such option '--frobnicate'"),
    ],
)
def test_usage_errors_exit_2_and_write_nothing(
    pki: Pki, tmp_path: Path, args: tuple[str, ...], fragment: str
) -> None:
    out = tmp_path / "CTLFile.tlv"
    out.write_bytes(b"old")
    filled = [a.format(pem=pki.ccm_cert) for a in args]
    run("file", "build", out, "--signer", pki.signer_pem, *filled).usage_error(fragment)
    assert out.read_bytes() == b"old"
    assert sorted(os.listdir(tmp_path)) == ["CTLFile.tlv"]


def test_missing_signer_option_is_a_usage_error(tmp_path: Path) -> None:
    run("file", "build", tmp_path / "CTLFile.tlv").usage_error("Missing option '--signer'")
    assert list(tmp_path.iterdir()) == []

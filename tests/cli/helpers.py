"""Running the installed ``phonetrust`` command, and what every CLI test checks about it.

The tests run the console script the checkout installed, in a subprocess,
exactly as an administrator would: exit status, stdout and stderr are the
contract, not click's in-process runner.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from phonetrust.formats.detect import parse_any
from phonetrust.formats.summary import summarise
from phonetrust.formats.trustlist import TrustList
from phonetrust.testing.pki import Identity

SIGNER_SERIAL = 0xBDA3_0102_0304_0506_0708
"""Ten bytes with the top bit set: shown as BD:A3:..., without DER's sign byte."""
TIMESTAMP = 1_700_000_000
CONFIG = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n'
    b"<device>\n"
    b"  <ipAddressMode>0</ipAddressMode>\n"
    b"  <loadInformation>SIP88xx.14-2-1-0001-14</loadInformation>\n"
    b"  <sipProfile><phoneLabel>secret</phoneLabel></sipProfile>\n"
    b"</device>\n"
)
CTL_DNS = "cucm-sub1"
CTL_IP = ipaddress.IPv4Address("10.0.0.11")
SIGNER_DNS = "cucm-pub"
SIGNER_IP = ipaddress.IPv4Address("10.0.0.10")

TIMEOUT = 120
"""Seconds one command may take; the slowest (``demo``) needs about one."""

TRUST_FILE_KEYS = frozenset(
    {
        "kind",
        "version",
        "header_length",
        "digest",
        "signer",
        "records",
        "signer_record",
        "verified",
        "reason",
    }
)
SIGNER_KEYS = frozenset({"name", "serial", "issuer"})
RECORD_KEYS = frozenset(
    {
        "role",
        "subject",
        "issuer",
        "serial",
        "dns_name",
        "ip_address",
        "certificate_sha1",
        "certificate_hash",
        "length",
    }
)


def executable() -> str:
    """The installed console script; the test command puts the checkout's venv first on PATH."""
    found = shutil.which("phonetrust")
    assert found is not None, "phonetrust is not on PATH: run with .venv/bin first on PATH"
    return found


@dataclass(frozen=True)
class Result:
    """What one run of the command left: its exit status and both streams."""

    args: tuple[str, ...]
    code: int
    stdout: str
    stderr: str

    def __str__(self) -> str:
        return (
            f"phonetrust {' '.join(self.args)} -> {self.code}\n"
            f"--- stdout\n{self.stdout}--- stderr\n{self.stderr}"
        )

    def ok(self) -> Result:
        """Assert success with nothing on stderr; returns self for chaining."""
        assert self.code == 0, str(self)
        assert self.stderr == "", str(self)
        return self

    def json(self) -> dict[str, Any]:
        data = json.loads(self.stdout)
        assert isinstance(data, dict), str(self)
        return data

    def failure(self, *fragments: str) -> str:
        """Assert exit 1 with one clear line on stderr containing every fragment; return it."""
        assert self.code == 1, str(self)
        line = one_clear_line(self)
        for fragment in fragments:
            assert fragment in line, f"{fragment!r} not in {line!r}\n{self}"
        return line

    def usage_error(self, *fragments: str) -> None:
        """Assert exit 2 (click's usage error) naming the problem, without a traceback."""
        assert self.code == 2, str(self)
        assert "Traceback" not in self.stderr, str(self)
        assert "Usage: phonetrust" in self.stderr, str(self)
        assert self.stdout == "", str(self)
        for fragment in fragments:
            assert fragment in self.stderr, f"{fragment!r} not in stderr\n{self}"


def one_clear_line(result: Result) -> str:
    """Exactly one non-empty stderr line, an ``Error:`` line, and no traceback."""
    assert "Traceback" not in result.stderr, str(result)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, str(result)
    assert lines[0].startswith("Error: "), str(result)
    return lines[0]


def run(*args: str | Path, cwd: Path | None = None) -> Result:
    """Run ``phonetrust ARGS...`` and capture everything it printed."""
    text_args = tuple(str(a) for a in args)
    done = subprocess.run(
        [executable(), *text_args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=TIMEOUT,
        check=False,
    )
    return Result(text_args, done.returncode, done.stdout, done.stderr)


def show_json(path: Path, *extra: str | Path) -> dict[str, Any]:
    """``file show --json`` of a file that must parse and verify."""
    return run("file", "show", path, "--json", *extra).ok().json()


def summary(path: Path, certificate: x509.Certificate | None = None) -> dict[str, Any]:
    """What ``file show --json`` prints for ``path``, computed in-process.

    For checking what build/sign/encrypt wrote without paying for a second
    process; ``show`` itself is tested through the command.
    """
    raw = path.read_bytes()
    item = parse_any(raw)
    if isinstance(item, TrustList):
        verification = item.verify()
    else:
        assert certificate is not None, "a .sgn or .enc.sgn is verified against a certificate"
        verification = item.verify(certificate)
    data = json.loads(json.dumps(summarise(item, raw, verification)))
    assert isinstance(data, dict)
    return data


def temp_files(directory: Path) -> list[str]:
    """Names an interrupted atomic write would leave behind (``.NAME.xxxx.tmp``)."""
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".tmp"))


def snapshot(directory: Path) -> dict[str, bytes | None]:
    """Every entry of ``directory`` and, for files, its bytes: to compare before and after."""
    out: dict[str, bytes | None] = {}
    for entry in sorted(directory.iterdir()):
        is_file = entry.is_file() and not entry.is_symlink()
        out[entry.name] = entry.read_bytes() if is_file else None
    return out


def der(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.DER)


def sha1_hex(data: bytes) -> str:
    return hashlib.sha1(data).hexdigest()


def md5_hex(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def colon_hex(value: int) -> str:
    """A serial as ``show`` prints it: minimal big-endian bytes, upper-case, colon separated."""
    raw = value.to_bytes(max(1, (value.bit_length() + 7) // 8), "big")
    return ":".join(f"{b:02X}" for b in raw)


def umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@dataclass(frozen=True)
class Pki:
    """Key material on disk, in every shape the commands must accept or refuse."""

    directory: Path
    signer: Identity
    ccm: Identity
    device: Identity
    other: Identity
    signer_pem: Path
    """Certificate and key: what --signer takes."""
    signer_cert: Path
    """Certificate only: a signer PEM without a key."""
    ccm_cert: Path
    device_cert: Path
    device_key: Path
    """Key only."""
    other_pem: Path
    """Certificate and key of an unrelated identity: the wrong device key."""
    ec_pem: Path
    """An EC certificate and key: a non-RSA signer, a non-RSA device."""
    mismatched_pem: Path
    """The signer's certificate with another identity's key."""
    not_pem: Path

    @property
    def signer_name(self) -> str:
        return "CN=cucm-pub;OU=TAC;O=Cisco;L=Krakow;ST=Malopolska;C=PL"


@dataclass(frozen=True)
class Built:
    """Files the commands made once per test session, to read (copy before changing)."""

    directory: Path
    ctl: Path
    itl: Path
    config: Path
    """A phone configuration in plain text."""
    sgn: Path
    """``config`` signed by the signer (``file sign``)."""
    enc: Path
    """``config`` encrypted for the device (``file encrypt``)."""
    stub: Path
    """The signed stub ``file encrypt`` wrote beside ``enc``."""

"""The cluster commands through the installed script: init, admin (-c, piped, a real terminal),
devices and parameters, backup and restore, and the same cluster on PostgreSQL."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

from phonetrust.policy.domain import CertName
from phonetrust.store.datadir import DataDir
from phonetrust.store.sql import open_repository
from phonetrust.testing.postgres import create_schema, running_postgres
from tests.cli.helpers import TIMEOUT, Result, executable

PASSWORD = "Lab-Security-1"  # noqa: S105 - the test cluster's security password


def phonetrust(
    data: Path, *args: str, stdin: str = "", env: dict[str, str] | None = None
) -> Result:
    environment = {
        **os.environ,
        "PHONETRUST_DATA": str(data),
        "PHONETRUST_SECURITY_PASSWORD": PASSWORD,
    }
    environment.update(env or {})
    done = subprocess.run(
        [executable(), *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=environment,
        timeout=TIMEOUT,
        check=False,
    )
    return Result(tuple(args), done.returncode, done.stdout, done.stderr)


def init_args(*extra: str) -> list[str]:
    return [
        "cluster",
        "init",
        "--publisher",
        "cucm-pub",
        "--ip",
        "10.1.1.10",
        "--domain",
        "lab.local",
        "--subscriber",
        "cucm-sub=10.1.1.11",
        *extra,
    ]


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cluster") / "data"
    result = phonetrust(root, *init_args())
    assert result.code == 0, str(result)
    assert "Cluster 'phonetrust' created" in result.stdout
    return root


def private_key_forms(key: PrivateKeyTypes) -> dict[str, bytes]:
    """The ways a private key could be written down: DER and PEM, PKCS#8 and the traditional
    form (PKCS#1 for RSA, SEC 1 for EC), and the secret number itself."""
    none, encodings = serialization.NoEncryption(), serialization.Encoding
    formats = serialization.PrivateFormat
    forms = {
        f"{name} {fmt}": key.private_bytes(encoding, form, none)
        for name, encoding in (("DER", encodings.DER), ("PEM", encodings.PEM))
        for fmt, form in (("PKCS#8", formats.PKCS8), ("traditional", formats.TraditionalOpenSSL))
    }
    if isinstance(key, rsa.RSAPrivateKey):
        p = key.private_numbers().p
        forms["RSA prime p"] = p.to_bytes((p.bit_length() + 7) // 8, "big")
    elif isinstance(key, ec.EllipticCurvePrivateKey):
        value = key.private_numbers().private_value
        forms["EC private value"] = value.to_bytes((key.curve.key_size + 7) // 8, "big")
    return forms


def test_data_directory_and_keys_are_private(data: Path) -> None:
    assert (data.stat().st_mode & 0o077) == 0
    files = [p for p in data.iterdir() if p.is_file()]
    assert {"master.key", "node", "phonetrust.db"} <= {p.name for p in files}
    assert all((p.stat().st_mode & 0o077) == 0 for p in files)  # the database too (-wal, -shm)
    where = DataDir.locate(data)
    repo = open_repository(where.db_url)
    try:
        now = datetime.now(UTC)
        keys = where.keystore(repo, where.cluster_key(repo, now))
        with repo.unit_of_work() as uow:
            sealed = uow.list_sealed_keys()
            certificates = [
                cert.der
                for node in uow.list_nodes()
                for name in CertName
                for cert in uow.certificate_history(node.host, name)
            ]
            private = [keys.get(der, uow) for der in certificates if keys.has(der, uow)]
    finally:
        repo.close()
    assert len(sealed) == 12  # six certificates on each of two nodes, sealed in the database
    assert len(private) == 12
    # No key, in any form, in any file of the data directory: the SQLite file (and its
    # -wal, -shm) included. Only sealed keys are stored.
    stored = {path: path.read_bytes() for path in sorted(data.rglob("*")) if path.is_file()}
    for key in private:
        for form, blob in private_key_forms(key).items():
            found = [path.name for path, content in stored.items() if blob in content]
            assert not found, f"a private key ({form}) is stored in the clear in {found}"


def test_show_itl_through_admin_c(data: Path) -> None:
    result = phonetrust(data, "admin", "-c", "show itl").ok()
    assert "Parse ITL File" in result.stdout
    assert result.stdout.rstrip().endswith("The ITL file was verified successfully.")


def test_a_publisher_command_on_a_subscriber_fails_on_one_line(data: Path) -> None:
    result = phonetrust(data, "admin", "--node", "cucm-sub", "-c", "utils itl reset localkey")
    result.failure("utils itl reset can only be run on the publisher node")


def test_piped_commands_read_their_answers_from_the_following_lines(data: Path) -> None:
    script = "show ctl\nutils ctl set-cluster mixed-mode\ny\nshow ctl\n"
    result = phonetrust(data, "admin", stdin=script).ok()
    transcript = result.stdout
    assert transcript.startswith("admin:show ctl\nLength of CTL file: 0\n")
    assert "(y/n):y\nMoving Cluster to Mixed Mode\nCluster set to Mixed Mode" in transcript
    assert transcript.rstrip().endswith("The CTL file was verified successfully.")
    phonetrust(data, "cluster", "show").ok()


def test_a_failing_piped_command_makes_the_run_fail(data: Path) -> None:
    result = phonetrust(data, "admin", stdin="show nonsense\nshow itl\n")
    assert 'Invalid command: "show nonsense"' in result.stdout
    assert "Parse ITL File" in result.stdout  # the next command still ran
    result.failure("some commands failed")


def test_interactive_shell_on_a_real_terminal(data: Path) -> None:
    env = {**os.environ, "PHONETRUST_DATA": str(data), "PHONETRUST_SECURITY_PASSWORD": PASSWORD}
    pid, fd = pty.fork()
    if pid == 0:  # pragma: no cover - the child becomes the program
        os.execve(executable(), ["phonetrust", "admin"], env)  # noqa: S606 - no shell wanted
    try:
        seen = _read_until(fd, b"admin:")
        os.write(fd, b"show cert list own\r")
        seen += _read_until(fd, b"ITLRecovery/ITLRecovery.pem")
        os.write(fd, b"quit\r")
        seen += _read_until(fd, b"")
    finally:
        _, status = os.waitpid(pid, 0)
    assert b"Welcome to the phonetrust administration CLI on cucm-pub" in seen
    assert b"CallManager/CallManager.pem: Self-signed certificate generated by system" in seen
    assert os.waitstatus_to_exitcode(status) == 0


def _read_until(fd: int, marker: bytes, timeout: float = 20.0) -> bytes:
    """Read the terminal until ``marker`` appears (or, for b"", until the program exits)."""
    out = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                return out
            if not chunk:
                return out
            out += chunk
            if marker and marker in out:
                return out
    raise AssertionError(f"no {marker!r} on the terminal; got {out[-500:]!r}")


def test_devices_and_parameters_refuse_bad_input_on_one_line(data: Path) -> None:
    phonetrust(data, "device", "add", "SEP0011", "--model", "7975").failure("Invalid device name")
    phonetrust(data, "device", "add", "00:11:22:33:44:55", "--model", "7975").ok()
    phonetrust(data, "device", "add", "SEP001122334455", "--model", "7975").failure(
        "already exists"
    )
    listed = phonetrust(data, "device", "list").ok().stdout
    assert listed.startswith("SEP001122334455  7975")
    phonetrust(data, "param", "set", "No Such Parameter", "1").failure("Unknown enterprise")
    sha512 = phonetrust(data, "param", "set", "TFTP File Signature Digest Algorithm", "SHA-512")
    assert sha512.code == 0, str(sha512)
    assert sha512.stdout == "TFTP File Signature Digest Algorithm = SHA-512\n"
    # H7: the 7975 cannot verify SHA-512 signatures, and the administrator is told.
    assert sha512.stderr == "Warning: SEP001122334455 (7975) does not support SHA-512 signatures\n"


def test_commands_without_a_cluster_say_how_to_make_one(tmp_path: Path) -> None:
    phonetrust(tmp_path / "empty", "admin", "-c", "show itl").failure("phonetrust cluster init")


def test_init_refuses_an_existing_cluster_and_bad_addresses(data: Path, tmp_path: Path) -> None:
    phonetrust(data, *init_args()).failure("already holds a cluster")
    bad = phonetrust(tmp_path / "x", "cluster", "init", "--publisher", "p", "--ip", "10.1.1")
    bad.failure("Invalid IPv4 address")
    assert not (tmp_path / "x").exists()


def test_backup_restore_round_trip_and_wrong_password(data: Path, tmp_path: Path) -> None:
    archive = tmp_path / "lab.backup"
    phonetrust(data, "backup", "create", str(archive)).ok()
    target = tmp_path / "restored"
    wrong = phonetrust(
        target, "backup", "restore", str(archive), env={"PHONETRUST_SECURITY_PASSWORD": "nope"}
    )
    wrong.failure("wrong security password")
    assert not target.exists()
    phonetrust(target, "backup", "restore", str(archive)).ok()
    original = phonetrust(data, "admin", "-c", "show itl").ok().stdout
    restored = phonetrust(target, "admin", "-c", "show itl").ok().stdout
    assert restored == original


@pytest.fixture(scope="module")
def postgres() -> Iterator[str]:
    with running_postgres() as url:
        yield url


def test_the_same_cluster_on_postgresql(postgres: str, tmp_path: Path) -> None:
    url = create_schema(postgres, "cli_cluster")
    data = tmp_path / "pg"
    created = phonetrust(data, *init_args("--db", url))
    assert created.code == 0, str(created)
    assert not (data / "phonetrust.db").exists()
    env = {"PHONETRUST_DB": url}
    phonetrust(data, "admin", "-c", "utils ctl set-cluster mixed-mode", "--yes", env=env).ok()
    shown = phonetrust(data, "admin", "--node", "cucm-sub", "-c", "show ctl", env=env).ok()
    assert "The CTL file was verified successfully." in shown.stdout


def test_cluster_demo_creates_a_ready_cluster_once(tmp_path: Path) -> None:
    root = tmp_path / "demo"
    env = {"PHONETRUST_SECURITY_PASSWORD": ""}
    first = phonetrust(root, "cluster", "demo", "--devices", "6", env=env)
    assert first.code == 0, str(first)
    assert "security password 'phonetrust-demo'" in first.stdout
    listed = phonetrust(root, "device", "list", env={"PHONETRUST_SECURITY_PASSWORD": ""}).ok()
    assert len(listed.stdout.splitlines()) == 6
    again = phonetrust(root, "cluster", "demo", env=env).ok()
    assert again.stdout == f"Using the cluster in {root}.\n"

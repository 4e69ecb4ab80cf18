"""Hostile files given to the CLI (issue 9, item 17).

Every file a command reads is read through one bounded reader: an endless
input (``/dev/zero``) or a file over the bound is refused in one line naming
it, after reading at most the bound, never with a MemoryError. Each command
runs with its address space capped at 1 GiB, so a command that still read
without a bound would fail fast here instead of exhausting the machine.

And random bytes given to ``device import`` always end in a clean import or
one ``Error:`` line naming the file, never a traceback, and never a partial
import.
"""

from __future__ import annotations

import os
import re
import resource
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from phonetrust.cli.files import DEVICE_CSV_LIMIT, read_bytes
from phonetrust.cli.main import cli
from phonetrust.errors import LocalError
from phonetrust.pki.pem import to_pem
from phonetrust.testing.pki import make_identity, plain_name
from tests.cli.helpers import Result, executable, one_clear_line
from tests.cli.test_cluster_commands import PASSWORD, init_args

ADDRESS_SPACE = 1 << 30
"""What each command may map: enough for Python and its libraries, far less than an
unbounded read of /dev/zero reaches before MemoryError."""
INPUT_LIMIT = 4 << 20
TIMEOUT = 60


def _cap_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))


def run(*args: str | Path, data: Path) -> Result:
    env = {**os.environ, "PHONETRUST_DATA": str(data), "PHONETRUST_SECURITY_PASSWORD": PASSWORD}
    done = subprocess.run(
        [executable(), *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        timeout=TIMEOUT,
        check=False,
        preexec_fn=_cap_memory,
    )
    return Result(tuple(map(str, args)), done.returncode, done.stdout, done.stderr)


@dataclass(frozen=True)
class Files:
    """Good inputs, so that only the hostile one is at fault."""

    directory: Path
    signer: Path
    device_cert: Path
    device_key: Path
    config: Path
    enc: Path
    ctl: Path
    nowhere: Path
    """A data directory that does not exist: each command must fail on its file first."""


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Files:
    directory = tmp_path_factory.mktemp("inputs")
    signer = make_identity(plain_name("cucm-pub"), slot=0)
    device = make_identity(plain_name("SEP001122334455"), slot=2)
    put = {
        "signer.pem": to_pem(signer.certificate, signer.key),
        "phone-cert.pem": to_pem(device.certificate),
        "phone-key.pem": to_pem(device.certificate, device.key).split(b"CERTIFICATE-----\n")[-1],
        "SEP001122334455.cnf.xml": b"<device><loadInformation>x</loadInformation></device>\n",
    }
    for name, data in put.items():
        (directory / name).write_bytes(data)
    made = Files(
        directory,
        directory / "signer.pem",
        directory / "phone-cert.pem",
        directory / "phone-key.pem",
        directory / "SEP001122334455.cnf.xml",
        directory / "SEP001122334455.cnf.xml.enc.sgn",
        directory / "CTLFile.tlv",
        directory / "no-cluster",
    )
    run(
        "file",
        "encrypt",
        made.config,
        "--signer",
        made.signer,
        "--device-cert",
        made.device_cert,
        data=made.nowhere,
    ).ok()
    run("file", "build", made.ctl, "--signer", made.signer, data=made.nowhere).ok()
    return made


Command = Callable[[Files, Path], list[str | Path]]

COMMANDS: dict[str, Command] = {
    "file show": lambda f, x: ["file", "show", x],
    "file show --cert": lambda f, x: ["file", "show", f.ctl, "--cert", x],
    "file build --signer": lambda f, x: ["file", "build", f.directory / "CTL.tlv", "--signer", x],
    "file build --record": lambda f, x: [
        "file",
        "build",
        f.directory / "CTL.tlv",
        "--signer",
        f.signer,
        "--record",
        f"CCM+TFTP={x}",
    ],
    "file sign": lambda f, x: ["file", "sign", x, "--signer", f.signer],
    "file sign --signer": lambda f, x: ["file", "sign", f.config, "--signer", x],
    "file encrypt": lambda f, x: [
        "file",
        "encrypt",
        x,
        "--signer",
        f.signer,
        "--device-cert",
        f.device_cert,
    ],
    "file encrypt --device-cert": lambda f, x: [
        "file",
        "encrypt",
        f.config,
        "--signer",
        f.signer,
        "--device-cert",
        x,
    ],
    "file decrypt": lambda f, x: ["file", "decrypt", x, "--device-key", f.device_key],
    "file decrypt --device-key": lambda f, x: ["file", "decrypt", f.enc, "--device-key", x],
    "file decrypt --cert": lambda f, x: [
        "file",
        "decrypt",
        f.enc,
        "--device-key",
        f.device_key,
        "--cert",
        x,
    ],
    "truststore upload": lambda f, x: ["truststore", "upload", "CallManager-trust", x],
    "truststore delete": lambda f, x: ["truststore", "delete", "CallManager-trust", x],
    "device set --lsc": lambda f, x: ["device", "set", "SEP001122334455", "--lsc", x],
    "device set --mic": lambda f, x: ["device", "set", "SEP001122334455", "--mic", x],
    "device import": lambda f, x: ["device", "import", x],
    "capf enroll --lsc": lambda f, x: ["capf", "enroll", "SEP001122334455", "--lsc", x],
    "capf enroll --mic": lambda f, x: ["capf", "enroll", "SEP001122334455", "--mic", x],
}


def _sparse(path: Path, size: int) -> Path:
    with path.open("wb") as out:
        out.truncate(size)
    return path


@pytest.mark.parametrize("command", COMMANDS, ids=str)
def test_an_endless_input_is_refused_in_one_line(files: Files, command: str) -> None:
    limit = "64 MiB" if command == "device import" else "4 MiB"
    before = sorted(p.name for p in files.directory.iterdir())
    result = run(*COMMANDS[command](files, Path("/dev/zero")), data=files.nowhere)
    result.failure(f"/dev/zero: larger than {limit}")
    assert sorted(p.name for p in files.directory.iterdir()) == before


@pytest.mark.parametrize(
    ("command", "size", "limit"),
    [("file show", INPUT_LIMIT + 1, "4 MiB"), ("device import", (64 << 20) + 1, "64 MiB")],
)
def test_a_file_one_byte_over_the_bound_is_refused_unread(
    files: Files, tmp_path: Path, command: str, size: int, limit: str
) -> None:
    path = _sparse(tmp_path / "big", size)
    run(*COMMANDS[command](files, path), data=files.nowhere).failure(f"{path}: larger than {limit}")


def test_a_file_at_the_bound_is_read_whole(tmp_path: Path) -> None:
    path = _sparse(tmp_path / "at-the-bound", INPUT_LIMIT)
    assert read_bytes(path) == bytes(INPUT_LIMIT)
    assert read_bytes(path, limit=DEVICE_CSV_LIMIT) == bytes(INPUT_LIMIT)
    with pytest.raises(LocalError, match=f"{path}: larger than 4194303 bytes"):
        read_bytes(path, limit=INPUT_LIMIT - 1)


@pytest.mark.parametrize("option", ["--lsc", "--mic"])
def test_phone_boot_refuses_an_endless_identity(files: Files, option: str) -> None:
    result = run(
        "phone",
        "boot",
        "--tftp",
        "127.0.0.1:9",
        "--mac",
        "001122334455",
        option,
        "/dev/zero",
        data=files.nowhere,
    )
    result.usage_error(option, "/dev/zero: larger than 4 MiB")


def test_backup_restore_refuses_an_archive_over_its_bound(files: Files, tmp_path: Path) -> None:
    archive = _sparse(tmp_path / "backup.ptb", (256 << 20) + 1)
    result = run("backup", "restore", archive, data=tmp_path / "restored")
    result.failure(f"{archive}: larger than 256 MiB")


# -- random bytes into device import ------------------------------------------------------

NAMES = [f"SEP0000000FF{i:03X}" for i in range(8)]
FIELD = st.one_of(
    st.sampled_from(
        [*NAMES, "7975", "8845", "", " ", "SIP", "sccp", "H323", "Default", "Nope", "Lobby"]
    ).map(str.encode),
    st.sampled_from([b'"a, b"', b'"open', b'x"y', b'""', b"SEP0000", b"\x00", b"\xff", b"\xe9"]),
    st.sampled_from([b"\x1b[2J", b"\t", b"\r", "\u202e".encode(), b"\x7f", b"\xef\xbb\xbf"]),
    st.binary(max_size=6),
)
HEADER = st.sampled_from(
    [
        b"name,model",
        b"name,model,description",
        b"name,model,protocol,group,profile,description",
        b"\xef\xbb\xbfName,Model",
        b"name",
        b"name,model,colour",
        b"",
    ]
)
CSV = st.one_of(
    st.builds(
        lambda header, rows, eol: eol.join([header, *rows]),
        HEADER,
        st.lists(st.lists(FIELD, max_size=7).map(b",".join), max_size=6),
        st.sampled_from([b"\n", b"\r\n", b"\r"]),
    ),
    st.binary(max_size=300),
)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cluster") / "data"
    assert run(*init_args(), data=root).code == 0
    return root


def _invoke(cluster: Path, *args: str) -> tuple[int, str, str]:
    env = {"PHONETRUST_DATA": str(cluster), "PHONETRUST_SECURITY_PASSWORD": PASSWORD}
    result = CliRunner().invoke(cli, list(args), env=env)
    # Anything but SystemExit escaping the command is a traceback for the user.
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    return result.exit_code, result.stdout, result.stderr


def _devices(cluster: Path) -> set[str]:
    code, out, _ = _invoke(cluster, "device", "list")
    assert code == 0
    return {line.split()[0] for line in out.splitlines()}


@settings(max_examples=100, deadline=None)
@given(content=CSV, skip=st.booleans())
def test_random_bytes_import_cleanly_or_fail_on_one_line_importing_nothing(
    cluster: Path, content: bytes, skip: bool
) -> None:
    csv = cluster.parent / "random.csv"
    csv.write_bytes(content)
    before = _devices(cluster)
    args = ["device", "import", str(csv)] + (["--skip-bad-rows"] if skip else [])
    code, out, err = _invoke(cluster, *args)
    after = _devices(cluster)
    if code == 0:
        added = re.fullmatch(
            r"(\d+) devices added(, (\d+) bad rows skipped)?\.", out.split("\n")[-2]
        )
        assert added is not None, out
        assert before <= after
        assert len(after - before) == int(added[1])
        skipped = err.splitlines()
        assert all(line.startswith(f"Skipped {csv}: line ") for line in skipped), err
        assert len(skipped) == int(added[3] or 0)
        assert skip or not skipped
    else:
        assert code == 1, (out, err)
        line = one_clear_line(Result(tuple(args), code, out, err))
        assert line.startswith(f"Error: {csv}: "), line
        assert "\n" not in line
        assert after == before

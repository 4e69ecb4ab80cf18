"""``phonetrust tvs query``: the installed command against a TVS server started here.

The server runs in a thread with its own event loop while the command runs
in a subprocess, as an administrator would run it against a CUCM node.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from phonetrust.cli.main import cli
from phonetrust.cli.tvs_cmds import parse_server
from phonetrust.formats import legacy
from phonetrust.formats.tags import Role
from phonetrust.net import tls
from phonetrust.net.tvs import TvsServer
from phonetrust.pki.pem import to_pem
from phonetrust.service.tvsdirectory import TvsDirectory
from phonetrust.testing.pki import make_identity, plain_name
from tests.cli.helpers import TIMEOUT, Result, executable

BOOT = (
    "from phonetrust.cli.main import cli, main\n"
    "from phonetrust.cli.tvs_cmds import tvs_group\n"
    "cli.add_command(tvs_group)\n"
    "main()\n"
)
"""Until ``tvs`` is registered in cli/main.py, the same entry point with the group added."""


def phonetrust(*args: str | Path) -> Result:
    text_args = tuple(str(a) for a in args)
    if "tvs" in cli.commands:
        command = [executable(), *text_args]
    else:
        command = [sys.executable, "-c", BOOT, *text_args]
    done = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT, check=False)
    return Result(text_args, done.returncode, done.stdout, done.stderr)


@dataclass
class Running:
    port: int
    tvs_sha1: bytes
    known: Path
    known_der: bytes
    unknown: Path


@pytest.fixture(scope="module")
def tvs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    directory = tmp_path_factory.mktemp("tvs")
    identity = make_identity(plain_name("cucm-pub TVS"), slot=10)
    known = make_identity(plain_name("cucm-pub"), slot=11).certificate
    unknown = make_identity(plain_name("stranger"), slot=12).certificate
    (directory / "known.pem").write_bytes(to_pem(known))
    (directory / "unknown.der").write_bytes(unknown.public_bytes(Encoding.DER))
    answers = TvsDirectory.build(
        [(known.public_bytes(Encoding.DER), [Role.SAST, Role.CCM_TFTP], "test")], ttl=3600
    )
    loop = asyncio.new_event_loop()
    started = threading.Event()
    holder: list[TvsServer] = []

    def run_loop() -> None:
        asyncio.set_event_loop(loop)

        async def start() -> None:
            context = tls.server_context(identity.certificate, identity.key)
            holder.append(await TvsServer.start(answers, context, port=0))
            started.set()

        loop.run_until_complete(start())
        loop.run_forever()

    thread = threading.Thread(target=run_loop, daemon=True)
    thread.start()
    assert started.wait(10)
    server = holder[0]
    yield Running(
        server.port,
        legacy.sha1(identity.certificate.public_bytes(Encoding.DER)),
        directory / "known.pem",
        known.public_bytes(Encoding.DER),
        directory / "unknown.der",
    )
    asyncio.run_coroutine_threadsafe(server.stop(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)
    loop.close()


def server_of(tvs: Running) -> str:
    return f"127.0.0.1:{tvs.port}"


def test_a_known_certificate_is_valid_with_roles_and_ttl(tvs: Running) -> None:
    result = phonetrust("tvs", "query", tvs.known, "--server", server_of(tvs))
    assert result.code == 0, result
    assert result.stdout.splitlines() == [
        f"TVS {server_of(tvs)}, certificate SHA-1 {legacy.sha1(tvs.known_der).hex()}",
        "Status: valid",
        "Roles: SAST (0), CCM+TFTP (2)",
        "TTL: 3600 seconds",
    ]
    assert result.stderr == ""


def test_an_unknown_certificate_is_invalid_and_exits_1(tvs: Running) -> None:
    result = phonetrust("tvs", "query", tvs.unknown, "--server", server_of(tvs))
    assert result.code == 1, result
    assert result.stdout.splitlines()[1:] == ["Status: invalid"]
    assert result.stderr == ""


def test_the_device_name_reaches_the_server(tvs: Running, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="phonetrust.tvs")
    device = "CP-8845-SEP00AABBCCDDEE"
    result = phonetrust("tvs", "query", tvs.known, "--server", server_of(tvs), "--device", device)
    assert result.code == 0, result
    assert any(f"device {device} asked about CN=cucm-pub" in r.getMessage() for r in caplog.records)


def test_the_expected_tvs_hash_is_checked(tvs: Running) -> None:
    with_colons = ":".join(f"{b:02X}" for b in tvs.tvs_sha1)
    good = phonetrust(
        "tvs", "query", tvs.known, "--server", server_of(tvs), "--expect-sha1", with_colons
    )
    assert good.code == 0, good
    wrong = phonetrust(
        "tvs", "query", tvs.known, "--server", server_of(tvs), "--expect-sha1", "00" * 20
    )
    assert wrong.code == 1, wrong
    assert wrong.stdout == ""
    assert wrong.stderr.splitlines() == [
        f"Error: the TVS server certificate (SHA-1 {tvs.tvs_sha1.hex()}) is not the one the "
        f"ITL names (SHA-1 {'00' * 20})"
    ]


@pytest.fixture
def closed_port() -> Iterator[int]:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    yield s.getsockname()[1]
    s.close()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (("--expect-sha1", "abc"), "Error: --expect-sha1 'abc': expected 40 hex digits"),
        (("--device", "two words"), "Error: --device: device name 'two words' is not"),
        (("--server", "host:99999"), "Error: --server 'host:99999': port 99999 is not 1-65535"),
    ],
    ids=["bad-hash", "bad-device", "bad-port"],
)
def test_bad_options_are_one_line_and_exit_1(
    tvs: Running, extra: tuple[str, ...], message: str
) -> None:
    result = phonetrust("tvs", "query", tvs.known, *extra)
    assert result.code == 1, result
    assert len(result.stderr.splitlines()) == 1
    assert result.stderr.startswith(message), result


def test_no_server_and_no_file_are_one_line_and_exit_1(
    tvs: Running, closed_port: int, tmp_path: Path
) -> None:
    result = phonetrust("tvs", "query", tvs.known, "--server", f"127.0.0.1:{closed_port}")
    assert result.code == 1, result
    assert result.stderr.startswith(f"Error: connection to TVS 127.0.0.1:{closed_port} failed: ")
    assert len(result.stderr.splitlines()) == 1
    missing = phonetrust("tvs", "query", tmp_path / "nope.pem")
    assert missing.code == 1, missing
    assert missing.stderr.splitlines() == [
        f"Error: {tmp_path / 'nope.pem'}: No such file or directory"
    ]


def test_help_names_the_options() -> None:
    result = phonetrust("tvs", "query", "--help")
    assert result.code == 0, result
    for option in ("--server", "--device", "--expect-sha1", "127.0.0.1:2445", "CP-7975-SEP"):
        assert option in result.stdout


def test_server_syntax() -> None:
    assert parse_server("[::1]:2446") == ("::1", 2446)
    assert parse_server("[::1]") == ("::1", 2445)
    assert parse_server("cucm-pub") == ("cucm-pub", 2445)
    assert parse_server("10.0.0.10:2445") == ("10.0.0.10", 2445)

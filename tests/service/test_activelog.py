"""`file list|tail|view|get activelog` on the traces a real ``serve`` wrote (issue 10, item 9),
and the one-line answer of CUCM commands phonetrust does not have."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Iterator

import pytest

from phonetrust.cli.admin import unsupported
from phonetrust.errors import LocalError
from phonetrust.net import tftp_remote
from phonetrust.net.serve import ServeOptions, serving
from phonetrust.protocols.tftp.packets import PeerError
from phonetrust.testing.sshd import SshServer, running_sshd
from tests.service.conftest import Lab

SDI = "cm/trace/ctftp/sdi"
DETAIL = re.compile(r"\d\d [A-Z][a-z]{2},\d{4} \d\d:\d\d:\d\d [\d,]+ ctftp00000001\.txt")


@pytest.fixture(scope="module")
def sshd() -> Iterator[SshServer]:
    with running_sshd() as server:
        yield server


def _phone_boots(lab: Lab) -> None:
    """A real ``serve`` of the publisher, asked for a file it has and one it has not."""

    async def main() -> None:
        options = ServeOptions(tftp_port=0, tvs_port=0, capf_port=0, https=False)
        async with serving(lab.ctx, options) as running:
            tftp = ("127.0.0.1", running.ports["tftp"])
            await tftp_remote.fetch(tftp, "ITLFile.tlv")
            with contextlib.suppress(PeerError):
                await tftp_remote.fetch(tftp, "SEP0011215A1AE3.cnf.xml.sgn")

    asyncio.run(main())


@pytest.fixture
def traced(lab: Lab) -> Lab:
    _phone_boots(lab)
    return lab


def test_file_list_activelog_prints_cucms_listing(traced: Lab) -> None:
    assert traced.admin(f"file list activelog {SDI}").splitlines() == [
        "ctftp00000001.txt",
        "dir count = 0, file count = 1",
    ]
    detail = traced.admin(f"file list activelog {SDI} detail").splitlines()
    assert DETAIL.fullmatch(detail[0]), detail
    assert detail[1:] == ["dir count = 0, file count = 1"]
    assert traced.admin(f"file list activelog {SDI}/*.txt").splitlines()[0] == "ctftp00000001.txt"
    assert traced.admin("file list activelog cm/trace").splitlines() == [
        "ctftp/",
        "dir count = 1, file count = 0",
    ]
    dirs = traced.admin("file list activelog cm/trace detail").splitlines()
    assert re.fullmatch(r"\d\d [A-Z][a-z]{2},\d{4} \d\d:\d\d:\d\d <dir> ctftp", dirs[0])


def test_file_tail_recent_prints_the_newest_traces_and_returns_when_piped(traced: Lab) -> None:
    out = traced.admin(f"file tail activelog {SDI} recent")
    lines = out.splitlines()
    assert len(lines) == 4
    assert "TFTPEngine::isReadRequest[" in lines[0]
    assert "[ITLFile.tlv] opcode(1), Mode(octet), Serving Count(0)" in lines[0]
    assert "Transferred[ITLFile.tlv] Socket[" in lines[1]
    assert "ErrorCode(1)" in lines[3]
    last = traced.admin(f"file tail activelog {SDI} recent 1")
    assert last.splitlines() == lines[-1:]
    named = traced.admin(f"file tail activelog {SDI}/ctftp00000001.txt 2")
    assert named.splitlines() == lines[-2:]


def test_file_tail_of_a_directory_needs_recent(traced: Lab) -> None:
    with pytest.raises(LocalError, match="needs 'recent'"):
        traced.admin(f"file tail activelog {SDI}")


def test_file_view_activelog_prints_the_file(traced: Lab) -> None:
    path = traced.where.activelog / SDI / "ctftp00000001.txt"
    assert traced.admin(f"file view activelog {SDI}/ctftp00000001.txt") == path.read_text()


def test_file_get_activelog_uploads_with_the_file_get_questions(
    traced: Lab, sshd: SshServer
) -> None:
    out = traced.admin(
        f"file get activelog {SDI}",
        "y",
        *sshd.file_get_answers(),
        "yes",
    )
    local = traced.where.activelog / SDI / "ctftp00000001.txt"
    assert "Number of files affected: 1" in out
    assert f"Total size in Bytes: {local.stat().st_size}" in out
    assert "Transfer completed." in out
    assert (sshd.root / "ctftp00000001.txt").read_bytes() == local.read_bytes()


def test_file_get_activelog_answered_no_sends_nothing(traced: Lab, sshd: SshServer) -> None:
    (sshd.root / "ctftp00000001.txt").unlink(missing_ok=True)  # from an earlier test
    out = traced.admin(f"file get activelog {SDI}/ctftp00000001.txt", "n")
    assert "Would you like to proceed [y/n]? n" in out
    assert "SFTP server IP" not in out
    assert not (sshd.root / "ctftp00000001.txt").exists()


def test_missing_paths_are_one_clear_error(lab: Lab) -> None:
    with pytest.raises(LocalError, match="no such file or directory in the active log"):
        lab.admin(f"file list activelog {SDI}")
    with pytest.raises(LocalError, match="not a directory"):
        lab.admin(f"file tail activelog {SDI} recent")


# -- what phonetrust does not have ----------------------------------------------------------


def _run(lab: Lab, line: str) -> str:
    return lab.admin(line)


@pytest.mark.parametrize(
    ("line", "said"),
    [
        (
            "utils network capture host ip 14.48.44.202 size ALL count 10000 file CAPF-Install",
            "utils network capture: not available in phonetrust (use tcpdump on the host)",
        ),
        ("utils dbreplication runtimestate", "utils dbreplication: not available in phonetrust"),
        ("show network eth0 detail", "show network: not available in phonetrust"),
        ("utils diagnose test", "utils diagnose: not available in phonetrust"),
        ("file view install system-history.log", "file view: not available in phonetrust"),
        ("UTILS NETWORK PING 10.0.0.1", "utils network ping: not available in phonetrust"),
    ],
)
def test_commands_phonetrust_lacks_answer_in_one_line(lab: Lab, line: str, said: str) -> None:
    with pytest.raises(unsupported.NotInPhonetrust) as caught:
        _run(lab, line)
    message = str(caught.value)
    assert message.startswith(said)
    assert "\n" not in message


def test_the_unsupported_entries_leave_the_real_commands_reachable(lab: Lab) -> None:
    _phone_boots(lab)
    assert "TFTPEngine::isReadRequest" in _run(lab, f"file view activelog {SDI}/ctftp00000001.txt")
    assert "dir count = 0, file count = 1" in _run(lab, f"file list activelog {SDI}")
    assert all(c.rest for c in unsupported.COMMANDS)

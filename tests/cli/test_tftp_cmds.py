"""``phonetrust tftp upload|list|delete`` through the installed script."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from phonetrust.clock import SystemClock
from phonetrust.service.tftpfiles import load_source
from phonetrust.store.datadir import DataDir
from phonetrust.testing.cluster import open_context
from tests.cli.test_cluster_commands import PASSWORD, init_args, phonetrust


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("tftp-cluster") / "data"
    result = phonetrust(root, *init_args())
    assert result.code == 0, str(result)
    return root


def test_upload_list_and_delete(data: Path, tmp_path: Path) -> None:
    firmware = tmp_path / "sip88xx.14-2.loads"
    firmware.write_bytes(b"F" * 5000)
    sha1 = hashlib.sha1(b"F" * 5000).hexdigest()
    done = phonetrust(data, "tftp", "upload", str(firmware)).ok()
    assert (
        done.stdout == f"sip88xx.14-2.loads: 5000 bytes, sha1 {sha1}, served by every TFTP node.\n"
    )
    phonetrust(data, "tftp", "upload", str(firmware), "--name", "firmware/sip88xx.loads").ok()
    listed = phonetrust(data, "tftp", "list").ok()
    assert listed.stdout == (
        f"firmware/sip88xx.loads  5000  {sha1}\nsip88xx.14-2.loads  5000  {sha1}\n"
    )
    # every TFTP node serves it, with no file copied to its machine
    where = DataDir.locate(data)
    ctx = open_context(where, SystemClock(), PASSWORD)
    try:
        for node in ("cucm-pub", "cucm-sub"):
            found = load_source(ctx, node).resolve("firmware/sip88xx.loads")
            assert found is not None
            assert found.data == b"F" * 5000
    finally:
        ctx.repo.close()
    audit = phonetrust(data, "audit").ok().stdout
    assert "tftp upload" in audit
    phonetrust(data, "tftp", "delete", "sip88xx.14-2.loads").ok()
    phonetrust(data, "tftp", "delete", "firmware/sip88xx.loads").ok()
    assert phonetrust(data, "tftp", "list").ok().stdout == "No extra TFTP files.\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--name", "ITLRecovery.p12"], "TFTP never serves 'ITLRecovery.p12'"),
        (["--name", "../etc/passwd"], "TFTP never serves '../etc/passwd'"),
        (["--name", "ITLFile.tlv"], "the file plan owns that name"),
    ],
)
def test_refused_names_are_one_line_errors(
    data: Path, tmp_path: Path, args: list[str], message: str
) -> None:
    file = tmp_path / "f.bin"
    file.write_bytes(b"x")
    done = phonetrust(data, "tftp", "upload", str(file), *args)
    assert done.code != 0
    assert message in done.stderr
    assert "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_an_endless_input_and_an_unknown_name_are_refused(data: Path) -> None:
    done = phonetrust(data, "tftp", "upload", "/dev/zero", "--name", "zero.bin")
    assert done.code != 0
    assert "larger than 64 MiB" in done.stderr
    done = phonetrust(data, "tftp", "delete", "nothing.bin")
    assert done.code != 0
    assert "no extra TFTP file named 'nothing.bin'" in done.stderr

"""The cluster's extra TFTP files: every TFTP node serves them, after the plan and the directory."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from phonetrust.errors import LocalError
from phonetrust.service import tftpextra
from phonetrust.service.changes import reading
from phonetrust.service.tftpfiles import load_source, read_directory
from tests.service.conftest import Lab


def version(lab: Lab) -> int:
    with reading(lab.ctx) as uow:
        return uow.current_version()


def test_an_upload_is_served_by_every_tftp_node_and_publishes_a_new_version(lab: Lab) -> None:
    before = version(lab)
    stored = tftpextra.upload(lab.ctx, "Desktops/320x212x12/bg.png", b"png" * 10)
    assert stored.size == 30
    assert version(lab) == before + 1  # what makes a running serve reload
    for node in ("cucm-pub", "cucm-sub1"):
        found = load_source(lab.ctx, node, tftp_dir=lab.where.root / "none").resolve(
            "Desktops/320x212x12/bg.png"
        )
        assert found is not None
        assert (found.data, found.origin) == (b"png" * 10, "extra")
    with reading(lab.ctx) as uow:
        audit = uow.list_audit()
    assert any(
        e.action == "tftp upload" and e.detail.startswith("Desktops/320x212x12/bg.png (30 bytes")
        for e in audit
    )
    assert [f.name for f in tftpextra.list_files(lab.ctx)] == ["Desktops/320x212x12/bg.png"]


def test_the_plan_wins_and_the_local_directory_overrides(lab: Lab) -> None:
    tftpextra.upload(lab.ctx, "RingList.xml", b"cluster's")
    tftp = lab.where.tftp_dir
    tftp.mkdir(parents=True, exist_ok=True)
    (tftp / "RingList.xml").write_bytes(b"this machine's")
    source = load_source(lab.ctx, "cucm-pub")
    found = source.resolve("RingList.xml")
    assert found is not None
    assert (found.data, found.origin) == (b"this machine's", "directory")
    (tftp / "RingList.xml").unlink()
    found = load_source(lab.ctx, "cucm-pub").resolve("RingList.xml")
    assert found is not None
    assert found.origin == "extra"


@pytest.mark.parametrize(
    "name",
    [
        "ITLRecovery.p12",
        "keys/tomcat.pem",
        "../master.key",
        "/etc/passwd",
        ".hidden",
        "CTLFile.tlv",
        "itlfile.TLV",
        "ITLSEP001122334455.tlv",
        "a\x00b",
        "x" * 300,
        "",
    ],
)
def test_names_tftp_never_serves_are_refused(lab: Lab, name: str) -> None:
    before = version(lab)
    with pytest.raises(LocalError, match="TFTP never serves"):
        tftpextra.upload(lab.ctx, name, b"x")
    assert version(lab) == before
    assert tftpextra.list_files(lab.ctx) == []


def test_too_large_a_file_is_refused(lab: Lab, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tftpextra, "EXTRA_FILE_LIMIT", 10)
    with pytest.raises(LocalError, match="11 bytes is over"):
        tftpextra.upload(lab.ctx, "big.bin", b"x" * 11)


def test_delete_stops_serving_and_an_unknown_name_says_so(lab: Lab) -> None:
    tftpextra.upload(lab.ctx, "fw.bin", b"fw")
    before = version(lab)
    tftpextra.delete(lab.ctx, "fw.bin")
    assert version(lab) == before + 1
    assert load_source(lab.ctx, "cucm-pub").resolve("fw.bin") is None
    with pytest.raises(LocalError, match=r"no extra TFTP file named 'fw\.bin'"):
        tftpextra.delete(lab.ctx, "fw.bin")
    assert version(lab) == before + 1  # the failed delete published nothing, audited nothing
    with reading(lab.ctx) as uow:
        assert [e.action for e in uow.list_audit(2)].count("tftp delete") == 1


def test_a_name_stored_by_hand_that_tftp_refuses_is_left_out(
    lab: Lab, caplog: pytest.LogCaptureFixture
) -> None:
    with lab.ctx.repo.unit_of_work() as uow:
        uow.put_tftp_extra("ITLRecovery.p12", b"secret", lab.ctx.now())
    assert load_source(lab.ctx, "cucm-pub").resolve("ITLRecovery.p12") is None
    assert "TFTP extra file 'ITLRecovery.p12' left out" in caplog.text


# -- the directory's links (item 6), without a server ----------------------------------------


def test_links_are_resolved_and_only_safe_targets_are_read(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    data = tmp_path / "data"
    root = data / "tftp"
    (root / "sub").mkdir(parents=True)
    (data / "master.key").write_bytes(b"KEY")
    (data / "backups").mkdir()
    (data / "backups" / "b.tar").write_bytes(b"BACKUP")
    outside = tmp_path / "store"
    outside.mkdir()
    (outside / "fw.loads").write_bytes(b"FW")
    (outside / "id.key").write_bytes(b"K")
    (outside / ".ssh").mkdir()
    (outside / ".ssh" / "config").write_bytes(b"S")
    (root / "ok.bin").write_bytes(b"OK")
    (root / ".secret").write_bytes(b"hidden")
    links = {
        "firmware.bin": Path("../master.key"),
        "backup.bin": data / "backups" / "b.tar",
        "fw.loads": outside / "fw.loads",
        "inside.bin": Path("ok.bin"),
        "to-hidden.bin": Path(".secret"),
        "to-key.bin": outside / "id.key",
        "to-dot-dir.bin": outside / ".ssh" / "config",
        "broken.bin": tmp_path / "nowhere",
        "loop.bin": Path("loop.bin"),
        "dev.bin": Path("/dev/zero"),
        "sub/up.bin": Path("../../master.key"),
    }
    for name, target in links.items():
        (root / name).symlink_to(target)
    os.mkfifo(root / "fifo.bin")
    os.link(data / "master.key", root / "hard.bin")
    with caplog.at_level(logging.INFO, logger="phonetrust.tftp"):
        files = read_directory(root, protected=[data])
    assert {k: v.data for k, v in files.items()} == {
        "ok.bin": b"OK",
        "fw.loads": b"FW",
        "inside.bin": b"OK",
    }
    for name in set(links) - {"fw.loads", "inside.bin"} | {"fifo.bin", "hard.bin"}:
        assert caplog.text.count(f"TFTP directory: {name} left out") == 1, name

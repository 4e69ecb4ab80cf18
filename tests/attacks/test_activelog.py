"""Paths given to `file ... activelog` stay inside the active log (issue 10, item 9).

The traces sit in the data directory beside ``master.key`` and the
database, so a path that could climb out (``..``, an absolute path, a
symbolic link planted in the traces) would be a way to read or upload the
cluster's keys. Every command refuses such a path in one line, before it
asks anything or reads a byte.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from phonetrust.store.tracefiles import OutsideActiveLog, confined, entries, newest
from tests.service.conftest import Lab

SDI = "cm/trace/ctftp/sdi"
COMMANDS = (
    "file list activelog {}",
    "file list activelog {} detail",
    "file tail activelog {} recent",
    "file tail activelog {}",
    "file view activelog {}",
    "file get activelog {}",
)
OUTSIDE = (
    "..",
    "../master.key",
    "cm/../../master.key",
    "cm/trace/../../../phonetrust.db",
    "../*",
    "/etc/passwd",
    "/",
    "..\\master.key",
)


@pytest.fixture
def activelog(lab: Lab) -> Path:
    sdi = lab.where.activelog / SDI
    sdi.mkdir(parents=True)
    (sdi / "ctftp00000001.txt").write_text("11:08:20.766 |TFTPEngine::isReadRequest[...]\n")
    return lab.where.activelog


@pytest.mark.parametrize("path", OUTSIDE)
@pytest.mark.parametrize("command", COMMANDS)
def test_paths_that_climb_out_are_refused(
    lab: Lab,
    activelog: Path,
    command: str,
    path: str,
) -> None:
    with pytest.raises(OutsideActiveLog, match="only paths inside the active log"):
        lab.admin(command.format(path), "y")


def test_an_absolute_path_to_the_key_is_refused_even_when_it_names_the_data_directory(
    lab: Lab,
    activelog: Path,
) -> None:
    key = lab.where.key_file.resolve()
    for command in COMMANDS:
        with pytest.raises(OutsideActiveLog):
            lab.admin(command.format(key), "y")
    inside = activelog.resolve() / SDI / "ctftp00000001.txt"  # absolute, though inside
    with pytest.raises(OutsideActiveLog):
        lab.admin(f"file view activelog {inside}")


def test_planted_links_lead_nowhere(lab: Lab, activelog: Path) -> None:
    key = lab.where.key_file.read_bytes()
    sdi = activelog / SDI
    os.symlink(lab.where.key_file, sdi / "ctftp00000002.txt")  # the newest "trace"
    os.symlink(lab.where.root, activelog / "cm" / "trace" / "data")  # a directory out
    for line in (
        f"file view activelog {SDI}/ctftp00000002.txt",
        f"file tail activelog {SDI}/ctftp00000002.txt",
        "file list activelog cm/trace/data",
        "file view activelog cm/trace/data/master.key",
        "file get activelog cm/trace/data",
        "file list activelog cm/trace/data/*",
    ):
        with pytest.raises(OutsideActiveLog):
            lab.admin(line, "y")
    # Listing, tailing and getting the directory leave the link out.
    listed = lab.admin(f"file list activelog {SDI} detail")
    assert "ctftp00000002.txt" not in listed
    assert "file count = 1" in listed
    assert "data" not in lab.admin("file list activelog cm/trace")
    tailed = lab.admin(f"file tail activelog {SDI} recent")
    assert "TFTPEngine" in tailed
    out = lab.admin(f"file get activelog {SDI}", "n")
    assert "Number of files affected: 1" in out
    assert key.hex() not in listed + tailed + out


def test_confined_resolves_links_and_refuses_what_leaves(tmp_path: Path) -> None:
    root = tmp_path / "activelog"
    (root / "a").mkdir(parents=True)
    (tmp_path / "secret").write_text("key")
    os.symlink(tmp_path / "secret", root / "a" / "leak")
    os.symlink(root / "a", root / "alias")  # a link that stays inside is fine
    assert confined(root, "alias") == (root / "a").resolve()
    assert confined(root, "") == root.resolve()
    assert confined(root, ".") == root.resolve()
    with pytest.raises(OutsideActiveLog):
        confined(root, "a/leak")
    with pytest.raises(OutsideActiveLog):
        confined(root, "a/\0")
    assert [e.name for e in entries(root / "a")] == []
    assert newest(root / "a") is None


def test_an_active_log_that_is_itself_a_link_is_refused(tmp_path: Path) -> None:
    """A data directory whose ``activelog`` was swapped for a link to / lists nothing of /."""
    root = tmp_path / "activelog"
    os.symlink("/", root)
    with pytest.raises(OutsideActiveLog, match="symbolic link"):
        confined(root, "etc")
    with pytest.raises(OutsideActiveLog, match="symbolic link"):
        confined(root, "")

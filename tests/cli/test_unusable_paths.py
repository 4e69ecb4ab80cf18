"""Every file a command reads, given as something it cannot read: one line, exit 1, no output.

Each command is run with one of its inputs replaced by a missing file, a
directory, a path that goes through a plain file, a symbolic-link loop or a
file without read permission, and must say which path is wrong and why in
one line, and leave the directory where it writes exactly as it was.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.cli.helpers import CONFIG, Built, Pki, run, snapshot


@dataclass(frozen=True)
class Work:
    """The directory a command writes to, with the good inputs it needs."""

    directory: Path
    config: Path
    enc: Path
    pki: Pki
    built: Built

    @property
    def ctl(self) -> Path:
        return self.directory / "CTLFile.tlv"


Command = Callable[[Work, Path], list[str | Path]]

COMMANDS: dict[str, Command] = {
    "show PATH": lambda w, bad: ["file", "show", bad],
    "show --cert": lambda w, bad: ["file", "show", w.built.sgn, "--cert", bad],
    "build --signer": lambda w, bad: ["file", "build", w.ctl, "--signer", bad],
    "build --record": lambda w, bad: [
        "file",
        "build",
        w.ctl,
        "--signer",
        w.pki.signer_pem,
        "--record",
        f"CCM+TFTP={w.pki.ccm_cert}",
        "--record",
        f"TVS={bad},hash-only",
    ],
    "sign PATH": lambda w, bad: ["file", "sign", bad, "--signer", w.pki.signer_pem],
    "sign --signer": lambda w, bad: ["file", "sign", w.config, "--signer", bad],
    "encrypt PATH": lambda w, bad: [
        "file",
        "encrypt",
        bad,
        "--signer",
        w.pki.signer_pem,
        "--device-cert",
        w.pki.device_cert,
    ],
    "encrypt --signer": lambda w, bad: [
        "file",
        "encrypt",
        w.config,
        "--signer",
        bad,
        "--device-cert",
        w.pki.device_cert,
    ],
    "encrypt --device-cert": lambda w, bad: [
        "file",
        "encrypt",
        w.config,
        "--signer",
        w.pki.signer_pem,
        "--device-cert",
        bad,
    ],
    "decrypt PATH": lambda w, bad: ["file", "decrypt", bad, "--device-key", w.pki.device_key],
    "decrypt --device-key": lambda w, bad: ["file", "decrypt", w.enc, "--device-key", bad],
}


def missing(where: Path) -> tuple[Path, str]:
    return where / "absent.pem", "No such file or directory"


def directory(where: Path) -> tuple[Path, str]:
    path = where / "a-directory.enc.sgn"
    path.mkdir()
    return path, "is a directory, not a file"


def through_a_file(where: Path) -> tuple[Path, str]:
    plain = where / "plain-file"
    plain.write_bytes(b"not a directory")
    return plain / "inside.pem", "Not a directory"


def symlink_loop(where: Path) -> tuple[Path, str]:
    loop = where / "loop.pem"
    loop.symlink_to(loop.name)
    return loop, "Too many levels of symbolic links"


def no_permission(where: Path) -> tuple[Path, str]:
    locked = where / "locked.pem"
    locked.write_bytes(CONFIG)
    locked.chmod(0)
    return locked, "Permission denied"


KINDS: dict[str, Callable[[Path], tuple[Path, str]]] = {
    "missing": missing,
    "directory": directory,
    "through a file": through_a_file,
    "symlink loop": symlink_loop,
    "no permission": no_permission,
}

ROOT_READS_ANYWAY = pytest.mark.skipif(
    os.geteuid() == 0,
    reason="root reads a file whatever its mode, so chmod 000 cannot make it unreadable; "
    "'through a file' and 'symlink loop' cover unreadable paths instead",
)
UNREADABLE_CHECKED_FOR = ("show PATH", "build --record", "encrypt --device-cert", "decrypt PATH")
"""Commands read every input with the same function; these cover it from each command."""

CASES = [
    *((command, kind) for command in COMMANDS for kind in ("missing", "directory")),
    *(
        pytest.param(command, kind, marks=ROOT_READS_ANYWAY if kind == "no permission" else ())
        for command in UNREADABLE_CHECKED_FOR
        for kind in ("through a file", "symlink loop", "no permission")
    ),
]


@pytest.mark.parametrize(("command", "kind"), CASES)
def test_an_unusable_input_fails_in_one_line_and_writes_nothing(
    pki: Pki, built: Built, tmp_path: Path, command: str, kind: str
) -> None:
    work_dir = tmp_path / "work"
    work_dir.mkdir()
    config = work_dir / "SEP001122334455.cnf.xml"
    config.write_bytes(CONFIG)
    enc = work_dir / built.enc.name
    shutil.copyfile(built.enc, enc)
    bad_dir = tmp_path / "bad"
    bad_dir.mkdir()
    bad, reason = KINDS[kind](bad_dir)
    work = Work(work_dir, config, enc, pki, built)
    before = snapshot(work_dir)

    result = run(*COMMANDS[command](work, bad), cwd=work_dir)

    result.failure(str(bad), reason)
    assert result.stdout == ""
    assert snapshot(work_dir) == before

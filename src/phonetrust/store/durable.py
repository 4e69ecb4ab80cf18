"""Durable writes of private files: the one way key material reaches the disk.

:func:`write_private` writes a temporary file of its own beside the target
(so two writes never share one), created 0600, written and fsynced, renamed
over the target in one step, then fsyncs the directory so the rename itself
survives a power cut. A reader sees the old file or the new one, never a
part. ``tests/attacks/test_keys.py`` stops a real process before and after
each of these calls (and each commit) and checks that no key is lost.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

FILE_MODE = 0o600
DIR_MODE = 0o700


def write_private(path: Path, data: bytes) -> None:
    """Replace ``path`` atomically and durably by ``data``, readable by its owner only."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    sync_directory(path.parent)


def remove(*paths: Path) -> None:
    """Remove files of one directory (those there) durably."""
    for path in paths:
        path.unlink(missing_ok=True)
    if paths:
        sync_directory(paths[0].parent)


def sync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)

"""Durable writes of private files, and the checkpoints a crash test stops at.

Every write of key material goes through :func:`write_private`: a temporary
file of its own beside the target (so two writes never share one), created
0600, written and fsynced, renamed over the target in one step, then the
directory fsynced so the rename itself survives a power cut. A reader sees
the old file or the new one, never a part.

:func:`checkpoint` marks each step of such a write and each commit that
changes key material. It does nothing unless ``PHONETRUST_CRASH_AT=N`` is
set: then the N-th checkpoint of the process ends it at once with
``os._exit(CRASH_EXIT)``, as kill -9 would. The crash tests run a command
in a child process with N = 1, 2, ... until it completes, so every step is
interrupted once (``tests/attacks/test_keys.py``).
"""

from __future__ import annotations

import itertools
import os
import secrets
from pathlib import Path

FILE_MODE = 0o600
DIR_MODE = 0o700
CRASH_ENV = "PHONETRUST_CRASH_AT"
CRASH_EXIT = 86

_steps = itertools.count(1)


def checkpoint(step: str) -> None:
    """A point a crash test may stop the process at (see the module's docstring)."""
    target = os.environ.get(CRASH_ENV)
    if target and next(_steps) == int(target):
        os.write(2, f"crash injected at: {step}\n".encode())
        os._exit(CRASH_EXIT)


def write_private(path: Path, data: bytes) -> None:
    """Replace ``path`` atomically and durably by ``data``, readable by its owner only."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    checkpoint(f"write {path.name}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        checkpoint(f"fsync {path.name}")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    checkpoint(f"rename {path.name}")
    sync_directory(path.parent)


def remove(*paths: Path) -> None:
    """Remove files of one directory (those there) durably."""
    for path in paths:
        checkpoint(f"remove {path.name}")
        path.unlink(missing_ok=True)
    if paths:
        sync_directory(paths[0].parent)


def sync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)

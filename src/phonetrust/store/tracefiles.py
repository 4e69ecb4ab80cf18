"""Service trace files, laid out and rotated as CUCM's active log keeps them.

Layout under the active log root (``DATA/activelog``)::

    cm/trace/ctftp/sdi/ctftp00000001.txt   TFTP
    cm/trace/tvs/sdi/tvs00000001.txt       TVS
    cm/trace/capf/sdi/capf00000001.txt     CAPF

A file grows to ``max_bytes``, then the next number starts; at most
``keep`` files stay, the oldest going first. Administrators know these
paths from CUCM (``file tail activelog cm/trace/ctftp/sdi recent``), so the
layout is CUCM's rather than one of our own.

Tracing is an aid, never a dependency: a :class:`TraceFile` never raises
into the server that writes it. A full disk or an unwritable directory
costs the lines (one warning says so) and the writer tries again a little
later. Reading the tree for the admin commands goes through
:func:`confined`, which keeps every path inside the root: the commands take
paths from an operator, and a path must not become a way to read the
database or the cluster key beside the traces.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from phonetrust.errors import LocalError

log = logging.getLogger("phonetrust.trace")

MAX_BYTES = 1024 * 1024
"""Default size at which a trace file is left for the next one."""
KEEP = 10
"""Default number of trace files kept per service."""
FLUSH_EVERY = 0.2
"""Default seconds between flushes of buffered lines."""
RETRY = 10.0
"""Seconds a writer waits after a failure before it tries the disk again."""
DIR_MODE = 0o750

COMPONENTS: dict[str, str] = {"tftp": "ctftp", "tvs": "tvs", "capf": "capf"}
"""Service name to CUCM's trace component (directory name and file prefix)."""


def component_dir(root: Path, component: str) -> Path:
    """``root/cm/trace/<component>/sdi``: where CUCM keeps a service's SDI traces."""
    return root / "cm" / "trace" / component / "sdi"


def _pattern(prefix: str) -> re.Pattern[str]:
    return re.compile(re.escape(prefix) + r"(\d{8})\.txt")


def numbered(directory: Path, prefix: str) -> list[tuple[int, Path]]:
    """The trace files of ``prefix`` in ``directory``, oldest (lowest number) first."""
    pattern = _pattern(prefix)
    found: list[tuple[int, Path]] = []
    try:
        names = os.listdir(directory)
    except OSError:
        return []
    for name in names:
        match = pattern.fullmatch(name)
        if match:
            found.append((int(match.group(1)), directory / name))
    found.sort()
    return found


class TraceFile:
    """Appends lines to one service's numbered trace files; thread-safe; never raises.

    A system call per line would cost a TFTP boot storm a few per cent of
    its CPU, so a line is only appended to a list; a daemon thread writes
    the list out every ``flush_every`` seconds (``file tail`` sees a line
    that much later), and ``flush_every=0`` writes each line at once. Sizes
    are counted in characters, which for these ASCII lines is bytes (a
    rotation a few bytes late for a rare non-ASCII name is fine).
    """

    def __init__(
        self,
        directory: Path,
        prefix: str,
        *,
        max_bytes: int = MAX_BYTES,
        keep: int = KEEP,
        flush_every: float = FLUSH_EVERY,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_bytes < 1 or keep < 1 or flush_every < 0:
            raise ValueError("max_bytes and keep must be positive, flush_every not negative")
        self.directory = directory
        self.prefix = prefix
        self.max_bytes = max_bytes
        self.keep = keep
        self.flush_every = flush_every
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._fd = -1
        self._pending: list[str] = []
        self._number = 0
        self._size = 0
        self._retry_at = 0.0
        self._failing = False
        self._closed = threading.Event()
        self._flusher: threading.Thread | None = None
        self.dropped = 0
        """Lines lost to failures."""

    @property
    def path(self) -> Path | None:
        """The file being written, once one is open."""
        return self._path(self._number) if self._fd >= 0 else None

    def write(self, line: str) -> None:
        """Append ``line`` (ending in a newline); on failure drop it, warn once, retry later."""
        with self._lock:
            if self._fd < 0 and not self._open():
                self.dropped += 1
                return
            try:
                if self._size >= self.max_bytes:  # rotated at the next line: no empty newest file
                    self._rotate()
                self._pending.append(line)
                self._size += len(line)
                if not self.flush_every:
                    self._write_out()
            except OSError as exc:
                self._fail(exc)

    def flush(self) -> None:
        """Write out the lines waiting (the flusher thread's work; tests call it too)."""
        with self._lock:
            if not self._pending or self._fd < 0:
                return
            try:
                self._write_out()
            except OSError as exc:
                self._fail(exc)

    def close(self) -> None:
        """Flush, close, stop the flusher; a later write opens the file again."""
        self._closed.set()
        flusher, self._flusher = self._flusher, None
        if flusher is not None and flusher is not threading.current_thread():
            flusher.join()
        with self._lock:
            try:
                if self._fd >= 0:
                    self._write_out()
            except OSError as exc:
                self._fail(exc)
            self._close()
        self._closed.clear()

    def _flush_loop(self) -> None:
        while not self._closed.wait(self.flush_every):
            self.flush()

    # -- inside the lock ---------------------------------------------------------------
    def _path(self, number: int) -> Path:
        return self.directory / f"{self.prefix}{number:08d}.txt"

    def _open(self) -> bool:
        """Continue the newest file (a restart appends), or start the first; False: not now."""
        if self._failing and self._monotonic() < self._retry_at:
            return False
        try:
            self.directory.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
            existing = numbered(self.directory, self.prefix)
            number = existing[-1][0] if existing else 1
            path = self._path(number)
            size = path.stat().st_size if path.exists() else 0
            if size >= self.max_bytes:
                number, size = number + 1, 0
            self._start(number, size)
        except OSError as exc:
            self._fail(exc)
            return False
        if self._failing:
            self._failing = False
            log.warning("traces are written again to %s", self.directory)
        return True

    def _start(self, number: int, size: int) -> None:
        path = self._path(number)
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW, 0o640)
        self._number, self._size = number, size
        self._prune()
        if self.flush_every and self._flusher is None:
            self._flusher = threading.Thread(
                target=self._flush_loop, name=f"trace {self.prefix}", daemon=True
            )
            self._flusher.start()

    def _write_out(self) -> None:
        data = "".join(self._pending).encode("utf-8", "replace")
        self._pending.clear()
        view = memoryview(data)
        while view:
            view = view[os.write(self._fd, view) :]

    def _rotate(self) -> None:
        self._write_out()
        self._close()
        self._start(self._number + 1, 0)

    def _prune(self) -> None:
        """Delete the oldest files beyond ``keep`` (the current one counts)."""
        existing = numbered(self.directory, self.prefix)
        for _, path in existing[: max(0, len(existing) - self.keep)]:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()

    def _close(self) -> None:
        fd, self._fd = self._fd, -1
        if fd >= 0:
            with contextlib.suppress(OSError):
                os.close(fd)

    def _fail(self, exc: Exception) -> None:
        """Drop what waits (a full disk takes no more), close, and try again in RETRY s."""
        self.dropped += len(self._pending)
        self._pending.clear()
        self._close()
        self._retry_at = self._monotonic() + RETRY
        if not self._failing:
            self._failing = True
            log.warning(
                "traces to %s are not written: %s (retried every %g s)", self.directory, exc, RETRY
            )


# -- reading the tree: what the admin commands show -----------------------------------------


class OutsideActiveLog(LocalError):
    """A path that leaves the active log (``..``, absolute, or through a symbolic link)."""


def confined(root: Path, path: str) -> Path:
    """``root/path``, refused unless it stays inside ``root`` once links are resolved.

    An empty path or ``.`` is the root itself. Absolute paths and ``..``
    parts are refused as written, before the disk is asked; the resolved
    path is then checked again, so a symbolic link pointing out is refused
    too. The root itself must not be a link, or whatever it points to would
    become the active log.
    """
    text = path.strip()
    pure = PurePosixPath(text)
    if pure.is_absolute() or "\\" in text or "\0" in text or ".." in pure.parts:
        raise OutsideActiveLog(f"{path}: only paths inside the active log can be named")
    if root.is_symlink():
        raise OutsideActiveLog(f"{root} is a symbolic link: the active log must be a directory")
    base = root.resolve()
    target = (base / pure).resolve()
    if target != base and base not in target.parents:
        raise OutsideActiveLog(f"{path}: only paths inside the active log can be named")
    return target


@dataclass(frozen=True, slots=True)
class Entry:
    name: str
    size: int
    mtime: float
    is_dir: bool


def entries(directory: Path) -> list[Entry]:
    """What ``directory`` holds, by name; links that leave it are left out."""
    base = directory.resolve()
    found: list[Entry] = []
    for child in sorted(base.iterdir(), key=lambda p: p.name):
        try:
            real = child.resolve()
            if base not in real.parents:
                continue
            st = real.stat()
        except OSError:
            continue
        found.append(Entry(child.name, st.st_size, st.st_mtime, real.is_dir()))
    return found


def newest(directory: Path) -> Path | None:
    """The most recently written file of ``directory`` (what ``recent`` means to CUCM)."""
    files = [e for e in entries(directory) if not e.is_dir]
    if not files:
        return None
    latest = max(files, key=lambda e: (e.mtime, e.name))
    return directory.resolve() / latest.name

"""What one TFTP node serves: an immutable snapshot of its files, and the downloads it saw.

:func:`load_source` reads, in one unit of work, the node's files of the
current plan version, the known devices and the cluster's extra files
(uploaded with ``phonetrust tftp upload``, served by every TFTP node), then
the files of this machine's TFTP directory (``DATA/tftp``), and returns a
:class:`TftpSource`. The server
answers every request from that snapshot, in memory: signed bytes are made
when the plan changes (inside the change that publishes it), never per
request, and a reload swaps a whole new snapshot in, so a phone sees the old
files or the new ones, never a mix.

How a name is answered (:meth:`TftpSource.lookup`):

- refused names (:mod:`phonetrust.policy.tftpnames`: path tricks, key
  files, control characters, over-long) are missing, never asked elsewhere;
- ``CTLSEP<MAC>.tlv`` / ``ITLSEP<MAC>.tlv`` of a known device are the node's
  ``CTLFile.tlv`` / ``ITLFile.tlv``; of an unknown device, missing - a
  central TFTP may ask the device's own cluster (E2), because our ITL would
  break that phone's trust;
- ``CTLFile.tlv`` / ``ITLFile.tlv`` come from the plan only (never from the
  directory, never from a remote cluster);
- a device's ``SEP<MAC>.cnf.xml[.sgn|.enc.sgn]`` comes from the plan (the
  unsigned file is in the plan, and so served, only for profiles that do
  not encrypt: its content is the same plain text the ``.sgn`` carries);
- any other name: the plan, then the directory (this machine's override),
  then the cluster's extra files, then (E2) a remote cluster.

The directory is read with care (:func:`read_directory`): every symbolic
link is resolved, and a link - or a hard link - into the data directory
(keys, database, backups, master files), to the database wherever it is,
or to anything but a regular file is left out and logged, once per file
per load. Before, ``ln -s ../master.key DATA/tftp/firmware.bin`` served the
master key, and a link to the database served it - and, by opening it,
dropped SQLite's locks.

Downloads: each trust list or configuration served whole to a known device
is recorded by :class:`DownloadLog` - under the plan's file name, so a
device has one ``ITLFile.tlv`` row whichever name it asked for.
"""

from __future__ import annotations

import hashlib
import logging
import os
import stat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from phonetrust.errors import LocalError
from phonetrust.policy import params as P
from phonetrust.policy.domain import Service
from phonetrust.policy.tftpnames import CONFIGS, NameKind, RefusedName, TftpName, interpret
from phonetrust.service.changes import reading
from phonetrust.service.context import Context
from phonetrust.service.context import node as node_of
from phonetrust.store.repository import Download

log = logging.getLogger("phonetrust.tftp")

DIRECTORY_FILE_LIMIT = 512 * 1024 * 1024
"""A file of the TFTP directory larger than this is left out (and logged)."""


@dataclass(frozen=True, slots=True)
class Stored:
    """One file's bytes and SHA-1, hashed once per snapshot."""

    data: bytes
    sha1: str

    @classmethod
    def of(cls, data: bytes) -> Stored:
        return cls(data, hashlib.sha1(data).hexdigest())


@dataclass(frozen=True, slots=True)
class Resolved:
    """What a request gets: bytes, the plan (or directory) file they are, the device if any."""

    name: str
    file: str
    data: bytes
    sha1: str
    kind: NameKind
    device: str | None = None
    origin: str = "plan"
    """``plan``, ``directory``, ``extra`` (the cluster's uploaded files) or ``remote host:port``."""

    @property
    def record(self) -> bool:
        """A download worth recording: a trust list or configuration of a known device."""
        return self.device is not None and self.origin == "plan"


@dataclass(frozen=True, slots=True)
class Missing:
    reason: str
    remote: bool
    """The name may be asked of the alternate (remote cluster) servers."""
    name: TftpName | None = None


@dataclass(frozen=True, eq=False)
class TftpSource:
    node: str
    version: int
    plan: Mapping[str, Stored] = field(default_factory=dict)
    directory: dict[str, Stored] = field(default_factory=dict)
    devices: frozenset[str] = frozenset()
    alternates: tuple[tuple[str, int], ...] = ()
    """Remote TFTP servers from the "Alternate Cisco File Servers" parameter."""
    extra: dict[str, Stored] = field(default_factory=dict)
    """The cluster's extra files (``tftp upload``), served by every node after the directory."""

    def resolve(self, name: str) -> Resolved | None:
        found = self.lookup(name)
        return found if isinstance(found, Resolved) else None

    def lookup(self, name: str) -> Resolved | Missing:
        try:
            wanted = interpret(name)
        except RefusedName as exc:
            return Missing(exc.reason, remote=False)
        kind, device = wanted.kind, wanted.device
        if kind in (NameKind.CTL_DEVICE, NameKind.ITL_DEVICE):
            if device not in self.devices:
                return Missing(f"unknown device {device}", remote=True, name=wanted)
            return self._plan(wanted, f"no {wanted.plan_name} published on {self.node}")
        if kind in (NameKind.CTL, NameKind.ITL):
            return self._plan(wanted, f"no {wanted.plan_name} published on {self.node}")
        if kind in CONFIGS and device in self.devices:
            return self._plan(wanted, f"{wanted.name} is not in the file plan")
        stored = self.plan.get(wanted.name)
        if stored is not None:
            return Resolved(wanted.name, wanted.name, stored.data, stored.sha1, kind, device)
        for origin, files in (("directory", self.directory), ("extra", self.extra)):
            stored = files.get(wanted.name)
            if stored is not None:
                return Resolved(
                    wanted.name, wanted.name, stored.data, stored.sha1, kind, None, origin
                )
        what = f"unknown device {device}" if device is not None else "no such file"
        return Missing(what, remote=True, name=wanted)

    def _plan(self, wanted: TftpName, reason: str) -> Resolved | Missing:
        stored = self.plan.get(wanted.plan_name)
        if stored is None:
            return Missing(reason, remote=False, name=wanted)
        return Resolved(
            wanted.name, wanted.plan_name, stored.data, stored.sha1, wanted.kind, wanted.device
        )


def default_tftp_dir(ctx: Context) -> Path:
    """``DATA/tftp``, in the data directory the cluster key was read from."""
    if ctx.keys.home is None:
        raise LocalError("no data directory here: name the TFTP directory")
    return ctx.keys.home / "tftp"


def load_source(ctx: Context, node: str, *, tftp_dir: Path | None = None) -> TftpSource:
    """The snapshot ``node`` serves now (blocking: run it in a thread from the server)."""
    with reading(ctx) as uow:
        host = node_of(uow, node)
        if not host.runs(Service.TFTP):
            raise LocalError(f"{node} does not run TFTP")
        version = uow.current_version()
        plan = {}
        for name in uow.published_names(node, version):
            data = uow.published_file(node, name, version)
            if data is not None:
                plan[name] = Stored.of(data)
        devices = frozenset(d.name for d in uow.list_devices())
        alternates = P.EnterpriseParams.from_stored(uow.get_params()).alternate_file_servers
        extra = servable_extra(uow.list_tftp_extra())
    root = tftp_dir if tftp_dir is not None else default_tftp_dir(ctx)
    home = ctx.keys.home
    if home is not None and home.resolve().is_relative_to(root.resolve()):
        raise LocalError(f"{root} holds the data directory's keys: it cannot be the TFTP directory")
    protected = [home] if home is not None else []
    protected += _database_files(getattr(ctx.repo, "url", None))
    directory = read_directory(root, protected=protected)
    return TftpSource(node, version, plan, directory, devices, alternates, extra)


def servable_name(name: str) -> str | None:
    """Why ``name`` may not be served from the directory or the extra files; None if it may."""
    try:
        wanted = interpret(name)
    except RefusedName as exc:
        return exc.reason
    if wanted.trust_list:
        return "the file plan owns that name"
    if wanted.name != name:
        return f"TFTP knows that name as {wanted.name!r}"
    return None


def servable_extra(files: Mapping[str, bytes]) -> dict[str, Stored]:
    """The cluster's extra files that may be served (names are checked again on every load)."""
    out: dict[str, Stored] = {}
    for name, data in files.items():
        why = servable_name(name)
        if why is not None:
            log.warning("TFTP extra file %r left out: %s", name, why)
            continue
        out[name] = Stored.of(data)
    return out


def _database_files(url: object) -> list[Path]:
    """A SQLite database's file and its ``-wal`` / ``-shm`` companions, wherever they are."""
    if not isinstance(url, str):
        return []
    try:
        parsed = make_url(url)
    except ArgumentError:
        return []
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return []
    db = Path(parsed.database)
    return [db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")]


def read_directory(root: Path, *, protected: Iterable[Path] = ()) -> dict[str, Stored]:
    """The servable files under ``root``: not hidden, not key material, not trust lists.

    Every symbolic link is resolved. A link to a regular file elsewhere (an
    administrator may link firmware kept outside) is served under the link's
    name; a link into ``protected`` (the data directory - keys, database,
    backups, master files - and the database's own files) other than into
    ``root`` itself, to a target whose own name TFTP refuses (a key, a
    hidden file), or to anything but a regular file is left out. So is a
    hard link to a file of ``protected``. Links to directories are not
    followed. Each file left out is logged once (per load).
    """
    files: dict[str, Stored] = {}
    if not root.is_dir():
        return files
    guard = _Guard(root.resolve(), [p.resolve() for p in protected])
    for folder, dirs, names in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for linked in [d for d in dirs if (Path(folder) / d).is_symlink()]:
            relative = (Path(folder) / linked).relative_to(root).as_posix()
            log.warning("TFTP directory: %s left out: a link to a directory", relative)
        for filename in sorted(names):
            path = Path(folder) / filename
            relative = path.relative_to(root).as_posix()
            why = servable_name(relative)
            if why is not None:
                log.info("TFTP directory: %s left out: %s", relative, why)
                continue
            try:
                found = guard.read(path)
            except OSError as exc:
                log.warning("TFTP directory: %s unreadable: %s", relative, exc)
                continue
            if isinstance(found, str):
                log.warning("TFTP directory: %s left out: %s", relative, found)
                continue
            files[relative] = found
    return files


class _Guard:
    """Reads a file of the TFTP directory only if it is safe to serve; else says why not."""

    def __init__(self, root: Path, protected: list[Path]) -> None:
        self.root = root
        self.protected = protected
        self._inodes: set[tuple[int, int]] | None = None

    def read(self, path: Path) -> Stored | str:
        info = os.lstat(path)
        target = path
        if stat.S_ISLNK(info.st_mode):
            try:
                target = path.resolve(strict=True)
            except (OSError, RuntimeError) as exc:  # broken, or a loop (RuntimeError up to 3.12)
                return f"a link that leads nowhere ({exc})"
            why = self._refused_target(target)
            if why is not None:
                return f"it links to {target}, {why}"
            info = os.stat(target)  # the target itself: no longer a link
        if not stat.S_ISREG(info.st_mode):
            return "not a regular file"
        if info.st_size > DIRECTORY_FILE_LIMIT:
            return f"larger than {DIRECTORY_FILE_LIMIT} bytes"
        if info.st_nlink > 1 and (info.st_dev, info.st_ino) in self._protected_inodes():
            return "a hard link to a file of the data directory"
        return _read_regular(target, info)

    def _refused_target(self, target: Path) -> str | None:
        if target.is_relative_to(self.root):
            why = servable_name(target.relative_to(self.root).as_posix())
            return None if why is None else f"which TFTP does not serve: {why}"
        if any(target.is_relative_to(p) for p in self.protected):
            return "inside the data directory (keys, database, backups)"
        if any(part.startswith(".") for part in target.parts) or servable_name(target.name):
            return "a hidden file or key material"
        return None

    def _protected_inodes(self) -> set[tuple[int, int]]:
        """The files of the protected places, by device and inode (read when first needed)."""
        if self._inodes is None:
            self._inodes = set()
            for place in self.protected:
                paths = [place] if not place.is_dir() else _files_under(place, self.root)
                for path in paths:
                    try:
                        info = os.lstat(path)
                    except OSError:
                        continue
                    if stat.S_ISREG(info.st_mode):
                        self._inodes.add((info.st_dev, info.st_ino))
        return self._inodes


def _files_under(place: Path, skip: Path) -> list[Path]:
    """Every name under ``place`` (links not followed), less the ``skip`` tree."""
    found: list[Path] = []
    for folder, dirs, names in os.walk(place):
        dirs[:] = [d for d in dirs if not (Path(folder) / d).is_relative_to(skip)]
        found.extend(Path(folder) / name for name in names)
    return found


def _read_regular(path: Path, expected: os.stat_result) -> Stored | str:
    """The bytes of ``path`` if it is still the regular file ``expected`` describes."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    fd = os.open(path, flags)
    with os.fdopen(fd, "rb") as file:
        now = os.fstat(file.fileno())
        if (now.st_dev, now.st_ino) != (expected.st_dev, expected.st_ino):
            return "it changed while it was read"
        data = file.read(DIRECTORY_FILE_LIMIT + 1)
    if len(data) > DIRECTORY_FILE_LIMIT:
        return f"larger than {DIRECTORY_FILE_LIMIT} bytes"
    return Stored.of(data)


class DownloadLog:
    """Downloads seen by the server, written in one unit of work per :meth:`flush`.

    ``add`` is called on the event loop, ``flush`` in a worker thread: the
    batch is swapped out in one step, so no record is lost or written twice.
    """

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self._pending: dict[tuple[str, str], Download] = {}

    def add(self, resolved: Resolved, node: str, at: datetime) -> None:
        if resolved.device is None:
            return
        self._pending[resolved.device, resolved.file] = Download(
            resolved.device, resolved.file, node, resolved.sha1, len(resolved.data), at
        )

    @property
    def pending(self) -> int:
        return len(self._pending)

    def flush(self) -> int:
        """Write what was added since the last flush; returns how many records.

        A batch the store refuses (a write lock held past the busy timeout, an
        administrator's question pending in a change) is kept for the next flush,
        under anything added since: records wait, they are not lost.
        """
        batch, self._pending = self._pending, {}
        if not batch:
            return 0
        try:
            with self._ctx.repo.unit_of_work() as uow:
                uow.record_downloads(list(batch.values()))
        except BaseException:
            self._pending = {**batch, **self._pending}
            raise
        return len(batch)

"""What one TFTP node serves: an immutable snapshot of its files, and the downloads it saw.

:func:`load_source` reads, in one unit of work, the node's files of the
current plan version and the known devices, then the files of the TFTP
directory (``DATA/tftp``), and returns a :class:`TftpSource`. The server
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
- any other name: the plan, then the directory, then (E2) a remote cluster.

Downloads: each trust list or configuration served whole to a known device
is recorded by :class:`DownloadLog` - under the plan's file name, so a
device has one ``ITLFile.tlv`` row whichever name it asked for.
"""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

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
    """``plan``, ``directory`` or ``remote host:port``."""

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
    plan: dict[str, Stored] = field(default_factory=dict)
    directory: dict[str, Stored] = field(default_factory=dict)
    devices: frozenset[str] = frozenset()
    alternates: tuple[tuple[str, int], ...] = ()
    """Remote TFTP servers from the "Alternate Cisco File Servers" parameter."""

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
        stored = self.directory.get(wanted.name)
        if stored is not None:
            return Resolved(
                wanted.name, wanted.name, stored.data, stored.sha1, kind, None, "directory"
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
        alternates = P.parse_servers(P.effective(uow.get_params())[P.ALTERNATE_FILE_SERVERS])
    root = tftp_dir if tftp_dir is not None else default_tftp_dir(ctx)
    home = ctx.keys.home
    if home is not None and home.resolve().is_relative_to(root.resolve()):
        raise LocalError(f"{root} holds the data directory's keys: it cannot be the TFTP directory")
    directory = read_directory(root)
    return TftpSource(node, version, plan, directory, devices, tuple(alternates))


def read_directory(root: Path) -> dict[str, Stored]:
    """The servable files under ``root``: not hidden, not key material, not trust lists.

    Symbolic links to files are followed (an administrator may link firmware
    kept elsewhere); links to directories are not.
    """
    files: dict[str, Stored] = {}
    if not root.is_dir():
        return files
    for folder, dirs, names in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for filename in sorted(names):
            path = Path(folder) / filename
            relative = path.relative_to(root).as_posix()
            try:
                wanted = interpret(relative)
            except RefusedName as exc:
                log.info("TFTP directory: %s left out: %s", relative, exc.reason)
                continue
            if wanted.trust_list or wanted.name != relative:
                log.info("TFTP directory: %s left out: the file plan owns that name", relative)
                continue
            try:
                if not path.is_file() or path.stat().st_size > DIRECTORY_FILE_LIMIT:
                    log.info("TFTP directory: %s left out: not a file, or too large", relative)
                    continue
                files[relative] = Stored.of(path.read_bytes())
            except OSError as exc:
                log.warning("TFTP directory: %s unreadable: %s", relative, exc)
    return files


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
        """Write what was added since the last flush; returns how many records."""
        batch, self._pending = self._pending, {}
        if not batch:
            return 0
        with self._ctx.repo.unit_of_work() as uow:
            uow.record_downloads(list(batch.values()))
        return len(batch)

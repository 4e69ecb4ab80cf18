"""The cluster's extra TFTP files: uploaded once, served by every TFTP node.

Firmware, ring lists, locales and backgrounds used to come only from
``DATA/tftp``, a directory that exists on one machine: a subscriber serving
from another machine lacked them. Files uploaded here live in the cluster's
database (``tftp_extra_files``) and every TFTP node serves them beside its
file plan (:mod:`phonetrust.service.tftpfiles`): the plan wins a name clash,
and a machine's own ``DATA/tftp`` still overrides them there.

Each upload or delete is a :func:`~phonetrust.service.changes.change`: it
is audited and publishes a new plan version, which is what makes a running
``serve`` reload and serve the new set. A name TFTP would never serve (key
material, hidden, path tricks, a trust list or a name the plan owns) is
refused, and so is a file over :data:`EXTRA_FILE_LIMIT`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from phonetrust.errors import LocalError
from phonetrust.service.changes import change, reading
from phonetrust.service.context import Context
from phonetrust.service.tftpfiles import servable_name

EXTRA_FILE_LIMIT = 64 * 1024 * 1024
"""The largest extra file: phone firmware images are a few MiB to ~40 MiB."""


@dataclass(frozen=True, slots=True)
class ExtraFile:
    name: str
    size: int
    sha1: str

    @classmethod
    def of(cls, name: str, data: bytes) -> ExtraFile:
        return cls(name, len(data), hashlib.sha1(data).hexdigest())


def _checked(name: str) -> str:
    why = servable_name(name)
    if why is not None:
        raise LocalError(f"TFTP never serves {name!r} as an extra file: {why}")
    return name


def upload(ctx: Context, name: str, data: bytes) -> ExtraFile:
    """Store ``data`` as the extra file ``name`` (replacing one of that name)."""
    _checked(name)
    if len(data) > EXTRA_FILE_LIMIT:
        raise LocalError(
            f"{name}: {len(data)} bytes is over the {EXTRA_FILE_LIMIT // (1024 * 1024)} MiB "
            "an extra TFTP file may have"
        )
    found = ExtraFile.of(name, data)
    with change(ctx, "tftp upload", f"{name} ({found.size} bytes, sha1 {found.sha1})") as ch:
        uow = ch.uow
        uow.put_tftp_extra(name, data, ctx.now())
    return found


def list_files(ctx: Context) -> list[ExtraFile]:
    """The extra files, by name."""
    with reading(ctx) as uow:
        files = uow.list_tftp_extra()
    return [ExtraFile.of(name, data) for name, data in sorted(files.items())]


def delete(ctx: Context, name: str) -> None:
    """Remove the extra file ``name``; an unknown name changes nothing and says so."""
    with change(ctx, "tftp delete", name) as ch:
        uow = ch.uow
        if not uow.delete_tftp_extra(name):
            raise LocalError(f"no extra TFTP file named {name!r}")

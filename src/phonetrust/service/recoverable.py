"""Which phones an ITL reset can reach (C6): those whose ITL holds the ITLRecovery record.

``utils itl reset`` signs the ITL with the publisher's ITLRecovery key; a
phone takes that ITL only when the ITL it already holds names that
certificate (an ITL from before a rebuild, or from before the recovery key
was regenerated, does not). The server knows each device's last ITL
download by its SHA-1 (the TFTP download log, as ``show itl`` checksums and
the phones' DeviceTLInfo alarm give it); it finds those bytes among the ITLs
it has published (the plan versions the store keeps) and reads the record
there.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from phonetrust.errors import ParseError
from phonetrust.formats.trustlist import TrustList
from phonetrust.service.changes import reading
from phonetrust.service.context import Context, itl_recovery
from phonetrust.service.fileplan import ITL_NAME
from phonetrust.store.repository import Download, UnitOfWork


@dataclass(frozen=True, slots=True)
class RecoveryReach:
    """One device: the ITL it last downloaded, and whether an ITL reset would reach it."""

    device: str
    itl_sha1: str | None = None
    node: str | None = None
    at: datetime | None = None
    holds_recovery: bool | None = None
    """True: that ITL holds the current ITLRecovery record; False: it does not; None: no ITL
    download recorded, or one whose bytes this server no longer keeps."""


def recovery_reach(ctx: Context) -> list[RecoveryReach]:
    """Every device of the cluster, by name, with what its last ITL download says (C6)."""
    with reading(ctx) as uow:
        recovery = itl_recovery(uow)
        names = [d.name for d in uow.list_devices()]
        last = {d.device: d for d in uow.list_downloads() if d.filename == ITL_NAME}
        known = _published_itls(
            uow, {d.sha1 for d in last.values()}, {d.node for d in last.values()}
        )
    out = []
    for name in names:
        download = last.get(name)
        if download is None:
            out.append(RecoveryReach(name))
            continue
        data = known.get(download.sha1)
        holds = None
        if data is not None:
            holds = recovery is not None and _holds(data, recovery.der)
        out.append(_row(name, download, holds))
    return out


def _row(name: str, download: Download, holds: bool | None) -> RecoveryReach:
    return RecoveryReach(name, download.sha1, download.node, download.at, holds)


def _holds(itl: bytes, recovery_der: bytes) -> bool:
    try:
        records = TrustList.from_wire(itl).records
    except ParseError:
        return False
    return any(r.role is not None and r.matches_certificate(recovery_der) for r in records)


def _published_itls(uow: UnitOfWork, wanted: set[str], served_by: set[str]) -> dict[str, bytes]:
    """{SHA-1: bytes} of the wanted ITLs, searched from the newest plan version back."""
    found: dict[str, bytes] = {}
    hosts = served_by | {n.host for n in uow.list_nodes()}
    version = uow.current_version()
    while wanted - found.keys() and version > 0:
        files = [uow.published_file(h, ITL_NAME, version) for h in sorted(hosts)]
        if not any(files):
            break  # this version (and every older one) was pruned
        for data in files:
            if data is not None:
                sha1 = hashlib.sha1(data).hexdigest()
                if sha1 in wanted:
                    found[sha1] = data
        version -= 1
    return found

"""Finding phones among ten thousand: the filters of Find and List, and what they read.

``inventory.list_devices`` reads every device row (about 0.1 s per 10,000
on a quiet machine, much more under load), and the planner's trust state
of every phone is a whole-cluster prediction (about a second), so neither
can run on every page view. :class:`PhoneIndex` keeps both for the served
application:

- the device list is read again when the cluster may have changed: a new
  plan version or a new newest audit entry (every change to a device, from
  the CLI, the API or the CAPF service, is audited) - two indexed queries a
  request - or a change made through these pages and this API, which
  :meth:`PhoneIndex.touch` records. A list older than :data:`MAX_AGE` is
  read again in the background while the old one is served, for the rare
  change that leaves no new audit entry (two identical entries in a row);
- the trust states are computed only when a page asks for them (the trust
  filter), once per device list, and refreshed in the background when
  older than :data:`TRUST_AGE` (phones keep booting: their downloads move
  the verdicts without any change to the cluster).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from phonetrust.errors import LocalError
from phonetrust.pki.lsc import KEY_SPECS
from phonetrust.planner.predict import Outcome, PhoneVerdict, reboot_all
from phonetrust.policy.capfauth import generate_auth_string
from phonetrust.policy.domain import CapfAuthMode, CapfOperation, Device
from phonetrust.service import inventory
from phonetrust.service.changes import reading
from phonetrust.service.context import Context

MAX_AGE = 30.0
"""Seconds after which a device list is refreshed in the background (see the docstring)."""
TRUST_AGE = 60.0
"""Seconds after which the trust states are recomputed in the background."""

CAPF_STATES = {
    "pending": "Operation pending",
    "locked": "Locked (wrong authentication strings)",
    "expired": "Operation expired",
    "none": "No Pending Operation",
}
TRUST_STATES = {
    "all": "Any (show the column)",
    "locks": "Locked: would lock on reboot",
    "keeps": "Keeps its lists",
    "moves": "Takes new lists (signer, TVS or first use)",
    "unknown": "Unknown: never booted",
}
_MOVES = frozenset({Outcome.SIGNER, Outcome.TVS, Outcome.FIRST_USE})
FILTER_KEYS = ("name", "model", "group", "profile", "capf", "trust")
SORTS: dict[str, Callable[[Device], Any]] = {
    "name": lambda d: d.name,
    "description": lambda d: d.description,
    "model": lambda d: d.model,
    "protocol": lambda d: d.protocol.value,
    "group": lambda d: d.group,
    "profile": lambda d: d.profile,
    "capf": lambda d: d.capf_operation.value,
}


def capf_state(device: Device, now: datetime) -> str:
    """One of :data:`CAPF_STATES`: what Find and List shows in its CAPF column."""
    if device.capf_operation is CapfOperation.NONE:
        return "none"
    if device.capf_locked_at is not None:
        return "locked"
    if device.capf_expires is not None and _naive(now) > _naive(device.capf_expires):
        return "expired"
    return "pending"


def _naive(at: datetime) -> datetime:
    return at.replace(tzinfo=None) if at.tzinfo is not None else at


def trust_key(verdict: PhoneVerdict | None) -> str:
    if verdict is None:
        return "unknown"
    if verdict.outcome is Outcome.LOCKS:
        return "locks"
    if verdict.outcome is Outcome.KEEPS:
        return "keeps"
    return "moves" if verdict.outcome in _MOVES else "unknown"


log = logging.getLogger("phonetrust.web")


@dataclass(frozen=True, slots=True)
class Filters:
    """The search of Find and List; empty fields match everything."""

    name: str = ""
    model: str = ""
    group: str = ""
    profile: str = ""
    capf: str = ""
    trust: str = ""

    @classmethod
    def read(cls, query: Mapping[str, str]) -> Filters:
        """From a query string or form; unknown choices are ignored, text is cut to 64."""
        capf = query.get("capf", "")
        trust = query.get("trust", "")
        return cls(
            name=query.get("name", "").strip()[:64],
            model=query.get("model", "").strip()[:64],
            group=query.get("group", "").strip()[:128],
            profile=query.get("profile", "").strip()[:256],
            capf=capf if capf in CAPF_STATES else "",
            trust="locks" if trust == "locked" else trust if trust in TRUST_STATES else "",
        )

    @property
    def any(self) -> bool:
        return any(getattr(self, k) for k in FILTER_KEYS)

    def as_query(self) -> dict[str, str]:
        return {k: getattr(self, k) for k in FILTER_KEYS if getattr(self, k)}

    def apply(
        self,
        devices: Iterable[Device],
        now: datetime,
        trust: Mapping[str, PhoneVerdict] | None = None,
    ) -> list[Device]:
        """The devices that match: name a case-insensitive substring, the others exact."""
        name = self.name.upper()
        wanted = self.trust if self.trust and self.trust != "all" else ""
        out = []
        for d in devices:
            if name and name not in d.name and name not in d.description.upper():
                continue
            if self.model and d.model.lower() != self.model.lower():
                continue
            if self.group and d.group != self.group:
                continue
            if self.profile and d.profile != self.profile:
                continue
            if self.capf and capf_state(d, now) != self.capf:
                continue
            if wanted and trust is not None and trust_key(trust.get(d.name)) != wanted:
                continue
            out.append(d)
        return out


@dataclass
class Snapshot:
    """The device list at one moment, and its orders by each column (made when first asked)."""

    devices: tuple[Device, ...]
    marker: tuple[object, ...]
    generation: int
    read_at: float
    orders: dict[str, tuple[Device, ...]] = field(default_factory=dict)
    models: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    profiles: tuple[str, ...] = ()

    def ordered(self, sort: str) -> tuple[Device, ...]:
        """All devices sorted by ``sort`` (then name), ascending; cached per column."""
        if sort not in self.orders:
            key = SORTS.get(sort, SORTS["name"])
            self.orders[sort] = tuple(
                sorted(self.devices, key=lambda d: (str(key(d)).lower(), d.name))
            )
        return self.orders[sort]


@dataclass
class TrustStates:
    verdicts: dict[str, PhoneVerdict]
    generation: tuple[object, ...]
    computed_at: float
    as_of: datetime


class PhoneIndex:
    """The served application's device list and trust states (the module docstring)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._trust_lock = threading.Lock()
        self._generation = 0
        self._snapshot: Snapshot | None = None
        self._trust: TrustStates | None = None
        self._refreshing = False
        self._trust_refreshing = False

    def touch(self) -> None:
        """A change was made through these pages or this API: read the list again."""
        with self._lock:
            self._generation += 1

    def snapshot(self, ctx: Context) -> Snapshot:
        with reading(ctx) as uow:
            newest = uow.list_audit(limit=1)
            marker: tuple[object, ...] = (uow.current_version(), *newest)
        with self._lock:
            current, generation = self._snapshot, self._generation
        if current is None or current.marker != marker or current.generation != generation:
            return self._read(ctx, marker, generation)
        if time.monotonic() - current.read_at > MAX_AGE:
            self._background(lambda: self._read(ctx, marker, generation), "_refreshing")
        return current

    def _read(self, ctx: Context, marker: tuple[object, ...], generation: int) -> Snapshot:
        devices = tuple(inventory.list_devices(ctx))
        snap = Snapshot(
            devices,
            marker,
            generation,
            time.monotonic(),
            models=tuple(sorted({d.model for d in devices})),
            groups=tuple(sorted({d.group for d in devices})),
            profiles=tuple(sorted({d.profile for d in devices})),
        )
        snap.orders["name"] = devices  # the store lists them by name
        with self._lock:
            if self._generation == generation:
                self._snapshot = snap
        return snap

    def _background(self, work: Callable[[], object], flag: str) -> None:
        with self._lock:
            if getattr(self, flag):
                return
            setattr(self, flag, True)

        def run() -> None:
            try:
                work()
            except Exception:  # the next request tries again; the reason is kept in the log
                log.exception("the phone list could not be read again (%s)", flag)
            finally:
                setattr(self, flag, False)

        threading.Thread(target=run, daemon=True, name="phone-index").start()

    def trust(self, ctx: Context, snap: Snapshot) -> TrustStates:
        """Every phone's verdict if it rebooted now (``planner.predict``), for ``snap``."""
        key = (snap.marker, snap.generation)
        found = self._trust
        if found is not None and found.generation == key:
            if time.monotonic() - found.computed_at > TRUST_AGE:
                self._background(lambda: self._predict(ctx, key), "_trust_refreshing")
            return found
        return self._predict(ctx, key)

    def _predict(self, ctx: Context, key: tuple[object, ...]) -> TrustStates:
        with self._trust_lock:  # one prediction at a time: the second waits and reuses it
            found = self._trust
            if found is not None and found.generation == key and not self._trust_refreshing:
                return found
            with reading(ctx) as uow:
                _, prediction = reboot_all(uow, ctx.clock)
            states = TrustStates(
                {v.device: v for v in prediction.verdicts}, key, time.monotonic(), ctx.now()
            )
            self._trust = states
            return states


def index_of(app_state: Any) -> PhoneIndex:
    """The one :class:`PhoneIndex` of an application (kept on ``app.state``)."""
    found = getattr(app_state, "phone_index", None)
    if found is None:
        with _CREATE:
            found = getattr(app_state, "phone_index", None)
            if found is None:
                found = PhoneIndex()
                app_state.phone_index = found
    assert isinstance(found, PhoneIndex)  # noqa: S101 - only this module sets it
    return found


_CREATE = threading.Lock()


@dataclass(frozen=True, slots=True)
class Found:
    """One page of a search: its rows, how many matched, the trust states if asked for."""

    rows: Sequence[Device]
    total: int
    trust: Mapping[str, PhoneVerdict] | None
    trust_as_of: datetime | None
    snapshot: Snapshot


def search(
    index: PhoneIndex,
    ctx: Context,
    filters: Filters,
    *,
    sort: str = "name",
    desc: bool = False,
    offset: int = 0,
    limit: int = 50,
) -> Found:
    """The devices matching ``filters`` in ``sort`` order, ``limit`` of them from ``offset``."""
    snap = index.snapshot(ctx)
    states = index.trust(ctx, snap) if filters.trust else None
    verdicts = states.verdicts if states else None
    ordered: Sequence[Device] = snap.ordered(sort if sort in SORTS else "name")
    if desc:
        ordered = ordered[::-1]
    matched = filters.apply(ordered, ctx.now(), verdicts) if filters.any else ordered
    rows = matched[offset : offset + limit] if limit > 0 else []
    return Found(rows, len(matched), verdicts, states.as_of if states else None, snap)


# -- CAPF Information, as CUCM's phone page and Bulk Administration word it ---------------------

OPERATIONS = {
    "none": "No Pending Operation",
    "install": "Install/Upgrade",
    "delete": "Delete",
    "fetch": "Troubleshoot",
}
AUTH_MODES = {
    "null-string": "By Null String",
    "auth-string": "By Authentication String",
    "lsc-first": "By Existing Certificate (precedence to LSC)",
    "mic-first": "By Existing Certificate (precedence to MIC)",
}
_MODES = {
    "null-string": CapfAuthMode.NULL_STRING,
    "auth-string": CapfAuthMode.AUTH_STRING,
    "lsc-first": CapfAuthMode.EXISTING_LSC_FIRST,
    "mic-first": CapfAuthMode.EXISTING_MIC_FIRST,
}
AUTH_OF_MODE = {mode: key for key, mode in _MODES.items()}
KEYS = tuple(KEY_SPECS)


@dataclass(frozen=True, slots=True)
class CapfOrder:
    """One CAPF operation to schedule, checked as ``device capf`` checks its options."""

    operation: str
    auth: str = "null-string"
    auth_string: str = ""
    key: str = "RSA-2048"

    def __post_init__(self) -> None:
        if self.operation not in OPERATIONS:
            raise LocalError(f"Unknown certificate operation {self.operation!r}")
        if self.auth not in AUTH_MODES:
            raise LocalError(f"Unknown authentication mode {self.auth!r}")
        if self.key not in KEY_SPECS:
            raise LocalError(f"Unknown key {self.key!r}; use one of " + ", ".join(KEY_SPECS))

    @property
    def wants_string(self) -> bool:
        return self.auth == "auth-string"


def schedule(ctx: Context, names: Sequence[str], order: CapfOrder) -> tuple[list[Device], str]:
    """Schedule ``order`` for each of ``names`` as ``device capf`` does: the devices, and the
    authentication string when one was generated (only its hash is stored: it is shown once).

    One string for all of them, as CUCM's bulk update gives one. The first refusal stops
    the rest (the devices before it keep their new operation), and says which device."""
    string = order.auth_string.strip()
    generated = ""
    if order.wants_string and not string:
        string = generated = generate_auth_string()
    done: list[Device] = []
    for name in names:
        try:
            done.append(
                inventory.schedule_capf(
                    ctx,
                    name,
                    operation=CapfOperation(order.operation),
                    auth_mode=_MODES[order.auth],
                    auth_string=string if order.wants_string else "",
                    key=order.key,
                )
            )
        except LocalError as exc:
            if not done:
                raise
            raise LocalError(f"{name}: {exc} ({len(done)} scheduled before it)") from None
    return done, generated

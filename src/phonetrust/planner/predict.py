"""What every phone would do if it rebooted now against a cluster: the planner's verdicts.

Each device's phone is made from its last known trust state
(:mod:`.lastknown`) and booted by the simulator's own code
(:class:`~phonetrust.sim.phone.Phone`) against the planned cluster's
servers in memory (:mod:`.offline`). Its boot report becomes one verdict:

- it **keeps** its lists (the files are the ones it holds, or none is served);
- it takes the new lists **on the signer's word** (the signer is in the lists it holds);
- it takes them **through TVS** (TVS vouches for the new signer);
- it takes its **first** lists (none held: trust on first use);
- it **locks**: a list or its configuration is refused, in the phone's words;
- **unknown**: never seen (no download recorded), so nothing can be said.

Phones in identical states judging identical files reach identical
verdicts, so a boot is run once per such class and its report shared: a
10,000-phone cluster is mostly a few classes plus each phone's own
configuration file.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum

from phonetrust.clock import Clock
from phonetrust.formats.encsgn import KnownPlaintext
from phonetrust.planner.lastknown import KnownPhone, last_known
from phonetrust.planner.offline import Servers
from phonetrust.policy.domain import Device
from phonetrust.policy.models import model as phone_model
from phonetrust.policy.phone_decisions import FILE_NOT_FOUND, Via
from phonetrust.policy.phone_trust import PhoneTrust
from phonetrust.sim.phone import TFTP_PORT, BootReport, Phone
from phonetrust.store.repository import UnitOfWork

LIST_PREFIXES = ("CTL", "ITL")
NOT_FOUND_PREFIX = FILE_NOT_FOUND.partition("<")[0]


class Outcome(Enum):
    KEEPS = "keeps its lists"
    SIGNER = "takes the new lists on the signer's word"
    TVS = "takes the new lists through TVS"
    FIRST_USE = "takes its first lists (trust on first use)"
    LOCKS = "locks"
    UNKNOWN = "unknown: never seen"

    @property
    def key(self) -> str:
        """The verdict's name in ``--json`` output."""
        return self.name.lower()


@dataclass(frozen=True, slots=True)
class PhoneVerdict:
    """One phone's predicted boot."""

    device: str
    model: str
    group: str
    outcome: Outcome
    reason: str = ""
    """Why it locks, in the phone's words (status message and the refused file), or why
    it is unknown."""
    ctl_md5: str | None = None
    itl_md5: str | None = None
    """The lists it holds after the boot (MD5, as ``show ctl`` / ``show itl`` print them)."""
    after: PhoneTrust | None = field(default=None, compare=False, repr=False)
    """Its trust state after the boot: the phone a ``reboot`` step leaves behind."""


@dataclass(frozen=True, slots=True)
class Prediction:
    verdicts: tuple[PhoneVerdict, ...]

    def count(self, outcome: Outcome) -> int:
        return sum(1 for v in self.verdicts if v.outcome is outcome)

    def counts(self) -> dict[Outcome, int]:
        found = Counter(v.outcome for v in self.verdicts)
        return {o: found[o] for o in Outcome}

    def of(self, outcome: Outcome) -> list[PhoneVerdict]:
        return [v for v in self.verdicts if v.outcome is outcome]

    @property
    def locked(self) -> list[PhoneVerdict]:
        return self.of(Outcome.LOCKS)

    def breakdown(self, by: str) -> dict[str, dict[Outcome, int]]:
        """{model or group: {outcome: count}} (``by``: ``model`` or ``group``)."""
        out: dict[str, Counter[Outcome]] = {}
        for v in self.verdicts:
            out.setdefault(getattr(v, by), Counter())[v.outcome] += 1
        return {k: {o: c[o] for o in Outcome if c[o]} for k, c in sorted(out.items())}

    def verdict(self, device: str) -> PhoneVerdict | None:
        for v in self.verdicts:
            if v.device == device:
                return v
        return None


def predict(
    known: Mapping[str, KnownPhone], servers: Servers, clock: Clock, *, alike: bool = True
) -> Prediction:
    """Every known phone rebooted against ``servers``; unknown phones are said to be.

    ``alike``: phones alike boot once (the module docstring); False boots every phone, the
    plain path the shortcut must equal (tests hold it to that).
    """
    return asyncio.run(_predict(known.values(), servers, clock, alike))


def reboot_all(
    uow: UnitOfWork, clock: Clock, *, version: int | None = None
) -> tuple[dict[str, KnownPhone], Prediction]:
    """Every phone of the cluster, as its downloads until ``version`` left it (the current
    one by default), rebooted against the files ``uow`` sees: the phones as they are, and
    their verdicts. Keep ``uow`` open while the prediction runs; this does."""
    devices = uow.list_devices()
    known = last_known(uow, version=version, devices=devices)
    return known, predict(known, Servers.read(uow, devices=devices), clock)


async def _predict(
    known: Iterable[KnownPhone], servers: Servers, clock: Clock, alike: bool
) -> Prediction:
    network = servers.network()
    booted: dict[Hashable, tuple[str, BootReport, PhoneTrust]] = {}
    out: list[PhoneVerdict] = []
    for kp in known:
        device = kp.device
        model = phone_model(device.model)
        if kp.state is None or kp.tftp is None:
            why = kp.why_unknown or "its TFTP server is no longer in the cluster"
            out.append(PhoneVerdict(device.name, model.name, device.group, Outcome.UNKNOWN, why))
            continue
        after = servers.devices.get(device.name)
        key = (kp.state, kp.tftp, _config_class(after)) if alike else device.name
        if key not in booted:
            phone = Phone(
                device.name,
                model,
                (kp.tftp, TFTP_PORT),
                state=kp.state,
                clock=clock,
                network=network,
                enrol=False,
                device_key=_stand_in_key(servers, after, kp.state),
            )
            booted[key] = (phone.mac, await phone.boot(), phone.state)
        out.append(_verdict(kp, model.name, *booted[key]))
    return Prediction(tuple(out))


def _stand_in_key(servers: Servers, device: Device | None, state: PhoneTrust) -> object | None:
    """What opens the phone's encrypted configuration in a prediction: the document the
    cluster renders for it, when it holds a key (an LSC or MIC on record)."""
    if device is None or device.certificate is None or not (state.has_lsc or state.has_mic):
        return None
    document = servers.documents(device.name)
    return None if document is None else KnownPlaintext(document)


def _config_class(device: Device | None) -> Hashable:
    """What a device's configuration file is made of that a phone's verdict can depend on:
    its group (TVS servers, signer node), its profile (signed or encrypted, mode), whether
    it has a certificate to encrypt for. Two devices alike in these get files alike but
    for their names, which no decision reads."""
    if device is None:
        return None
    return (device.group, device.profile, device.model, device.certificate is not None)


def _verdict(
    kp: KnownPhone, model: str, mac: str, report: BootReport, after: PhoneTrust
) -> PhoneVerdict:
    device = kp.device
    outcome, reason = classify(report, mac)
    return PhoneVerdict(
        device.name,
        model,
        device.group,
        outcome,
        reason,
        report.ctl_md5,
        report.itl_md5,
        after,
    )


def classify(report: BootReport, mac: str = "") -> tuple[Outcome, str]:
    """A boot report's verdict, and why it locks in the phone's words (``mac`` made
    ``<MAC>`` so that phones locked alike read alike). A real boot's report is judged
    by this same function, which is what makes predicted and real boots comparable."""
    if report.locked:
        # A file the cluster does not serve (no CTL outside mixed mode) is not why it locks.
        said = [m for m in report.status if not m.startswith(NOT_FOUND_PREFIX)]
        words = "; ".join(dict.fromkeys(said)) or "refused"
        why = report.list_failed or report.config_failed or ""
        reason = f"{words}: {why}"
        return Outcome.LOCKS, reason.replace(mac, "<MAC>") if mac else reason
    return _list_outcome(report), ""


def _list_outcome(report: BootReport) -> Outcome:
    """The strongest thing the phone needed to take its lists (TVS > signer > first use)."""
    vias = [
        s.detail
        for s in report.steps
        if s.outcome == "accepted" and s.what.startswith(LIST_PREFIXES)
    ]
    if Via.TVS.value in vias or Via.TVS_CACHE.value in vias:
        return Outcome.TVS
    if Via.TRUST_LIST.value in vias:
        return Outcome.SIGNER
    if Via.TOFU.value in vias:
        return Outcome.FIRST_USE
    return Outcome.KEEPS

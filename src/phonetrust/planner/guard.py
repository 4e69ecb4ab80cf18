"""The lock-out guard: an administrator's change that would lock phones out asks first.

CUCM's only guard is the 5-minute hold between certificate regenerations.
This one runs inside every change an administrator's command makes (see
:class:`~phonetrust.service.context.ChangeGuard`): once the change's files
are published in its transaction, every phone the cluster has seen is
rebooted in memory against them (:mod:`.predict`); if any would lock, the
prediction is shown and the administrator is asked, after CUCM's own
questions. No: the transaction is rolled back, nothing changed. ``--yes``
shows the prediction and goes on, so scripts keep working.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import TYPE_CHECKING

from phonetrust.errors import LocalError
from phonetrust.service.context import Context
from phonetrust.store.repository import UnitOfWork

if TYPE_CHECKING:
    from phonetrust.planner.lastknown import KnownPhone
    from phonetrust.planner.predict import Prediction

SHOWN_PHONES = 5
QUESTION = "Go ahead and lock these phones out (yes/no)?"


class Declined(LocalError):
    """The administrator said no to a change the planner predicts will lock phones out."""


class PredictingGuard:
    """What every lock-out guard does: read what the phones hold before the change, then
    predict them against the change's files. Subclasses decide what a prediction leads to."""

    def __init__(self) -> None:
        self._known: dict[str, KnownPhone] = {}
        self.already: frozenset[str] = frozenset()
        """Phones locked before the change: it is not asked about those."""

    def begin(self, ctx: Context, uow: UnitOfWork) -> None:
        """What every phone holds, read before the change renames or removes anything, and
        which phones are locked already."""
        # The simulator loads only when a change is made: every admin command makes a guard.
        from phonetrust.planner.predict import reboot_all  # noqa: PLC0415

        self._known, now = reboot_all(uow, ctx.clock)
        self.already = frozenset(v.device for v in now.locked)

    def predict_after(self, ctx: Context, uow: UnitOfWork) -> Prediction | None:
        """The phones still in the cluster booted against the change's published files;
        None when none of them was ever seen (nothing to predict)."""
        from phonetrust.planner.offline import Servers  # noqa: PLC0415
        from phonetrust.planner.predict import predict  # noqa: PLC0415

        devices = uow.list_devices()
        known = {d.name: self._known[d.name] for d in devices if d.name in self._known}
        if all(k.state is None for k in known.values()):
            return None
        return predict(known, Servers.read(uow, devices=devices), ctx.clock)


class LockoutGuard(PredictingGuard):
    """Predicts each change's lock-outs; ``confirm`` asks, ``say`` prints."""

    def __init__(
        self,
        say: Callable[[str], None],
        confirm: Callable[[str], bool],
        *,
        assume_yes: bool = False,
    ) -> None:
        super().__init__()
        self.say, self.confirm, self.assume_yes = say, confirm, assume_yes
        self.last: Prediction | None = None
        """The last prediction made (tests and callers that want the figures)."""

    def __call__(self, ctx: Context, uow: UnitOfWork, before: int) -> None:
        prediction = self.predict_after(ctx, uow)
        if prediction is None:
            return
        self.last = prediction
        if not any(v.device not in self.already for v in prediction.locked):
            return
        for line in warning(prediction, self.already):
            self.say(line)
        if self.assume_yes:
            self.say("--yes: going ahead.")
            return
        if not self.confirm(QUESTION):
            raise Declined("Nothing was changed: the phones keep the files they have.")


def warning(prediction: Prediction, already: Collection[str] = ()) -> list[str]:
    """The prediction as the guard shows it: counts, then the first phones this change
    locks and why (phones locked ``already`` are counted apart)."""
    from phonetrust.planner.predict import Outcome  # noqa: PLC0415

    locked = [v for v in prediction.locked if v.device not in already]
    before = len(prediction.locked) - len(locked)
    total = len(prediction.verdicts)
    out = [
        f"WARNING: the planner predicts this change locks out {len(locked):,} of {total:,} "
        "phones when they next reboot:"
    ]
    for outcome, count in prediction.counts().items():
        if count and outcome is not Outcome.LOCKS:
            out.append(f"  {count:>7,}  {outcome.value}")
    if before:
        out.append(f"  {before:>7,}  locked already, whatever this change does")
    for verdict in locked[:SHOWN_PHONES]:
        out.append(f"  LOCKS {verdict.device} ({verdict.model}, group {verdict.group}): ")
        out[-1] += verdict.reason
    if len(locked) > SHOWN_PHONES:
        more = len(locked) - SHOWN_PHONES
        out.append(f"  ... and {more:,} more (phonetrust plan lists them all)")
    return out

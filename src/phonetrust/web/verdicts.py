"""The planner's verdict on a change, before it is made, and the change made under its guard.

A page that changes what phones download (regenerate a certificate, mixed
mode, an ITL reset, ...) shows first what the phones would do at their next
boot, and only then offers the button. Two calls give that:

- :func:`predict_change` runs the change for real inside its transaction,
  predicts every known phone's boot against the files it publishes, and
  always rolls it back: the verdict is the planner's, on the very files the
  change would publish (no second implementation of the change to drift).
- :func:`apply_change` runs it again, with the lock-out guard's rule: a
  change that newly locks phones goes through only if the administrator
  accepted it (the CLI's ``--yes``); otherwise it is rolled back and
  :class:`WouldLock` says why, with the verdict to show.

A refusal of the change itself (the 5-minute hold, not the publisher, ...)
is the service's :class:`~phonetrust.errors.LocalError`, raised by both
before any prediction, so the page shows CUCM's sentence.

Pages render a :class:`Verdict` with ``{% include "verdict.html" %}``
(variable ``verdict``); the API sends :meth:`Verdict.shape`.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, TypeVar

from phonetrust.planner.guard import Declined, PredictingGuard, warning
from phonetrust.service import shapes
from phonetrust.service.context import Context
from phonetrust.store.repository import UnitOfWork

if TYPE_CHECKING:
    from phonetrust.planner.predict import PhoneVerdict, Prediction

T = TypeVar("T")
SHOWN = 50
"""Locked phones listed on a page (the API lists them all)."""

__all__ = ["Verdict", "WouldLock", "apply_change", "predict_change"]


@dataclass(frozen=True, slots=True)
class Verdict:
    """What the phones would do at their next boot if the change were made.

    ``prediction`` is None when the change made no change to the cluster
    (nothing to predict) or when no phone was ever seen (nothing can be
    said: the CLI's guard stays silent then, so does this).
    """

    prediction: Prediction | None
    already: frozenset[str] = field(default_factory=frozenset)
    """Phones locked before the change, whatever it does (counted apart)."""

    @property
    def newly_locked(self) -> list[PhoneVerdict]:
        if self.prediction is None:
            return []
        return [v for v in self.prediction.locked if v.device not in self.already]

    @property
    def locks(self) -> int:
        return len(self.newly_locked)

    @property
    def total(self) -> int:
        return 0 if self.prediction is None else len(self.prediction.verdicts)

    def counts(self) -> list[tuple[str, str, int]]:
        """(key, CUCM-style words, count) per outcome, in the planner's order."""
        if self.prediction is None:
            return []
        return [(o.key, o.value, n) for o, n in self.prediction.counts().items()]

    def breakdown(self, by: str) -> list[tuple[str, dict[str, int]]]:
        """Per model or group (``by``): {outcome key: count}."""
        if self.prediction is None:
            return []
        return [
            (name, {o.key: n for o, n in counts.items()})
            for name, counts in self.prediction.breakdown(by).items()
        ]

    def lines(self) -> list[str]:
        """The lock-out guard's own warning (empty when nothing newly locks)."""
        if self.prediction is None or not self.locks:
            return []
        return warning(self.prediction, self.already)

    def shape(self) -> shapes.JsonObject:
        """The verdict as the API sends it: every locked phone, not only the first."""
        return {
            "predicted": self.prediction is not None,
            "total": self.total,
            "counts": {key: n for key, _, n in self.counts()},
            "newly_locked": self.locks,
            "locked_already": len(self.already),
            "by_model": {k: _json(v) for k, v in self.breakdown("model")},
            "by_group": {k: _json(v) for k, v in self.breakdown("group")},
            "locked": [
                {"device": v.device, "model": v.model, "group": v.group, "reason": v.reason}
                for v in self.newly_locked
            ],
        }


def _json(counts: dict[str, int]) -> shapes.JsonObject:
    return dict(counts.items())


class WouldLock(Declined):
    """The change would lock phones and the administrator did not accept it: rolled back."""

    def __init__(self, verdict: Verdict) -> None:
        first = verdict.lines()[0] if verdict.lines() else "the change locks phones out"
        super().__init__(f"{first} Nothing was changed: the phones keep the files they have.")
        self.verdict = verdict


class _Undone(Exception):
    """Raised by the predicting guard to roll the change back (never leaves this module)."""


class _Guard(PredictingGuard):
    """A :class:`~phonetrust.service.context.ChangeGuard` keeping the lock-out guard's rule
    (:class:`~phonetrust.planner.guard.LockoutGuard`), and the verdict for the page."""

    def __init__(self, *, undo: bool, accept: bool) -> None:
        super().__init__()
        self.undo, self.accept = undo, accept
        self.verdict: Verdict | None = None

    def __call__(self, ctx: Context, uow: UnitOfWork, before: int) -> None:
        prediction = self.predict_after(ctx, uow)
        self.verdict = Verdict(prediction, self.already) if prediction else Verdict(None)
        if self.undo:
            raise _Undone
        if self.verdict.locks and not self.accept:
            raise WouldLock(self.verdict)


def predict_change(ctx: Context, run: Callable[[Context], object]) -> Verdict:
    """``run(ctx)``'s verdict; the change is always rolled back.

    ``run`` must make its change through the service layer (one ``change``
    block: the first one is predicted and stops it). Its own refusals
    (:class:`~phonetrust.errors.LocalError`) propagate unchanged.
    """
    guard = _Guard(undo=True, accept=False)
    with _predicting, contextlib.suppress(_Undone):  # one at a time: each holds a write lock
        run(replace(ctx, guard=guard))
    return guard.verdict or Verdict(None)


_predicting = threading.Lock()


def apply_change(
    ctx: Context, run: Callable[[Context], T], *, accept_lockout: bool
) -> tuple[T, Verdict]:
    """``run(ctx)`` for real, under the lock-out guard's rule.

    Raises :class:`WouldLock` (rolled back) when it newly locks phones and
    ``accept_lockout`` is false: the admin ticked no "Go ahead even though N
    phones will be locked". Returns what ``run`` returned and the verdict.
    """
    guard = _Guard(undo=False, accept=accept_lockout)
    result = run(replace(ctx, guard=guard))
    return result, guard.verdict or Verdict(None)

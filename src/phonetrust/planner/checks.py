"""One line of a checklist: OK, WARN or FAIL, what proves it, and what to do.

Shared by the cluster checklist (:mod:`.diagnose`) and the services probe
(:mod:`.probe`), which the CLI prints and serialises alike.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import Enum


class Status(Enum):
    OK = "OK"
    WARN = "WARN"
    FAIL = "FAIL"


_RANK = {Status.OK: 0, Status.WARN: 1, Status.FAIL: 2}


@dataclass(frozen=True, slots=True)
class Check:
    """One line of the checklist: a verdict, what proves it, and what to do."""

    name: str
    """A short key (``--json``, tests)."""
    status: Status
    title: str
    detail: tuple[str, ...] = ()
    action: str = ""

    def as_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "status": self.status.value,
            "title": self.title,
            "detail": list(self.detail),
            "action": self.action,
        }


def worst(checks: Iterable[Check]) -> Status:
    return max((c.status for c in checks), key=_RANK.__getitem__, default=Status.OK)


def check(
    name: str,
    title: str,
    fails: Sequence[str],
    warns: Sequence[str],
    *,
    action: str = "",
    ok: Sequence[str] = (),
) -> Check:
    """FAIL with ``fails`` if any, else WARN with ``warns``, else OK with ``ok``."""
    if fails:
        return Check(name, Status.FAIL, title, (*fails, *warns), action)
    if warns:
        return Check(name, Status.WARN, title, tuple(warns), action)
    return Check(name, Status.OK, title, tuple(ok))

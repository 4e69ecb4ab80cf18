"""Cluster rules the administration enforces, with CUCM's own messages."""

from __future__ import annotations

from datetime import datetime, timedelta

from phonetrust.errors import LocalError
from phonetrust.policy.domain import CertName, Node, OwnCertificate

REGENERATION_HOLD = timedelta(minutes=5)


class HoldTimerError(LocalError):
    """A certificate of the node was regenerated less than five minutes ago (B3)."""


class NotPublisherError(LocalError):
    """The command runs on the publisher only (C3)."""


def check_regeneration_hold(
    histories: dict[CertName, list[OwnCertificate]], wanted: CertName, now: datetime
) -> None:
    """Refuse a regeneration within 5 minutes of another one on the same node (B3).

    Only regenerations count: the first certificate of each name was made at
    install time and holds nothing back.
    """
    for name, history in histories.items():
        if len(history) < 2:
            continue
        latest = max(history, key=lambda c: c.created_at)
        if now - latest.created_at < REGENERATION_HOLD:
            raise HoldTimerError(
                f"{name.value} certificate was modified in the last 5 minutes. Please re-try\n"
                f"regenerating {wanted.value} certificate at a later time"
            )


def require_publisher(node: Node, what: str = "This command") -> None:
    if not node.publisher:
        raise NotPublisherError(
            f"{what} can only be run on the publisher node; {node.host} is a subscriber"
        )

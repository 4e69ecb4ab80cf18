"""The one way to change the cluster, and the one way to look at it.

:func:`change` opens a unit of work, lets the use case modify the cluster,
then records the audit entry and publishes the new file plan in the same
transaction: phones can never see files that disagree with the database.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

from phonetrust.service import fileplan
from phonetrust.service.context import Context
from phonetrust.store.engine import read_only
from phonetrust.store.repository import AuditEntry, UnitOfWork


@contextmanager
def change(ctx: Context, action: str, detail: str = "") -> Iterator[UnitOfWork]:
    """A change to the cluster: audited, and followed by a republished file plan."""
    ctx.notes = []
    with ctx.repo.unit_of_work() as uow:
        yield uow
        uow.append_audit(AuditEntry(ctx.now(), ctx.actor, action, detail))
        fileplan.publish(ctx, uow)


@contextmanager
def reading(ctx: Context) -> Iterator[UnitOfWork]:
    """A read-only look at the cluster (nothing is audited or published).

    It takes no write lock: it neither waits for a change in progress nor holds one up,
    and sees the cluster as the last change committed left it."""
    with ExitStack() as stack:
        with read_only():  # only the BEGIN: a unit of work opened inside may still write
            uow = stack.enter_context(ctx.repo.unit_of_work())
        yield uow

"""The one way to change the cluster, and the one way to look at it.

:func:`change` opens a unit of work and yields a :class:`Change`: the use
case modifies the cluster through ``change.uow`` and says, on the change
itself, what the file plan must do beyond following the database (a new
CTL, a TFTP restart). When the block ends, the audit entry is recorded and
the file plan built from those inputs is published in the same transaction:
phones can never see files that disagree with the database. What the build
had to say (a device left out of the plan) stays on the change for the
caller to show. A context's guard (:class:`~.context.ChangeGuard`) sees the
published plan before the commit and may still stop the change.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace

from phonetrust.service import fileplan
from phonetrust.service.context import Context
from phonetrust.store.engine import read_only
from phonetrust.store.repository import AuditEntry, UnitOfWork


@dataclass(slots=True)
class Change:
    """A change under way: its transaction and what its file plan is asked to do.

    It lives for one ``with change(...)`` block, so nothing a use case asks
    for can leak into another change (the context it came from is shared).
    """

    uow: UnitOfWork
    ctl_update: fileplan.CtlUpdate | None = None
    """A CTL operation's outcome, applied by this change's plan."""
    tftp_restart: bool = False
    """A TFTP restart (or ITL reset): the ITLs take the current ITLRecovery certificate;
    otherwise they keep the one they carry (C4)."""
    notes: tuple[str, ...] = ()
    """Warnings the published plan produced (a file left out), once the block has ended."""

    def plan_inputs(self) -> fileplan.PlanInputs:
        return fileplan.PlanInputs(self.ctl_update, self.tftp_restart)


@contextmanager
def change(ctx: Context, action: str, detail: str = "") -> Iterator[Change]:
    """A change to the cluster: audited, and followed by a republished file plan."""
    with ctx.repo.unit_of_work() as uow:
        before = uow.current_version()
        if ctx.guard is not None:
            ctx.guard.begin(ctx, uow)
        current = Change(uow)
        yield current
        uow.append_audit(AuditEntry(ctx.now(), ctx.actor, action, detail))
        inputs = current.plan_inputs()
        if ctx.sketch:
            inputs = replace(inputs, configurations=False)
        current.notes = fileplan.publish(ctx, uow, inputs)
        if ctx.guard is not None:
            ctx.guard(ctx, uow, before)


@contextmanager
def reading(ctx: Context) -> Iterator[UnitOfWork]:
    """A read-only look at the cluster (nothing is audited or published).

    It takes no write lock: it neither waits for a change in progress nor holds one up,
    and sees the cluster as the last change committed left it."""
    with ExitStack() as stack:
        with read_only():  # only the BEGIN: a unit of work opened inside may still write
            uow = stack.enter_context(ctx.repo.unit_of_work())
        yield uow

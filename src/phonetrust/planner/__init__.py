"""The change planner: what an operation would do to the phones, before it runs."""

NO_GUARD_ENV = "PHONETRUST_NO_GUARD"
"""Set (to anything) to change without the lock-out guard: the planner's own runs on its
copy of the cluster set it. Here, so the CLI can read it without loading the planner."""

PLAN_COPY_ENV = "PHONETRUST_PLAN_COPY"
"""Set on the planner's copy of a cluster: changes publish only the trust lists, the
lock-out guard is off, and the clock runs PHONETRUST_PLAN_CLOCK_SHIFT seconds ahead."""
CLOCK_SHIFT_ENV = "PHONETRUST_PLAN_CLOCK_SHIFT"
"""Seconds the copy's clock is ahead of the wall clock: each planned reboot moves it on,
as the administrator's time moves on while phones reboot (past CUCM's 5-minute hold)."""
COPY_MARKER = "PLAN-COPY"
"""The file that makes a data directory the planner's copy: PHONETRUST_PLAN_COPY is obeyed
only there, so the variable alone cannot make a real cluster publish trust lists only."""

"""The change planner: what an operation would do to the phones, before it runs."""

NO_GUARD_ENV = "PHONETRUST_NO_GUARD"
"""Set (to anything) to change without the lock-out guard: the planner's own runs on its
copy of the cluster set it. Here, so the CLI can read it without loading the planner."""

"""The change planner: what an operation would do to the phones, before it runs."""

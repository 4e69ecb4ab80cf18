"""`run sql`: one read-only SELECT over views named as CUCM's tables."""

from __future__ import annotations

from phonetrust.cli.admin.grammar import Command
from phonetrust.cli.admin.session import Session


def _run_sql(s: Session, args: list[str]) -> None:
    # sqlglot loads with the command that needs it, not with every admin command.
    from phonetrust.service.runsql import run_sql, table_lines  # noqa: PLC0415

    s.say(*table_lines(run_sql(s.ctx, args[0])))


COMMANDS: tuple[Command, ...] = (
    Command(
        ("run", "sql"),
        ("SELECT...",),
        "one read-only query over CUCM's tables (processconfig, certificate, ...)",
        _run_sql,
        rest=True,
    ),
)

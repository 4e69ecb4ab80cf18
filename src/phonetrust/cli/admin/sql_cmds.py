"""`run sql`: one read-only SELECT over views named as CUCM's tables."""

from __future__ import annotations

from phonetrust.cli.admin.grammar import Command

COMMANDS: tuple[Command, ...] = ()

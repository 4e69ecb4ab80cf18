"""`file ... activelog`: the service traces, as CUCM lists, tails and fetches them."""

from __future__ import annotations

from phonetrust.cli.admin.grammar import Command

COMMANDS: tuple[Command, ...] = ()

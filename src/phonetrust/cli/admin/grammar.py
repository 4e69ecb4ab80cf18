"""CUCM's command grammar: fixed words, then required and optional arguments.

Kept apart from the command table so that groups of commands (``file ...
activelog``, ``run sql``) live in modules of their own and the table only
gathers them. Words match case-insensitively, as on CUCM; the longest match
wins, so ``file list activelog`` and ``file list tftp`` can coexist.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from phonetrust.cli.admin.session import Session
from phonetrust.errors import LocalError

Handler = Callable[[Session, list[str]], None]


@dataclass(frozen=True, slots=True)
class Command:
    words: tuple[str, ...]
    args: tuple[str, ...]
    help: str
    run: Handler
    optional: tuple[str, ...] = ()
    """Arguments that may follow the required ones, in any order (``detail``, ``recent``)."""
    rest: bool = False
    """The text after the words, as typed, is the one argument (``run sql``: splitting on
    spaces would change ``'a  b'``)."""

    @property
    def usage(self) -> str:
        return " ".join((*self.words, *self.args, *(f"[{o}]" for o in self.optional)))


class UnknownCommand(LocalError):
    pass


def parse(table: Sequence[Command], line: str) -> tuple[Command, list[str]]:
    """The command a line names, and its arguments; an error says what was expected."""
    tokens = line.split()
    if not tokens:
        raise UnknownCommand("empty command")
    lowered = [t.lower() for t in tokens]
    best: Command | None = None
    for command in table:
        n = len(command.words)
        if tuple(lowered[:n]) == tuple(w.lower() for w in command.words) and (
            best is None or n > len(best.words)
        ):
            best = command
    if best is None:
        near = [c.usage for c in table if c.words[0].lower() == lowered[0]]
        hint = ("; did you mean: " + ", ".join(near)) if near else '; type "help"'
        raise UnknownCommand(
            f'Executed command unsuccessfully\nInvalid command: "{line.strip()}"{hint}'
        )
    if best.rest:
        text = _after_words(line, tokens[: len(best.words)])
        if best.args and not text:
            raise _wrong_count(best)
        return best, [text] if text else []
    args = tokens[len(best.words) :]
    if not len(best.args) <= len(args) <= len(best.args) + len(best.optional):
        raise _wrong_count(best)
    return best, args


def _wrong_count(command: Command) -> UnknownCommand:
    return UnknownCommand(
        f"Executed command unsuccessfully\nIncorrect number of arguments; usage: {command.usage}"
    )


def _after_words(line: str, words: list[str]) -> str:
    """What follows ``words`` in ``line``, inner spacing kept, outer spacing dropped."""
    at = 0
    for word in words:
        at = line.index(word, at) + len(word)
    return line[at:].strip()

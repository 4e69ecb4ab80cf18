"""Questions the admin commands ask: y/n confirmations, passwords, values.

CUCM's commands stop and ask; scripts must be able to answer. Answers come
from the terminal when there is one, else one line each from standard
input; ``--yes`` answers every y/n question with yes.
"""

from __future__ import annotations

import getpass
import sys
from collections.abc import Callable
from typing import TextIO

from phonetrust.errors import LocalError


class Prompter:
    def __init__(
        self,
        *,
        assume_yes: bool = False,
        stdin: TextIO | None = None,
        out: Callable[[str], None] | None = None,
        interactive: bool | None = None,
    ) -> None:
        self.assume_yes = assume_yes
        self._in = stdin or sys.stdin
        self._out = out or (lambda text: print(text, end="", flush=True))
        self.interactive = self._in.isatty() if interactive is None else interactive

    def _line(self, question: str, *, secret: bool = False) -> str:
        if self.interactive and secret:
            return getpass.getpass(question)
        self._out(question)
        line = self._in.readline()
        if not line:
            raise LocalError(f"no answer to {question.strip()!r} (standard input ended)")
        answer = line.rstrip("\r\n")
        if not self.interactive:
            self._out(("*" * len(answer) if secret else answer) + "\n")
        return answer

    def confirm(self, question: str, *, yes: str = "y") -> bool:
        """A y/n (or yes/no) question; ``--yes`` answers it."""
        if self.assume_yes:
            self._out(f"{question}{yes}\n")
            return True
        answer = self._line(question).strip().lower()
        return answer in ("y", "yes")

    def secret(self, question: str) -> str:
        return self._line(question, secret=True)

    def ask(self, question: str, default: str | None = None) -> str:
        answer = self._line(question).strip()
        if not answer and default is not None:
            return default
        return answer

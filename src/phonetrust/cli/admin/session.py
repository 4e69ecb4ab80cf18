"""One admin session: the node it runs on, the cluster, how it asks and prints."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from phonetrust.cli.admin.prompts import Prompter
from phonetrust.service.context import Context
from phonetrust.store.datadir import DataDir


@dataclass
class Session:
    ctx: Context
    node: str
    where: DataDir
    prompts: Prompter
    write: Callable[[str], None]

    def say(self, *lines: str) -> None:
        for line in lines:
            self.write(line + "\n")

"""A real cluster on a real SQLite file, made once and copied for each test.

Key generation dominates the cost of a cluster (six RSA-2048 keys a node),
so one template data directory is built per test session and each test
gets a private copy of it, with a fake clock it can move.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest

from phonetrust.cli.admin.commands import execute
from phonetrust.cli.admin.prompts import Prompter
from phonetrust.cli.admin.session import Session
from phonetrust.pki.selfsigned import Organisation
from phonetrust.policy.domain import Node, Service, check_ipv4
from phonetrust.service import nodes
from phonetrust.service.context import Context
from phonetrust.store.datadir import DataDir
from phonetrust.testing.clock import FakeClock
from phonetrust.testing.cluster import new_context, open_context

_CLI_UNSET = ("PHONETRUST_DB", "PHONETRUST_NO_GUARD", "PHONETRUST_PLAN_COPY")
PASSWORD = "Cisco-Security-123"  # noqa: S105 - the test cluster's security password
START = datetime(2026, 3, 6, 19, 45, 13, tzinfo=UTC).timestamp()


def _context(where: DataDir, clock: FakeClock) -> Context:
    return open_context(where, clock)


def install(root: Path, clock: FakeClock, db: str | None = None) -> Context:
    """The lab cluster installed from scratch in ``root`` (its database at ``db``, by default
    SQLite in ``root``): publisher cucm-pub (10.0.0.10), subscriber cucm-sub1 (10.0.0.11)
    running CallManager, TFTP and TVS; fresh keys."""
    ctx = new_context(DataDir.locate(root, db), PASSWORD, clock)
    nodes.init_cluster(
        ctx,
        name="lab",
        publisher_node=Node("cucm-pub", check_ipv4("10.0.0.10"), "lab.example"),
        subscribers=[
            Node(
                "cucm-sub1",
                check_ipv4("10.0.0.11"),
                "lab.example",
                services=frozenset({Service.CALLMANAGER, Service.TFTP, Service.TVS}),
            )
        ],
        org=Organisation(),
    )
    return ctx


@pytest.fixture(scope="session")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("template") / "data"
    install(root, FakeClock(START)).repo.close()
    return root


@dataclass
class Lab:
    """A test's cluster: its context, clock, and a way to run admin commands on a node."""

    where: DataDir
    ctx: Context
    clock: FakeClock
    output: list[str] = field(default_factory=list)

    def admin(self, line: str, *answers: str, node: str = "cucm-pub", yes: bool = False) -> str:
        """Run one admin command; ``answers`` feed its questions. Returns what it printed."""
        out = io.StringIO()

        def write(text: str) -> None:
            out.write(text)

        prompts = Prompter(
            assume_yes=yes,
            stdin=io.StringIO("".join(a + "\n" for a in answers)),
            out=write,
            interactive=False,
        )
        execute(Session(self.ctx, node, self.where, prompts, write), line)
        return out.getvalue()

    def cli(
        self, *args: str, stdin: str = "", env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        """``phonetrust ARGS`` on this cluster in a process of its own, as a person runs it
        (wall clock, the lock-out guard on); ``stdin`` answers its questions."""
        environment = {k: v for k, v in os.environ.items() if k not in _CLI_UNSET}
        environment.update(
            PHONETRUST_DATA=str(self.where.root), PHONETRUST_SECURITY_PASSWORD=PASSWORD
        )
        environment.update(env or {})
        return subprocess.run(
            [sys.executable, "-c", "from phonetrust.cli.main import main; main()", *args],
            input=stdin,
            capture_output=True,
            text=True,
            env=environment,
            timeout=300,
            check=False,
        )

    def later(self, seconds: float) -> None:
        self.clock.advance(seconds)

    def file(self, node: str, name: str) -> bytes | None:
        with self.ctx.repo.unit_of_work() as uow:
            return uow.published_file(node, name)


@pytest.fixture
def lab(template: Path, tmp_path: Path) -> Iterator[Lab]:
    root = tmp_path / "data"
    shutil.copytree(template, root)
    where = DataDir.locate(root)
    clock = FakeClock(START + 3600)
    ctx = _context(where, clock)
    yield Lab(where, ctx, clock)
    ctx.repo.close()

"""The steps of a plan: phonetrust command lines, and running one on a scratch copy.

A steps file (``phonetrust plan -f steps.txt``) holds one command line a
line, quoted as in a shell::

    # rename the subscriber, then regenerate its CallManager certificate
    cluster rename-node cucm-sub1 cucm-sub2
    reboot
    phonetrust admin --node cucm-sub2 -c "set cert regen CallManager"

Blank lines and lines starting with ``#`` are skipped (a ``#`` later in a
line is part of an argument, as in ``--setting a#b``); ``reboot`` marks where
the phones reboot; ``wait 6m`` lets time pass without a reboot (``s``, ``m``,
``h``, ``d``; CUCM's 5-minute hold counts it); a leading ``phonetrust`` is
dropped. The planner runs
only what it can run on a copy of the cluster: commands that change the
cluster (and harmless ones that only show it). It refuses, before anything
runs, what would act outside the copy (serve, boot phones, talk to servers,
write files elsewhere), what makes a new cluster instead of changing this
one, and ``--data``/``--db``: the planner picks the store.

:func:`run_step` runs one command as ``phonetrust`` itself, in a subprocess
on the scratch data directory, answering yes to every question; its exit
status and what it printed are the result, a failure included.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url

from phonetrust.errors import LocalError
from phonetrust.planner import CLOCK_SHIFT_ENV, NO_GUARD_ENV, PLAN_COPY_ENV
from phonetrust.store.datadir import DATA_ENV, DB_ENV, KEY_FILE, NODE_FILE, DataDir

REBOOT = "reboot"
WAIT = "wait"
MAX_WAIT = 366 * 86_400.0
_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86_400.0}
_DURATION = re.compile(r"(\d{1,9}(?:\.\d{1,3})?)([smhd]?)")
PROGRAM = "phonetrust"
CLI = "from phonetrust.cli.main import main; main()"
"""What ``phonetrust`` runs, started with this interpreter (no console script needed)."""
STEP_TIMEOUT = 300.0
"""Seconds one step may run (regenerating every certificate of a large cluster takes a few)."""
YES_LINES = 64
"""How many "yes" lines a step's standard input holds: one for each question it may ask."""

COMMAND_LINE = "command line"
"""The ``source`` of a step given after ``plan --``."""

ALLOWED: frozenset[tuple[str, ...]] = frozenset(
    {
        ("admin",),  # with -c, see _check_admin
        ("alerts",),
        ("audit",),
        ("backup", "restore"),
        ("cluster", "add-node"),
        ("cluster", "rename-node"),
        ("cluster", "show"),
        ("ctl-client",),
        ("device",),
        ("group",),
        ("param",),
        ("profile",),
        ("tftp",),  # extra files in the database (upload, delete, list); serving is `serve`
        ("truststore",),
    }
)
"""Commands (or whole groups) a step may run: each changes the cluster's database, or only
shows it. A group's subcommand the group does not have fails when it runs, as it would."""

REFUSED: Mapping[tuple[str, ...], str] = {
    ("serve",): "serves the cluster to phones; the planner predicts the phones without serving",
    ("web",): "serves the administration pages; the planner serves nothing",
    ("plan",): "is the planner itself; give the steps to one plan",
    ("demo",): "prints a demo's trust lists; it does not change a cluster",
    ("phone",): "boots simulated phones; the planner predicts what the phones do itself",
    ("cluster", "init"): "creates a new cluster; a plan changes a copy of this one",
    ("cluster", "demo"): "creates a new cluster; a plan changes a copy of this one",
    ("cluster", "join"): "makes a machine a node of a cluster; there is no machine in a copy",
    ("backup", "create"): "writes an archive outside the cluster; it changes nothing",
    ("capf",): "runs a CAPF session against a server; it changes nothing in the cluster",
    ("tvs",): "asks a TVS server over the network; it changes nothing in the cluster",
    ("file",): "works on files outside the cluster; it changes nothing in the cluster",
}
"""Commands a plan refuses, and why."""

ADMIN_REFUSED: Mapping[tuple[str, ...], str] = {
    ("file", "get"): "sends files to an SFTP server, outside the copy",
}
"""Admin shell commands (``admin -c``) a plan refuses, by their first words, and why."""


class StepsError(LocalError):
    """A step cannot be planned: it does not parse, or the planner cannot run it."""


class StepTimeout(StepsError):
    """A step ran past its time limit and was stopped."""


@dataclass(frozen=True, slots=True)
class Step:
    """One step: a phonetrust command (``argv``, without ``phonetrust``), or a reboot."""

    argv: tuple[str, ...]
    source: str
    """The steps file's name, or :data:`COMMAND_LINE`."""
    line: int
    """1-based line of ``source`` (1 for the command line)."""
    reboot: bool = False
    wait: float = 0.0
    """A ``wait`` step: seconds the administrator lets pass (CUCM's 5-minute hold)."""

    def __post_init__(self) -> None:
        if [bool(self.argv), self.reboot, self.wait > 0].count(True) != 1:
            raise ValueError("a step is a command (argv), a reboot or a wait: exactly one")

    @property
    def command(self) -> bool:
        return bool(self.argv)

    @property
    def where(self) -> str:
        return f"{self.source}:{self.line}"

    @property
    def text(self) -> str:
        """The step as a person would type it."""
        if self.reboot:
            return REBOOT
        if self.wait:
            return f"{WAIT} {_duration(self.wait)}"
        return shlex.join((PROGRAM, *self.argv))


@dataclass(frozen=True, slots=True)
class StepRun:
    """What running a step did: its exit status and everything it printed, in order."""

    step: Step
    status: int
    output: str
    """Standard output and standard error, interleaved as the command wrote them."""

    @property
    def ok(self) -> bool:
        return self.status == 0


def parse_steps(text: str, source: str) -> list[Step]:
    """The steps of a steps file's ``text``; :class:`StepsError` naming ``source:line``
    for the first line that does not parse or that the planner refuses."""
    steps: list[Step] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        where = f"{source}:{number}"
        try:
            words = shlex.split(line)
        except ValueError as exc:  # unbalanced quotes, a trailing backslash
            raise StepsError(f"{where}: {str(exc).lower()}: {line}") from None
        steps.append(_step(words, source, number))
    return steps


def command_step(argv: Sequence[str], source: str = COMMAND_LINE) -> Step:
    """The step of one command given as arguments (``phonetrust plan -- COMMAND...``),
    checked as a line of a steps file is."""
    return _step(list(argv), source, 1)


def _step(words: list[str], source: str, line: int) -> Step:
    where = f"{source}:{line}"
    if words and words[0] == PROGRAM:
        words = words[1:]
    if not words:
        raise StepsError(f"{where}: no command after {PROGRAM!r}")
    if words == [REBOOT]:
        return Step((), source, line, reboot=True)
    if words[0] == REBOOT:
        raise StepsError(f"{where}: {REBOOT!r} takes no arguments")
    if words[0] == WAIT:
        return Step((), source, line, wait=_seconds(words[1:], where))
    for word in words:
        _check_word(word, where)
    _check_command(tuple(words), where)
    return Step(tuple(words), source, line)


def _seconds(words: list[str], where: str) -> float:
    """``wait 300``, ``wait 6m``, ``wait 1h``: positive, at most a year."""
    found = _DURATION.fullmatch(words[0]) if len(words) == 1 else None
    if found is None:
        raise StepsError(f"{where}: {WAIT!r} takes one duration: seconds, or 6m, 1h, 2d")
    seconds = float(found.group(1)) * _UNITS[found.group(2) or "s"]
    if not 0 < seconds <= MAX_WAIT:
        raise StepsError(f"{where}: a wait is more than 0 and at most {_duration(MAX_WAIT)}")
    return seconds


def _duration(seconds: float) -> str:
    for unit in ("d", "h", "m"):
        if seconds >= _UNITS[unit] and seconds % _UNITS[unit] == 0:
            return f"{int(seconds // _UNITS[unit])}{unit}"
    return f"{seconds:g}s"


def _check_word(word: str, where: str) -> None:
    if "\0" in word:
        raise StepsError(f"{where}: a NUL character cannot be passed to a command")
    try:
        os.fsencode(word)
    except UnicodeEncodeError:
        raise StepsError(f"{where}: {word!r} cannot be passed to a command") from None
    name = word.split("=", 1)[0]
    if name in ("--data", "--db"):
        raise StepsError(
            f"{where}: {name} is not allowed in a step: the planner runs every step "
            "on its own copy of the cluster"
        )


def _check_command(argv: tuple[str, ...], where: str) -> None:
    for length in (2, 1):
        head = argv[:length]
        if head in REFUSED:
            raise StepsError(f"{where}: `{PROGRAM} {' '.join(head)}` {REFUSED[head]}")
        if head in ALLOWED:
            if head == ("admin",):
                _check_admin(argv[1:], where)
            return
    raise StepsError(
        f"{where}: `{PROGRAM} {shlex.join(argv[:2])}` is not a command a plan can run "
        "(it runs commands that change the cluster: admin -c, cluster add-node|rename-node, "
        "device, group, param, profile, truststore, tftp, ctl-client, backup restore)"
    )


def _check_admin(args: tuple[str, ...], where: str) -> None:
    """``admin`` runs one command (``-c``); some of the shell's commands act outside the copy."""
    command = _admin_command(args)
    if command is None:
        raise StepsError(
            f'{where}: `{PROGRAM} admin` needs -c "COMMAND": a plan runs one command, '
            "not the interactive shell"
        )
    words = tuple(word.lower() for word in command.split())
    for head, reason in ADMIN_REFUSED.items():
        if words[: len(head)] == head:
            raise StepsError(f"{where}: admin `{command}` {reason}")


def _admin_command(args: tuple[str, ...]) -> str | None:
    """The value of ``-c`` among ``admin``'s arguments (``-c X``, ``-cX``), if any."""
    rest = iter(args)
    for arg in rest:
        if arg == "-c":
            return next(rest, None)
        if arg.startswith("-c"):
            return arg[2:]
        if arg == "--node":
            next(rest, None)  # its value, whatever it looks like
    return None


def run_step(
    step: Step,
    scratch: DataDir,
    *,
    env: Mapping[str, str] | None = None,
    timeout: float = STEP_TIMEOUT,
    clock_shift: float = 0.0,
) -> StepRun:
    """Run ``step``'s command on the data directory ``scratch`` as ``phonetrust`` would.

    The environment is ``env`` (default: this process's) with ``PHONETRUST_DATA``
    set to ``scratch``, ``PHONETRUST_DB`` removed and the lock-out guard off.
    Every question is answered yes: ``admin -c`` gets ``--yes``; other commands
    read "yes" lines from standard input (a password is read from the terminal,
    not from there: give it in PHONETRUST_SECURITY_PASSWORD). ``backup restore`` wants an
    empty data directory: the scratch's cluster is removed first, and the
    restored cluster takes its place.

    A command that fails is a result (``status`` != 0), not an exception;
    :class:`StepTimeout` if it runs past ``timeout`` seconds (it is killed).
    """
    if not step.command:
        raise ValueError(f"{step.text!r} runs no command")
    argv, stdin = answers(list(step.argv))
    prepare(step, scratch)
    environment = dict(os.environ if env is None else env)
    environment.update(copy_environment(scratch, clock_shift))
    environment.pop(DB_ENV, None)
    try:
        done = subprocess.run(  # noqa: S603 - this interpreter and phonetrust's own arguments
            [sys.executable, "-c", CLI, *argv],
            input=stdin,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            env=environment,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise StepTimeout(
            f"{step.where}: `{step.text}` did not finish within {timeout:g} s; it was stopped"
        ) from None
    return StepRun(step, done.returncode, done.stdout)


def copy_environment(scratch: DataDir, clock_shift: float) -> dict[str, str]:
    """What a command needs in its environment to act on the copy as the planner's copy
    (PHONETRUST_DB must go too): its data directory, no guard, only trust lists published,
    the clock ``clock_shift`` seconds ahead."""
    return {
        DATA_ENV: str(scratch.root),
        NO_GUARD_ENV: "1",
        PLAN_COPY_ENV: "1",
        CLOCK_SHIFT_ENV: repr(float(clock_shift)),
    }


def answers(argv: list[str]) -> tuple[list[str], str]:
    """``argv`` and standard input that answer yes to every question the command asks."""
    if argv[0] == "admin":
        # --yes answers the questions; a password asked gets end of input
        return (argv if "--yes" in argv else [*argv, "--yes"]), ""
    return argv, "yes\n" * YES_LINES


def prepare(step: Step, scratch: DataDir) -> None:
    """What must happen to the copy before ``step`` runs on it (a restore empties it)."""
    if tuple(step.argv[:2]) == ("backup", "restore"):
        _empty(scratch)


def _empty(scratch: DataDir) -> None:
    """Remove the cluster from ``scratch`` (keys, node, database), for a restore into it."""
    database = make_url(scratch.db_url).database
    paths = [scratch.root / KEY_FILE, scratch.root / NODE_FILE]
    if database:
        paths += [Path(database + suffix) for suffix in ("", "-wal", "-shm")]
    for path in paths:
        path.unlink(missing_ok=True)

"""``phonetrust plan``: which phones an operation would lock out, before it runs."""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import click

from phonetrust.cli.app import (
    OPENED_ON_COPIES,
    PASSWORD_ENV,
    data_options,
    locate,
    open_context,
    own_node,
)
from phonetrust.errors import LocalError
from phonetrust.store.datadir import DB_ENV, DataDir

if TYPE_CHECKING:
    from phonetrust.planner.steps import Step, StepRun

EXIT_LOCKS = 1
EXIT_USAGE = 2


@click.command(
    "plan",
    context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False},
)
@click.option("--json", "as_json", is_flag=True, help="Print the whole plan as JSON.")
@click.option(
    "-f",
    "--file",
    "steps_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Steps: one phonetrust command a line, `reboot` where the phones reboot, "
    "`wait 6m` where time passes, # comments.",
)
@click.option("--all", "every_phone", is_flag=True, help="List every locked phone, not the first.")
@click.option(
    "--procedures/--no-procedures",
    default=True,
    show_default=True,
    help="Also plan the safe procedure the references teach for a risky operation.",
)
@click.option(
    "--to-cluster",
    "other",
    type=click.Path(file_okay=False, path_type=Path),
    help="Instead of a command: the phones move to the cluster of this data directory.",
)
@click.option("--to-db", "other_db", metavar="URL", help="With --to-cluster: its database URL.")
@data_options
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
def plan(
    as_json: bool,
    steps_file: Path | None,
    every_phone: bool,
    procedures: bool,
    other: Path | None,
    other_db: str | None,
    data: Path | None,
    db: str | None,
    command: tuple[str, ...],
) -> None:
    """Predict which phones COMMAND (or the steps of -f FILE) would lock out.

    The command runs for real on a throw-away copy of the cluster; every
    phone the cluster has seen is then rebooted in the simulator from the
    lists it last downloaded, against the copy's new files and TVS. Nothing
    of the real cluster changes and nothing is served. Phones are said to
    keep their lists, take new ones on the signer's word, through TVS, on
    first use, to lock (with the phone's own words), or to be unknown (never
    seen).

    \b
    Examples:
      phonetrust plan -- admin -c "set cert regen CallManager"
      phonetrust plan -- cluster rename-node cucm-sub cucm-sub2
      phonetrust plan -f steps.txt      (regen CallManager / reboot / regen TVS)
      phonetrust plan --to-cluster ../other-cluster

    Exit status: 0 when no phone would be locked out, 1 when some would, 2 on
    a usage error or a step that fails.
    """
    from phonetrust.planner import report  # noqa: PLC0415 - the simulator loads only here
    from phonetrust.planner.steps import StepsError  # noqa: PLC0415
    from phonetrust.planner.whatif import plan as make_plan  # noqa: PLC0415

    if other is not None:
        if command or steps_file is not None:
            raise click.UsageError("--to-cluster plans a move: give no command nor -f")
        _move(data, db, other, other_db, as_json, every_phone)
        return
    steps = _steps(command, steps_file)
    ctx = open_context(data, db)

    def progress(text: str) -> None:
        click.echo(text, err=True)

    try:
        result = make_plan(
            ctx,
            locate(data, db),
            steps,
            runner=run_here,
            progress=progress,
            password=os.environ.get(PASSWORD_ENV) or None,
            procedures=procedures,
            node=own_node(ctx, locate(data, db)),
        )
    except StepsError as exc:
        raise click.ClickException(str(exc)) from None
    if as_json:
        click.echo(json.dumps(report.data(result), indent=2))
    else:
        for line in report.lines(result, every_phone=every_phone):
            click.echo(line)
    if result.failed is not None:
        raise click.exceptions.Exit(EXIT_USAGE)
    if result.locks:
        raise click.exceptions.Exit(EXIT_LOCKS)


def _steps(command: tuple[str, ...], steps_file: Path | None) -> list[Step]:
    """The steps to plan, from the command line or the file; a usage error when neither."""
    from phonetrust.planner.steps import StepsError, command_step, parse_steps  # noqa: PLC0415

    if bool(command) == (steps_file is not None):
        raise click.UsageError("give a command after --, or -f FILE (one of the two)")
    try:
        if steps_file is None:
            return [command_step(command)]
        steps = parse_steps(_read(steps_file), str(steps_file))
    except StepsError as exc:
        raise click.UsageError(str(exc)) from None
    if not any(s.command for s in steps):
        raise click.UsageError(f"{steps_file}: no command to plan")
    return steps


def _move(
    data: Path | None,
    db: str | None,
    other: Path,
    other_db: str | None,
    as_json: bool,
    every_phone: bool,
) -> None:
    """The phones of this cluster, as they are, booted against another cluster's files (E)."""
    from phonetrust.planner import report  # noqa: PLC0415
    from phonetrust.planner.whatif import moved  # noqa: PLC0415

    ctx = open_context(data, db)
    target = locate(other, other_db)
    if not target.exists():
        raise target.no_cluster()
    result = moved(ctx, target)
    if as_json:
        click.echo(json.dumps(report.data(result), indent=2))
    else:
        for line in report.lines(result, every_phone=every_phone):
            click.echo(line)
    if result.locks:
        raise click.exceptions.Exit(EXIT_LOCKS)


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise LocalError(f"{path}: cannot read the steps: {exc}") from None


def run_here(step: Step, scratch: DataDir, *, clock_shift: float) -> StepRun:
    """Run ``step`` on the copy in this process: what :func:`~phonetrust.planner.steps.run_step`
    does in a subprocess, without a second interpreter start-up and CLI import per step.

    The command runs through the same click group, with the copy's environment,
    "yes" on standard input and its output (both streams) captured; the real
    cluster's environment comes back afterwards whatever the command did.
    """
    from phonetrust.cli.main import cli  # noqa: PLC0415 - this module is one of its commands
    from phonetrust.planner.steps import StepRun, answers, copy_environment, prepare  # noqa: PLC0415

    argv, stdin = answers(list(step.argv))
    prepare(step, scratch)
    said = io.StringIO()
    saved = dict(os.environ)
    os.environ.update(copy_environment(scratch, clock_shift))
    os.environ.pop(DB_ENV, None)
    try:
        with (
            contextlib.redirect_stdout(said),
            contextlib.redirect_stderr(said),
            _stdin(stdin),
        ):
            status = _invoke(cli, argv, said)
    finally:
        os.environ.clear()
        os.environ.update(saved)
        while OPENED_ON_COPIES:
            OPENED_ON_COPIES.pop().close()
    return StepRun(step, status, said.getvalue())


def _invoke(group: click.Group, argv: list[str], said: io.StringIO) -> int:
    """The exit status of ``phonetrust ARGV``, its errors written as click writes them."""
    try:
        returned = group.main(args=argv, prog_name="phonetrust", standalone_mode=False)
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.ClickException as exc:
        exc.show(file=said)
        return exc.exit_code
    except click.Abort as exc:
        if isinstance(exc.__context__, KeyboardInterrupt):
            raise exc.__context__ from None  # Ctrl-C stops the plan, not just this step
        said.write("Aborted!\n")
        return 1
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 1
    except Exception:  # noqa: BLE001 - a crash of the command is the step's failure, as in a
        said.write(traceback.format_exc())  # subprocess: the plan reports it and stops there
        return 1
    return returned if isinstance(returned, int) else 0


@contextlib.contextmanager
def _stdin(text: str) -> Iterator[None]:
    saved = sys.stdin
    sys.stdin = io.StringIO(text)
    try:
        yield
    finally:
        sys.stdin = saved

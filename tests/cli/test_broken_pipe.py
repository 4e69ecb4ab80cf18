"""A reader that goes away (``phonetrust ... | head -1``) ends the command quietly.

The pipe here is closed before the command starts, so every write fails with
EPIPE at once: the same event as ``head`` exiting early, without the race.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.cli.helpers import TIMEOUT, executable
from tests.cli.test_cluster_commands import PASSWORD, init_args


def _into_closed_pipe(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        return subprocess.run(
            [executable(), *args],
            stdout=write_end,
            stderr=subprocess.PIPE,
            input=stdin,
            text=True,
            timeout=TIMEOUT,
            check=False,
            env={**os.environ, "PHONETRUST_SECURITY_PASSWORD": PASSWORD},
        )
    finally:
        os.close(write_end)


@pytest.mark.parametrize("args", [("--help",), ("admin", "--help")])
def test_help_into_a_closed_pipe_prints_no_error(args: tuple[str, ...]) -> None:
    done = _into_closed_pipe(*args)
    assert done.stderr == ""


def test_admin_commands_into_a_closed_pipe_print_no_error(tmp_path: Path) -> None:
    data = str(tmp_path / "data")
    subprocess.run(
        [executable(), *init_args(), "--data", data],
        capture_output=True,
        check=True,
        timeout=TIMEOUT,
        env={**os.environ, "PHONETRUST_SECURITY_PASSWORD": PASSWORD},
    )
    one = _into_closed_pipe("admin", "--data", data, "-c", "show itl")
    piped = _into_closed_pipe("admin", "--data", data, stdin="show itl\nshow ctl\n")
    listed = _into_closed_pipe("device", "list", "--data", data)
    for done in (one, piped, listed):
        assert done.stderr == "", done.stderr

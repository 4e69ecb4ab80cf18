"""Steps files: what parses, what a plan refuses and why, and that nothing else is ever raised.

(Running a step is tested in test_scratch.py, on a real scratch copy.)
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from phonetrust.errors import LocalError
from phonetrust.planner.steps import (
    COMMAND_LINE,
    REFUSED,
    Step,
    StepsError,
    command_step,
    parse_steps,
)

ACCEPTED = [
    # (line, argv)
    ('admin -c "set cert regen CallManager"', ("admin", "-c", "set cert regen CallManager")),
    (
        "phonetrust admin --node cucm-sub1 -c 'utils ctl set-cluster mixed-mode'",
        ("admin", "--node", "cucm-sub1", "-c", "utils ctl set-cluster mixed-mode"),
    ),
    ('admin -c"show itl" --yes', ("admin", "-cshow itl", "--yes")),
    (
        "cluster rename-node cucm-sub1 cucm-sub2",
        ("cluster", "rename-node", "cucm-sub1", "cucm-sub2"),
    ),
    ("cluster show", ("cluster", "show")),
    (
        "device set SEP001122334455 --group G2",
        ("device", "set", "SEP001122334455", "--group", "G2"),
    ),
    (
        "device set SEP001122334455 --setting a#b",
        ("device", "set", "SEP001122334455", "--setting", "a#b"),
    ),
    (
        'param set "Prepare Cluster for Rollback to pre 8.0" True',
        ("param", "set", "Prepare Cluster for Rollback to pre 8.0", "True"),
    ),
    ("ctl-client set-mixed-mode", ("ctl-client", "set-mixed-mode")),
    ("backup restore backups/cluster.tar", ("backup", "restore", "backups/cluster.tar")),
    ("  device list  ", ("device", "list")),
]


@pytest.mark.parametrize(("line", "argv"), ACCEPTED)
def test_a_command_line_is_a_step(line: str, argv: tuple[str, ...]) -> None:
    assert parse_steps(line, "steps.txt") == [Step(argv, "steps.txt", 1)]


def test_comments_blank_lines_and_reboots_keep_their_line_numbers() -> None:
    text = (
        "# regenerate, then let the phones reboot\n"
        "\n"
        "admin -c 'set cert regen CallManager'\r\n"
        "   # indented comment\n"
        "reboot\n"
        "phonetrust reboot\n"
        "param set 'TVS Certificate Cache TTL (seconds)' 60"
    )
    steps = parse_steps(text, "plan.txt")
    assert [(s.line, s.reboot) for s in steps] == [(3, False), (5, True), (6, True), (7, False)]
    assert steps[1].argv == ()
    assert steps[1].text == "reboot"
    assert steps[0].text == "phonetrust admin -c 'set cert regen CallManager'"
    assert steps[3].where == "plan.txt:7"
    assert parse_steps("", "empty") == []


def test_the_command_after_plan_is_a_step() -> None:
    step = command_step(["admin", "-c", "set cert regen TVS"])
    assert step == Step(("admin", "-c", "set cert regen TVS"), COMMAND_LINE, 1)
    with pytest.raises(StepsError, match=r"command line:1: .*serve"):
        command_step(["serve"])


ERRORS = [
    # (text, what the message says after "steps.txt:LINE: ")
    ('\n\nadmin -c "set cert regen CallManager', r"steps.txt:3: no closing quotation"),
    ("device list \\", r"steps.txt:1: no escaped character"),
    ("phonetrust", r"steps.txt:1: no command after 'phonetrust'"),
    ("reboot now", r"steps.txt:1: 'reboot' takes no arguments"),
    ("admin", r"steps.txt:1: `phonetrust admin` needs -c"),
    ("admin --node cucm-pub --yes", r"steps.txt:1: `phonetrust admin` needs -c"),
    ("admin --node -c", r"steps.txt:1: `phonetrust admin` needs -c"),
    (
        "admin -c 'file get tftp ITLRecovery.p12'",
        r"steps.txt:1: admin `file get tftp ITLRecovery.p12` sends files to an SFTP server",
    ),
    ("device list --data /srv/other", r"steps.txt:1: --data is not allowed in a step"),
    ("param list --db=sqlite:///x.db", r"steps.txt:1: --db is not allowed in a step"),
    ("cluster init --name lab", r"steps.txt:1: `phonetrust cluster init` creates a new cluster"),
    ("cluster demo", r"steps.txt:1: `phonetrust cluster demo` creates a new cluster"),
    ("cluster join", r"steps.txt:1: `phonetrust cluster join` makes a machine a node"),
    ("cluster frobnicate", r"steps.txt:1: `phonetrust cluster frobnicate` is not a command"),
    ("backup create /tmp/b", r"steps.txt:1: `phonetrust backup create` writes an archive"),
    ("devcie list", r"steps.txt:1: `phonetrust devcie list` is not a command a plan can run"),
    ("--help", r"steps.txt:1: `phonetrust --help` is not a command a plan can run"),
    ("device set 'SEP\0'", r"steps.txt:1: a NUL character"),
]


@pytest.mark.parametrize(("text", "message"), ERRORS)
def test_a_line_the_planner_cannot_run_is_a_steps_error(text: str, message: str) -> None:
    with pytest.raises(StepsError, match=message):
        parse_steps(text, "steps.txt")


@pytest.mark.parametrize("command", sorted(REFUSED))
def test_every_refused_command_says_why(command: tuple[str, ...]) -> None:
    with pytest.raises(StepsError) as refused:
        parse_steps(" ".join(("phonetrust", *command, "x")), "s")
    assert str(refused.value).endswith(REFUSED[command])
    assert isinstance(refused.value, LocalError)


def test_a_step_is_a_command_or_a_reboot_or_a_wait() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        Step((), "s", 1)
    with pytest.raises(ValueError, match="exactly one"):
        Step(("device", "list"), "s", 1, reboot=True)
    with pytest.raises(ValueError, match="exactly one"):
        Step((), "s", 1, reboot=True, wait=60)


@pytest.mark.parametrize(
    ("line", "seconds", "shown"),
    [
        ("wait 300", 300, "wait 5m"),
        ("wait 6m", 360, "wait 6m"),
        ("wait 1.5h", 5400, "wait 90m"),
        ("wait 2d", 172_800, "wait 2d"),
        ("wait 45s", 45, "wait 45s"),
        ("wait 61", 61, "wait 61s"),
    ],
)
def test_a_wait_lets_time_pass(line: str, seconds: float, shown: str) -> None:
    (step,) = parse_steps(line, "f")
    assert step.wait == seconds
    assert not step.command
    assert not step.reboot
    assert step.text == shown
    assert parse_steps(step.text, "again")[0].wait == seconds


@pytest.mark.parametrize("line", ["wait", "wait 0", "wait -5", "wait 5x", "wait 1 2", "wait 400d"])
def test_a_wait_needs_one_sensible_duration(line: str) -> None:
    with pytest.raises(StepsError, match=r"^f:1: "):
        parse_steps(line, "f")


WORDS = st.sampled_from(
    [
        "admin",
        "-c",
        "--node",
        "--yes",
        "reboot",
        "phonetrust",
        "cluster",
        "device",
        "serve",
        "show",
        "--data",
        "--db=x",
        "#",
        "'",
        '"',
        "\\",
        "file get",
        "\0",
        "\n",
        " ",
    ]
)


@given(st.text() | st.lists(WORDS | st.text(max_size=5)).map(" ".join))
def test_any_text_parses_or_is_a_steps_error(text: str) -> None:
    """We either get steps, or a StepsError; never any other error."""
    try:
        steps = parse_steps(text, "fuzz")
    except StepsError as exc:
        error: StepsError | None = exc
        steps = []
    else:
        error = None
    assert error is None or str(error).startswith("fuzz:")
    for step in steps:
        assert step.reboot or step.argv[0] != "phonetrust"

"""The interactive ``admin:`` prompt: history, completion from the command table."""

from __future__ import annotations

from typing import Any, TextIO

from phonetrust.cli.admin.commands import COMMANDS, execute
from phonetrust.cli.admin.session import Session
from phonetrust.errors import PhonetrustError

PROMPT = "admin:"
QUIT = ("quit", "exit")


def completion_tree() -> dict[str, Any]:
    """Nested words of every command, for prompt_toolkit's NestedCompleter."""
    tree: dict[str, Any] = {}
    for command in COMMANDS:
        node = tree
        for word in command.words:
            node = node.setdefault(word, {})
    return _none_for_leaves(tree)


def _none_for_leaves(tree: dict[str, Any]) -> dict[str, Any]:
    return {k: (_none_for_leaves(v) if v else None) for k, v in tree.items()}


def run_line(session: Session, line: str) -> str | None:
    """Run one command; None when it succeeded, else the one-line reason it failed."""
    try:
        execute(session, line)
    except PhonetrustError as exc:
        return str(exc)
    except BrokenPipeError:
        raise  # the reader of our output left: nothing more can be said to it
    except OSError as exc:
        return f"Executed command unsuccessfully: {exc.strerror or exc}"
    return None


def report(session: Session, line: str) -> bool:
    """Run one command and print its failure, as the shell does. True when it succeeded."""
    failure = run_line(session, line)
    if failure is not None:
        session.say(failure)
    return failure is None


def interactive(session: Session) -> None:
    """The prompt loop on a terminal."""
    # Loaded here: every `admin -c` and piped run would otherwise pay for it at start-up.
    from prompt_toolkit import PromptSession  # noqa: PLC0415
    from prompt_toolkit.completion import NestedCompleter  # noqa: PLC0415
    from prompt_toolkit.history import FileHistory  # noqa: PLC0415

    prompt: PromptSession[str] = PromptSession(
        history=FileHistory(str(session.where.root / "admin_history")),
        completer=NestedCompleter.from_nested_dict(completion_tree()),
    )
    session.say(f"Welcome to the phonetrust administration CLI on {session.node}.", 'Type "help".')
    while True:
        try:
            line = prompt.prompt(PROMPT)
        except (EOFError, KeyboardInterrupt):
            session.say("")
            return
        if line.strip().lower() in QUIT:
            return
        if line.strip():
            report(session, line)


def scripted(session: Session, source: TextIO) -> bool:
    """Commands read line by line, echoed after the prompt like a transcript.

    Questions a command asks read the following lines of the same source.
    True when every command succeeded.
    """
    ok = True
    for line in iter(source.readline, ""):
        if not line.strip():
            continue
        if line.strip().lower() in QUIT:
            break
        session.write(f"{PROMPT}{line.strip()}\n")
        ok = report(session, line) and ok
    return ok

"""`file ... activelog`: the service traces, as CUCM lists, tails, shows and fetches them.

The troubleshooting guides send an administrator to ``file tail activelog
cm/trace/ctftp/sdi recent`` while a phone resets, and to ``file get
activelog ...`` to hand traces to someone else; these commands do the same
on the trace files ``serve`` writes (``DATA/activelog``, see
:mod:`phonetrust.store.tracefiles`). Every path is confined to that
directory: the database and the cluster key sit beside it.

``file tail`` follows the file (as ``tail -f`` does, until Ctrl-C) only when
its output is a terminal; piped, or under ``-c``, it prints the last lines
and returns, so that a script is never left waiting.
"""

from __future__ import annotations

import fnmatch
import sys
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path

from phonetrust.cli.admin import sftpget
from phonetrust.cli.admin.grammar import Command
from phonetrust.cli.admin.session import Session
from phonetrust.errors import LocalError
from phonetrust.store.tracefiles import Entry, confined, entries, newest

TAIL_LINES = 20
"""Lines ``file tail`` shows before it follows (CUCM's tail shows a screenful)."""
POLL = 0.2
"""Seconds between looks at a followed file."""
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_GLOB = frozenset("*?[")


def _root(s: Session) -> Path:
    return s.where.activelog


def stamp(mtime: float) -> str:
    """CUCM's ``31 Aug,2011 13:28:03`` (local time; month names independent of the locale)."""
    t = time.localtime(mtime)
    return f"{t.tm_mday:02d} {MONTHS[t.tm_mon - 1]},{t.tm_year} {time.strftime('%H:%M:%S', t)}"


def _selected(s: Session, path: str) -> tuple[Path, list[Entry]]:
    """The directory ``path`` names and the entries it selects: all of a directory, the one
    file named, or those a wildcard in the last part matches."""
    confined(_root(s), path)  # as written: "/" must not become "" once stripped
    text = path.strip().rstrip("/")
    head, _, last = text.rpartition("/")
    if _GLOB & set(last):
        directory = confined(_root(s), head)
        pattern = last
    else:
        target = confined(_root(s), text)
        if target.is_dir():
            return target, entries(target)
        directory, pattern = target.parent, target.name
    if not directory.is_dir():
        raise LocalError(f"{path}: no such file or directory in the active log")
    chosen = [e for e in entries(directory) if fnmatch.fnmatchcase(e.name, pattern)]
    if not chosen and not _GLOB & set(pattern):
        raise LocalError(f"{path}: no such file or directory in the active log")
    return directory, chosen


def _file_list(s: Session, args: list[str]) -> None:
    path, *options = args
    detail = _options(options, {"detail"})
    _, shown = _selected(s, path)
    for entry in shown:
        if "detail" in detail:
            size = "<dir>" if entry.is_dir else f"{entry.size:,}"
            s.say(f"{stamp(entry.mtime)} {size} {entry.name}")
        else:
            s.say(entry.name + ("/" if entry.is_dir else ""))
    dirs = sum(e.is_dir for e in shown)
    s.say(f"dir count = {dirs}, file count = {len(shown) - dirs}")


def _options(given: list[str], allowed: set[str]) -> set[str]:
    words = {w.lower() for w in given}
    unknown = words - allowed
    if unknown:
        raise LocalError(f"unknown option {sorted(unknown)[0]!r}; expected {' or '.join(allowed)}")
    return words


def _file_tail(s: Session, args: list[str]) -> None:
    path, *options = args
    words = {w.lower() for w in options}
    recent = "recent" in words
    counts = sorted(words - {"recent"})
    if len(counts) > 1 or (counts and not counts[0].isdigit()):
        raise LocalError("file tail activelog PATH [recent] [LINES]: LINES is a number")
    lines = int(counts[0]) if counts else TAIL_LINES
    target = confined(_root(s), path)
    if recent:
        if not target.is_dir():
            raise LocalError(f"{path}: not a directory in the active log")
        which: Callable[[], Path | None] = lambda: newest(target)  # noqa: E731
    elif target.is_file():
        which = lambda: target  # noqa: E731
    else:
        raise LocalError(f"{path}: no such file in the active log (a directory needs 'recent')")
    follow = sys.stdout.isatty()
    try:
        tail(which, s.write, lines=lines, follow=follow, stop=lambda: False)
    except KeyboardInterrupt:
        s.say("")


def tail(
    which: Callable[[], Path | None],
    write: Callable[[str], None],
    *,
    lines: int = TAIL_LINES,
    follow: bool,
    stop: Callable[[], bool],
    poll: float = POLL,
) -> None:
    """Write the last ``lines`` lines of the file ``which()`` names; with ``follow``, then what
    is appended, moving to the newer file when ``which()`` names another (a rotation), until
    ``stop()`` is true (the command runs until Ctrl-C).
    """
    path = which()
    if path is None:
        if not follow:
            return
        while path is None and not stop():
            time.sleep(poll)
            path = which()
        if path is None:
            return
    with path.open("rb") as f:
        last = deque(f, maxlen=lines) if lines else deque[bytes]()
        position = f.tell()
    for line in last:
        write(line.decode("utf-8", "replace"))
    pending = b""
    while follow and not stop():
        time.sleep(poll)
        current = which()  # asked first: the old file's last lines are read before moving on
        try:
            with path.open("rb") as f:
                f.seek(position)
                data = f.read()
        except FileNotFoundError:
            data = b""
        position += len(data)
        pending += data
        complete, _, pending = pending.rpartition(b"\n")
        if complete:
            write((complete + b"\n").decode("utf-8", "replace"))
        if current is not None and current != path:
            path, position, pending = current, 0, b""


def _file_view(s: Session, args: list[str]) -> None:
    target = confined(_root(s), args[0])
    if not target.is_file():
        raise LocalError(f"{args[0]}: no such file in the active log")
    s.write(target.read_bytes().decode("utf-8", "replace"))


def _file_get(s: Session, args: list[str]) -> None:
    path, *options = args
    _options(options, set())
    directory, chosen = _selected(s, path)
    files = [e for e in chosen if not e.is_dir]
    if not files:
        raise LocalError(f"{path}: no files to get in the active log")
    payload = [(e.name, (directory / e.name).read_bytes()) for e in files]
    sftpget.upload(s, payload, directory)


COMMANDS: tuple[Command, ...] = (
    Command(
        ("file", "list", "activelog"),
        ("PATH",),
        "list trace files (PATH may end in a wildcard)",
        _file_list,
        optional=("detail",),
    ),
    Command(
        ("file", "tail", "activelog"),
        ("PATH",),
        "last lines of a trace; recent: the newest file of a directory; follows on a terminal",
        _file_tail,
        optional=("recent", "LINES"),
    ),
    Command(("file", "view", "activelog"), ("PATH",), "print a trace file", _file_view),
    Command(
        ("file", "get", "activelog"),
        ("PATH",),
        "upload trace files (a file, a directory, a wildcard) over SFTP",
        _file_get,
    ),
)

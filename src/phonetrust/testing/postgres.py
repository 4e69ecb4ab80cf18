"""A real, throwaway PostgreSQL server for tests.

``running_postgres()`` makes a cluster in a temporary directory with the
server binaries of the machine (Debian's ``/usr/lib/postgresql/<v>/bin``,
else ``initdb`` on the PATH), starts it on 127.0.0.1 at a free port with
trust authentication, creates the database ``phonetrust`` and yields its
SQLAlchemy URL. On exit the server is stopped and the directory removed.

PostgreSQL refuses to run as root, so when the tests run as root the
server runs as the ``postgres`` OS user (created by the Debian package) and
the directory is handed to that user.

``create_database`` / ``drop_database`` give a test a database of its own
on the one server; ``create_schema`` / ``drop_schema`` do the same with a
schema (cheaper: creating a database copies a template, about half a second).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

INSTALL_HINT = "install postgresql (apt-get install postgresql)"
DATABASE = "phonetrust"
RUN_AS = "postgres"
DEBIAN_LIB = Path("/usr/lib/postgresql")
START_TIMEOUT = 60
_DB_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


class PostgresUnavailable(RuntimeError):
    """The PostgreSQL server binaries are missing or the server would not start."""


def find_binaries() -> Path:
    """The directory holding ``initdb``, ``pg_ctl`` and ``postgres``, newest version first."""

    def version(path: Path) -> tuple[int, ...]:
        return tuple(int(part) for part in re.findall(r"\d+", path.parent.name))

    candidates = sorted(DEBIAN_LIB.glob("*/bin"), key=version, reverse=True)
    on_path = shutil.which("initdb")
    if on_path is not None:
        candidates.append(Path(on_path).parent)
    for directory in candidates:
        if all((directory / tool).is_file() for tool in ("initdb", "pg_ctl", "postgres")):
            return directory
    raise PostgresUnavailable(
        f"PostgreSQL server binaries (initdb, pg_ctl) not found: {INSTALL_HINT}"
    )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class _Runner:
    """Runs server commands as the current user, or as ``postgres`` when we are root."""

    def __init__(self) -> None:
        self.as_root = os.geteuid() == 0
        self.uid = self.gid = -1
        if self.as_root:
            try:
                entry = pwd.getpwnam(RUN_AS)
            except KeyError:
                raise PostgresUnavailable(
                    f"running as root but there is no {RUN_AS!r} user to run the server: "
                    + INSTALL_HINT
                ) from None
            self.uid, self.gid = entry.pw_uid, entry.pw_gid

    def argv(self, command: Sequence[str]) -> list[str]:
        if not self.as_root:
            return list(command)
        runuser = shutil.which("runuser")
        if runuser is not None:
            return [runuser, "-u", RUN_AS, "--", *command]
        return ["su", RUN_AS, "-s", "/bin/sh", "-c", shlex.join(command)]

    def run(self, command: Sequence[str], timeout: float = START_TIMEOUT) -> None:
        done = subprocess.run(  # noqa: S603 - fixed argv of the server's own tools, no shell
            self.argv(command),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if done.returncode != 0:
            raise PostgresUnavailable(
                f"{Path(command[0]).name} failed ({done.returncode}): "
                f"{(done.stderr or done.stdout).strip()[-2000:]}"
            )

    def give(self, path: Path) -> None:
        if self.as_root:
            os.chown(path, self.uid, self.gid)


@contextlib.contextmanager
def running_postgres() -> Iterator[str]:
    """Start a private PostgreSQL server; yield the URL of its ``phonetrust`` database."""
    bindir = find_binaries()
    runner = _Runner()
    root = Path(tempfile.mkdtemp(prefix="phonetrust-pg-"))
    data = root / "data"
    log = root / "server.log"
    started = False
    try:
        runner.give(root)
        runner.run(
            [
                str(bindir / "initdb"),
                "--pgdata",
                str(data),
                "--username",
                "postgres",
                "--auth",
                "trust",
                "--encoding",
                "UTF8",
                "--no-locale",
                "--no-sync",
                "--no-instructions",
            ]
        )
        port = _start(runner, bindir, data, root, log)
        started = True
        url = f"postgresql+psycopg://postgres@127.0.0.1:{port}/{DATABASE}"
        create_database(url, DATABASE)
        yield url
    finally:
        if started:
            _stop(runner, bindir, data)
        shutil.rmtree(root, ignore_errors=True)


def _start(runner: _Runner, bindir: Path, data: Path, root: Path, log: Path) -> int:
    """Start the server on a free port (retrying if another process takes it first)."""
    attempts = 3
    for attempt in range(1, attempts + 1):
        port = _free_port()
        options = [
            f"-p {port}",
            "-h 127.0.0.1",
            f"-k {root}",
            "-c fsync=off",
            "-c synchronous_commit=off",
            "-c full_page_writes=off",
            "-c max_connections=200",
        ]
        command = [str(bindir / "pg_ctl"), "start", "--pgdata", str(data), "--wait"]
        command += ["--timeout", str(START_TIMEOUT), "--log", str(log), "-o", " ".join(options)]
        try:
            runner.run(command, timeout=START_TIMEOUT + 10)
        except PostgresUnavailable as exc:
            server_log = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            port_taken = "could not bind" in server_log or "in use" in server_log
            if port_taken and attempt < attempts:
                continue
            raise PostgresUnavailable(f"{exc}\n{server_log}") from None
        return port
    raise PostgresUnavailable("the server did not start")  # not reached: the loop returns or raises


def _stop(runner: _Runner, bindir: Path, data: Path) -> None:
    """``pg_ctl stop -m fast``; if that fails, signal the postmaster we started."""
    try:
        runner.run([str(bindir / "pg_ctl"), "stop", "--pgdata", str(data), "-m", "fast", "--wait"])
    except (PostgresUnavailable, subprocess.TimeoutExpired):
        pid_file = data / "postmaster.pid"
        with contextlib.suppress(OSError, ValueError, IndexError):
            pid = int(pid_file.read_text().splitlines()[0])
            os.kill(pid, signal.SIGQUIT)


def _admin_url(url: str) -> str:
    return make_url(url).set(database="postgres").render_as_string(hide_password=False)


def _check_name(name: str) -> str:
    if not _DB_NAME.match(name):
        raise ValueError(f"database name {name!r}: lower-case letters, digits and _ only")
    return name


def create_database(url: str, name: str) -> str:
    """Create database ``name`` on the server of ``url``; return the new database's URL."""
    engine = create_engine(_admin_url(url), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{_check_name(name)}"'))
    finally:
        engine.dispose()
    return make_url(url).set(database=name).render_as_string(hide_password=False)


def drop_database(url: str, name: str) -> None:
    """Drop database ``name`` on the server of ``url``, disconnecting anyone still on it."""
    engine = create_engine(_admin_url(url), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{_check_name(name)}" WITH (FORCE)'))
    finally:
        engine.dispose()


def create_schema(url: str, name: str) -> str:
    """Create schema ``name`` in the database of ``url``; return a URL whose connections use it.

    The returned URL sets the connection's ``search_path`` to the schema, so
    unqualified tables (and Alembic's version table) are created there.
    """
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text(f'CREATE SCHEMA "{_check_name(name)}"'))
    finally:
        engine.dispose()
    scoped = make_url(url).update_query_dict({"options": f"-csearch_path={name}"})
    return scoped.render_as_string(hide_password=False)


def drop_schema(url: str, name: str) -> None:
    """Drop schema ``name`` and everything in it from the database of ``url``."""
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{_check_name(name)}" CASCADE'))
    finally:
        engine.dispose()


def restart_postgres(url: str, down_for: float = 0.0) -> None:
    """Stop the server of ``url`` (``pg_ctl stop -m fast``), wait ``down_for`` s, start it again.

    For tests of what clients do while their database goes away: every
    connection is cut, and the server comes back on the same port and data.
    """
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            data = Path(str(conn.execute(text("SHOW data_directory")).scalar_one()))
    finally:
        engine.dispose()
    runner, pg_ctl = _Runner(), str(find_binaries() / "pg_ctl")
    runner.run([pg_ctl, "stop", "--pgdata", str(data), "-m", "fast", "--wait"])
    time.sleep(down_for)
    # restart, not start: with the server down it starts it with the options it last ran
    # with (postmaster.opts: port, socket directory). --log, as running_postgres starts
    # it: the server must not keep pg_ctl's output pipe open.
    log = data.parent / "server.log"
    runner.run([pg_ctl, "restart", "--pgdata", str(data), "--wait", "--log", str(log)])
